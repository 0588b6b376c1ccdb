#!/usr/bin/env bash
# Whole-cluster restarts of a 3-member cluster with the same command lines (and data
# directories): after SIGTERM of all members, and after kill -9 of all members, the
# cluster comes back with the same member IDs, names and URLs and the same cluster ID,
# elects a leader, every key is there (value, create/mod revision, version) on every
# member, all members have the same hashkv at the same revision, and revisions continue.
#
# usage: tests/e2e/cluster-restart.sh   (CAPSTAN_BIN selects the server)
# timeout: 300
set -u
CAP_TEST_NAME=cluster-restart
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

cl_new 3 "$CAPSTAN_BIN" || { cap_fail "cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up, leader $CL_LEADER"

members() { cl_member_list "$1" 2>/dev/null; }
cluster_id() { cl_ctl "$1" member list -w json 2>/dev/null | cl_json '"%x" % d["header"]["cluster_id"]'; }
kv_dump() {
  cl_ctl "$1" get '' --from-key -w json 2>/dev/null | cl_json '"\n".join("%s %s %d %d %d" % (__import__("base64").b64decode(k["key"]).decode(), __import__("base64").b64decode(k.get("value", "")).decode(), k["create_revision"], k["mod_revision"], k["version"]) for k in d.get("kvs", []))'
}
revision() { cl_ctl "$1" get rs-nonexistent -w json 2>/dev/null | cl_json 'd["header"]["revision"]'; }

# some history: puts through every member, overwrites, a delete
for i in $(seq 1 30); do
  m=m$(((i % 3) + 1))
  cl_ctl "$m" put "rs/k$i" "v$i" >/dev/null || cap_fail "put rs/k$i through $m"
done
cl_ctl m2 put rs/k1 v1b >/dev/null
cl_ctl m3 del rs/k2 >/dev/null
MEMBERS=$(members m1)
CID=$(cluster_id m1)
declare -A IDS=()
for m in "${CL_MEMBERS[@]}"; do IDS[$m]=$(cl_id "$m"); done
REV=$(revision m1)
KV=$(kv_dump m1)
cap_say "before: cluster $CID, members ${IDS[*]}, revision $REV, $(grep -c . <<<"$KV") keys"

# check_back LABEL: the same cluster, data, one hash; revisions continue.
check_back() {
  local label=$1 m t0
  t0=$(cl_now)
  if cl_wait_healthy && cl_wait_leader 30; then
    cap_pass "$label: all members healthy, leader $CL_LEADER ($(cl_elapsed "$t0") s after the health wait began)"
  else
    cap_fail "$label: cluster did not come back"; return 1
  fi
  for m in "${CL_MEMBERS[@]}"; do
    cap_expect "$label: member list through $m unchanged" "$MEMBERS" "$(members "$m")"
    cap_expect "$label: $m keeps member ID ${IDS[$m]}" "${IDS[$m]}" "$(cl_id "$m")"
    cap_expect "$label: cluster ID through $m unchanged" "$CID" "$(cluster_id "$m")"
    cap_expect "$label: revision through $m" "$REV" "$(revision "$m")"
    cap_expect "$label: every key (value, create/mod revision, version) through $m" "$KV" "$(kv_dump "$m")"
  done
  if cl_wait_converged 30; then cap_pass "$label: hashkv equal on all members at revision ${CL_CONVERGED% *}"
  else cap_fail "$label: members differ in revision or hashkv"; fi
  cl_ctl m2 put "rs/after-$label" yes >/dev/null
  REV=$((REV + 1))
  cap_expect "$label: revisions continue (a put through m2 makes revision $REV)" "$REV" "$(revision m3)"
  KV=$(kv_dump m1)
}

# --- SIGTERM all, restart all ----------------------------------------------------------
for m in "${CL_MEMBERS[@]}"; do kill -TERM "${CAP_PID[$(cl_key "$m")]}" 2>/dev/null; done
for m in "${CL_MEMBERS[@]}"; do
  if cl_stop "$m" TERM 20; then
    case $(cl_exit "$m") in
      0 | 143) cap_pass "$m stopped after SIGTERM (status $(cl_exit "$m"))" ;;
      *) cap_fail "$m: exit status after SIGTERM is $(cl_exit "$m") (want 0, or 143 like etcd)" ;;
    esac
  else cap_fail "$m did not stop within 20 s of SIGTERM"; fi
done
for m in "${CL_MEMBERS[@]}"; do cl_start "$m"; done
check_back sigterm

# --- kill -9 all (writes just before), restart all -------------------------------------
for i in 1 2 3; do cl_ctl "m$i" put "rs/last-$i" "$i" >/dev/null && REV=$((REV + 1)); done
KV=$(kv_dump m1)
for m in "${CL_MEMBERS[@]}"; do kill -KILL "${CAP_PID[$(cl_key "$m")]}" 2>/dev/null; done
for m in "${CL_MEMBERS[@]}"; do cl_stop "$m" KILL; done
cap_say "killed all members (kill -9)"
for m in "${CL_MEMBERS[@]}"; do cl_start "$m"; done
check_back sigkill

# --- restart one at a time (rolling) ----------------------------------------------------
for m in "${CL_MEMBERS[@]}"; do
  cl_stop "$m" TERM 20
  cl_restart "$m" 60 || cap_fail "rolling: $m did not come back"
  cl_ctl "$m" put "rs/rolling-$m" ok >/dev/null && REV=$((REV + 1))
done
KV=$(kv_dump m1)
check_back rolling
cap_finish
