#!/usr/bin/env bash
# Robustness against bad requests: after each one (oversized put, 129-op txn, duplicate
# key in a txn, empty key, unknown lease, compacted and future revisions, a watch on
# a compacted revision, a too-long lease TTL, garbage bytes and a silent connection on
# the client port) the request fails with etcd's error and the server still serves a
# normal put and get.
#
# usage: tests/e2e/bad-input.sh   (CAPSTAN_BIN selects the server)
set -u
CAP_TEST_NAME=bad-input
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cap_up s1 "$CAPSTAN_BIN" || { cap_fail "server did not start"; cap_finish; }
ctl() { cap_ctl s1 "$@"; }
N=0

# still_serves: a fresh key can be written and read back.
# shellcheck disable=SC2329 # called through cap_check
still_serves() {
  N=$((N + 1))
  ctl put "ok/$N" "value-$N" >/dev/null 2>&1 &&
    [ "$(ctl get "ok/$N" --print-value-only 2>/dev/null)" = "value-$N" ]
}

# bad LABEL EXPECTED-ERROR [STDIN-FILE] -- ETCDCTL-ARGS...: the command fails with a
# message containing EXPECTED-ERROR, then the server still serves.
bad() {
  local label=$1 want=$2 input=/dev/null out rc
  shift 2
  if [ "$1" != -- ]; then input=$1; shift; fi
  shift
  out=$(ctl "$@" <"$input" 2>&1); rc=$?
  if [ "$rc" != 0 ] && grep -qF -- "$want" <<<"$out"; then
    cap_pass "$label: fails with \"$want\""
  else
    cap_fail "$label: want failure \"$want\", got exit $rc: $(grep -v '^{"level"' <<<"$out" | head -n 3)"
  fi
  cap_check "$label: server still serves put/get" still_serves
}

python3 -c 'import sys; sys.stdout.write("x" * 1677722)' >"$CAP_TMP/big"
bad "1.6 MiB put" "etcdserver: request is too large" "$CAP_TMP/big" -- put big
{ printf '\n'; for i in $(seq 0 128); do printf 'put t%d v\n' "$i"; done; printf '\n\n'; } >"$CAP_TMP/txn129"
bad "129-op txn" "etcdserver: too many operations in txn request" "$CAP_TMP/txn129" -- txn
printf '\nput d 1\nput d 2\n\n\n' >"$CAP_TMP/dup"
bad "duplicate key in txn" "etcdserver: duplicate key given in txn request" "$CAP_TMP/dup" -- txn
bad "empty key" "etcdserver: key is not provided" -- put '' x
bad "unknown lease" "etcdserver: requested lease not found" -- put k v --lease=1234
bad "revoke unknown lease" "etcdserver: requested lease not found" -- lease revoke 1234
bad "too large lease TTL" "etcdserver: too large lease TTL" -- lease grant 9000000001
bad "--ignore-value on a missing key" "etcdserver: key not found" -- put missing --ignore-value

for i in 1 2 3 4; do ctl put c "$i" >/dev/null; done
REV=$(ctl get c -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
ctl compaction $((REV - 1)) >/dev/null
bad "read below the compacted revision" "etcdserver: mvcc: required revision has been compacted" -- get c --rev=2
bad "compact again at the same revision" "etcdserver: mvcc: required revision has been compacted" -- compaction $((REV - 1))
bad "read at a future revision" "etcdserver: mvcc: required revision is a future revision" -- get c --rev=$((REV + 100))
bad "compact at a future revision" "etcdserver: mvcc: required revision is a future revision" -- compaction $((REV + 100))
bad "watch from a compacted revision" "required revision has been compacted" -- watch c --rev=2

# Not etcd requests at all: garbage bytes, an HTTP/1 request for nothing, a half-open
# connection that never speaks; none of them may disturb other clients.
python3 - "${CAP_EP[s1]}" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
for payload in [b"\x00\xff" * 4096, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 64]:
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(payload)
        s.settimeout(2)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    except OSError:
        pass
idle = socket.create_connection((host, int(port)), timeout=5)
time.sleep(8)   # held open while the checks below run
idle.close()
PY
cap_track $!
sleep 1
cap_check "after garbage on the client port: server still serves put/get" still_serves
cap_check "with a silent connection open: server still serves put/get" still_serves
cap_check "endpoint health still OK" cap_quiet ctl endpoint health
cap_check "server process still running" cap_alive s1
cap_finish
