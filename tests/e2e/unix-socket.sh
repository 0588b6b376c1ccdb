#!/usr/bin/env bash
# unix:// client URLs, as etcd serves them: a member listens on a unix socket (etcd's
# path: the URL's authority, relative to the working directory) next to a TCP URL,
# advertises it in member list, serves gRPC (etcdctl) and HTTP (/health) on it, and
# removes the socket file when it stops; a stale file left by a crash does not stop
# a restart. https-free only (unixs:// is TLS, not supported yet).
#
# usage: tests/e2e/unix-socket.sh   (CAPSTAN_BIN selects the server: Capstan or etcd)
set -u
CAP_TEST_NAME=unix-socket
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

read -r cp pp sp <<<"$(cap_ports 3)"
h=$CAP_HOST
SOCK=localhost:$sp
cap_spawn s1 "$h:$cp" "$CAPSTAN_BIN" --name s1 --data-dir "$CAP_TMP/s1/data" \
  --listen-client-urls "unix://$SOCK,http://$h:$cp" --advertise-client-urls "unix://$SOCK" \
  --listen-peer-urls "http://$h:$pp" --initial-advertise-peer-urls "http://$h:$pp" \
  --initial-cluster "s1=http://$h:$pp"
cap_wait_healthy s1 || { cap_fail "server did not start"; cap_finish; }
DIR=$CAP_TMP/s1
# etcdctl resolves the socket path from its working directory, as etcd does.
uctl() { (cd "$DIR" && timeout 20 "$CAPSTAN_ETCDCTL" --endpoints="unix://$SOCK" --dial-timeout=2s --command-timeout=5s "$@"); }

cap_check "the socket file exists ($DIR/$SOCK)" test -S "$DIR/$SOCK"
cap_expect "put over the unix socket" OK "$(uctl put u/k v 2>&1)"
cap_expect "get over the unix socket" "v" "$(uctl get u/k --print-value-only 2>&1)"
cap_expect "the TCP URL serves the same data" "v" "$(cap_ctl s1 get u/k --print-value-only 2>&1)"
cap_check "member list advertises unix://$SOCK" grep -q "unix://$SOCK" <<<"$(cap_ctl s1 member list 2>&1)"
health=$(cd "$DIR" && curl -s --max-time 5 --unix-socket "$SOCK" http://localhost/health)
cap_check "/health over the unix socket ($health)" grep -q '"health":"true"' <<<"$health"

cap_stop s1 TERM 20
cap_check "the socket file is removed at shutdown" test ! -e "$DIR/$SOCK"

# A crash leaves the file behind; the next start replaces it.
cap__launch s1
cap_wait_healthy s1 || { cap_fail "did not restart"; cap_finish; }
cap_stop s1 KILL
cap_check "a killed member leaves its socket file" test -S "$DIR/$SOCK"
cap__launch s1
cap_wait_healthy s1 || { cap_fail "did not restart over a stale socket file"; cap_finish; }
cap_expect "restarted over the stale file: data still served on the socket" "v" "$(uctl get u/k --print-value-only 2>&1)"
cap_finish
