#!/usr/bin/env bash
# capstan-operator's TLS (spec.tls.mode auto) against a REAL Capstan cluster, set up as in
# operator-membership.sh (kube-apiserver + kube-controller-manager, the operator under the
# chart's RBAC, tests/lib/fake-kubelet.py running each pod as a `capstan` process, all
# inside a network namespace whose /etc/hosts maps each pod's DNS name to its own
# 127.1.2.(10+N)). The fake kubelet projects the TLS Secrets like kubelet (timestamped
# directory, `..data` symlink swapped atomically) and refreshes them within a second.
#
# Scenario, with etcdctl over TLS using the operator's client Secret (re-read by the
# client every second, as a client mounting the Secret would see it):
#   create 3 members with TLS -> Available; scale 3 -> 5 -> 3 (members added and removed
#   over TLS); a load loop (a new connection per request: every request is a handshake)
#   runs through a forced renewal of every leaf (capstan.dev/renew-certs) until every
#   member serves the new server and peer certificates, and through a full CA rotation
#   (capstan.dev/rotate-ca, rotationSettle 5s): Trusting -> Reissuing -> Dropping -> Idle,
#   with the operator killed -9 in phase Reissuing (its successor resumes from the CA
#   Secret), after which every member serves certificates of the new CA and the bundles
#   hold only it; no request of the loop may fail, and no member restarts.
# Skipped (77) when the server binary does not serve TLS (https URLs or
# listen-metrics-urls refused), and without root/ip (network namespaces).
# Knobs: CAPSTAN_OPERATOR_BIN, KUBE_BIN_DIR, OPT_ROTATE=0 (skip the CA rotation) or
#   OPT_ROTATE=hold: for members that never reload their CA bundle, as etcd itself
#   (CAPSTAN_BIN=/usr/bin/etcd runs this suite against etcd members), check that the
#   rotation holds in its first phase, waiting for members to trust the new CA, and that
#   nothing fails meanwhile.
# timeout: 1200
set -u
CAP_TEST_NAME=operator-tls
# shellcheck source=tests/lib/kube.sh
. "$(dirname "$0")/../lib/kube.sh"
ROOT=$KUBE_ROOT
: "${CAPSTAN_OPERATOR_BIN:=$CARGO_TARGET_DIR/debug/capstan-operator}"
NS=capstan-tls
CLUSTER=demo
MAX_MEMBERS=5
member_ip() { echo "127.1.2.$((10 + $1))"; }
host() { echo "$CLUSTER-$1.$CLUSTER-peers.$NS.svc"; }

# tls_preflight: does this capstan serve https with listen-metrics-urls? (a single member
# on loopback with an openssl-made certificate, for at most 20 s)
tls_preflight() {
  local d=$CAP_TMP/preflight port
  mkdir -p "$d"
  (cd "$d" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=preflight -addext subjectAltName=IP:127.0.0.1 -keyout k.pem -out c.pem) >/dev/null 2>&1 || return 1
  read -r -a port < <(python3 "$CAP_LIB_DIR/freeport.py" 3 127.0.0.1 | paste -sd' ')
  cat >"$d/cfg.yaml" <<EOF
name: pre
data-dir: $d/data
listen-client-urls: https://127.0.0.1:${port[0]}
advertise-client-urls: https://127.0.0.1:${port[0]}
listen-peer-urls: https://127.0.0.1:${port[1]}
initial-advertise-peer-urls: https://127.0.0.1:${port[1]}
initial-cluster: pre=https://127.0.0.1:${port[1]}
listen-metrics-urls: http://127.0.0.1:${port[2]}
client-transport-security: {cert-file: $d/c.pem, key-file: $d/k.pem, trusted-ca-file: $d/c.pem, client-cert-auth: true}
peer-transport-security: {cert-file: $d/c.pem, key-file: $d/k.pem, trusted-ca-file: $d/c.pem, client-cert-auth: true}
EOF
  "$CAPSTAN_BIN" --config-file="$d/cfg.yaml" >"$d/log" 2>&1 &
  local pid=$! ok=1 i
  for i in $(seq 1 40); do
    if curl -sf --max-time 1 "http://127.0.0.1:${port[2]}/health" >/dev/null 2>&1; then ok=0; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
  done
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ $ok = 0 ] || cap_say "preflight: $(tail -n 3 "$d/log" | cut -c1-300 | tr '\n' ' ')"
  return $ok
}

