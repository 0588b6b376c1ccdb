#!/usr/bin/env bash
# kube-apiserver on a 3-member cluster of $CAPSTAN_BIN: Kubernetes' own API server (and
# kube-controller-manager with the deployment, replicaset, garbage-collector and
# namespace controllers) built from the Go module proxy by tests/kube/build-kube.sh,
# pointed at all three members with --etcd-servers, driven with kubectl.
#
# Scripted workload, each step asserted (PASS/FAIL lines), wall time per phase:
#   namespaces, ConfigMaps, Secrets: create / list / get / replace (update) / patch
#   (merge, JSON, strategic, server-side apply) / delete, and the etcd keys behind them;
#   Deployments: the controllers create ReplicaSets and (unscheduled) Pods, scale, a new
#   ReplicaSet on an image change, cascading delete by the garbage collector;
#   a CRD and custom objects (status subresource, delete of the CRD removes them);
#   pagination: KUBE_PAGE_OBJECTS ConfigMaps listed with kubectl --chunk-size and by
#   following continue tokens by hand (remainingItemCount, a consistent snapshot while
#   writes happen between pages);
#   watches: `kubectl get --watch-only` in the background on an etcd-backed resource
#   (ConfigMaps: their watch cache is off, see below) and a cached one (Secrets) must see
#   every change of a window, in order; a watch from an older resourceVersion replays them;
#   optimistic concurrency: a replace or patch with a stale resourceVersion, a delete
#   with a stale precondition, a create of an existing name fail with Conflict /
#   AlreadyExists;
#   soak: KUBE_SOAK_SECS of churn while the API server compacts etcd itself
#   (--etcd-compaction-interval) and lease-backed keys expire (an Event with
#   --event-ttl, the master lease); afterwards: compaction happened, reads/watches/continue
#   tokens from before it answer 410 Gone, the Event is gone;
#   at the end: kube-apiserver's log and metrics are searched for etcd errors: FAIL on
#   signs of incompatibility (Unimplemented other than KV.RangeStream, decode errors,
#   unknown methods, failed compactions, ...), anything else etcd-related is listed as
#   suspicious; whether lists used KV.RangeStream (etcd 3.7) is reported from
#   apiserver_storage_list_duration_seconds{streamed} and the fallback log lines.
#
# ConfigMaps are served without the watch cache (--watch-cache-sizes=configmaps#0), so
# their gets, paginated lists and watches go to etcd directly; every other resource is
# served through the watch cache (whose lists and consistent reads use etcd's
# RequestProgress and ranges at a revision).
#
# Needs Go (to build Kubernetes once, ~16 min cold on 2 cores; skipped with 77 if there
# is no go or the build fails) and openssl. Runs against etcd too:
#   CAPSTAN_BIN=$(tests/tools/build-etcd.sh --print-dir)/etcd tests/e2e/kube-apiserver.sh
#   tests/kube/compare.sh   (etcd 3.7.3, then Capstan; a table of the results)
# Knobs: KUBE_SOAK_SECS (default 120), KUBE_PAGE_OBJECTS (250), KUBE_CHUNK (50),
#   KUBE_COMPACTION_INTERVAL (30s), KUBE_EVENT_TTL (1m), KUBE_KCM=0 (no controller
#   manager: Deployment checks limited to the objects), KUBE_READY_TIMEOUT (240),
#   KUBE_BIN_DIR (prebuilt kube-apiserver/kube-controller-manager/kubectl),
#   KUBE_APISERVER_ARGS (extra flags), KUBE_V (klog verbosity, 2),
#   KUBE_RESULT_FILE (append a one-line result summary there), KUBE_ETCD_TLS (1: the
#   members serve clients and peers over mutual TLS and the API server connects with
#   --etcd-cafile/--etcd-certfile/--etcd-keyfile, as in kubeadm clusters; 0: plain).
# timeout: 3600
set -u
CAP_TEST_NAME=kube-apiserver
# shellcheck source=tests/lib/kube.sh
. "$(dirname "$0")/../lib/kube.sh"    # kubectl helpers: k, kr, kcheck, kexpect, krefuse, kawait
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
# The soak's lists and watches are slower than the operator suites' calls.
KUBE_K_TIMEOUT=120 KUBE_K_REQUEST_TIMEOUT=60s
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cap_require_bin "$CAPSTAN_BIN" || exit 1
command -v openssl >/dev/null 2>&1 || cap_skip "no openssl (needed for the API server's certificates)"
cap_init

SOAK=${KUBE_SOAK_SECS:-120}
NPAGE=${KUBE_PAGE_OBJECTS:-250}
CHUNK=${KUBE_CHUNK:-50}
COMPACT_EVERY=${KUBE_COMPACTION_INTERVAL:-30s}
EVENT_TTL=${KUBE_EVENT_TTL:-1m}
USE_KCM=${KUBE_KCM:-1}
READY_TIMEOUT=${KUBE_READY_TIMEOUT:-240}
KAPI="python3 $ROOT/tests/kube/kapi.py"

# --- Kubernetes binaries ------------------------------------------------------------------
if [ -n "${KUBE_BIN_DIR:-}" ]; then
  KDIR=$KUBE_BIN_DIR
else
  KDIR=$("$ROOT/tests/kube/build-kube.sh" --print-dir)
  if ! command -v "${CAPSTAN_GO:-go}" >/dev/null 2>&1; then
    # without Go the build cannot be checked or made: use what is there, else skip
    [ -x "$KDIR/kube-apiserver" ] && [ -x "$KDIR/kubectl" ] ||
      cap_skip "no go command: cannot build kube-apiserver (tests/kube/build-kube.sh)"
  elif ! "$ROOT/tests/kube/build-kube.sh" --check 2>/dev/null; then
    cap_say "building Kubernetes with tests/kube/build-kube.sh (cold: ~16 min on 2 cores; log $CAP_TMP/build-kube.log)"
    t0=$SECONDS
    if ! nice -n 19 "$ROOT/tests/kube/build-kube.sh" >"$CAP_TMP/build-kube.log" 2>&1; then
      tail -n 30 "$CAP_TMP/build-kube.log" | sed 's/^/  build| /'
      cap_skip "tests/kube/build-kube.sh failed"
    fi
    cap_say "built in $((SECONDS - t0)) s"
  fi
fi
APISERVER=$KDIR/kube-apiserver KCM=$KDIR/kube-controller-manager KUBECTL=$KDIR/kubectl
for b in "$APISERVER" "$KUBECTL"; do [ -x "$b" ] || cap_skip "no $b"; done
[ -x "$KCM" ] || USE_KCM=0
KVER=$("$APISERVER" --version 2>&1 | head -n 1)
SVER=$("$CAPSTAN_BIN" --version 2>&1 | head -n 1)
cap_say "$KVER, kubectl $("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Client Version: //p'); etcd side: $SVER ($CAPSTAN_BIN)"

