#!/usr/bin/env bash
# TLS between members, differential (see tests/lib/tls.sh): a 3-member cluster with
# client AND peer TLS runs first on the reference etcd (3.7.3), then on $CAPSTAN_BIN,
# with the same flags, certificates (tests/lib/tls-certs.sh), ports and token, and the
# transcripts of etcdctl 3.7.3 must be identical.
#
# Every member: https client URL (--cert-file/--key-file/--trusted-ca-file/
# --client-cert-auth), https peer URLs in --initial-cluster, --peer-cert-file (its own
# cert, CN = its name) --peer-key-file --peer-trusted-ca-file --peer-client-cert-auth,
# --peer-cert-allowed-cn=m1,m2,m3,m4; all on 127.0.0.1 (the peer certs' SANs).
#   - a put through m1 is read on every member; member list shows the https peer URLs;
#     endpoint health/status --cluster;
#   - member add of m4 (https peer URL), m4 started with the printed
#     ETCD_INITIAL_CLUSTER, reads the data, member remove m4 (it exits by itself);
#   - peer refusals: a member (added first, so only TLS stops it) whose peer cert comes
#     from the foreign CA cannot join; one whose cert is from the right CA but whose CN
#     (intruder) is not in --peer-cert-allowed-cn cannot either; each time the cluster
#     stays healthy and a log (the joiner's or a member's) names the handshake failure.
#
# usage: tests/e2e/tls-cluster.sh   (CAPSTAN_BIN selects the server; CAPSTAN_BIN=<etcd
#        3.7.3> checks the suite itself). Skipped (77) without the reference etcd 3.7.3.
# timeout: 300
set -u
CAP_TEST_NAME=tls-cluster
# shellcheck source=tests/lib/tls.sh
. "$(dirname "$0")/../lib/tls.sh"
tls_setup

TOKEN=tls-cluster
ALLOWED_CN=m1,m2,m3,m4
declare -A CP=() PP=()

# member NAME STATE INITIAL_CLUSTER PEER_CERT_BASE: start one member (no wait).
member() {
  local n=$1 state=$2 ic=$3 pc=$4
  tls_spawn "$n" "$H:${CP[$n]}" --name "$n" --data-dir "$(tls_dir "$n")/data" \
    --listen-client-urls "https://$H:${CP[$n]}" --advertise-client-urls "https://$H:${CP[$n]}" \
    --listen-peer-urls "https://$H:${PP[$n]}" --initial-advertise-peer-urls "https://$H:${PP[$n]}" \
    --initial-cluster "$ic" --initial-cluster-state "$state" --initial-cluster-token "$TOKEN" \
    --heartbeat-interval 100 --election-timeout 1000 \
    "${TLS_SERVER_FLAGS[@]}" \
    --peer-cert-file "$C/$pc.pem" --peer-key-file "$C/$pc-key.pem" \
    --peer-trusted-ca-file "$C/ca.pem" --peer-client-cert-auth --peer-cert-allowed-cn "$ALLOWED_CN"
}
url() { echo "https://$H:${CP[$1]}"; }
peer_url() { echo "https://$H:${PP[$1]}"; }
eps() { local n out=(); for n in "$@"; do out+=("$(url "$n")"); done; local IFS=,; echo "${out[*]}"; }
# cm NAME ARGS...: etcdctl as root against member NAME
cm() { local n=$1; shift; c37 "$(url "$n")" "${ROOT[@]}" "$@"; }