# --- outside: make the network namespace, run this script inside it -----------------------
if [ -z "${OPT_NETNS:-}" ]; then
  cap_require_bin "$CAPSTAN_BIN" || exit 1
  cap_require_bin "$CAPSTAN_OPERATOR_BIN" || exit 1
  command -v ip >/dev/null 2>&1 || cap_skip "no ip command (network namespaces)"
  [ "$(id -u)" = 0 ] || cap_skip "needs root for ip netns"
  command -v openssl >/dev/null 2>&1 || cap_skip "no openssl"
  command -v curl >/dev/null 2>&1 || cap_skip "no curl"
  python3 -c 'import yaml' 2>/dev/null || cap_skip "python3 has no yaml module"
  cap_init
  tls_preflight || cap_skip "$CAPSTAN_BIN does not serve TLS yet (https URLs or listen-metrics-urls refused)"
  kube_bins
  OPT_NETNS=captls$$
  netns_cleanup() {
    local pids
    if [ -n "${INNER:-}" ] && kill -0 "$INNER" 2>/dev/null; then
      kill -TERM "$INNER" 2>/dev/null
      for _ in $(seq 1 300); do kill -0 "$INNER" 2>/dev/null || break; sleep 0.1; done
    fi
    pids=$(ip netns pids "$OPT_NETNS" 2>/dev/null)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null
    ip netns del "$OPT_NETNS" 2>/dev/null
    rm -rf "/etc/netns/$OPT_NETNS"
  }
  CAP_CLEANUP_HOOKS+=(netns_cleanup)
  ip netns add "$OPT_NETNS" || cap_skip "cannot create a network namespace"
  ip -n "$OPT_NETNS" link set lo up || { cap_fail "lo up in $OPT_NETNS"; cap_finish; }
  mkdir -p "/etc/netns/$OPT_NETNS"
  {
    echo "127.0.0.1 localhost"
    for ((i = 0; i < MAX_MEMBERS; i++)); do echo "$(member_ip $i) $(host $i) $(host $i).cluster.local"; done
  } >"/etc/netns/$OPT_NETNS/hosts"
  echo "nameserver 127.0.0.1" >"/etc/netns/$OPT_NETNS/resolv.conf"
  for ((i = 0; i < MAX_MEMBERS; i++)); do ip -n "$OPT_NETNS" addr add "$(member_ip $i)/32" dev lo; done
  OPT_NETNS=$OPT_NETNS ip netns exec "$OPT_NETNS" bash "$0" "$CAP_TMP/inner" &
  INNER=$!
  wait "$INNER"
  rc=$?
  INNER=
  case $rc in
    0) cap_pass "the scenario inside $OPT_NETNS" ;;
    77) ;;
    *) cap_fail "the scenario (inside $OPT_NETNS) failed with status $rc" ;;
  esac
  [ $rc = 77 ] && exit 77
  cap_finish
fi

# --- inside the namespace -----------------------------------------------------------------
cap_init "$1"
kube_bins
CAP_HOST=127.1.0.3 cap_up etcd "$CAPSTAN_BIN" || { cap_fail "the API server's Capstan member did not start"; cap_finish; }
kube_up "http://${CAP_EP[etcd]}" 127.1.0.2
kube_kcm statefulset-controller,garbage-collector-controller,persistentvolumeclaim-protection-controller
kcheck "apply the CRD from crds/" apply --server-side -f "$ROOT/crds/"
kawait "CRD Established" 60 k wait --for=condition=Established crd/etcdclusters.capstan.dev --timeout=5s
kcheck "namespaces" create namespace capstan-system
kcheck "test namespace" create namespace "$NS"
OPCFG=$(kube_user_kubeconfig operator capstan-operator) || { cap_fail "operator certificate"; cap_finish; }
cap_check "the chart's RBAC bound to the operator's user" cap_quiet kube_operator_rbac capstan-operator capstan-system
OP_N=0 OP=
op_start() { # a new operator process (new identity, as a new pod would have)
  OP_N=$((OP_N + 1)) OP=op$OP_N
  local port; port=$(python3 "$CAP_LIB_DIR/freeport.py" 1 127.1.0.4 | head -n 1)
  CAP_ENV=(KUBECONFIG="$OPCFG" RUST_BACKTRACE=1)
  cap_spawn "$OP" "127.1.0.4:$port" "$CAPSTAN_OPERATOR_BIN" --metrics-addr "127.1.0.4:$port" \
    --lease-namespace capstan-system --identity "$OP" --log-level "info,capstan_operator=debug" --log-format json
}
op_start
mkdir -p "$CAP_TMP/pods" "$CAP_TMP/volumes"
FAKE_KUBELET_SECRET_SYNC=1 python3 "$CAP_LIB_DIR/fake-kubelet.py" "$KUBECTL" "$KCFG" "$NS" "$CLUSTER" "$CAPSTAN_BIN" \
  "$CAP_TMP/volumes" "$CAP_TMP/pods" 1100 >"$CAP_TMP/kubelet.log" 2>&1 &