# --- timing -------------------------------------------------------------------------------
declare -A PHASE_SECS=()
PHASES=()
PHASE= PHASE_T0=
phase() { # phase NAME: end the current phase (if any), start NAME ("" ends only)
  if [ -n "$PHASE" ]; then
    PHASE_SECS[$PHASE]=$(cl_elapsed "$PHASE_T0")
    PHASES+=("$PHASE")
    cap_say "--- $PHASE: ${PHASE_SECS[$PHASE]} s"
  fi
  PHASE=$1 PHASE_T0=$(cl_now)
  echo "$PHASE_T0 ${PHASE:-between-phases}" >>"$CAP_TMP/phases.txt"
  [ -z "$PHASE" ] || cap_say "--- phase $PHASE"
}

# --- etcd cluster -------------------------------------------------------------------------
# Over mutual TLS, as kubeadm runs it (client and peer certificates from one CA; the API
# server presents CN=root with --etcd-certfile), unless KUBE_ETCD_TLS=0.
ETCD_TLS_ARGS=()
if [ "${KUBE_ETCD_TLS:-1}" = 1 ]; then
  cl_net_init 5 && cl_tls_init "$CAP_TMP/etcd-tls" && cl_tls_certs 3 ||
    { cap_fail "etcd certificates (openssl)"; cap_finish; }
  ETCD_TLS_ARGS=(--etcd-cafile="$CL_TLS_DIR/ca.pem" --etcd-certfile="$CL_TLS_DIR/client.pem"
    --etcd-keyfile="$CL_TLS_DIR/client-key.pem")
