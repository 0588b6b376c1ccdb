#!/usr/bin/env bash
# Membership changes on a running 3-member cluster: refused operations (exact error
# texts and gRPC codes of etcd 3.4), member add --learner + start with
# --initial-cluster-state existing, promote (refused while the learner is not in sync,
# then retried, bounded), member add of a voter, member update of peer URLs, move-leader
# to a named member, member remove of a follower and of the leader (the cluster keeps
# serving; the removed process exits by itself, bounded).
#
# Differential mode (default when CAPSTAN_BIN is not the reference etcd; CLUSTER_DIFF=1
# forces it, 0 disables it): the scenario runs against $CAPSTAN_REF_ETCD first, then
# against $CAPSTAN_BIN, and the normalized transcripts must be identical (member IDs of
# added members, which etcd derives from the time, are replaced by member names).
#
# usage: tests/e2e/cluster-membership.sh   (CAPSTAN_BIN selects the server)
# timeout: 400
set -u
CAP_TEST_NAME=cluster-membership
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init
cl_net_init 5 || { cap_fail "no free addresses"; cap_finish; }
cap_say "addresses $CL_NET.11-15 (and .25), client port $CL_CPORT, peer port $CL_PPORT"

# What etcd 3.4 answers (gRPC code from etcdctl's retry log line | etcdctl's last line).
EXP_PROMOTE_VOTER='FailedPrecondition|Error: etcdserver: can only promote a learner member'
EXP_PROMOTE_NOT_READY='FailedPrecondition|Error: etcdserver: can only promote a learner member which is in sync with leader'
EXP_MEMBER_NOT_FOUND='NotFound|Error: etcdserver: member not found'
EXP_PEER_URL_EXISTS='FailedPrecondition|Error: etcdserver: Peer URLs already exists'
EXP_TOO_MANY_LEARNERS='FailedPrecondition|Error: etcdserver: too many learner members in cluster'
EXP_BAD_TRANSFEREE='FailedPrecondition|Error: etcdserver: bad leader transferee'
EXP_LEARNER_PUT='Unavailable|Error: etcdserver: rpc not supported for learner'
EXP_REMOVED_LOG='the member has been permanently removed from the cluster'

T() { cl_tr "$@"; }
# T_reconfig ARGS...: T, retried (bounded, 20 s) while etcd answers "unhealthy cluster":
# with --strict-reconfig-check it refuses a removal until the remaining members have been
# connected to it for 5 s, which they may not be just after a leader change or a peer
# URL update. Only the last attempt stays in the transcript.
T_reconfig() {
  local start=$SECONDS n
  while :; do
    n=$(wc -l <"$CL_TRANSCRIPT")
    T "$@" && return 0
    grep -q 'unhealthy cluster' <<<"$CL_TR_OUT" && ((SECONDS - start < 20)) || return "$CL_TR_RC"
    head -n "$n" "$CL_TRANSCRIPT" >"$CL_TRANSCRIPT.tmp" && mv "$CL_TRANSCRIPT.tmp" "$CL_TRANSCRIPT"
    sleep 0.5
  done
}
# the transcript filter: client log lines reduced, member IDs replaced by names
norm() { cl_norm_log | cl_norm_ids; }
norm_sorted() { cl_norm_log | cl_norm_ids | sort; }
norm_uniq() { cl_norm_log | cl_norm_ids | sort -u; }

# refusal DESC EXPECTED VIA ARGS...: run etcdctl ARGS through VIA (retrying while etcd
# answers "unhealthy cluster", which it does for 5 s after a member (re)connects);
# expect a failure with EXPECTED ("Code|Error: text").
refusal() {
  local desc=$1 exp=$2 via=$3 start=$SECONDS out code err; shift 3
  while :; do
    if [ "$via" = all ]; then out=$(cl_ctl_eps "$(cl_eps)" "$@" 2>&1); else out=$(cl_ctl "$via" "$@" 2>&1); fi
    grep -q 'unhealthy cluster' <<<"$out" && ((SECONDS - start < 20)) || break
    sleep 0.5
  done
  code=$(sed -n 's/.*rpc error: code = \([A-Za-z]*\) desc.*/\1/p' <<<"$out" | tail -n1)
  err=$(grep '^Error:' <<<"$out" | tail -n1)
  cl_note "$(printf '$ etcdctl@%s %s' "$via" "$*" | cl_norm_ids)"; cl_note "$code|$err"
  cap_expect "$desc" "$exp" "$code|$err"
}

