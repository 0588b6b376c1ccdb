#!/usr/bin/env bash
# Network partition of a 3-member cluster. Each member runs in its own network
# namespace (created here, removed on exit) with two links into a hub namespace: one
# for peer traffic, one for client traffic; etcdctl runs in the hub. Cutting a member's
# peer link isolates it from the other members while clients still reach it. Two rounds:
# a follower is cut off, then the leader. In each round, once the minority member knows
# it has no leader: its answers to a put, a linearizable get and a serializable get
# (error texts and gRPC codes as etcd 3.4 gives them, below) and its endpoint status;
# the majority elects a leader (if needed) and keeps serving writes and linearizable
# reads; after healing, all members converge (same revision and hashkv) and the
# minority member returns the majority's writes.
#
# usage: tests/e2e/cluster-partition.sh   (CAPSTAN_BIN selects the server; needs root
#        for `ip netns`; skipped, exit 77, otherwise)
# timeout: 300
set -u
CAP_TEST_NAME=cluster-partition
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

# --- what etcd 3.4 answers on the isolated member (after it has lost its leader) -------
# Client timeout 10 s; etcd's own request timeout is 5 s + 2 x election timeout = 7 s.
# put: the proposal waits (raft takes no proposals without a leader) until etcd's 7 s
# request context expires; that raw context error reaches the client as code Unknown.
EXP_PUT='Error: rpc error: code = Unknown desc = context deadline exceeded'
# linearizable get: the read-index request goes unanswered; after 7 s etcd answers
# Unavailable "etcdserver: request timed out", which etcdctl's client retries until its
# own 10 s deadline. The first attempt's error (logged by etcdctl) is fixed; the last
# line depends on whether the client's or the server's copy of the deadline fires first,
# so either of these two is etcd's answer.
EXP_GET_FIRST='rpc error: code = Unavailable desc = etcdserver: request timed out'
EXP_GET_FINAL_RE='^Error: (context deadline exceeded|rpc error: code = Unknown desc = context deadline exceeded)$'
# serializable get: served from the member's own (possibly stale) data.
# endpoint status: answers, with leader 0 and this error:
EXP_STATUS_ERR='etcdserver: no leader'

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then cap_skip "needs root and iproute2 (ip netns)"; fi
if ! cl_netns_setup 3; then
  cap_say "could not set up network namespaces"; cap_fail "network namespaces"; cap_finish