fi
T_START=$(cl_now)
cl_new 3 "$CAPSTAN_BIN" || { cap_fail "3-member cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up, leader $CL_LEADER ($(cl_elapsed "$T_START") s)"
ETCD_URLS=$(for m in "${CL_MEMBERS[@]}"; do cl_client_url "$m"; done | paste -sd, -)
ETCD_VERSION=$(cl_ctl m1 endpoint status -w json 2>/dev/null | cl_json 'd[0]["Status"]["version"]' 2>/dev/null)
cap_say "etcd servers $ETCD_URLS (reporting version ${ETCD_VERSION:-?}; TLS: ${KUBE_ETCD_TLS:-1})"

# --- certificates and kubeconfig ----------------------------------------------------------
API_IP=$CL_NET.20
API_PORT=$(python3 "$CAP_LIB_DIR/freeport.py" 1 "$API_IP" | head -n 1)
API=https://$API_IP:$API_PORT
PKI=$CAP_TMP/pki
mkdir -p "$PKI"
gen_certs() (
  cd "$PKI" || exit 1
  set -e
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=capstan-e2e-ca" -out ca.crt
  sign() { # NAME SUBJECT EXTENSIONS
    openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%b' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
      -extfile "$1.ext" -out "$1.crt"
  }
  sign server "/CN=kube-apiserver" \
    "subjectAltName=IP:$API_IP,IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  sign admin "/O=system:masters/CN=capstan-e2e-admin" \
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
  openssl pkey -in sa.key -pubout -out sa.pub
) >"$PKI/openssl.log" 2>&1
gen_certs || { sed 's/^/  openssl| /' "$PKI/openssl.log"; cap_fail "certificates (openssl)"; cap_finish; }
KCFG=$CAP_TMP/admin.kubeconfig
cat >"$KCFG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: capstan-e2e
  cluster:
    server: $API
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: capstan-e2e
  context: {cluster: capstan-e2e, user: admin}
current-context: capstan-e2e
EOF
export KAPI_CA=$PKI/ca.crt KAPI_CERT=$PKI/admin.crt KAPI_KEY=$PKI/admin.key

# count_of ARGS...: number of lines printed by `kubectl ARGS -o name`.
count_of() { k "$@" -o name 2>/dev/null | grep -c .; }
count_is() { local n=$1; shift; [ "$(count_of "$@")" = "$n" ]; }
# kapi ARGS...: tests/kube/kapi.py against our API server.
kapi() { timeout 120 $KAPI "$API" "$@"; }
# ectl ARGS...: etcdctl against all members.
ectl() { cl_ctl_eps "$(cl_eps)" "$@"; }
ekeys() { ectl get "$1" --prefix --keys-only 2>/dev/null | grep -c .; }
jpath() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

# --- kube-apiserver -----------------------------------------------------------------------
# The endpoint reconciler (which keeps the master lease, /registry/masterleases/IP, an
# etcd key with a 15 s lease) refuses a loopback advertise address: advertise a TEST-NET-1
# documentation address instead, which nothing ever connects to (clients use $API).
ADVERTISE_IP=192.0.2.10
# (envtest's flags, plus: every member in --etcd-servers, compaction by the API server,
# short event TTL, no watch cache for ConfigMaps, V(4) for the etcd3 store so the
# RangeStream fallback and compactions are logged.)
phase startup
# shellcheck disable=SC2206 # KUBE_APISERVER_ARGS is a list of words
cap_spawn apiserver "$API_IP:$API_PORT" "$APISERVER" \
  --etcd-servers="$ETCD_URLS" "${ETCD_TLS_ARGS[@]}" \
  --etcd-compaction-interval="$COMPACT_EVERY" \
  --event-ttl="$EVENT_TTL" \
  --watch-cache-sizes=configmaps#0 \
  --bind-address="$API_IP" --advertise-address="$ADVERTISE_IP" --secure-port="$API_PORT" \
  --cert-dir="$CAP_TMP/apiserver/certs" \
  --tls-cert-file="$PKI/server.crt" --tls-private-key-file="$PKI/server.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-issuer="$API" --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
  --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount \
  --profiling=false --v="${KUBE_V:-2}" --vmodule=store=4,watcher=4,compact=4 \
  ${KUBE_APISERVER_ARGS:-}
APILOG=${CAP_LOG[apiserver]}
T_API=$(cl_now)
ready=0
for ((i = 0; i < READY_TIMEOUT * 2; i++)); do
  cap_alive apiserver || break
  if [ "$(kapi request GET /readyz 2>/dev/null | head -n 1)" = 200 ]; then ready=1; break; fi
  sleep 0.5
done
READY_SECS=$(cl_elapsed "$T_API")
if [ $ready = 0 ]; then
  cap_fail "kube-apiserver /readyz not OK within $READY_TIMEOUT s (alive: $(cap_alive apiserver && echo yes || echo no))"
  kapi request GET '/readyz?verbose' 2>/dev/null | grep -v '\[+\]' | head -n 20 | sed 's/^/    /'
  grep -E '^[EF][0-9]{4} ' "$APILOG" | tail -n 20 | cut -c1-400 | sed 's/^/    api| /'
  cap_finish
fi
cap_pass "kube-apiserver ready (/readyz 200) after $READY_SECS s"
cap_expect "kubectl talks to it: server version" "$(sed 's/^Kubernetes //' <<<"$KVER")" \
  "$(k version -o json 2>/dev/null | jpath 'd["serverVersion"]["gitVersion"]' 2>/dev/null)"

if [ "$USE_KCM" = 1 ]; then
  cap_spawn kcm "-" "$KCM" --kubeconfig="$KCFG" \
    --controllers=deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller \
    --leader-elect=true --secure-port=0 --v=2
  kawait "kube-controller-manager holds its leader lease" 90 \
    k get lease -n kube-system kube-controller-manager
fi
phase ""

# --- namespaces ---------------------------------------------------------------------------
phase namespaces
kcheck "create namespaces" create namespace cap-work
kcheck "create namespace (2)" create namespace cap-tmp
kexpect "get namespace phase" Active get ns cap-work -o 'jsonpath={.status.phase}'
K_OUT=$(k get ns -o name | grep '^namespace/cap-' | paste -sd' ' -)
cap_expect "list shows both new namespaces" "namespace/cap-tmp namespace/cap-work" "$K_OUT"
kcheck "label (patch) a namespace" label ns cap-work team=storage
kexpect "list by label selector" "namespace/cap-work" get ns -l team=storage -o name
kcheck "annotate (patch) a namespace" annotate ns cap-work capstan.test/note=hello
if k get ns cap-tmp -o json >"$CAP_TMP/ns.json" 2>&1 &&
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["metadata"].setdefault("labels",{})["replaced"]="yes"; json.dump(d,open(sys.argv[1],"w"))' "$CAP_TMP/ns.json"; then
  kcheck "replace (update) a namespace" replace -f "$CAP_TMP/ns.json"
  kexpect "replaced label visible" yes get ns cap-tmp -o 'jsonpath={.metadata.labels.replaced}'
else cap_fail "get namespace as JSON"; fi
cap_check "namespace keys in etcd" test "$(ekeys /registry/namespaces/cap-)" = 2
if [ "$USE_KCM" = 1 ]; then
  kcheck "delete a namespace (namespace controller finalizes it)" delete ns cap-tmp --wait=true --timeout=90s
  krefuse "deleted namespace is gone" 'NotFound|not found' get ns cap-tmp
else
  kcheck "delete a namespace" delete ns cap-tmp --wait=false
  kexpect "deleted namespace is Terminating (no namespace controller)" Terminating get ns cap-tmp -o 'jsonpath={.status.phase}'
fi

# --- ConfigMaps ---------------------------------------------------------------------------
phase configmaps
kcheck "create configmap" create configmap cm1 -n cap-work --from-literal=a=1 --from-literal=b=x
kexpect "get configmap" 1 get cm cm1 -n cap-work -o 'jsonpath={.data.a}'
k get cm cm1 -n cap-work -o json >"$CAP_TMP/cm1.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["data"]["a"]="2"; json.dump(d,open(sys.argv[1],"w"))' "$CAP_TMP/cm1.json"
kcheck "replace (update) configmap" replace -f "$CAP_TMP/cm1.json"
kexpect "updated value" 2 get cm cm1 -n cap-work -o 'jsonpath={.data.a}'
kcheck "merge patch" patch cm cm1 -n cap-work --type=merge -p '{"data":{"c":"3"}}'
kcheck "JSON patch" patch cm cm1 -n cap-work --type=json -p '[{"op":"replace","path":"/data/a","value":"4"}]'
kcheck "strategic merge patch" patch cm cm1 -n cap-work -p '{"metadata":{"labels":{"k":"v"}}}'
kexpect "patched values" "4 x 3 v" get cm cm1 -n cap-work -o 'jsonpath={.data.a} {.data.b} {.data.c} {.metadata.labels.k}'
cat >"$CAP_TMP/cm2.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: cm2, namespace: cap-work}
data: {x: "1"}
EOF
kcheck "server-side apply (create)" apply --server-side -f "$CAP_TMP/cm2.yaml"
sed -i 's/x: "1"/x: "2", z: "3"/' "$CAP_TMP/cm2.yaml"
kcheck "server-side apply (update)" apply --server-side -f "$CAP_TMP/cm2.yaml"
kexpect "applied values" "2 3" get cm cm2 -n cap-work -o 'jsonpath={.data.x} {.data.z}'
cap_expect "list configmaps" "configmap/cm1 configmap/cm2" "$(k get cm -n cap-work -o name | grep '^configmap/cm' | sort | paste -sd' ' -)"
cap_check "configmap keys in etcd" test "$(ekeys /registry/configmaps/cap-work/cm)" = 2
kcheck "delete configmap" delete cm cm1 -n cap-work
krefuse "deleted configmap is gone" 'NotFound|not found' get cm cm1 -n cap-work
cap_check "its etcd key is gone" test "$(ekeys /registry/configmaps/cap-work/cm1)" = 0

# --- Secrets ------------------------------------------------------------------------------
phase secrets
kcheck "create secret" create secret generic s1 -n cap-work --from-literal=password=hunter2
kr get secret s1 -n cap-work -o 'jsonpath={.data.password}'
cap_expect "secret value round-trips" hunter2 "$(base64 -d <<<"$K_OUT" 2>/dev/null)"
kcheck "patch secret (stringData)" patch secret s1 -n cap-work --type=merge -p '{"stringData":{"user":"root"}}'
kr get secret s1 -n cap-work -o 'jsonpath={.data.user}'
cap_expect "patched secret value" root "$(base64 -d <<<"$K_OUT" 2>/dev/null)"
k get secret s1 -n cap-work -o json >"$CAP_TMP/s1.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.setdefault("metadata",{}).setdefault("labels",{})["rotated"]="1"; json.dump(d,open(sys.argv[1],"w"))' "$CAP_TMP/s1.json"
kcheck "replace (update) secret" replace -f "$CAP_TMP/s1.json"
kexpect "replaced secret label" 1 get secret s1 -n cap-work -o 'jsonpath={.metadata.labels.rotated}'
secret_in_etcd() { ectl get /registry/secrets/cap-work/s1 --print-value-only 2>/dev/null | grep -aq hunter2; }
cap_check "secret stored in etcd (no encryption at rest: value visible)" secret_in_etcd
kcheck "delete secret" delete secret s1 -n cap-work
krefuse "deleted secret is gone" 'NotFound|not found' get secret s1 -n cap-work

# --- CRD and custom objects ---------------------------------------------------------------
phase crd
cat >"$CAP_TMP/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.capstan.test}
spec:
  group: capstan.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
EOF
kcheck "create CRD" apply -f "$CAP_TMP/crd.yaml"
kcheck "CRD established" wait --for condition=established --timeout=60s crd/widgets.capstan.test
for i in $(seq 1 10); do
  printf -- '---\napiVersion: capstan.test/v1\nkind: Widget\nmetadata: {name: w%02d, namespace: cap-work}\nspec: {size: %d, color: blue}\n' "$i" "$i"
done >"$CAP_TMP/widgets.yaml"
kawait "custom resource served" 60 k get widgets -n cap-work
kcheck "create 10 custom objects" create -f "$CAP_TMP/widgets.yaml"
cap_expect "list custom objects" 10 "$(count_of get widgets -n cap-work)"
kexpect "get custom object" "5 blue" get widget w05 -n cap-work -o 'jsonpath={.spec.size} {.spec.color}'
kcheck "merge patch custom object" patch widget w05 -n cap-work --type=merge -p '{"spec":{"color":"red"}}'
kcheck "patch status subresource" patch widget w05 -n cap-work --subresource=status --type=merge -p '{"status":{"phase":"Ready"}}'
kexpect "custom object after patches" "red Ready" get widget w05 -n cap-work -o 'jsonpath={.spec.color} {.status.phase}'
k get widget w06 -n cap-work -o json >"$CAP_TMP/w06.json" 2>/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["spec"]["size"]=66; json.dump(d,open(sys.argv[1],"w"))' "$CAP_TMP/w06.json"
kcheck "replace (update) custom object" replace -f "$CAP_TMP/w06.json"
kexpect "replaced custom object" 66 get widget w06 -n cap-work -o 'jsonpath={.spec.size}'
kexpect "field selector on custom objects" "widget.capstan.test/w07" get widgets -n cap-work --field-selector metadata.name=w07 -o name
kcheck "delete custom object" delete widget w01 -n cap-work
cap_expect "9 custom objects left" 9 "$(count_of get widgets -n cap-work)"
cap_check "custom objects in etcd" test "$(ekeys /registry/capstan.test/widgets/cap-work/)" = 9
# (the CRD itself is deleted after the conflict checks, which use w02)

# --- Deployments --------------------------------------------------------------------------
phase deployments
kcheck "create deployment" create deployment web -n cap-work --image=registry.k8s.io/pause:3.10 --replicas=3
kexpect "get deployment" 3 get deploy web -n cap-work -o 'jsonpath={.spec.replicas}'
if [ "$USE_KCM" = 1 ]; then
  kawait "deployment controller creates a ReplicaSet" 60 count_is 1 get rs -n cap-work -l app=web
  kawait "replicaset controller creates 3 Pods" 60 count_is 3 get pods -n cap-work -l app=web
  kcheck "scale deployment to 5" scale deploy web -n cap-work --replicas=5
  kawait "5 Pods" 60 count_is 5 get pods -n cap-work -l app=web
  kcheck "change the image (rollout)" set image deploy/web -n cap-work pause=registry.k8s.io/pause:3.9
  kawait "rollout creates a second ReplicaSet" 60 count_is 2 get rs -n cap-work -l app=web
  observed() { [ "$(k get deploy web -n cap-work -o 'jsonpath={.status.observedGeneration} {.metadata.generation}' | awk '{print ($1 == $2)}')" = 1 ]; }
  kawait "deployment status observed the new generation" 60 observed
  kcheck "delete deployment" delete deploy web -n cap-work --cascade=background
  kawait "garbage collector deletes its ReplicaSets" 90 count_is 0 get rs -n cap-work -l app=web
  kawait "and their Pods" 90 count_is 0 get pods -n cap-work -l app=web
else
  kcheck "scale deployment (object only)" scale deploy web -n cap-work --replicas=5
  kexpect "scaled" 5 get deploy web -n cap-work -o 'jsonpath={.spec.replicas}'
  kcheck "delete deployment" delete deploy web -n cap-work
fi

# --- pagination ---------------------------------------------------------------------------
phase pagination
for ((i = 1; i <= NPAGE; i++)); do
  printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: page-%04d, namespace: cap-page, labels: {batch: page}}\ndata: {i: "%d", pad: "%0200d"}\n' "$i" "$i" 0