# promote_when_ready NAME VIA: member promote, retried (bounded, 60 s) while etcd says
# the learner is not in sync yet.
promote_when_ready() {
  local name=$1 via=$2 id start=$SECONDS n=0 out t0
  id=$(cl_id_of "$name"); t0=$(cl_now)
  while ((SECONDS - start < 60)); do
    n=$((n + 1))
    out=$(cl_ctl "$via" member promote "$id" 2>&1) && break
    grep -q 'in sync with leader\|unhealthy cluster' <<<"$out" || break
    sleep 0.3
  done
  cap_say "promote $name: $n attempt(s), $(cl_elapsed "$t0") s"
  cl_note "\$ etcdctl@$via member promote <id:$name>  (retried while not in sync)"
  cl_note "$(cl_norm_ids <<<"$out")"
  cap_expect "member promote $name" "Member $(cl_pad16 "$id") promoted in cluster $(cl_pad16 "$(cl_cluster_id "$via")")" "$out"
}
cl_cluster_id() { cl_ctl "$1" member list -w json 2>/dev/null | cl_json '"%x" % d["header"]["cluster_id"]'; }

# wait_removed NAME: the removed member's process must exit by itself within 30 s.
wait_removed() {
  local name=$1 t0; t0=$(cl_now)
  if cl_wait_exit "$name" 30; then
    cap_pass "removed member $name exited by itself after $(cl_elapsed "$t0") s (status $(cl_exit "$name"))"
    cl_note "removed member $name exited with status $(cl_exit "$name")"
    local line
    line=$(grep -m1 -o "$EXP_REMOVED_LOG" "$(cl_log "$name")")
    cap_expect "removed member $name logged \"$EXP_REMOVED_LOG\"" "$EXP_REMOVED_LOG" "$line"
  else
    cap_fail "removed member $name still running 30 s after its removal"
    cl_stop "$name" KILL
  fi
  cl_forget "$name"
}

# member_table VIA: member list (sorted, IDs replaced) into the transcript; the
# simple lines in CL_TR_OUT.
member_table() { T "$1" --norm norm_sorted member list; }

