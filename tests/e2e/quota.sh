#!/usr/bin/env bash
# The backend quota, as etcd's operators know it: with --quota-backend-bytes set low,
# puts eventually fail with "etcdserver: mvcc: database space exceeded" and the NOSPACE
# alarm is raised; reads and deletes still work; after delete + compaction + defrag +
# `alarm disarm` writes are accepted again.
#
# usage: tests/e2e/quota.sh   (CAPSTAN_BIN selects the server)
# timeout: 240
set -u
CAP_TEST_NAME=quota
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cap_up s1 "$CAPSTAN_BIN" --quota-backend-bytes=16777216 || { cap_fail "server did not start"; cap_finish; }
ctl() { cap_ctl s1 "$@"; }

value=$(head -c 49152 /dev/urandom | base64 -w0)
hit=""
# Bounded: 16 MiB of quota is exceeded long before 400 puts of 64 KiB.
for i in $(seq 1 400); do
  if ! out=$(ctl put "big/$i" "$value" 2>&1); then
    hit=$out
    break
  fi
done
if grep -qF "etcdserver: mvcc: database space exceeded" <<<"$hit"; then
  cap_pass "put past the quota fails with etcd's NOSPACE error (after $i puts)"
else
  cap_fail "want 'database space exceeded' within 400 puts, got: $(head -n 2 <<<"$hit")"
fi
cap_check "alarm list shows NOSPACE" grep -q "alarm:NOSPACE" <<<"$(ctl alarm list 2>&1)"
cap_check "reads still work under NOSPACE" test "$(ctl get big/1 --print-value-only 2>/dev/null | head -c 16)" = "${value:0:16}"
cap_check "small puts are refused while the alarm is active" \
  grep -qF "database space exceeded" <<<"$(ctl put small x 2>&1)"
cap_check "deletes work under NOSPACE" test "$(ctl del big/ --prefix 2>/dev/null)" -ge 1
rev=$(ctl get big/ --prefix -w json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
cap_check "compaction at $rev" cap_quiet ctl compaction "$rev"
cap_check "defrag" cap_quiet ctl defrag
cap_check "alarm disarm" cap_quiet ctl alarm disarm
cap_check "alarm list is empty after disarm" test -z "$(ctl alarm list 2>/dev/null)"
cap_check "puts are accepted again" cap_quiet ctl put small x
cap_finish