done >"$CAP_TMP/page.yaml"
kcheck "create namespace cap-page" create namespace cap-page
t0=$(cl_now)
kr create -f "$CAP_TMP/page.yaml"
if [ "$(grep -c ' created$' <<<"$K_OUT")" = "$NPAGE" ]; then cap_pass "create $NPAGE ConfigMaps ($(cl_elapsed "$t0") s)"
else cap_fail "create $NPAGE ConfigMaps: $(grep -v ' created$' <<<"$K_OUT" | head -n 3)"; fi
EXPECT_NAMES=$(for ((i = 1; i <= NPAGE; i++)); do printf 'configmap/page-%04d\n' "$i"; done)
k get cm -n cap-page --chunk-size="$CHUNK" -o name -v=6 >"$CAP_TMP/chunk.out" 2>"$CAP_TMP/chunk.err"
cap_expect "kubectl --chunk-size=$CHUNK lists all $NPAGE" "$EXPECT_NAMES" "$(grep '^configmap/page-' "$CAP_TMP/chunk.out")"
nreq=$(grep -E 'GET https?://[^ ]*/configmaps\?limit=' "$CAP_TMP/chunk.err" | grep -c . || true)
[ "$nreq" -gt 0 ] || nreq=$(grep -cE 'url="[^"]*/configmaps\?[^"]*limit=' "$CAP_TMP/chunk.err" || true)
want_pages=$(((NPAGE + CHUNK - 1) / CHUNK))
cap_expect "kubectl fetched $want_pages pages" "$want_pages" "$nreq"
if kapi list /api/v1/namespaces/cap-page/configmaps "$CHUNK" >"$CAP_TMP/pages.json" 2>&1; then
  cap_expect "continue tokens by hand: every name once, in order" "$EXPECT_NAMES" \
    "$(jpath '"\n".join("configmap/" + n for n in d["names"])' <"$CAP_TMP/pages.json")"
  cap_expect "all pages at one resourceVersion" 1 "$(jpath 'len(set(d["rvs"]))' <"$CAP_TMP/pages.json")"
  want_rem=$(python3 -c "import sys; n,c=$NPAGE,$CHUNK; print([n-c*(i+1) if n-c*(i+1)>0 else None for i in range((n+c-1)//c)])")
  cap_expect "remainingItemCount of each page" "$want_rem" "$(jpath 'd["remaining"]' <"$CAP_TMP/pages.json")"
else
  cap_fail "paginated list by hand: $(head -c 300 "$CAP_TMP/pages.json")"
fi
# a consistent snapshot: writes between pages are not seen by the continued list
P1=$(kapi page /api/v1/namespaces/cap-page/configmaps "$CHUNK")
CONT=$(jpath 'd["continue"]' <<<"$P1")
RV1=$(jpath 'd["rv"]' <<<"$P1")
kcheck "write between pages (create)" create configmap page-0000 -n cap-page --from-literal=i=0
kcheck "write between pages (delete)" delete configmap "page-$(printf %04d "$NPAGE")" -n cap-page
if kapi list /api/v1/namespaces/cap-page/configmaps "$CHUNK" "$CONT" >"$CAP_TMP/pages2.json" 2>&1; then
  cap_expect "continued list is the snapshot at the first page" \
    "$((NPAGE - CHUNK)) False True $RV1" \
    "$(jpath '"%d %s %s %s" % (len(d["names"]), "page-0000" in d["names"], "page-%04d" % '"$NPAGE"' in d["names"], d["rvs"][0])' <"$CAP_TMP/pages2.json")"
else
  cap_fail "continue after writes: $(head -c 300 "$CAP_TMP/pages2.json")"
fi
cap_expect "a new list sees the writes" "$NPAGE True False" \
  "$(kapi list /api/v1/namespaces/cap-page/configmaps "$CHUNK" | jpath '"%d %s %s" % (len(d["names"]), "page-0000" in d["names"], "page-%04d" % '"$NPAGE"' in d["names"])')"
