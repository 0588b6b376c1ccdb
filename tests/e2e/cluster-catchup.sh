#!/usr/bin/env bash
# Catch-up of a lagging member by snapshot: in a 3-member cluster whose members all run
# with a small --snapshot-count, one follower is stopped (SIGTERM), N keys are written
# through the other two (fast: concurrent keep-alive requests to the JSON gateway,
# several puts per txn), then the follower is started again. Its log is far behind the
# leader's compacted raft log, so it must receive a snapshot. Checked: it catches up
# (same revision and hashkv as the others, the same key count, reads and writes through
# it). Reported, never asserted: write rate, time to healthy, time to convergence.
#
# usage: tests/e2e/cluster-catchup.sh   (CAPSTAN_BIN selects the server)
# Knobs: CATCHUP_WRITES (keys, default 100000), CATCHUP_BATCH (puts per txn, default
#        10: N/BATCH raft entries), CATCHUP_SNAPSHOT_COUNT (default 1000),
#        CATCHUP_PROCS / CATCHUP_THREADS (writer processes x threads, default 2 x 16),
#        CATCHUP_TIMEOUT (seconds allowed for convergence, default 300).
# timeout: 900
set -u
CAP_TEST_NAME=cluster-catchup
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

N=${CATCHUP_WRITES:-100000}
BATCH=${CATCHUP_BATCH:-10}
SNAP=${CATCHUP_SNAPSHOT_COUNT:-1000}
PROCS=${CATCHUP_PROCS:-2}
THREADS=${CATCHUP_THREADS:-16}
LIMIT=${CATCHUP_TIMEOUT:-300}
ENTRIES=$(((N + BATCH - 1) / BATCH))
# etcd keeps 5000 entries behind its last snapshot for slow followers
# (SnapshotCatchUpEntries): fewer writes than that may be caught up from the log.
if ((ENTRIES < SNAP + 5000)); then
  cap_say "note: $ENTRIES raft entries (N/BATCH) may be too few to force a snapshot (want > $((SNAP + 5000)))"
fi

cl_new 3 "$CAPSTAN_BIN" --snapshot-count "$SNAP" || { cap_fail "cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up (--snapshot-count $SNAP), leader $CL_LEADER"
cl_ctl m1 put cu-before yes >/dev/null
lag=$(cl_followers | tail -n1)
mapfile -t rest < <(for m in "${CL_MEMBERS[@]}"; do [ "$m" != "$lag" ] && echo "$m"; done)
if cl_stop "$lag" TERM 20; then cap_pass "follower $lag stopped (SIGTERM, status $(cl_exit "$lag"))"
else cap_fail "follower $lag did not stop within 20 s of SIGTERM"; fi

cap_say "writing $N keys ($ENTRIES txns of $BATCH puts) through ${rest[*]} ($PROCS x $THREADS connections)"
python3 "$CAP_LIB_DIR/bulkput.py" --endpoints "$(cl_eps "${rest[@]}")" --prefix cu/ \
  --count "$N" --batch "$BATCH" --procs "$PROCS" --threads "$THREADS" >"$CAP_TMP/bulkput.out" 2>&1 &
bulk=$!
cap_track "$bulk"
wait "$bulk"; rc=$?
out=$(cat "$CAP_TMP/bulkput.out")
if [ "$rc" = 0 ]; then
  cap_say "bulk write: $out"
  cap_pass "$N keys written while $lag was down"
else
  cap_fail "bulk write failed: $out"; cap_finish
fi
count() { cl_ctl "$1" get cu/ --prefix --limit=1 -w json "${@:2}" 2>/dev/null | cl_json 'd.get("count", 0)'; }
cap_expect "key count on ${rest[0]}" "$N" "$(count "${rest[0]}")"
cl_leader "${rest[@]}"
cap_say "leader $CL_LEADER: $(cl_ctl "$CL_LEADER" endpoint status -w table 2>/dev/null | cl_table_rows | tail -n1)"

t0=$(cl_now)
cl_start "$lag"
if cap_wait_healthy "$(cl_key "$lag")" "$LIMIT"; then
  healthy=$(cl_elapsed "$t0")
  cap_pass "$lag healthy again after restart ($healthy s)"
else
  cap_fail "$lag not healthy within $LIMIT s"; cap_finish
fi
if cl_wait_converged "$LIMIT"; then
  conv=$(cl_elapsed "$t0")
  cap_say "$lag caught up: same revision and hash as the others $conv s after its start (healthy after $healthy s)"
  cap_pass "all members at revision ${CL_CONVERGED% *} with one hash"
else
  cap_fail "$lag did not reach the others' revision and hash within $LIMIT s"
  for m in "${CL_MEMBERS[@]}"; do cap_say "  $m: $(cl_hashkv "$m")"; done
fi
cap_expect "key count on $lag (serializable: its own data)" "$N" "$(count "$lag" --consistency=s)"
cap_expect "key count on $lag (linearizable)" "$N" "$(count "$lag")"
revs=$(for m in "${CL_MEMBERS[@]}"; do cl_revision "$m"; done | sort -u)
cap_expect "same revision on every member" 1 "$(grep -c . <<<"$revs")"
cap_expect "$lag has the first and last key" "$(printf 'yes\nvvvvvvvvvvvvvvvv')" \
  "$(cl_ctl "$lag" get cu-before --print-value-only --consistency=s; cl_ctl "$lag" get "cu/$(printf '%09d' $((N - 1)))" --print-value-only --consistency=s)"
# It must have caught up from a snapshot, not by replaying the log: etcd and Capstan
# both count received snapshots in etcd_network_snapshot_receive_success.
received=$(curl -s --max-time 5 "$(cl_client_url "$lag")/metrics" |
  awk '/^etcd_network_snapshot_receive_success/ {s += $NF} END {print s + 0}')
if [ "${received:-0}" -ge 1 ]; then cap_pass "$lag received a snapshot (etcd_network_snapshot_receive_success = $received)"
else cap_fail "$lag caught up without receiving a snapshot (etcd_network_snapshot_receive_success = ${received:-?})"; fi
cap_check "a write through $lag" cap_quiet cl_ctl "$lag" put cu-after ok
cap_expect "read on ${rest[0]} of the write through $lag" ok "$(cl_ctl "${rest[0]}" get cu-after --print-value-only)"
# what the server logged about snapshots (informational: the wording is the server's)
cap_say "$lag's log lines about snapshots:"
grep -i 'snapshot' "$(cl_log "$lag")" | grep -iv 'snapshot-count\|snapshot count' | tail -n 6 | cut -c1-200 | sed 's/^/    /'
cap_say "leader's log lines about sending snapshots:"
grep -ih 'snapshot' "$(cl_log "$CL_LEADER")" | grep -i 'send\|sent\|message' | tail -n 4 | cut -c1-200 | sed 's/^/    /'
cap_finish
