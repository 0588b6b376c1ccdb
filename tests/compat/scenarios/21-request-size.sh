#!/usr/bin/env bash
# Request size limit (default --max-request-bytes 1.5 MiB): 1 MiB value ok, 1.6 MiB rejected with "request is too large", big txn rejected, server keeps serving.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

gen() { python3 -c 'import sys; sys.stdout.write("x" * int(sys.argv[1]))' "$1" >"$2"; }
gen 1048576 v1m
gen 1500000 v1500k
gen 1677722 v1600k
gen 2200000 v2200k
cfile v1m put big/1m
reads_back() { _ctl get big/1m --print-value-only | head -c -1 | cmp - v1m && echo same; }
check "1 MiB value reads back" reads_back
cfile v1500k put big/1500k
cfile v1600k put big/1600k
cfile v2200k put big/2200k          # above the client's 2 MiB send limit too
c get big/ --prefix --keys-only
c put big/small ok -w json
# a txn of three 600 kB puts is too large as a whole
gen 600000 v600k
VAL=$(cat v600k)
out=$(printf '\nput big/t1 %s\nput big/t2 %s\nput big/t3 %s\n\n\n' "$VAL" "$VAL" "$VAL" | _ctl txn 2>&1)
rc=$?
printf '$ etcdctl txn  (three puts of 600000 bytes each)\n'
_out "$rc" "$out"
c get big/ --prefix --keys-only -w json