cap_expect "label-selected list with --chunk-size" "$((NPAGE - 1))" "$(count_of get cm -n cap-page -l batch=page --chunk-size="$CHUNK")"
cap_check "ConfigMap keys in etcd" test "$(ekeys /registry/configmaps/cap-page/)" = "$NPAGE"
# kept for after the soak (must then be too old)
OLD_CONT=$CONT

# --- watches ------------------------------------------------------------------------------
phase watch
kcheck "create namespace cap-watch" create namespace cap-watch
RV0=$(kapi page /api/v1/namespaces/cap-watch/configmaps 1 | jpath 'd["rv"]')
start_watch() { # NAME RESOURCE: kubectl get --watch-only in the background
  k get "$2" -n cap-watch --watch-only --output-watch-events -o json -v=6 \
    >"$CAP_TMP/watch-$1.json" 2>"$CAP_TMP/watch-$1.err" &
  cap_track $!
  eval "WPID_$1=$!"
}
watch_established() { grep -E 'watch=true' "$CAP_TMP/watch-$1.err" | grep -q '200 OK'; }
# events in a kubectl -o json watch stream: "TYPE name rv" lines
watch_events() {
  python3 -c 'import json,sys
s = open(sys.argv[1]).read(); dec = json.JSONDecoder(); i = 0
while True:
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    try:
        ev, i = dec.raw_decode(s, i)
    except ValueError:
        break
    md = ev.get("object", {}).get("metadata", {})
    print(ev.get("type"), md.get("name"), md.get("resourceVersion"))' "$CAP_TMP/watch-$1.json"
}
start_watch cm configmaps
start_watch sec secrets
kawait "kubectl watch on configmaps (etcd watch) established" 30 watch_established cm
kawait "kubectl watch on secrets (watch cache) established" 30 watch_established sec
NW=20
t0=$(cl_now)
for ((i = 1; i <= NW; i++)); do k create cm "w-$i" -n cap-watch --from-literal=v=0 >/dev/null 2>&1 || cap_fail "create w-$i"; done
for ((i = 1; i <= NW; i++)); do k patch cm "w-$i" -n cap-watch --type=merge -p '{"data":{"v":"1"}}' >/dev/null 2>&1 || cap_fail "patch w-$i"; done
for ((i = 1; i <= NW; i++)); do k delete cm "w-$i" -n cap-watch >/dev/null 2>&1 || cap_fail "delete w-$i"; done
for ((i = 1; i <= NW / 2; i++)); do
  k create secret generic "ws-$i" -n cap-watch --from-literal=v=0 >/dev/null 2>&1 || cap_fail "create ws-$i"
  k label secret "ws-$i" -n cap-watch step=2 >/dev/null 2>&1 || cap_fail "label ws-$i"
  k delete secret "ws-$i" -n cap-watch >/dev/null 2>&1 || cap_fail "delete ws-$i"
done
cap_say "watch window: $((NW * 3)) ConfigMap and $((NW / 2 * 3)) Secret changes in $(cl_elapsed "$t0") s"
nev() { [ "$(watch_events "$1" | grep -c .)" -ge "$2" ]; }
kawait "configmap watch saw all $((NW * 3)) events" 30 nev cm $((NW * 3))
kawait "secret watch saw all $((NW / 2 * 3)) events" 30 nev sec $((NW / 2 * 3))
sleep 1
cap__kill_pid "$WPID_cm" TERM 2; cap__kill_pid "$WPID_sec" TERM 2
check_watch() { # NAME PREFIX N KIND: the events, in order, and increasing resourceVersions
  local exp
  exp=$(for ((i = 1; i <= $3; i++)); do echo "ADDED $2-$i"; done
    for ((i = 1; i <= $3; i++)); do echo "MODIFIED $2-$i"; done
    for ((i = 1; i <= $3; i++)); do echo "DELETED $2-$i"; done)
  if [ "$4" = interleaved ]; then
    exp=$(for ((i = 1; i <= $3; i++)); do printf 'ADDED %s-%d\nMODIFIED %s-%d\nDELETED %s-%d\n' "$2" "$i" "$2" "$i" "$2" "$i"; done)
  fi
  cap_expect "$1 watch: every event, in order" "$exp" "$(watch_events "$1" | cut -d' ' -f1,2)"
  cap_check "$1 watch: resourceVersions increase" python3 -c 'import sys
rvs = [int(l.split()[2]) for l in sys.stdin if l.strip()]
sys.exit(0 if rvs and all(a < b for a, b in zip(rvs, rvs[1:])) else 1)' < <(watch_events "$1")
}
check_watch cm w "$NW" phased
check_watch sec ws "$((NW / 2))" interleaved
# a watch from before the window replays it from etcd's history
kapi watch "/api/v1/namespaces/cap-watch/configmaps?watch=1&resourceVersion=$RV0" 3 >"$CAP_TMP/replay.out" 2>&1
cap_expect "watch from resourceVersion $RV0 replays the window" \
  "$((NW * 3)) 0" "$(grep -cE '^(ADDED|MODIFIED|DELETED) w-' "$CAP_TMP/replay.out") $(grep -c '^ERROR' "$CAP_TMP/replay.out")"

# --- optimistic concurrency ---------------------------------------------------------------
phase conflicts
kcheck "create configmap cc" create cm cc -n cap-work --from-literal=v=1
k get cm cc -n cap-work -o json >"$CAP_TMP/cc-old.json" 2>/dev/null
OLD_RV=$(jpath 'd["metadata"]["resourceVersion"]' <"$CAP_TMP/cc-old.json")
kcheck "update it (its resourceVersion moves on)" label cm cc -n cap-work v=2
krefuse "replace with the stale resourceVersion: Conflict" 'Conflict|has been modified' replace -f "$CAP_TMP/cc-old.json"
krefuse "patch with the stale resourceVersion: Conflict" 'Conflict|has been modified' \
  patch cm cc -n cap-work --type=merge -p "{\"metadata\":{\"resourceVersion\":\"$OLD_RV\"},\"data\":{\"v\":\"9\"}}"
