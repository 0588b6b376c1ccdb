#!/usr/bin/env python3
"""One request to an etcd JSON gateway; prints the response as JSON with sorted keys
(field order is not part of the contract) and "[http STATUS]".

usage: gw.py [--text] [--stream N] HOST:PORT METHOD PATH [BODY]
  --text      show base64 fields (key, value, name, range_end) as "b64:<text>" when
              they decode to printable text, so IDs inside keys (a lock's
              name/<lease id>) can be masked like any other ID
  --stream N  a streamed answer (/v3/watch, /v3/election/observe, keep-alive): print
              the first N JSON documents, then close the connection (10 s at most)
"""
import base64
import http.client
import json
import sys

TEXT_FIELDS = {"key", "value", "name", "range_end"}


def as_text(doc, text):
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if text and k in TEXT_FIELDS and isinstance(v, str) and v:
                try:
                    s = base64.b64decode(v, validate=True).decode("utf-8")
                    if s.isprintable():
                        v = "b64:" + s
                except ValueError:
                    pass
            out[k] = as_text(v, text)
        return out
    if isinstance(doc, list):
        return [as_text(v, text) for v in doc]
    return doc


def dump(doc, text):
    return json.dumps(as_text(doc, text), sort_keys=True, separators=(",", ":"))


def main() -> None:
    args = sys.argv[1:]
    text, stream = False, 0
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--text":
            text = True
        elif opt == "--stream":
            stream = int(args.pop(0))
    ep, method, path = args[0], args[1], args[2]
    body = args[3].encode() if len(args) > 3 and args[3] else None
    host, port = ep.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        if stream:
            # one JSON document per line; stop after `stream` of them
            docs = []
            while len(docs) < stream:
                line = resp.readline()
                if not line:
                    break
                if line.strip():
                    docs.append(json.loads(line))
            print("\n".join(dump(d, text) for d in docs))
            print(f"[http {resp.status}, {len(docs)} of {stream} streamed documents]")
            return
        status, data = resp.status, resp.read()
    except (OSError, http.client.HTTPException, ValueError) as e:
        print(f"request failed: {e}")
        print("[http none]")
        return
    finally:
        conn.close()
    out = data.decode("utf-8", errors="replace").strip()
    try:
        # the gateway streams some answers as several JSON documents, one per line
        docs = [json.loads(line) for line in out.splitlines() if line.strip()]
        out = "\n".join(dump(d, text) for d in docs)
    except ValueError:
        pass
    print(out)
    print(f"[http {status}]")


if __name__ == "__main__":
    main()
