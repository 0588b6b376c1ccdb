#!/usr/bin/env bash
# Zero configuration: started with no flags (in a fresh working directory) the server
# behaves like etcd: clients on 127.0.0.1:2379 (localhost), peers on 2380, member
# "default", data in ./default.etcd. Skipped (exit 77) if 2379 or 2380 is taken.
#
# usage: tests/e2e/defaults.sh   (CAPSTAN_BIN selects the server)
set -u
CAP_TEST_NAME=defaults
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1

port_in_use() {
  python3 - "$1" <<'PY'
import socket, sys
port = int(sys.argv[1])
for host in ("127.0.0.1", "0.0.0.0"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        sys.exit(0)  # in use
    finally:
        s.close()
sys.exit(1)
PY
}
for p in 2379 2380; do
  if port_in_use "$p"; then cap_skip "port $p is in use on this machine"; fi
done

cap_init
# no flags at all; the working directory is $CAP_TMP/default
cap_spawn default 127.0.0.1:2379 "$CAPSTAN_BIN"
if ! cap_wait_healthy default; then
  cap_fail "no-flag server not healthy on 127.0.0.1:2379"
  cap_finish
fi
cap_pass "serves clients on 127.0.0.1:2379 with no flags"
cap_check "data in ./default.etcd of the working directory" test -d "$CAP_TMP/default/default.etcd"
cap_check "./default.etcd/member exists (etcd's layout)" test -d "$CAP_TMP/default/default.etcd/member"
cap_ctl default put hello world >/dev/null
cap_expect "put/get" world "$(cap_ctl default get hello --print-value-only)"
members=$(cap_ctl default member list 2>&1)
cap_check "member list: default, http://localhost:2380, http://localhost:2379 ($members)" \
  grep -q ", started, default, http://localhost:2380, http://localhost:2379" <<<"$members"
cap_check "also reachable as localhost:2379" cap_quiet timeout 10 "$CAPSTAN_ETCDCTL" \
  --endpoints=localhost:2379 --command-timeout=5s get hello
cap_stop default
cap_check "2379 is free again after stop" bash -c '! python3 -c "import socket; socket.create_connection((\"127.0.0.1\", 2379), timeout=1)" 2>/dev/null'
cap_finish