R=$(kapi request DELETE /api/v1/namespaces/cap-work/configmaps/cc "{\"preconditions\":{\"resourceVersion\":\"$OLD_RV\"}}")
cap_expect "delete with a stale resourceVersion precondition: 409" 409 "$(head -n 1 <<<"$R")"
krefuse "create of an existing name: AlreadyExists" 'AlreadyExists|already exists' create cm cc -n cap-work
kexpect "the object kept the accepted update" "1 2" get cm cc -n cap-work -o 'jsonpath={.data.v} {.metadata.labels.v}'
NEW_RV=$(k get cm cc -n cap-work -o 'jsonpath={.metadata.resourceVersion}' 2>/dev/null)
R=$(kapi request DELETE /api/v1/namespaces/cap-work/configmaps/cc "{\"preconditions\":{\"resourceVersion\":\"$NEW_RV\"}}")
cap_expect "delete with the current resourceVersion precondition: 200" 200 "$(head -n 1 <<<"$R")"
# the same through the watch cache (a Secret) and a custom object
kcheck "create secret sc" create secret generic sc -n cap-work --from-literal=v=1
k get secret sc -n cap-work -o json >"$CAP_TMP/sc-old.json" 2>/dev/null
kcheck "update it" label secret sc -n cap-work v=2
krefuse "secret replace with stale resourceVersion: Conflict" 'Conflict|has been modified' replace -f "$CAP_TMP/sc-old.json"
k get widget w02 -n cap-work -o json >"$CAP_TMP/w02-old.json" 2>/dev/null
kcheck "update custom object" patch widget w02 -n cap-work --type=merge -p '{"spec":{"size":22}}'
krefuse "custom object replace with stale resourceVersion: Conflict" 'Conflict|has been modified' replace -f "$CAP_TMP/w02-old.json"
# concurrent writers on one object: every increment lands exactly once (retry on conflict)
kcheck "create counter" create cm counter -n cap-work --from-literal=n=0
incr() { # retry-on-conflict read-modify-write of data.n, N times
  local j n rv out
  for ((j = 0; j < $1; j++)); do
    while :; do
      out=$(k get cm counter -n cap-work -o 'jsonpath={.data.n} {.metadata.resourceVersion}' 2>/dev/null) || continue
      read -r n rv <<<"$out"
      out=$(k patch cm counter -n cap-work --type=merge \
        -p "{\"metadata\":{\"resourceVersion\":\"$rv\"},\"data\":{\"n\":\"$((n + 1))\"}}" 2>&1) && break
      grep -qE 'Conflict|has been modified' <<<"$out" || { echo "unexpected: $out" >&2; return 1; }
      echo conflict >>"$CAP_TMP/conflicts"
    done
  done
}
: >"$CAP_TMP/conflicts"
incr 8 & p1=$!; incr 8 & p2=$!; incr 8 & p3=$!
cap_track "$p1" "$p2" "$p3"
wait "$p1"; r1=$?; wait "$p2"; r2=$?; wait "$p3"; r3=$?
cap_expect "3 concurrent read-modify-write writers finished" "0 0 0" "$r1 $r2 $r3"
kexpect "counter = 24 (conflicts retried: $(grep -c . "$CAP_TMP/conflicts"))" 24 get cm counter -n cap-work -o 'jsonpath={.data.n}'
# now the CRD goes, with its objects
kcheck "delete the CRD" delete crd widgets.capstan.test --wait=true --timeout=90s
crs_gone() { [ "$(ekeys /registry/capstan.test/)" = 0 ]; }
kawait "its custom objects are gone from etcd" 60 crs_gone

# --- soak: churn while compaction and lease expiry happen ---------------------------------
phase soak
cat >"$CAP_TMP/event.yaml" <<'EOF'
apiVersion: v1
kind: Event
metadata: {name: capstan-e2e-event, namespace: cap-work}
involvedObject: {kind: ConfigMap, name: counter, namespace: cap-work}
reason: CapstanE2E
message: expires after --event-ttl
type: Normal
EOF
kcheck "create an Event (stored with an etcd lease of --event-ttl)" create -f "$CAP_TMP/event.yaml"
EV_LEASE=$(ectl get /registry/events/cap-work/capstan-e2e-event -w json 2>/dev/null | cl_json 'd["kvs"][0].get("lease", 0)' 2>/dev/null)
cap_check "the Event's etcd key carries a lease" test "${EV_LEASE:-0}" != 0
T_EVENT=$SECONDS
# churn: a writer patching a ConfigMap and creating/deleting Secrets, a reader listing
churn() {
  local end=$((SECONDS + SOAK)) i=0 ok=0 bad=0
  while ((SECONDS < end)); do
    i=$((i + 1))
    if k patch cm counter -n cap-work --type=merge -p "{\"data\":{\"churn\":\"$i\"}}" >/dev/null 2>>"$CAP_TMP/churn.err" &&
      k create secret generic "churn-$i" -n cap-work --from-literal=i="$i" >/dev/null 2>>"$CAP_TMP/churn.err" &&
      k delete secret "churn-$i" -n cap-work --wait=false >/dev/null 2>>"$CAP_TMP/churn.err" &&
      k get cm -n cap-page --chunk-size=100 -o name 2>>"$CAP_TMP/churn.err" | grep -q page-0001; then
      ok=$((ok + 1))
    else bad=$((bad + 1)); fi
  done
  echo "$ok $bad" >"$CAP_TMP/churn.result"
}
churn & CHURN=$!
cap_track "$CHURN"
notready=0 samples=0
while kill -0 "$CHURN" 2>/dev/null; do
  samples=$((samples + 1))
  [ "$(kapi request GET /readyz 2>/dev/null | head -n 1)" = 200 ] || notready=$((notready + 1))
  sleep 5
done
wait "$CHURN"
read -r CHURN_OK CHURN_BAD <"$CAP_TMP/churn.result" 2>/dev/null || { CHURN_OK=0; CHURN_BAD=?; }
cap_expect "soak: $CHURN_OK churn rounds (patch, create, delete, paginated list), none failed" 0 "$CHURN_BAD"
[ "$CHURN_BAD" = 0 ] || sort "$CAP_TMP/churn.err" | uniq -c | sort -rn | head -n 5 | sed 's/^/    /'
cap_expect "soak: /readyz stayed 200 ($samples samples)" 0 "$notready"
CR=$(ectl get compact_rev_key -w json 2>/dev/null | cl_json '"%s %s" % (d["kvs"][0]["version"], __import__("base64").b64decode(d["kvs"][0]["value"]).decode())' 2>/dev/null)
read -r CR_VER CR_REV <<<"${CR:-0 0}"
# (compact_rev_key: version 1 after the first interval, then one more per compaction; its
# value is the revision of the last compaction, the one seen an interval earlier)
cap_check "kube-apiserver compacted etcd past the watch window (compact_rev_key version $CR_VER, last compaction at revision $CR_REV > $RV0)" \
  test "${CR_VER:-0}" -ge 2 -a "${CR_REV:-0}" -gt "$RV0"
krev=$(ectl get /registry/namespaces/cap-work --rev=2 2>&1)
cap_check "etcd answers 'compacted' below it" grep -q 'compacted' <<<"$krev"
R=$(kapi request GET "/api/v1/namespaces/cap-watch/configmaps?resourceVersion=$RV0&resourceVersionMatch=Exact")
cap_expect "list at a compacted resourceVersion: 410 Gone" 410 "$(head -n 1 <<<"$R")"
kapi watch "/api/v1/namespaces/cap-watch/configmaps?watch=1&resourceVersion=$RV0" 2 >"$CAP_TMP/old-watch.out" 2>&1
if grep -qE '^ERROR 410 |^HTTP 410' "$CAP_TMP/old-watch.out"; then cap_pass "watch from a compacted resourceVersion: 410 Expired"
else cap_fail "watch from a compacted resourceVersion: $(head -c 300 "$CAP_TMP/old-watch.out")"; fi
R=$(kapi page /api/v1/namespaces/cap-page/configmaps "$CHUNK" "$OLD_CONT")
cap_expect "continue token from before the compaction: 410" 410 "$(jpath 'd["status"]' <<<"$R")"
if ((SECONDS - T_EVENT >= 80)); then
  event_gone() { ! k get event capstan-e2e-event -n cap-work >/dev/null 2>&1 && [ "$(ekeys /registry/events/cap-work/capstan-e2e-event)" = 0 ]; }
  kawait "the Event expired with its lease" 60 event_gone