fi
cap_say "namespaces ${CL_NETNS[*]}; peers on $CL_NET.0/24, clients on ${CL_CIP[m1]%.*}.0/24"
cl_new 3 "$CAPSTAN_BIN" || { cap_fail "cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up in separate namespaces, leader $CL_LEADER"
cl_ctl m1 put p/base 0 >/dev/null

# ctl_t TIMEOUT NAME ARGS...: etcdctl against NAME with a client timeout of TIMEOUT s.
ctl_t() {
  local t=$1 n=$2; shift 2
  timeout $((t + 15)) "$CAPSTAN_ETCDCTL" --endpoints="$(cl_ep "$n")" --dial-timeout=2s --command-timeout="${t}s" "$@"
}
last_error() { grep '^Error:' <<<"$1" | tail -n1; }
first_logged() { sed -n 's/.*"error":"\(rpc error: [^"]*\)".*/\1/p' <<<"$1" | head -n1; }

round() {
  local r=$1 cut=$2 t0 out majority=() m
  for m in "${CL_MEMBERS[@]}"; do [ "$m" != "$cut" ] && majority+=("$m"); done
  local base; base=$(cl_revision "$cut")
  cap_say "round $r: cutting $cut's peer link (majority: ${majority[*]})"
  t0=$(cl_now)
  cl_netns_cut "$cut"
  # the minority member notices it has no leader (election timeout; CheckQuorum for a leader)
  local st="" start=$SECONDS
  while ((SECONDS - start < 20)); do
    st=$(ctl_t 3 "$cut" endpoint status -w json 2>/dev/null | cl_json '"%d %s" % (d[0]["Status"].get("leader", 0), ",".join(d[0]["Status"].get("errors") or []))' 2>/dev/null)
    [ "${st%% *}" = 0 ] && break
    sleep 0.2
  done
  cap_say "round $r: $cut reports no leader after $(cl_elapsed "$t0") s (status: leader ${st%% *}, errors: ${st#* })"
  cap_expect "round $r: isolated $cut: endpoint status shows leader 0, error \"$EXP_STATUS_ERR\"" "0 $EXP_STATUS_ERR" "$st"

  out=$(ctl_t 10 "$cut" put p/minority-$r x 2>&1)
  cap_say "round $r: put on the isolated member -> $(last_error "$out") [code from log: $(first_logged "$out")]"
  cap_expect "round $r: put on isolated $cut" "$EXP_PUT" "$(last_error "$out")"
  out=$(ctl_t 10 "$cut" get p/base 2>&1)
  cap_say "round $r: linearizable get on the isolated member -> $(last_error "$out") [first attempt: $(first_logged "$out")]"
  cap_expect "round $r: linearizable get on isolated $cut: first attempt" "$EXP_GET_FIRST" "$(first_logged "$out")"
  if grep -Eq "$EXP_GET_FINAL_RE" <<<"$(last_error "$out")"; then
    cap_pass "round $r: linearizable get on isolated $cut fails with a deadline error"
  else
    cap_fail "round $r: linearizable get on isolated $cut: got [$(last_error "$out")], want /$EXP_GET_FINAL_RE/"
  fi
  out=$(ctl_t 10 "$cut" get p/base --consistency=s 2>&1)
  cap_say "round $r: serializable get on the isolated member -> $(tr '\n' ' ' <<<"$out")"
  cap_expect "round $r: serializable get on isolated $cut serves its own data" "$(printf 'p/base\n0')" "$out"
  cap_expect "round $r: the rejected put did not change $cut's revision" "$base" "$(cl_revision "$cut")"

  # the majority serves
  if cl_wait_leader 30 "${majority[@]}"; then
    cap_pass "round $r: majority ${majority[*]} has a leader ($CL_LEADER)"
  else
    cap_fail "round $r: majority has no leader within 30 s"
  fi
  local i ok=0 n=20
  for ((i = 1; i <= n; i++)); do
    m=${majority[$((i % 2))]}
    out=$(cl_ctl "$m" put "p/r$r/$i" "v$i" 2>&1) && [ "$out" = OK ] && ok=$((ok + 1))
  done
  cap_expect "round $r: $n writes through the majority while $cut is cut off" "$n" "$ok"
  for m in "${majority[@]}"; do
    cap_expect "round $r: linearizable read on $m sees the majority's writes" "$n" \
      "$(cl_ctl "$m" get "p/r$r/" --prefix --keys-only 2>/dev/null | grep -c .)"
  done

  # heal
  t0=$(cl_now)
  cl_netns_heal "$cut"
  if cl_wait_converged 60; then
    cap_say "round $r: healed; all members at the same revision and hash after $(cl_elapsed "$t0") s"
    cap_pass "round $r: converged after healing (revision ${CL_CONVERGED% *})"
  else
    cap_fail "round $r: no convergence within 60 s of healing"
  fi
  out=$(cl_ctl "$cut" get "p/r$r/" --prefix --keys-only 2>&1 | grep -c .)
  cap_expect "round $r: $cut (linearizable) returns the majority's writes after healing" "$n" "$out"
  cap_expect "round $r: the put refused on the isolated member is absent" "" "$(cl_ctl "${majority[0]}" get "p/minority-$r" 2>&1)"
  cl_wait_leader 30
}

cl_leader
round 1 "$(cl_followers | head -n1)"
cl_leader
round 2 "$CL_LEADER"
cl_wait_healthy && cap_pass "all members healthy at the end"
cap_finish