cap_track $!

# --- the client's view: the client Secret, refreshed like a mounted one -------------------
CLI=$CAP_TMP/client   # a symlink to the current copy, swapped atomically (as ..data)
CLI_N=0
refresh_client() { # the client Secret's files, the three replaced together
  local json f dir
  json=$(k get secret "$CLUSTER-client-tls" -n "$NS" -o json 2>/dev/null) || return 1
  CLI_N=$((CLI_N + 1)) dir=$CAP_TMP/client.$BASHPID.$CLI_N
  mkdir -p "$dir"
  for f in tls.crt tls.key ca.crt; do
    python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["data"][sys.argv[1]]))' "$f" \
      <<<"$json" >"$dir/$f" || return 1
  done
  if [ -L "$CLI" ] && cmp -s "$dir/tls.crt" "$CLI/tls.crt" && cmp -s "$dir/ca.crt" "$CLI/ca.crt"; then
    rm -rf "$dir"
    return 0
  fi
  ln -sfn "$dir" "$CLI.$BASHPID.tmp" && mv -T "$CLI.$BASHPID.tmp" "$CLI"
}
EPS=$(for ((i = 0; i < MAX_MEMBERS; i++)); do printf 'https://%s:2379,' "$(host $i)"; done)
EPS=${EPS%,}
EPS3=https://$(host 0):2379,https://$(host 1):2379,https://$(host 2):2379
tctl() { timeout 15 "$CAPSTAN_ETCDCTL" --cacert="$CLI/ca.crt" --cert="$CLI/tls.crt" --key="$CLI/tls.key" --dial-timeout=2s --command-timeout=4s "$@"; }
members() {
  tctl --endpoints="$EPS3" member list -w json 2>/dev/null | python3 -c 'import json,sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s:%s" % (m["peerURLs"][0].split("//")[1].split(".")[0], "L" if m.get("isLearner") else "V") for m in d.get("members", []))))' 2>/dev/null
}
ec_status() { k get ec "$CLUSTER" -n "$NS" -o json 2>/dev/null | jq_py "$1" 2>/dev/null; }
conds() { ec_status '" ".join("%s=%s/%s" % (c["type"], c["status"], c["reason"]) for c in d.get("status", {}).get("conditions", []))'; }
want_members() { local i out=(); for ((i = 0; i < $1; i++)); do out+=("$CLUSTER-$i:V"); done; echo "${out[*]}"; }
settled() {
  refresh_client
  [ "$(members)" = "$(want_members "$1")" ] &&
    [ "$(ec_status 'd["status"].get("readyMembers")')" = "$1" ] &&
    [ "$(conds)" = "Available=True/QuorumHealthy Progressing=False/Reconciled Degraded=False/AllMembersHealthy CertificatesReady=True/Issued" ]
}
dump() {
  cap_say "members: $(members); $(conds); tls: $(ec_status 'json.dumps({k: v for k, v in d["status"].get("tls", {}).items() if k.startswith("rotation")})')"
  tail -n 10 "$CAP_TMP/kubelet.log" | sed 's/^/  kubelet| /'
  grep -E '"level":"(WARN|ERROR)"' "${CAP_LOG[$OP]}" | tail -n 5 | cut -c1-300 | sed 's/^/  operator| /'
}

cat >"$CAP_TMP/demo.yaml" <<EOF
apiVersion: capstan.dev/v1alpha1
kind: EtcdCluster
metadata: {name: $CLUSTER, namespace: $NS}
spec:
  replicas: 3
  version: 0.1.0
  storage: {size: 1Gi}
  options: {heartbeatIntervalMs: 100, electionTimeoutMs: 1000}
  tls:
    mode: auto
    auto: {rotationSettle: 5s}
EOF
T0=$SECONDS
kcheck "create a 3-member EtcdCluster with TLS (mode auto)" apply -f "$CAP_TMP/demo.yaml"
kawait "3 members up over TLS, Available, CertificatesReady" 240 settled 3 || dump
cap_say "created in $((SECONDS - T0)) s"
cap_expect "member demo-1 advertises https client and peer URLs" "https://$(host 1):2379 https://$(host 1):2380" \
  "$(tctl --endpoints="$EPS3" member list -w json | python3 -c 'import json,sys
for m in json.load(sys.stdin)["members"]:
    if m["name"] == "demo-1": print(m["clientURLs"][0], m["peerURLs"][0])')"
