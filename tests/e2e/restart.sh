#!/usr/bin/env bash
# Clean restart: after SIGTERM and a restart on the same data dir, the revision, every
# key (with create/mod revision and version), the compacted revision and a lease (with
# its keys and a remaining TTL) are preserved, and revisions continue from there.
#
# usage: tests/e2e/restart.sh   (CAPSTAN_BIN selects the server)
set -u
CAP_TEST_NAME=restart
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cap_up s1 "$CAPSTAN_BIN" || { cap_fail "server did not start"; cap_finish; }
ctl() { cap_ctl s1 "$@"; }

json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
revision() { ctl get probe -w json | json_field 'd["header"]["revision"]'; }

for i in 1 2 3 4 5; do ctl put "r/k$i" "v$i" >/dev/null; done
ctl put r/k1 v1b >/dev/null
ctl del r/k5 >/dev/null
LEASE=$(ctl lease grant 600 | awk '/granted/ {print $2}')
ctl put r/leased x --lease="$LEASE" >/dev/null
COMPACT=$(revision)
ctl put r/k2 v2b >/dev/null
ctl compaction "$COMPACT" >/dev/null
ctl put r/k3 v3b >/dev/null

REV_BEFORE=$(revision)
KV_BEFORE=$(ctl get '' --from-key -w json | json_field '[(k["key"], k.get("value"), k["create_revision"], k["mod_revision"], k["version"], k.get("lease", 0)) for k in d["kvs"]]')
TTL_BEFORE=$(ctl lease timetolive "$LEASE" -w json | json_field 'd["ttl"]')
cap_say "before: revision $REV_BEFORE, compacted at $COMPACT, lease $LEASE ttl $TTL_BEFORE"

if cap_stop s1 TERM 20; then cap_pass "stops within 20 s of SIGTERM (status ${CAP_EXIT[s1]})"
else cap_fail "did not stop within 20 s of SIGTERM (SIGKILLed)"; fi
case ${CAP_EXIT[s1]} in
  0 | 143) cap_pass "exit status after SIGTERM is ${CAP_EXIT[s1]}" ;;
  *) cap_fail "exit status after SIGTERM is ${CAP_EXIT[s1]} (want 0, or 143 like etcd)" ;;
esac

cap__launch s1
cap_wait_healthy s1 60 || { cap_fail "did not restart"; cap_finish; }

cap_expect "revision preserved" "$REV_BEFORE" "$(revision)"
KV_AFTER=$(ctl get '' --from-key -w json | json_field '[(k["key"], k.get("value"), k["create_revision"], k["mod_revision"], k["version"], k.get("lease", 0)) for k in d["kvs"]]')
cap_expect "keys, values, revisions, versions and leases preserved" "$KV_BEFORE" "$KV_AFTER"

below=$(ctl get r/k2 --rev=$((COMPACT - 1)) 2>&1)
cap_check "read below the compacted revision still fails" grep -q "required revision has been compacted" <<<"$below"
cap_check "read at the compacted revision works" cap_quiet ctl get r/k2 --rev="$COMPACT"
again=$(ctl compaction "$COMPACT" 2>&1)
cap_check "compacting at the same revision again fails" grep -q "required revision has been compacted" <<<"$again"

TTL_JSON=$(ctl lease timetolive "$LEASE" --keys -w json)
TTL_AFTER=$(json_field 'd["ttl"]' <<<"$TTL_JSON")
GRANTED=$(json_field 'd["granted-ttl"]' <<<"$TTL_JSON")
KEYS=$(json_field '[__import__("base64").b64decode(k).decode() for k in d.get("keys") or []]' <<<"$TTL_JSON")
cap_say "after: lease ttl $TTL_AFTER of $GRANTED, keys $KEYS"
cap_check "lease still alive with a remaining TTL (${TTL_AFTER}s of ${GRANTED}s)" \
  test "$TTL_AFTER" -gt 0 -a "$TTL_AFTER" -le 600 -a "$GRANTED" = 600
cap_expect "lease keeps its key" "['r/leased']" "$KEYS"

ctl put r/after y >/dev/null
cap_expect "revisions continue after restart" "$((REV_BEFORE + 1))" "$(revision)"
ctl lease revoke "$LEASE" >/dev/null
cap_expect "revoking the lease deletes its key" "" "$(ctl get r/leased)"

# etcd's data is private to its user: directories 0700, files 0600.
DATA=$CAP_TMP/s1/data
cap_expect "the data dir is 0700" 700 "$(stat -c %a "$DATA")"
open_files=$(find "$DATA" -type f -perm /077 | head -n 3)
cap_expect "no file in the data dir is readable by others" "" "$open_files"
open_dirs=$(find "$DATA" -type d -perm /077 | head -n 3)
cap_expect "no directory in the data dir is open to others" "" "$open_dirs"
cap_finish