else
  cap_say "(soak shorter than the event TTL: Event expiry not checked)"
fi
cap_check "master lease key in etcd, with a lease" test "$(ectl get /registry/masterleases/ --prefix -w json 2>/dev/null | cl_json 'sum(1 for kv in d.get("kvs", []) if kv.get("lease"))' 2>/dev/null)" -ge 1

# --- cleanup ------------------------------------------------------------------------------
phase cleanup
kcheck "delete all ConfigMaps of cap-page (deletecollection)" delete cm -n cap-page --all
kawait "cap-page is empty" 30 count_is 0 get cm -n cap-page -l batch=page
if [ "$USE_KCM" = 1 ]; then
  kcheck "delete namespaces" delete ns cap-work cap-page cap-watch --wait=true --timeout=120s
  cap_check "their keys are gone from etcd" test "$(ekeys /registry/configmaps/cap-)$(ekeys /registry/secrets/cap-)" = 00
fi
phase ""

# --- API server metrics: RangeStream, etcd request errors ---------------------------------
kapi request GET /metrics 2>/dev/null | tail -n +2 >"$CAP_TMP/metrics.txt"
LIST_STREAMED=$(awk '/^apiserver_storage_list_duration_seconds_count\{/ && /streamed="true"/ {s += $NF} END {print s + 0}' "$CAP_TMP/metrics.txt")
LIST_PAGED=$(awk '/^apiserver_storage_list_duration_seconds_count\{/ && /streamed="false"/ {s += $NF} END {print s + 0}' "$CAP_TMP/metrics.txt")
FALLBACKS=$(grep -c 'does not support RangeStream' "$APILOG" || true)
cap_say "storage lists: $LIST_STREAMED with KV.RangeStream, $LIST_PAGED paginated Range; RangeStream fallback logged $FALLBACKS times"
[ "$FALLBACKS" -gt 0 ] && grep -m1 'does not support RangeStream' "$APILOG" | cut -c1-300 | sed 's/^/    first: /'
grep '^etcd_request_errors_total{' "$CAP_TMP/metrics.txt" | sed 's/^/    metric: /'
ETCD_REQ_ERRORS=$(awk '/^etcd_request_errors_total\{/ {s += $NF} END {print s + 0}' "$CAP_TMP/metrics.txt")
ETCD_REQS=$(awk '/^etcd_requests_total\{/ {s += $NF} END {print s + 0}' "$CAP_TMP/metrics.txt")
cap_say "etcd requests by the API server: $ETCD_REQS, errors: $ETCD_REQ_ERRORS"
# Consistent reads served by the watch cache need etcd's RequestProgress (used when the
# server reports etcd >= 3.4.31 / 3.5.13): success / fell back to etcd / failed.
read -r CR_OK CR_FALLBACK CR_FAILED < <(awk '/^apiserver_watch_cache_consistent_read_total\{/ {
  if ($0 ~ /fallback="true"/) f += $NF; else if ($0 ~ /success="true"/) ok += $NF; else bad += $NF }
  END {printf "%d %d %d\n", ok, f, bad}' "$CAP_TMP/metrics.txt")
cap_say "consistent reads from the watch cache: $CR_OK served, $CR_FALLBACK fell back to etcd, $CR_FAILED failed"
[ "$CR_FAILED" = 0 ] || grep '^apiserver_watch_cache_consistent_read_total{' "$CAP_TMP/metrics.txt" | grep -v 'success="true"' | sed 's/^/    metric: /'

# --- stop kube-controller-manager and kube-apiserver; their logs ---------------------------
echo "$(cl_now) shutdown" >>"$CAP_TMP/phases.txt"
if [ "$USE_KCM" = 1 ]; then
  cap_check "kube-controller-manager still running" cap_alive kcm
  cap_stop kcm TERM 10
fi
cap_check "kube-apiserver still running" cap_alive apiserver
cap_stop apiserver TERM 30
cap_check "kube-apiserver shut down on SIGTERM" test "${CAP_EXIT[apiserver]}" = 0

# Lines of the API server's log about etcd: klog errors/warnings (E/W/F prefixes) and the
# etcd client's zap warnings/errors whose message (the klog header with its file name
# removed) mentions etcd, gRPC, mvcc, compaction, Unimplemented, transport or timeouts.
ETCD_RE='etcd|grpc|rpc error|mvcc|compact|Unimplemented|transport|deadline|timeout|StorageError'
{
  grep -E '^[EWF][0-9]{4} ' "$APILOG" | sed -E 's/^([EWF][0-9]{4} [0-9:.]+ +[0-9]+ )[^]]*\] /\1/'
  grep -E '"level":"(warn|error|fatal|panic)"' "$APILOG"
} | grep -iE "$ETCD_RE" >"$CAP_TMP/etcd-log-lines.txt"
# Expected: the reads and watches this test makes at compacted revisions (OutOfRange
# "required revision has been compacted"), each logged once by the client or the watcher.
grep -E 'required revision has been compacted' "$CAP_TMP/etcd-log-lines.txt" >"$CAP_TMP/expected.txt"
# Signs of an incompatibility (FAIL): RPCs or methods the server does not know (except
# the KV.RangeStream fallback, which is an Info line), undecodable data, revision
# mismatches, failed compactions, unparsable versions, internal errors, panics.
INCOMPAT_RE='Unimplemented|unknown service|unknown method|unknown field|proto:|failed to decode|decode err|cannot unmarshal|etcd returned revision|compact failed|Failed to parse etcd version|RequestWatchProgress is not supported|failed checking etcd version|invalid revision|malformed|panic|code = Unknown|code = Internal|code = DataLoss'
grep -E "$INCOMPAT_RE" "$CAP_TMP/etcd-log-lines.txt" | grep -v 'does not support RangeStream' >"$CAP_TMP/incompat.txt"
grep -E '^panic:|^goroutine [0-9]+ \[' "$APILOG" >>"$CAP_TMP/incompat.txt"
# Client-side: kube-apiserver closing its own etcd client or cancelling its own request
# (grpc-go's "the client connection is closing", "context canceled"); e.g. at start-up it
# builds a second storage for serviceaccounts and destroys the first, and if the first's
# initial list is still in flight (a slower server) the etcd client retries it ~100 times.
grep -E 'the client connection is closing|desc = context canceled|failed to sync with latest state: context canceled' \
  "$CAP_TMP/etcd-log-lines.txt" | grep -vxF -f "$CAP_TMP/incompat.txt" >"$CAP_TMP/client-side.txt"
