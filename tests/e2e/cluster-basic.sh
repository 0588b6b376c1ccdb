#!/usr/bin/env bash
# Static clusters of 3 and 5 members: member and cluster IDs as etcd computes them from
# the flags, member list / endpoint status / endpoint health / endpoint hashkv (also
# with --cluster), writes accepted by every member (followers too), linearizable reads
# on every member see every write at once, serializable reads on followers catch up,
# and all members converge to the same revision and hash.
#
# Differential mode (default when CAPSTAN_BIN is not the reference etcd; CLUSTER_DIFF=1
# forces it, 0 disables it): the same scenario runs first against $CAPSTAN_REF_ETCD,
# then against $CAPSTAN_BIN, on the same addresses, ports and cluster token, and the
# normalized transcripts (commands and outputs; leader, terms, indexes, sizes, times
# and hashes masked) must be identical.
#
# usage: tests/e2e/cluster-basic.sh   (CAPSTAN_BIN selects the server; CAPSTAN_BIN=
#        /usr/bin/etcd checks the test itself). Knob: CLUSTER_SIZES (default "3 5").
# timeout: 300
set -u
CAP_TEST_NAME=cluster-basic
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init
cl_net_init 5 || { cap_fail "no free addresses"; cap_finish; }
cap_say "addresses $CL_NET.11-15, client port $CL_CPORT, peer port $CL_PPORT"