cap_check "plain http on the client port is refused" bash -c "! timeout 10 $CAPSTAN_ETCDCTL --endpoints=http://$(host 0):2379 --dial-timeout=2s --command-timeout=3s get x >/dev/null 2>&1"
cap_check "TLS without a client certificate is refused (client-cert-auth)" bash -c "! timeout 10 $CAPSTAN_ETCDCTL --endpoints=https://$(host 0):2379 --cacert=$CLI/ca.crt --dial-timeout=2s --command-timeout=3s get x >/dev/null 2>&1"

T0=$SECONDS
kcheck "scale to 5" scale etcdcluster "$CLUSTER" -n "$NS" --replicas=5
kawait "5 voters over TLS" 300 settled 5 || dump
cap_say "3 -> 5 in $((SECONDS - T0)) s"
T0=$SECONDS
kcheck "scale to 3" scale etcdcluster "$CLUSTER" -n "$NS" --replicas=3
kawait "3 voters over TLS" 300 settled 3 || dump
cap_say "5 -> 3 in $((SECONDS - T0)) s"

# --- load through renewal and CA rotation -------------------------------------------------
served() { # ORDINAL PORT: serial and issuer of the certificate the member serves
  timeout 5 openssl s_client -connect "$(host "$1"):$2" -servername "$(host "$1")" \
    -cert "$CLI/tls.crt" -key "$CLI/tls.key" </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer 2>/dev/null | paste -sd' '
}
secret_serial() { k get secret "$1" -n "$NS" -o json | python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["data"]["tls.crt"]))' | openssl x509 -noout -serial; }
all_serve() { # SECRET PORT: every member serves the Secret's certificate on PORT
  local want i; want=$(secret_serial "$1")
  for i in 0 1 2; do [[ "$(served $i "$2")" == "$want "* ]] || return 1; done
}
LOAD_LOG=$CAP_TMP/load.log
load() { # until $CAP_TMP/stop-load exists: one put per new connection; a line per result
  local n=0
  while [ ! -e "$CAP_TMP/stop-load" ] && ((n < 5000)); do
    n=$((n + 1))
    ((n % 5 == 0)) && refresh_client
    if tctl --endpoints="$EPS3" put "k$((n % 50))" "v$n" >/dev/null 2>"$CAP_TMP/load.err"; then echo "ok $n" >>"$LOAD_LOG"
    else echo "FAIL $n $(date +%T.%N) $(head -c 200 "$CAP_TMP/load.err" | tr '\n' ' ')" >>"$LOAD_LOG"; fi
    sleep 0.2
  done
}
restarts() { grep -c 'exited with status' "$CAP_TMP/kubelet.log"; }
R0=$(restarts)
load &
LOAD=$!
cap_track $LOAD
sleep 3

T0=$SECONDS
OLD_SERVER=$(secret_serial "$CLUSTER-server-tls")
kcheck "annotate capstan.dev/renew-certs" annotate ec "$CLUSTER" -n "$NS" capstan.dev/renew-certs="$(date -u +%FT%TZ)"
renewed() { [ "$(secret_serial "$CLUSTER-server-tls")" != "$OLD_SERVER" ]; }
kawait "renew-certs: the server Secret holds a new certificate" 30 renewed
kawait "every member serves the new server certificate (client port)" 60 all_serve "$CLUSTER-server-tls" 2379 || dump
kawait "every member serves the new peer certificate (peer port)" 60 all_serve "$CLUSTER-peer-tls" 2380 || dump
cap_say "renewal picked up by every member in $((SECONDS - T0)) s"

if [ "${OPT_ROTATE:-1}" = hold ]; then
  kcheck "annotate capstan.dev/rotate-ca" annotate ec "$CLUSTER" -n "$NS" capstan.dev/rotate-ca="$(date -u +%FT%TZ)"
  waits_for_trust() { ec_status 'd["status"]["tls"].get("rotationWaitingFor", "")' | grep -q "to trust the new CA"; }
  kawait "the rotation waits for members to trust the new CA (they never reload their bundle)" 60 waits_for_trust || dump
  cap_say "waiting for: $(ec_status 'd["status"]["tls"].get("rotationWaitingFor")')"
  sleep 10
  cap_expect "still in phase 1 (Trusting): no leaf from the new CA" Trusting "$(ec_status 'd["status"]["tls"]["rotationPhase"]')"