# The rest is listed as suspicious (not a failure by itself).
cat "$CAP_TMP/expected.txt" "$CAP_TMP/incompat.txt" "$CAP_TMP/client-side.txt" >"$CAP_TMP/classified.txt"
grep -vxF -f "$CAP_TMP/classified.txt" "$CAP_TMP/etcd-log-lines.txt" >"$CAP_TMP/suspicious.txt"
# norm: one line per kind of message (klog header, zap timestamp and addresses dropped,
# numbers -> N) with its count and the phases of this test in which it was logged.
norm() {
  python3 -c 'import datetime, re, sys, collections
phases = []
for line in open(sys.argv[1]):
    t, name = line.split(None, 1)
    phases.append((float(t), name.strip()))
def phase_of(ts):
    name = "before-start"
    for t, n in phases:
        if ts >= t:
            name = n
    return "after-phases" if name == "between-phases" and ts >= phases[-1][0] else name
year = datetime.datetime.now(datetime.timezone.utc).year
kinds = collections.OrderedDict()
for line in sys.stdin:
    line = line.rstrip("\n")
    ts = None
    m = re.match(r"^[EWFI](\d\d)(\d\d) (\d\d:\d\d:\d\d\.\d+)", line)
    if m:
        ts = datetime.datetime.strptime("%d-%s-%s %s" % (year, m.group(1), m.group(2), m.group(3)), "%Y-%m-%d %H:%M:%S.%f")
    m = re.search(r"\"ts\":\"([^\"]+)Z\"", line)
    if m:
        ts = datetime.datetime.strptime(m.group(1)[:26], "%Y-%m-%dT%H:%M:%S.%f")
    ph = phase_of(ts.replace(tzinfo=datetime.timezone.utc).timestamp()) if ts else "?"
    k = re.sub(r"^[EWF]\d{4} [\d:.]+ +\d+ ", "", line)
    k = re.sub(r"\"(ts|target|peer)\":\"[^\"]*\",", "", k)
    k = re.sub(r"\d+", "N", k)[:260]
    kinds.setdefault(k, collections.Counter())[ph] += 1
for k, c in sorted(kinds.items(), key=lambda kv: -sum(kv[1].values())):
    print("%5d %s\n        (phases: %s)" % (sum(c.values()), k, ", ".join("%s x%d" % pc for pc in c.items())))
' "$CAP_TMP/phases.txt"
}
N_ETCD=$(grep -c . "$CAP_TMP/etcd-log-lines.txt" || true)
N_EXPECTED=$(grep -c . "$CAP_TMP/expected.txt" || true)
N_INCOMPAT=$(grep -c . "$CAP_TMP/incompat.txt" || true)
N_SUSPICIOUS=$(grep -c . "$CAP_TMP/suspicious.txt" || true)
N_CLIENT=$(grep -c . "$CAP_TMP/client-side.txt" || true)
cap_say "kube-apiserver log: $N_ETCD etcd-related error/warning lines: $N_EXPECTED expected (this test's reads at compacted revisions), $N_CLIENT client-side (closed/cancelled by kube-apiserver), $N_INCOMPAT incompatible, $N_SUSPICIOUS other"
[ "$N_CLIENT" = 0 ] || norm <"$CAP_TMP/client-side.txt" | head -n 10 | sed 's/^/    client-side: /'
if [ "$N_INCOMPAT" -gt 0 ]; then
  cap_fail "kube-apiserver log: $N_INCOMPAT line(s) showing an etcd incompatibility:"
  norm <"$CAP_TMP/incompat.txt" | head -n 40 | sed 's/^/    /'
else
  cap_pass "kube-apiserver log: no line showing an etcd incompatibility"
fi
if [ "$N_SUSPICIOUS" -gt 0 ]; then
  cap_say "suspicious: $N_SUSPICIOUS other etcd-related error/warning line(s) (kinds, most frequent first):"
  norm <"$CAP_TMP/suspicious.txt" | head -n 50 | sed 's/^/    /'
fi
N_API_ERR=$(grep -cE '^[EF][0-9]{4} ' "$APILOG" || true)
cap_say "kube-apiserver log: $N_API_ERR error line(s) in all; $(wc -l <"$APILOG") lines"
if [ "$USE_KCM" = 1 ]; then
  N_KCM_ERR=$(grep -cE '^[EF][0-9]{4} ' "${CAP_LOG[kcm]}" || true)
  cap_say "kube-controller-manager log: $N_KCM_ERR error line(s)"
  grep -E '^[EF][0-9]{4} ' "${CAP_LOG[kcm]}" | norm | head -n 20 | sed 's/^/    /'
fi

# --- the etcd cluster after all this -------------------------------------------------------
for m in "${CL_MEMBERS[@]}"; do
  cap_check "$m still running and healthy" cap_quiet cl_ctl "$m" endpoint health
done
if cl_wait_converged 60; then cap_pass "members converged: same hashkv at revision ${CL_CONVERGED%% *}"
else cap_fail "members did not converge on one revision and hash"; fi

# --- summary ------------------------------------------------------------------------------
WORK=0
for p in "${PHASES[@]}"; do
  [ "$p" = startup ] && continue
  WORK=$(python3 -c "print('%.1f' % ($WORK + ${PHASE_SECS[$p]}))")
done
NOSOAK=$(python3 -c "print('%.1f' % ($WORK - ${PHASE_SECS[soak]:-0}))")
# (cleanup is mostly the namespace controller's own pace, the same on every backend)
CORE=$(python3 -c "print('%.1f' % ($NOSOAK - ${PHASE_SECS[cleanup]:-0}))")
TIMES=$(for p in "${PHASES[@]}"; do printf '%s=%s ' "$p" "${PHASE_SECS[$p]}"; done)
cap_say "wall times (s): $TIMES"
SUMMARY="backend=$(basename "$CAPSTAN_BIN") version=${ETCD_VERSION:-?} kube=$(sed 's/^Kubernetes //' <<<"$KVER") ready=${READY_SECS}s workload=${WORK}s workload_without_soak=${NOSOAK}s workload_core=${CORE}s soak_rounds=$CHURN_OK/$((CHURN_OK + ${CHURN_BAD//\?/0})) rangestream_lists=$LIST_STREAMED paged_lists=$LIST_PAGED rangestream_fallbacks=$FALLBACKS etcd_requests=$ETCD_REQS etcd_request_errors=$ETCD_REQ_ERRORS cache_consistent_reads=$CR_OK/$CR_FALLBACK/$CR_FAILED etcd_log_lines=$N_ETCD expected_lines=$N_EXPECTED client_side_lines=$N_CLIENT incompat_lines=$N_INCOMPAT suspicious_lines=$N_SUSPICIOUS passed=$CAP_PASSES failed=$CAP_FAILS $TIMES"
cap_say "RESULT $SUMMARY"
[ -z "${KUBE_RESULT_FILE:-}" ] || echo "$SUMMARY" >>"$KUBE_RESULT_FILE"
cap_finish