# scenario LABEL BIN N: one N-member cluster of BIN; checks + transcript $CAP_TMP/LABEL-N.tr
scenario() {
  local label=$1 bin=$2 n=$3 i m t0 names=() urls=()
  local P="$label/$n"   # prefix of check descriptions
  cl_run "$label-$n"
  CL_TRANSCRIPT=$CAP_TMP/$label-$n.tr
  : >"$CL_TRANSCRIPT"
  for ((i = 1; i <= n; i++)); do names+=("m$i"); urls+=("$(cl_peer_url "m$i")"); done
  t0=$(cl_now)
  if ! cl_new "$n" "$bin"; then
    cap_fail "$P: cluster did not come up"
    cl_stop_all; return 1
  fi
  cap_say "$P: $n members healthy with a leader ($CL_LEADER) after $(cl_elapsed "$t0") s"
  cap_pass "$P: all $n members healthy, leader elected"

  # --- IDs --------------------------------------------------------------------------
  local expected exp_cluster exp_list
  expected=$(cl_expected_ids "$CL_TOKEN" "${urls[@]}")
  exp_cluster=$(sed -n 's/^cluster //p' <<<"$expected")
  declare -A exp_id=()
  for ((i = 1; i <= n; i++)); do exp_id[m$i]=$(sed -n "${i}p" <<<"$expected" | cut -d' ' -f1); done
  exp_list=$(for m in "${names[@]}"; do
    printf '%s %s %s %s false\n' "${exp_id[$m]}" "$m" "$(cl_peer_url "$m")" "$(cl_client_url "$m")"
  done | sort)
  for m in "${names[@]}"; do
    cap_expect "$P: member list through $m (IDs computed from the peer URLs and token)" \
      "$exp_list" "$(cl_member_list "$m" | sort)"
    local st; st=$(cl_status "$m")
    cap_expect "$P: $m reports member ID ${exp_id[$m]}" "${exp_id[$m]}" "${st%% *}"
    local cid
    cid=$(cl_ctl "$m" member list -w json 2>/dev/null | cl_json '"%x" % d["header"]["cluster_id"]')
    cap_expect "$P: $m reports cluster ID $exp_cluster" "$exp_cluster" "$cid"
  done
  cl_note "# expected IDs"; cl_note "$expected"
  cl_tr m1 member list -w table
  cl_tr "m$n" member list
  cl_tr m2 --norm cl_norm_json member list -w json

  # --- endpoint status / health -----------------------------------------------------
  cl_tr m1 --norm cl_norm_status_table endpoint status --cluster -w table
  local rows leaders
  rows=$(cl_table_rows <<<"$CL_TR_OUT" | tail -n +2)
  cap_expect "$P: endpoint status --cluster lists $n endpoints" "$n" "$(grep -c . <<<"$rows")"
  leaders=$(awk -F'|' '$5 == "true"' <<<"$rows" | wc -l)
  cap_expect "$P: endpoint status --cluster shows exactly one leader" 1 "$leaders"
  cap_expect "$P: endpoint status --cluster: endpoints and IDs" \
    "$(for m in "${names[@]}"; do echo "$(cl_client_url "$m")|${exp_id[$m]}|false"; done | sort)" \
    "$(awk -F'|' '{print $1 "|" $2 "|" $6}' <<<"$rows" | sort)"
  # the same, one endpoint at a time and all endpoints at once (no --cluster)
  cl_tr all --norm cl_norm_status_table endpoint status -w table
  cap_expect "$P: endpoint status --endpoints=all lists $n endpoints" "$n" \
    "$(cl_table_rows <<<"$CL_TR_OUT" | tail -n +2 | grep -c .)"
  cl_tr m2 --norm cl_norm_health endpoint health --cluster
  cap_check "$P: endpoint health --cluster: exit 0" test "$CL_TR_RC" = 0
  cap_expect "$P: endpoint health --cluster: $n healthy" "$n" "$(grep -c 'is healthy: successfully committed proposal' <<<"$CL_TR_OUT")"

  # --- writes through every member --------------------------------------------------
  cl_leader
  local leader=$CL_LEADER followers
  followers=$(cl_followers | tr '\n' ' ')
  cap_say "$P: leader $leader, followers $followers"
  local ok=1
  for m in "${names[@]}"; do
    cl_tr "$m" put "k/$m" "v-$m" || ok=0
    [ "$CL_TR_OUT" = OK ] || ok=0
  done
  cap_check "$P: a put through every member (followers included) answers OK" test $ok = 1
  # a txn and a delete through a follower
  local f1=${followers%% *}
  CL_TR_OUT=$(printf 'value("k/m1") = "v-m1"\n\nput k/txn yes\n\nput k/txn no\n\n' |
    cl_ctl "$f1" txn 2>&1)
  cl_note "\$ etcdctl@<follower> txn (compare k/m1 = v-m1: put k/txn yes)"; cl_note "$CL_TR_OUT"
  cap_expect "$P: txn through follower $f1" "$(printf 'SUCCESS\n\nOK')" "$CL_TR_OUT"
  cl_ctl "$f1" put k/gone x >/dev/null 2>&1
  cap_expect "$P: delete through follower $f1" 1 "$(cl_ctl "$f1" del k/gone 2>&1)"

  # --- reads --------------------------------------------------------------------------
  local want
  want=$( (for m in "${names[@]}"; do printf 'k/%s\nv-%s\n' "$m" "$m"; done; printf 'k/txn\nyes\n') |
    paste - - | sort | tr '\t' '\n')
  for m in "${names[@]}"; do
    # linearizable: every acknowledged write is visible at once, on any member
    cl_tr "$m" get k/ --prefix
    cap_expect "$P: linearizable read on $m ($( [ "$m" = "$leader" ] && echo leader || echo follower)) sees every write" \
      "$want" "$CL_TR_OUT"
  done
  local start=$SECONDS got s_ok=1 t1
  t1=$(cl_now)
  for m in $followers; do
    while ((SECONDS - start < 10)); do
      got=$(cl_ctl "$m" get k/ --prefix --consistency=s 2>&1)
      [ "$got" = "$want" ] && break
      sleep 0.1
    done
    if [ "$got" = "$want" ]; then cap_pass "$P: serializable read on follower $m sees every write"
    else cap_fail "$P: serializable read on follower $m after 10 s: [$got]"; s_ok=0; fi
  done
  [ $s_ok = 1 ] && cap_say "$P: serializable reads on followers caught up within $(cl_elapsed "$t1") s"
  for m in "${names[@]}"; do cl_tr "$m" get k/ --prefix --consistency=s; done
  local revs=() r
  for m in "${names[@]}"; do
    r=$(cl_ctl "$m" get k/m1 -w json 2>/dev/null | cl_json '"%d %d" % (d["header"]["revision"], d["kvs"][0]["mod_revision"])')
    revs+=("$r")
    cl_note "revision, mod_revision of k/m1 via $m: $r"
  done
  cap_expect "$P: every member reports the same revision and mod_revision" \
    "${revs[0]}" "$(printf '%s\n' "${revs[@]}" | sort -u)"
  cap_expect "$P: revision = 1 + number of writes" "$((1 + n + 3))" "${revs[0]%% *}"

  # --- hashkv -------------------------------------------------------------------------
  if cl_wait_converged 30; then
    cap_pass "$P: all members at revision ${CL_CONVERGED% *} with the same hash (${CL_CONVERGE_SECS} s)"
  else
    cap_fail "$P: members did not converge to one revision and hash within 30 s"
  fi
  cl_tr m1 --norm cl_norm_hashkv endpoint hashkv --cluster
  cap_check "$P: endpoint hashkv --cluster: exit 0" test "$CL_TR_RC" = 0
  cap_expect "$P: endpoint hashkv --cluster: $n members, one hash" "$n 1" \
    "$(grep -c , <<<"$CL_TR_OUT") $(awk -F', ' '{print $2}' <<<"$CL_TR_OUT" | sort -u | grep -c .)"
  cl_tr m2 endpoint hashkv --cluster -w json >/dev/null
  cap_expect "$P: endpoint hashkv --cluster -w json: one revision, one hash" "1 1" \
    "$(cl_json '[len(set(e["HashKV"]["header"]["revision"] for e in d)), len(set(e["HashKV"]["hash"] for e in d))]' <<<"$CL_TR_OUT" | tr '\n' ' ' | sed 's/ $//')"
  sed -i '$d' "$CL_TRANSCRIPT"; sed -i '$d' "$CL_TRANSCRIPT"   # (json has hashes: drop)
  sed -i '$d' "$CL_TRANSCRIPT"

  cl_stop_all
  local m2
  for m2 in "${names[@]}"; do
    case $(cl_exit "$m2") in 0 | 143) ;; *) cap_fail "$P: $m2 exit status after SIGTERM: $(cl_exit "$m2")" ;; esac
  done
  return 0
}

SIZES=${CLUSTER_SIZES:-3 5}
if cl_diff_mode; then
  cap_say "differential mode: reference $CAPSTAN_REF_ETCD first, then $CAPSTAN_BIN"
  for n in $SIZES; do
    scenario ref "$CAPSTAN_REF_ETCD" "$n"
    scenario sut "$CAPSTAN_BIN" "$n"
    if cl_compare_transcripts "$CAP_TMP/ref-$n.tr" "$CAP_TMP/sut-$n.tr" >"$CAP_TMP/diff-$n.txt"; then
      cap_pass "$n members: transcript identical to the reference ($(grep -c '^\$ ' "$CAP_TMP/sut-$n.tr") commands)"
    else
      cap_fail "$n members: transcript differs from the reference:"
      head -n 80 "$CAP_TMP/diff-$n.txt" | sed 's/^/    /'
    fi
  done
else
  for n in $SIZES; do scenario sut "$CAPSTAN_BIN" "$n"; done
fi
cap_finish