scenario() {
  local label=$1 bin=$2 t0 out
  cl_run "$label"; CL_IDS=(); CL_LISTEN_PEER=()
  CL_TRANSCRIPT=$CAP_TMP/$label.tr; : >"$CL_TRANSCRIPT"
  local P=$label
  if ! cl_new 3 "$bin"; then cap_fail "$P: cluster did not come up"; cl_stop_all; return 1; fi
  cl_learn_ids m1
  cap_pass "$P: 3-member cluster up, leader $CL_LEADER"
  local id1; id1=$(cl_id_of m1)

  # --- refused operations -------------------------------------------------------------
  refusal "$P: promote a voter" "$EXP_PROMOTE_VOTER" m2 member promote "$id1"
  refusal "$P: remove an unknown ID" "$EXP_MEMBER_NOT_FOUND" m2 member remove 1234
  refusal "$P: update an unknown ID" "$EXP_MEMBER_NOT_FOUND" m2 member update 1234 --peer-urls=http://127.0.0.1:1
  refusal "$P: promote an unknown ID" "$EXP_MEMBER_NOT_FOUND" m2 member promote 1234
  refusal "$P: add a member with an existing peer URL" "$EXP_PEER_URL_EXISTS" m2 \
    member add dup --peer-urls="$(cl_peer_url m1)"
  refusal "$P: move-leader to a non-member" "$EXP_BAD_TRANSFEREE" all move-leader 1234
  cl_leader
  local f; f=$(cl_followers | head -n1)
  out=$(cl_ctl "$f" move-leader "$id1" 2>&1)
  cl_note "\$ etcdctl@<a follower> move-leader <id:m1>"; cl_note "${out//$(cl_ep "$f")/<follower>}"
  cap_expect "$P: move-leader with only a follower's endpoint (etcdctl: no leader endpoint)" \
    "Error: no leader endpoint given at [$(cl_ep "$f")]" "$out"

  # --- learner ------------------------------------------------------------------------
  CL_PENDING_NAME=m4
  if ! cl_add m4 m1 --learner; then cap_fail "$P: member add m4 --learner"; cl_stop_all; return 1; fi
  cl_stop m4 KILL   # (cl_add started it; start it later, to see the "not in sync" refusal)
  cl_learn_ids m1
  cl_note "\$ etcdctl@m1 member add m4 --learner --peer-urls=$(cl_peer_url m4)"
  cl_note "$(cl_norm_member_add <<<"$CL_OUT" | cl_norm_ids)"
  cap_check "$P: member add --learner prints Member .. added, ETCD_* lines" \
    grep -q "^ETCD_INITIAL_CLUSTER_STATE=\"existing\"" <<<"$CL_OUT"
  member_table m2
  cap_check "$P: member list shows m4 unstarted, learner" \
    grep -qx "<id:m4>, unstarted, , $(cl_peer_url m4), , true" <<<"$(norm <<<"$CL_TR_OUT")"
  refusal "$P: promote a learner that is not in sync" "$EXP_PROMOTE_NOT_READY" m2 member promote "$(cl_id_of m4)"
  refusal "$P: a second learner" "$EXP_TOO_MANY_LEARNERS" m2 member add m5 --learner --peer-urls="$(cl_peer_url m5)"
  rm -rf "$CAP_TMP/$(cl_key m4)/data"
  cl_start m4
  if cl_wait_status m4 30; then cap_pass "$P: learner m4 started (existing) and knows the leader"
  else cap_fail "$P: learner m4 did not join"; cl_stop_all; return 1; fi
  # etcd logs "ready to serve client requests" only once the member has published
  # itself through Raft (so it has joined and caught up that far); tools wait for it.
  local log4 rstart=$SECONDS; log4=$(cl_log m4)
  until grep -q 'ready to serve client requests' "$log4" 2>/dev/null || ((SECONDS - rstart > 30)); do sleep 0.2; done
  local pub_line ready_line
  pub_line=$(grep -n -m1 -E 'published local member to cluster through raft|etcdserver: published ' "$log4" | cut -d: -f1)
  ready_line=$(grep -n -m1 'ready to serve client requests' "$log4" | cut -d: -f1)
  cap_check "$P: m4 logs 'ready to serve client requests' after publishing itself (${pub_line:-none} < ${ready_line:-none})" \
    test -n "$pub_line" -a -n "$ready_line" -a "${pub_line:-0}" -lt "${ready_line:-0}"
  # (etcd 3.4 serves member list linearizably: a learner refuses it; etcdctl retries
  # for the whole command timeout, so the number of log lines varies: deduplicated)
  T m4 --norm norm_uniq member list -w table >/dev/null
  out=$(cl_ctl m4 put on-learner x 2>&1)
  cl_note "\$ etcdctl@m4 put on-learner x"; cl_note "$(cl_norm_log <<<"$out" | sort -u)"
  cap_expect "$P: a learner refuses a put" "$EXP_LEARNER_PUT" \
    "$(sed -n 's/.*rpc error: code = \([A-Za-z]*\) desc.*/\1/p' <<<"$out" | tail -n1)|$(grep '^Error:' <<<"$out")"
  cl_ctl m1 put learner-sees x >/dev/null
  local got="" start=$SECONDS
  while ((SECONDS - start < 10)); do
    got=$(cl_ctl m4 get learner-sees --consistency=s --print-value-only 2>/dev/null)
    [ "$got" = x ] && break; sleep 0.2
  done
  cap_expect "$P: a learner serves serializable reads of replicated data" x "$got"
  cap_expect "$P: endpoint status of m4: is learner" true "$(cl_status m4 | cut -d' ' -f5)"
  promote_when_ready m4 m1
  member_table m1
  cap_check "$P: member list shows m4 started, voter" \
    grep -qx "<id:m4>, started, m4, $(cl_peer_url m4), $(cl_client_url m4), false" <<<"$(norm <<<"$CL_TR_OUT")"
  cap_check "$P: m4 healthy after promotion" cap_wait_healthy "$(cl_key m4)" 20
  T m4 put on-m4 yes

  # --- voter add, update ---------------------------------------------------------------
  CL_PENDING_NAME=m5
  CL_LISTEN_PEER[m5]="$(cl_peer_url m5),http://$CL_NET.25:$CL_PPORT"
  if cl_add m5 m2 && cl_wait_healthy m5; then cap_pass "$P: member add m5 (voter) and start it: healthy"
  else cap_fail "$P: member add m5 (voter)"; cl_stop_all; return 1; fi
  cl_learn_ids m1
  cl_note "\$ etcdctl@m2 member add m5 --peer-urls=$(cl_peer_url m5)"
  cl_note "$(cl_norm_member_add <<<"$CL_OUT" | cl_norm_ids)"
  member_table m5
  cap_expect "$P: 5 voters" 5 "$(grep -c ', started, m[0-9], .*, false$' <<<"$CL_TR_OUT")"
  local newurl="http://$CL_NET.25:$CL_PPORT"
  T m3 --norm norm member update "$(cl_id_of m5)" --peer-urls="$newurl"
  cap_expect "$P: member update m5" "Member $(cl_pad16 "$(cl_id_of m5)") updated in cluster $(cl_pad16 "$(cl_cluster_id m3)")" "$CL_TR_OUT"
  start=$SECONDS
  while ((SECONDS - start < 10)); do
    out=$(cl_member_list m1 | awk '$2 == "m5" {print $3}')
    [ "$out" = "$newurl" ] && break; sleep 0.2
  done
  cap_expect "$P: member list shows m5's new peer URL" "$newurl" "$out"
  member_table m4
  T m1 put after-update 1
  T m5 get after-update --print-value-only
  cap_expect "$P: m5 serves a linearizable read after its peer URL changed" 1 "$CL_TR_OUT"
  if cl_wait_converged 30; then cap_pass "$P: 5 members converge after the update (rev ${CL_CONVERGED% *})"
  else cap_fail "$P: 5 members did not converge after the update"; fi

  # --- move-leader -----------------------------------------------------------------------
  # The transcript names the target, and the steps below depend on who leads: start
  # from the same leader (m3) in both runs, untranscribed, then move it to m5.
  cl_leader
  if [ "$CL_LEADER" != m3 ]; then
    cl_ctl_eps "$(cl_eps)" move-leader "$(cl_id_of m3)" >/dev/null 2>&1
    cl_wait_leader 10
  fi
  local old=$CL_LEADER target=m5
  T all --norm norm move-leader "$(cl_id_of "$target")"
  cap_expect "$P: move-leader to $target" "Leadership transferred from $(cl_id_of "$old") to $(cl_id_of "$target")" "$CL_TR_OUT"
  sed -i '$d' "$CL_TRANSCRIPT"; sed -i '$d' "$CL_TRANSCRIPT"   # (from: the old leader varies)
  cl_note "Leadership transferred from <old leader> to <id:target>"; cl_note "[exit $CL_TR_RC]"
  cl_wait_leader 10
  cap_expect "$P: leader is now $target" "$target" "$CL_LEADER"

  # --- remove a follower -----------------------------------------------------------------
  local victim
  for victim in m2 m3 m1; do [ "$victim" != "$CL_LEADER" ] && break; done
  T_reconfig "$CL_LEADER" --norm norm member remove "$(cl_id_of "$victim")"
  cap_expect "$P: member remove follower $victim" \
    "Member $(cl_pad16 "$(cl_id_of "$victim")") removed from cluster $(cl_pad16 "$(cl_cluster_id "$CL_LEADER")")" "$CL_TR_OUT"
  wait_removed "$victim"
  T "$CL_LEADER" --norm norm_sorted member list
  cap_expect "$P: 4 members left" 4 "$(grep -c . <<<"$CL_TR_OUT")"
  local after; after=$(cl_followers | head -n1)
  T "$after" put after-remove-follower 1
  cap_expect "$P: writes after removing a follower" OK "$CL_TR_OUT"

  # --- remove the leader -------------------------------------------------------------------
  local oldleader=$CL_LEADER via
  via=$(cl_followers | head -n1)
  T_reconfig "$via" --norm norm member remove "$(cl_id_of "$oldleader")"
  cap_expect "$P: member remove the leader ($oldleader)" \
    "Member $(cl_pad16 "$(cl_id_of "$oldleader")") removed from cluster $(cl_pad16 "$(cl_cluster_id "$via")")" "$CL_TR_OUT"
  wait_removed "$oldleader"
  t0=$(cl_now)
  if cl_wait_leader 30; then
    cap_pass "$P: a new leader ($CL_LEADER) after removing the leader ($(cl_elapsed "$t0") s)"
  else cap_fail "$P: no leader after removing the leader"; fi
  T "$via" put after-remove-leader 1
  cap_expect "$P: writes after removing the leader" OK "$CL_TR_OUT"
  T "$via" --norm norm_sorted member list
  cap_expect "$P: 3 members left, all voters" 3 "$(grep -c ', started, .*, false$' <<<"$CL_TR_OUT")"
  for f in $(cl_live_members); do T "$f" get after- --prefix --keys-only; done
  cap_check "$P: endpoint health of every remaining member" cl_wait_healthy
  if cl_wait_converged 30; then cap_pass "$P: remaining members converge (rev ${CL_CONVERGED% *})"
  else cap_fail "$P: remaining members did not converge"; fi
  cl_stop_all
}

if cl_diff_mode; then
  cap_say "differential mode: reference $CAPSTAN_REF_ETCD first, then $CAPSTAN_BIN"
  scenario ref "$CAPSTAN_REF_ETCD"
  scenario sut "$CAPSTAN_BIN"
  if cl_compare_transcripts "$CAP_TMP/ref.tr" "$CAP_TMP/sut.tr" >"$CAP_TMP/diff.txt"; then
    cap_pass "transcript identical to the reference ($(grep -c '^\$ ' "$CAP_TMP/sut.tr") commands)"
  else
    cap_fail "transcript differs from the reference:"
    head -n 80 "$CAP_TMP/diff.txt" | sed 's/^/    /'
  fi
else
  scenario sut "$CAPSTAN_BIN"
fi
cap_finish
