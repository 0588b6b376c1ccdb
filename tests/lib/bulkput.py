#!/usr/bin/env python3
"""Many puts, fast, through etcd's JSON gateway (POST /v3/kv/put, or /v3/kv/txn for
batches) over keep-alive HTTP/1.1 connections: PROCS processes x THREADS threads, each
with its own connection, keys PREFIX000000000 .. PREFIX(N-1) split between them.

Every request must succeed (HTTP 200 and a response header): a failed request is
retried (up to 20 times, 0.2 s apart, on a new connection); if it still fails the run
stops with exit status 1. Prints one line "puts N requests R seconds S rate X/s".

usage: bulkput.py --endpoints H:P[,H:P...] --prefix P --count N [--procs 4]
                  [--threads 4] [--batch 1] [--value-size 16]
  --batch B: B puts per request, as one txn (one revision, one raft entry); 1 = plain
             put (one raft entry each).
Each worker uses the endpoints in turn (worker i -> endpoint i mod len).
"""
import argparse
import base64
import http.client
import json
import multiprocessing
import signal
import sys
import threading
import time


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def worker(ep: str, prefix: str, keys: range, batch: int, value: str, errors: list) -> None:
    host, port = ep.rsplit(":", 1)
    conn = None
    i = keys.start
    while i < keys.stop:
        chunk = range(i, min(i + batch, keys.stop))
        if batch == 1:
            path = "/v3/kv/put"
            body = json.dumps({"key": b64("%s%09d" % (prefix, i)), "value": b64(value)})
        else:
            path = "/v3/kv/txn"
            body = json.dumps({"success": [{"request_put": {"key": b64("%s%09d" % (prefix, k)),
                                                            "value": b64(value)}} for k in chunk]})
        for attempt in range(21):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=10)
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200 and b'"header"' in data:
                    break
                err = "HTTP %d: %s" % (resp.status, data[:200])
            except (OSError, http.client.HTTPException) as e:
                err = repr(e)
                if conn is not None:
                    conn.close()
                conn = None
            if attempt == 20:
                errors.append("%s key %d: %s" % (ep, i, err))
                return
            time.sleep(0.2)
        i = chunk.stop


def worker_init() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def proc_main(args: tuple) -> tuple:
    eps, prefix, ranges, batch, value = args
    errors: list = []
    threads = [threading.Thread(target=worker, args=(eps[j % len(eps)], prefix, r, batch, value, errors),
                                daemon=True)
               for j, r in ranges]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def main() -> None:
    # SIGTERM (from the test's cleanup) ends the pool's workers too: SystemExit makes
    # the `with Pool` block terminate them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoints", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--value-size", type=int, default=16)
    a = ap.parse_args()
    eps = a.endpoints.split(",")
    workers = a.procs * a.threads
    per = -(-a.count // workers)
    value = ("v" * a.value_size)[: a.value_size]
    jobs = []
    for p in range(a.procs):
        ranges = []
        for t in range(a.threads):
            j = p * a.threads + t
            lo, hi = j * per, min((j + 1) * per, a.count)
            if lo < hi:
                ranges.append((j, range(lo, hi)))
        jobs.append((eps, a.prefix, ranges, a.batch, value))
    t0 = time.time()
    with multiprocessing.Pool(a.procs, initializer=worker_init) as pool:
        results = pool.map(proc_main, jobs)
    secs = time.time() - t0
    errors = [e for r in results for e in r]
    requests = sum(-(-len(r) // a.batch) for _, _, rs, _, _ in jobs for _, r in rs)
    print("puts %d requests %d seconds %.2f rate %.0f/s" % (a.count, requests, secs, a.count / secs))
    if errors:
        print("bulkput: %d worker(s) failed, e.g. %s" % (len(errors), errors[0]), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
