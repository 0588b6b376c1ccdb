#!/usr/bin/env python3
"""Minimal Kubernetes API client for tests/e2e/kube-apiserver.sh (standard library only).

Talks HTTPS to the API server with the admin client certificate, for what kubectl does
not expose: following `continue` tokens by hand, watching from a given
resourceVersion, delete preconditions, raw status codes.

usage: kapi.py SERVER COMMAND ARGS...      (SERVER = https://host:port)
  KAPI_CA, KAPI_CERT, KAPI_KEY: CA bundle, client certificate and key (PEM files).

commands:
  request METHOD PATH [BODY]   print "STATUS" then the body (JSON compacted)
  list PATH LIMIT [CONTINUE]   follow continue tokens; print a JSON summary:
                               {"pages", "names", "rvs" (list RV of each page),
                                "remaining" (remainingItemCount of each page),
                                "first_continue"}; on an error status print
                               {"error": STATUS, "body": ...} and exit 3
  page PATH LIMIT [CONTINUE]   one page: {"status", "names", "continue", "rv", "remaining"}
  watch PATH SECONDS           watch (PATH must carry its own query, e.g. ...?watch=1&
                               resourceVersion=N); the server ends the stream after
                               SECONDS (timeoutSeconds); one line per event:
                               "TYPE name resourceVersion" or "ERROR code reason message"
"""
import http.client
import json
import os
import ssl
import sys
import urllib.parse


def conn(server, timeout=60):
    u = urllib.parse.urlparse(server)
    ctx = ssl.create_default_context(cafile=os.environ["KAPI_CA"])
    ctx.load_cert_chain(os.environ["KAPI_CERT"], os.environ["KAPI_KEY"])
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=timeout)


def request(server, method, path, body=None):
    c = conn(server)
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = data.decode(errors="replace")
    return r.status, doc


def with_query(path, **q):
    sep = "&" if "?" in path else "?"
    return path + sep + urllib.parse.urlencode({k: v for k, v in q.items() if v not in (None, "")})


def page(server, path, limit, cont=None):
    status, doc = request(server, "GET", with_query(path, limit=limit, **{"continue": cont}))
    if status != 200:
        return {"status": status, "body": doc}
    md = doc.get("metadata", {})
    return {
        "status": status,
        "names": [i["metadata"]["name"] for i in doc.get("items", [])],
        "continue": md.get("continue", ""),
        "rv": md.get("resourceVersion", ""),
        "remaining": md.get("remainingItemCount"),
    }


def main():
    server, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if cmd == "request":
        status, doc = request(server, args[0], args[1], args[2] if len(args) > 2 else None)
        print(status)
        print(json.dumps(doc, separators=(",", ":")) if not isinstance(doc, str) else doc)
    elif cmd == "page":
        print(json.dumps(page(server, args[0], int(args[1]), args[2] if len(args) > 2 else None)))
    elif cmd == "list":
        path, limit = args[0], int(args[1])
        cont = args[2] if len(args) > 2 else None
        out = {"pages": 0, "names": [], "rvs": [], "remaining": [], "first_continue": ""}
        while True:
            p = page(server, path, limit, cont)
            if p["status"] != 200:
                print(json.dumps({"error": p["status"], "body": p["body"], "after_pages": out["pages"]}))
                sys.exit(3)
            out["pages"] += 1
            out["names"] += p["names"]
            out["rvs"].append(p["rv"])
            out["remaining"].append(p["remaining"])
            if out["pages"] == 1:
                out["first_continue"] = p["continue"]
            cont = p["continue"]
            if not cont:
                break
            if out["pages"] > 10000:
                sys.exit("too many pages")
        print(json.dumps(out))
    elif cmd == "watch":
        path, secs = args[0], int(args[1])
        c = conn(server, timeout=secs + 30)
        c.request("GET", with_query(path, timeoutSeconds=secs), headers={"Accept": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            print("HTTP %d %s" % (r.status, r.read().decode(errors="replace")[:300].replace("\n", " ")))
            sys.exit(3)
        # The body is a stream of JSON objects, one per line.
        for line in r:
            line = line.strip()
            if not line:
                continue
            ev = json.loads(line)
            obj = ev.get("object", {})
            if ev.get("type") == "ERROR":
                print("ERROR %s %s %s" % (obj.get("code"), obj.get("reason"), obj.get("message", "").replace("\n", " ")))
            else:
                md = obj.get("metadata", {})
                print("%s %s %s" % (ev.get("type"), md.get("name", "-"), md.get("resourceVersion", "-")))
            sys.stdout.flush()
    else:
        sys.exit("unknown command %s" % cmd)


if __name__ == "__main__":
    main()