fi
if [ "${OPT_ROTATE:-1}" = 1 ]; then
OLD_CLIENT=$CAP_TMP/old-client
mkdir -p "$OLD_CLIENT" && cp "$CLI/tls.crt" "$CLI/tls.key" "$OLD_CLIENT/"
T0=$SECONDS
OLD_CA=$(k get secret "$CLUSTER-ca" -n "$NS" -o 'jsonpath={.data.tls\.crt}')
kcheck "annotate capstan.dev/rotate-ca" annotate ec "$CLUSTER" -n "$NS" capstan.dev/rotate-ca="$(date -u +%FT%TZ)"
# The operator is killed -9 in the middle of the rotation (phase Reissuing, recorded in
# the CA Secret); its successor (after the 15 s Lease) must resume, not restart.
reissuing() { [ "$(kjp '{.metadata.annotations.capstan\.dev/ca-rotation-phase}' secret "$CLUSTER-ca" -n "$NS")" = Reissuing ]; }
kawait "rotation reaches phase Reissuing" 120 reissuing || dump
cap_stop "$OP" KILL 1
cap_say "--- killed operator $OP (-9) in phase Reissuing; starting another"
op_start
PHASES=
phase_seen() { # record every phase the status passes through; true once back to Idle after a rotation
  local p; p=$(ec_status 'd["status"]["tls"]["rotationPhase"]')
  [ -n "$p" ] && [ "${PHASES##* }" != "$p" ] && PHASES="$PHASES $p"
  [ "$(k get events.events.k8s.io -n "$NS" -o json | jq_py 'len([e for e in d["items"] if e.get("reason")=="CARotationComplete"])')" -ge 1 ]
}
kawait "CA rotation completes (Event CARotationComplete)" 300 phase_seen || dump
cap_say "CA rotation in $((SECONDS - T0)) s; phases seen in status:$PHASES"
events=$(k get events.events.k8s.io -n "$NS" -o json | jq_py '" ".join(e["reason"] for e in sorted(d["items"], key=lambda e: e.get("eventTime") or e["metadata"]["creationTimestamp"]) if e.get("reason","").startswith("CARotation"))')
cap_expect "rotation Events in order, each once (the successor resumed in phase Reissuing)" "CARotationTrusting CARotationReissuing CARotationDropping CARotationComplete" "$events"
NEW_CA=$(k get secret "$CLUSTER-ca" -n "$NS" -o 'jsonpath={.data.tls\.crt}')
cap_check "the CA changed" test "$OLD_CA" != "$NEW_CA"
refresh_client
cap_expect "the client bundle holds only the new CA" 1 "$(grep -c 'BEGIN CERTIFICATE' "$CLI/ca.crt")"
echo "$NEW_CA" | base64 -d >"$CAP_TMP/new-ca.crt"
for i in 0 1 2; do
  for p in 2379 2380; do
    cap_check "$CLUSTER-$i:$p serves a certificate of the new CA" bash -c \
      "timeout 5 openssl s_client -connect $(host $i):$p -servername $(host $i) -cert $CLI/tls.crt -key $CLI/tls.key </dev/null 2>/dev/null | openssl x509 >$CAP_TMP/s.pem 2>/dev/null && openssl verify -CAfile $CAP_TMP/new-ca.crt $CAP_TMP/s.pem >/dev/null 2>&1"
  done
done
echo "$OLD_CA" | base64 -d >"$CAP_TMP/old-ca.crt"
cap_check "a client certificate of the old CA is refused now" bash -c \
  "! timeout 10 $CAPSTAN_ETCDCTL --endpoints=https://$(host 0):2379 --cacert=$CLI/ca.crt --cert=$OLD_CLIENT/tls.crt --key=$OLD_CLIENT/tls.key --dial-timeout=2s --command-timeout=3s get x >/dev/null 2>&1"
fi
touch "$CAP_TMP/stop-load"
wait $LOAD 2>/dev/null
n_ok=$(grep -c '^ok' "$LOAD_LOG")
n_fail=$(grep -c '^FAIL' "$LOAD_LOG")
cap_say "load: $n_ok requests ok, $n_fail failed (a new TLS connection each)"
[ "$n_fail" = 0 ] || head -n 5 "$LOAD_LOG" | grep FAIL | sed 's/^/    /'
cap_expect "no request failed through renewal and CA rotation" 0 "$n_fail"
cap_check "the load loop made requests throughout (> 10)" test "$n_ok" -gt 10
cap_expect "no member restarted" "$R0" "$(restarts)"
[ "${OPT_ROTATE:-1}" = hold ] || kawait "settled again (Idle, Issued)" 60 settled 3 || dump
n_err=$(for ((i = 1; i <= OP_N; i++)); do cat "${CAP_LOG[op$i]}"; done | grep -c '"level":"ERROR"' || true)
cap_say "operator log: $n_err ERROR line(s)"
cap_stop "$OP" TERM 20
cap_finish