# member_id_by_peer VIA PEER_URL: hex ID of the member with this peer URL.
member_id_by_peer() {
  cm "$1" member list -w json 2>/dev/null | python3 -c 'import json,sys
for m in json.load(sys.stdin).get("members", []):
    if sys.argv[1] in m.get("peerURLs", []):
        print("%x" % m["ID"])' "$2"
}
# madd NAME VIA: member add NAME with its https peer URL (retried while etcd answers
# "unhealthy cluster": --strict-reconfig-check wants every voter connected for 5 s);
# recorded; the ETCD_INITIAL_CLUSTER it prints in MADD_IC, the new ID in MADD_ID.
madd() {
  local n=$1 via=$2 start=$SECONDS out rc
  while :; do
    out=$(cm "$via" member add "$n" --peer-urls="$(peer_url "$n")" 2>&1)
    rc=$?
    [ $rc = 0 ] && break
    if grep -q 'unhealthy cluster' <<<"$out" && ((SECONDS - start < 20)); then sleep 0.5; continue; fi
    break
  done
  MADD_OUT=$out MADD_RC=$rc
  rec "member add $n --peer-urls=https://... (via $via)" --norm cl_norm_member_add madd_replay
  MADD_IC=$(sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' <<<"$out")
  MADD_ID=$(sed -nE 's/^Member +([0-9a-f]+) added.*/\1/p' <<<"$out")
  [ -n "$MADD_IC" ]
}
madd_replay() { printf '%s\n' "$MADD_OUT"; return "$MADD_RC"; }
# norm_id: the time-based ID of the last added member (MADD_ID) as <id:new>.
norm_id() {
  if [ -n "${MADD_ID:-}" ]; then sed -E "s/ *\b$MADD_ID\b/ <id:new>/g"; else cat; fi
}
sorted() { sort; }
norm_id_sorted() { norm_id | sort; }

# joiner NAME CERT_BASE WHY: add NAME, start it with this peer cert; it must not join
# within 10 s, the cluster must stay healthy, a log must name the TLS failure; then
# it is removed (and stopped if still running).
HANDSHAKE_RE='bad certificate|unknown (certificate )?authority|certificate signed by unknown|client certificate authentication failed|certificate required|handshake (error|fail)|tls: |invalid peer certificate|UnknownIssuer|InvalidCertificate|NotValidForName'
joiner() {
  local n=$1 pc=$2 why=$3 joined=no i f
  madd "$n" m1 || { t_fail "$why: member add $n failed: $TR_OUT"; return 1; }
  for f in m1 m2 m3; do tls_log_mark "$f"; done
  member "$n" existing "$MADD_IC" "$pc"
  for ((i = 0; i < 50; i++)); do
    if timeout 3 "$TLS_CTL" --endpoints="$(url "$n")" "${ROOT[@]}" --dial-timeout=1s --command-timeout=1s \
      endpoint health >/dev/null 2>&1; then joined=yes; break; fi
    tls_alive "$n" || break
    sleep 0.2
  done
  rec_note "\$ $n ($why) started: joined within 10 s: $joined"
  t_expect "$why: $n cannot join" no "$joined"
  rec "endpoint health of m1,m2,m3" --norm tls_norm_health c37 "$(eps m1 m2 m3)" "${ROOT[@]}" endpoint health
  t_check "$why: the cluster stays healthy" test "$TR_RC" = 0
  local named=no
  for f in "$n" m1 m2 m3; do
    if tls_log_has "$f" "$HANDSHAKE_RE"; then named=yes; fi
  done
  rec_note "a log names the TLS handshake failure: $named"
  t_expect "$why: a log names the TLS handshake failure" yes "$named"
  for f in "$n" m1; do
    tls_log_since "$f" | grep -Ei -m 2 "$HANDSHAKE_RE" | cut -c1-400 | sed "s/^/    $TLS_SIDE $f| /"
  done
  local id; id=$(member_id_by_peer m1 "$(peer_url "$n")")
  rec "member remove $n" --norm norm_id cm m1 member remove "$id"
  cap_stop "$(tls_key "$n")" TERM 5
}

case_cluster() {
  tls_ports 12 || return 1
  local i=0 n
  for n in m1 m2 m3 m4 m5 m6; do CP[$n]=${TLS_P[$i]}; PP[$n]=${TLS_P[$((i + 1))]}; i=$((i + 2)); done
  local ic="m1=$(peer_url m1),m2=$(peer_url m2),m3=$(peer_url m3)"
  for n in m1 m2 m3; do member "$n" new "$ic" "peer-$n"; done
  for n in m1 m2 m3; do
    tls_wait "$n" "$(url "$n")" "${ROOT[@]}" || { t_fail "$n did not become healthy"; rec_note "no cluster"; return 1; }
  done
  t_pass "3 members with client and peer TLS healthy"
  rec "put k v via m1" cm m1 put k v
  t_expect "put through m1" OK "$TR_OUT"
  for n in m1 m2 m3; do
    rec "get k via $n" cm "$n" get k --print-value-only
    t_expect "get on $n" v "$TR_OUT"
  done
  rec "member list -w table" --norm tls_norm_members cm m2 member list -w table
  for n in m1 m2 m3; do
    t_check "member list shows $n's https peer URL" grep -qF "$(peer_url "$n")" <<<"$TR_OUT"
  done
  rec "endpoint health --cluster" --norm tls_norm_health cm m3 endpoint health --cluster
  t_check "endpoint health --cluster" test "$TR_RC" = 0
  rec "endpoint status --cluster -w table" --norm tls_norm_status cm m1 endpoint status --cluster -w table

  # --- member add / remove of an https member --------------------------------------------
  if madd m4 m2; then
    member m4 existing "$MADD_IC" peer-m4
    if tls_wait m4 "$(url m4)" "${ROOT[@]}"; then
      t_pass "m4 joined over peer TLS"
      rec "get k via m4" cm m4 get k --print-value-only
      t_expect "m4 serves the data" v "$TR_OUT"
      rec "member list (4 members, sorted)" --norm norm_id_sorted cm m4 member list
      t_check "member list shows m4's https peer URL" grep -qF "$(peer_url m4), $(url m4)" <<<"$TR_OUT"
      rec "member remove m4" --norm norm_id cm m1 member remove "$MADD_ID"
      t_check "member remove m4" test "$TR_RC" = 0
      tls_wait_exit m4 20
      rec_note "m4 exits by itself after its removal: $([ "$TLS_EXIT" = running ] && echo no || echo yes)"
      cap_stop "$(tls_key m4)" TERM 5
      rec "member list (3 members)" cm m1 member list
    else
      t_fail "m4 did not join"; rec_note "m4 did not join"
    fi
  else
    t_fail "member add m4"
  fi

  # --- peer refusals ------------------------------------------------------------------
  joiner m5 peer-foreign "peer cert from the foreign CA"
  joiner m6 peer-intruder "peer cert CN=intruder (not in --peer-cert-allowed-cn)"
  rec "member list (3 members)" cm m3 member list
  rec "get k via m3" cm m3 get k --print-value-only
}
tls_case cluster case_cluster

tls_summary
