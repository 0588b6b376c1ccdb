#!/usr/bin/env bash
# Connections cost memory only while they are open: 2 000 idle HTTP/2 client
# connections are opened and closed twice; within 30 s of each close the member's RSS
# is back within 32 MiB of where it started (glibc's malloc used to keep ~100 KiB per
# closed connection for good), and the member still serves.
#
# usage: tests/e2e/connections.sh   (CAPSTAN_BIN selects the server)
# timeout: 240
set -u
CAP_TEST_NAME=connections
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cap_up s1 "$CAPSTAN_BIN" || { cap_fail "server did not start"; cap_finish; }
pid=${CAP_PID[s1]}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
host=${CAP_EP[s1]%:*} port=${CAP_EP[s1]##*:}
base=$(rss)
for round in 1 2; do
  opened=$(python3 - "$host" "$port" 2000 "$pid" <<'PY'
import socket, sys, time
host, port, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
for _ in range(n):
    s = socket.create_connection((host, port))
    # HTTP/2 preface and an empty SETTINGS frame: a connection hyper keeps open.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    socks.append(s)
time.sleep(2)
print([l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0])
for s in socks:
    s.close()
PY
)
  cap_say "round $round: RSS ${base} KiB before, ${opened} KiB with 2000 connections open"
  now=$(rss)
  for _ in $(seq 1 60); do
    [ "$now" -le $((base + 32768)) ] && break
    sleep 0.5
    now=$(rss)
  done
  cap_check "round $round: RSS back to $now KiB (start $base KiB) after the connections closed" \
    test "$now" -le $((base + 32768))
done
cap_check "still serving" cap_quiet cap_ctl s1 put after connections
cap_finish
