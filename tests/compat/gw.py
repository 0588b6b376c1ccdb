#!/usr/bin/env python3
"""One request to an etcd JSON gateway; prints the response as JSON with sorted keys
(field order is not part of the contract) and "[http STATUS]".

usage: gw.py HOST:PORT METHOD PATH [BODY]
"""
import json
import sys
import urllib.error
import urllib.request


def main() -> None:
    ep, method, path = sys.argv[1], sys.argv[2], sys.argv[3]
    body = sys.argv[4].encode() if len(sys.argv) > 4 and sys.argv[4] else None
    req = urllib.request.Request(f"http://{ep}{path}", data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        print(f"request failed: {e}")
        print("[http none]")
        return
    text = data.decode("utf-8", errors="replace").strip()
    try:
        # the gateway streams some answers as several JSON documents, one per line
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        text = "\n".join(json.dumps(d, sort_keys=True, separators=(",", ":")) for d in docs)
    except ValueError:
        pass
    print(text)
    print(f"[http {status}]")


if __name__ == "__main__":
    main()
