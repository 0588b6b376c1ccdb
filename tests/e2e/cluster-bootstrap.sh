#!/usr/bin/env bash
# Bootstrap flags of a 3-member cluster:
# - a member whose data dir already holds the cluster ignores --initial-cluster,
#   --initial-cluster-token and --initial-cluster-state on restart (same member and
#   cluster ID, same data);
# - a member started with --initial-cluster-state existing that was never added with
#   `member add` refuses to start, with a message naming the problem (etcd and Capstan);
# - a fresh member whose token differs from the running cluster's: etcd starts and
#   only logs "request cluster ID mismatch"; Capstan refuses to start ("cluster ID
#   mismatch"), because it would otherwise form a second, divergent cluster. This one
#   check is Capstan's own behaviour and is skipped against etcd.
#
# usage: tests/e2e/cluster-bootstrap.sh   (CAPSTAN_BIN selects the server)
# timeout: 240
set -u
CAP_TEST_NAME=cluster-bootstrap
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cl_new 3 "$CAPSTAN_BIN" || { cap_fail "cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up, leader $CL_LEADER"
cl_ctl m1 put bs/key before >/dev/null || cap_fail "put through m1"
cluster_id() { cl_ctl "$1" member list -w json 2>/dev/null | cl_json '"%x" % d["header"]["cluster_id"]'; }
CID=$(cluster_id m1)
ID3=$(cl_id m3)

# 1. Restart m3 with different bootstrap flags: they are ignored.
cl_stop m3 TERM 20 || cap_fail "m3 did not stop"
key=$(cl_key m3)
CAP_CMD[$key]=$(sed -E 's/--initial-cluster-token [^ ]+/--initial-cluster-token some-other-token/; s/--initial-cluster-state new/--initial-cluster-state existing/' <<<"${CAP_CMD[$key]}")
if cl_restart m3; then
  cap_pass "m3 restarted with another token and state=existing (flags ignored)"
  cap_expect "m3 keeps its member ID" "$ID3" "$(cl_id m3)"
  cap_expect "m3 keeps the cluster ID" "$CID" "$(cluster_id m3)"
  cap_expect "m3 has the data" before "$(cl_ctl m3 get bs/key --print-value-only)"
else
  cap_fail "m3 did not come back with changed bootstrap flags"
fi

# 2. A member that was never added joins with state=existing: refused.
ic="$(cl_initial_cluster m1 m2 m3),m4=$(cl_peer_url m4)"
cl_spawn m4 existing "$ic"
if cl_wait_exit m4 30; then
  cap_pass "m4 (never added, state=existing) exits by itself (status $(cl_exit m4))"
  cap_check "m4's exit status is not 0" test "$(cl_exit m4)" != 0
  cap_say "m4's last log lines:"; tail -n 3 "$(cl_log m4)" | cut -c1-240 | sed 's/^/    /'
  if grep -qiE 'member count is unequal|no match found|not in the running cluster' "$(cl_log m4)"; then
    cap_pass "m4 says its peer URLs are not in the cluster"
  else
    cap_fail "m4 does not say why it refused to start"
  fi
else
  cap_fail "m4 (never added) is still running after 30 s"
fi
cl_forget m4

# 3. A fresh member with the wrong token, state=new, next to the running cluster.
if cl_same_binary "$CAPSTAN_BIN" "$CAPSTAN_REF_ETCD"; then
  cap_say "skipped for etcd: a wrong-token member (etcd starts and logs 'request cluster ID mismatch')"
else
  cl_spawn m5 new "$(cl_initial_cluster m1 m2 m5)" --initial-cluster-token wrong-token
  if cl_wait_exit m5 30; then
    cap_pass "m5 (wrong token) refuses to start (status $(cl_exit m5))"
    if grep -q 'cluster ID mismatch' "$(cl_log m5)"; then cap_pass "m5 says: cluster ID mismatch"
    else cap_fail "m5 does not name the cluster ID mismatch"; fi
  else
    cap_fail "m5 (wrong token) is still running after 30 s"
  fi
  cl_forget m5
fi

# 4. A member that has run before comes back with an empty data dir (its disk was lost)
# and state=existing: refused, since rejoining under its ID with an empty log would make
# its acknowledged entries undurable (and the leader would see its log go backwards).
if cl_same_binary "$CAPSTAN_BIN" "$CAPSTAN_REF_ETCD"; then
  cap_say "skipped for etcd: a started member rejoining with an empty data dir"
else
  cl_stop m3 KILL
  rm -rf "$CAP_TMP/$(cl_key m3)/data"
  cl_spawn m3 existing "$(cl_initial_cluster m1 m2 m3)"
  if cl_wait_exit m3 30; then
    cap_pass "m3 with a lost data dir (state=existing) refuses to start (status $(cl_exit m3))"
    if grep -q 'has already been bootstrapped' "$(cl_log m3)"; then cap_pass "m3 says: member has already been bootstrapped"
    else cap_fail "m3 does not say why it refused: $(tail -n 1 "$(cl_log m3)" | cut -c1-200)"; fi
  else
    cap_fail "m3 with a lost data dir is still running after 30 s"
    cl_stop m3 KILL
  fi
  cl_forget m3
  cap_check "m1 and m2 are healthy (the leader did not fail)" cap_quiet cl_ctl_eps "$(cl_eps m1 m2)" endpoint health
fi

cap_expect "the cluster still has 3 members" 3 "$(cl_ctl m1 member list 2>/dev/null | grep -c .)"
cap_check "the cluster still takes writes" cap_quiet cl_ctl m2 put bs/after ok
cap_finish
