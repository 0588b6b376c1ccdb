#!/usr/bin/env bash
# capstan-operator against a real kube-apiserver + kube-controller-manager (statefulset,
# garbage-collector, namespace and PVC-protection controllers; no kubelet, no scheduler),
# backed by one Capstan member, with the operator running as a process under exactly the
# chart's RBAC (its ClusterRole and leader-election Role, bound to the operator's client
# certificate user):
#   the CRD from crds/ is accepted and Established; `kubectl apply` of each example
#   creates the ConfigMap (one config file per member), both Services, the StatefulSet
#   and the PDB with the expected spec and owner references; printer columns; editing
#   the spec (resources, an option) updates the objects; `kubectl scale etcdcluster`
#   goes through the /scale subresource; CEL rules refuse a shrinking storage size and
#   operator-owned extraArgs with their messages; with no kubelet the pods stay Pending
#   and the status says so (not Available, Bootstrapping); /healthz and /metrics answer;
#   a second operator stays standby and takes over when the leader is killed -9;
#   deleting the resources lets the garbage collector remove every owned object.
#   TLS (examples/etcdcluster-tls.yaml, mode auto): the CA, server, peer and client Secrets
#   checked with openssl (chain, purposes, SANs, EKUs, key match, validity); the config
#   files' https URLs and TLS sections; Secret volumes and metrics-port probes;
#   status.tls and CertificatesReady; capstan.dev/renew-certs re-issues every leaf once;
#   capstan.dev/rotate-ca adds a new CA to every bundle and holds there while no member
#   can be checked; switching TLS on/off or its mode is refused; mode secrets reports
#   missing Secrets, then picks them up through the Secret watch.
# Membership against real members: tests/e2e/operator-membership.sh.
# Environment: CAPSTAN_OPERATOR_BIN (default $CARGO_TARGET_DIR/debug/capstan-operator),
#   KUBE_BIN_DIR (prebuilt Kubernetes binaries; else tests/kube/build-kube.sh builds them).
# timeout: 1500
set -u
CAP_TEST_NAME=operator-objects
# shellcheck source=tests/lib/kube.sh
. "$(dirname "$0")/../lib/kube.sh"
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
ROOT=$KUBE_ROOT
: "${CAPSTAN_OPERATOR_BIN:=$CARGO_TARGET_DIR/debug/capstan-operator}"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_require_bin "$CAPSTAN_OPERATOR_BIN" || exit 1
command -v openssl >/dev/null 2>&1 || cap_skip "no openssl (needed for the API server's certificates)"
command -v curl >/dev/null 2>&1 || cap_skip "no curl"
cap_init
kube_bins

# --- control plane ------------------------------------------------------------------------
cl_net_init 5 || { cap_fail "no free 127.x addresses"; cap_finish; }
NET=$CL_NET
CAP_HOST=$NET.11 cap_up etcd "$CAPSTAN_BIN" || { cap_fail "the API server's Capstan member did not start"; cap_finish; }
kube_up "http://${CAP_EP[etcd]}" "$NET.20"
kube_kcm statefulset-controller,garbage-collector-controller,namespace-controller,persistentvolumeclaim-protection-controller,disruption-controller

kcheck "apply the CRD from crds/" apply --server-side -f "$ROOT/crds/"
kawait "CRD Established" 60 k wait --for=condition=Established crd/etcdclusters.capstan.dev --timeout=5s
kcheck "operator namespace" create namespace capstan-system
OPCFG=$(kube_user_kubeconfig operator capstan-operator) || { cap_fail "operator certificate"; cap_finish; }
cap_check "the chart's RBAC bound to the operator's user" cap_quiet kube_operator_rbac capstan-operator capstan-system

# --- operator processes -------------------------------------------------------------------
# op_start NAME: start an operator replica (identity NAME, metrics on its own address).
declare -A OP_METRICS=()
op_start() {
  local ip=$NET.$((30 + ${1#op})) port
  port=$(python3 "$CAP_LIB_DIR/freeport.py" 1 "$ip" | head -n 1)
  OP_METRICS[$1]=$ip:$port
  CAP_ENV=(KUBECONFIG="$OPCFG" RUST_BACKTRACE=1)
  cap_spawn "$1" "$ip:$port" "$CAPSTAN_OPERATOR_BIN" --metrics-addr "$ip:$port" \
    --lease-namespace capstan-system --identity "$1" --image-repository registry.test/capstan \
    --log-level "info,capstan_operator=debug" --log-format json
}
holder() { kjp '{.spec.holderIdentity}' lease capstan-operator -n capstan-system; }
holder_is() { [ "$(holder)" = "$1" ]; }
get_http() { curl -s --max-time 5 "http://${OP_METRICS[$1]}$2"; }

op_start op1
kawait "operator 1 takes the leader Lease" 60 holder_is op1
op_start op2
kawait "operator 2 serves /healthz (standby)" 30 get_http op2 /healthz
cap_expect "operator 1 /healthz" ok "$(get_http op1 /healthz)"
sleep 6 # (two renewals)
cap_expect "operator 2 stays standby while operator 1 renews" op1 "$(holder)"
cap_check "operator 1 /metrics: leader 1" grep -q '^capstan_operator_leader 1' <<<"$(get_http op1 /metrics)"
cap_check "operator 2 /metrics: leader 0" grep -q '^capstan_operator_leader 0' <<<"$(get_http op2 /metrics)"

# --- examples -----------------------------------------------------------------------------
kcheck "kubectl apply examples/etcdcluster-3.yaml" apply -f "$ROOT/examples/etcdcluster-3.yaml"
kcheck "kubectl apply examples/etcdcluster-dev.yaml" apply -f "$ROOT/examples/etcdcluster-dev.yaml"
all_objects() { # CLUSTER: every owned object exists
  k get configmap "$1-config" && k get service "$1" && k get service "$1-peers" &&
    k get statefulset "$1" && k get poddisruptionbudget "$1"
}
kawait "example: ConfigMap, Services, StatefulSet, PDB created" 60 all_objects example
kawait "dev: ConfigMap, Services, StatefulSet, PDB created" 60 all_objects dev

UID_EX=$(kjp '{.metadata.uid}' ec example)
for obj in configmap/example-config service/example service/example-peers statefulset/example poddisruptionbudget/example; do
  kexpect "$obj: controller owner reference to the EtcdCluster" "EtcdCluster example $UID_EX true" \
    get "$obj" -o 'jsonpath={.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].uid} {.metadata.ownerReferences[0].controller}'
done
for obj in configmap/example-config statefulset/example service/example-peers; do
  kexpect "$obj: applied by field manager capstan-operator" Apply \
    get "$obj" --show-managed-fields -o 'jsonpath={.metadata.managedFields[?(@.manager=="capstan-operator")].operation}'
done

# Services
kexpect "peer Service: headless, publishNotReadyAddresses, client+peer ports" "None true client:2379 peer:2380" \
  get svc example-peers -o 'jsonpath={.spec.clusterIP} {.spec.publishNotReadyAddresses} {.spec.ports[0].name}:{.spec.ports[0].port} {.spec.ports[1].name}:{.spec.ports[1].port}'
kexpect "client Service: ClusterIP, client port only" "ClusterIP client:2379" \
  get svc example -o 'jsonpath={.spec.type} {.spec.ports[*].name}:{.spec.ports[*].port}'
kexpect "Services select the member pods" "capstan example" \
  get svc example -o 'jsonpath={.spec.selector.app\.kubernetes\.io/name} {.spec.selector.app\.kubernetes\.io/instance}'

# StatefulSet
STS=$(k get sts example -o json)
sts() { jq_py "$1" <<<"$STS"; }
cap_expect "StatefulSet: 3 replicas, Parallel, headless service" "3 Parallel example-peers" \
  "$(sts 'd["spec"]["replicas"]') $(sts 'd["spec"]["podManagementPolicy"]') $(sts 'd["spec"]["serviceName"]')"
C='d["spec"]["template"]["spec"]["containers"][0]'
cap_expect "container runs capstan with its member's config file" '["capstan"] ["--config-file=/etc/capstan/$(POD_NAME).yaml"]' \
  "$(sts "$C[\"command\"]") $(sts "$C[\"args\"]")"
cap_expect "container image from --image-repository and spec.version" registry.test/capstan:0.1.0 "$(sts "$C[\"image\"]")"
cap_expect "POD_NAME from the downward API" metadata.name "$(sts "[e for e in $C[\"env\"] if e[\"name\"]==\"POD_NAME\"][0][\"valueFrom\"][\"fieldRef\"][\"fieldPath\"]")"
cap_expect "probes: readiness /readyz, liveness and startup /livez on the client port" "/readyz /livez /livez client" \
  "$(sts "$C[\"readinessProbe\"][\"httpGet\"][\"path\"]") $(sts "$C[\"livenessProbe\"][\"httpGet\"][\"path\"]") $(sts "$C[\"startupProbe\"][\"httpGet\"][\"path\"]") $(sts "$C[\"readinessProbe\"][\"httpGet\"][\"port\"]")"
cap_expect "resources from the spec" "500m 1Gi 2Gi" \
  "$(sts "$C[\"resources\"][\"requests\"][\"cpu\"]") $(sts "$C[\"resources\"][\"requests\"][\"memory\"]") $(sts "$C[\"resources\"][\"limits\"][\"memory\"]")"
cap_expect "volumeClaimTemplate data: 8Gi ReadWriteOnce" "data 8Gi ['ReadWriteOnce']" \
  "$(sts 'd["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]') $(sts 'd["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]') $(sts 'str(d["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"])')"
cap_expect "no data emptyDir with claims" "[]" "$(sts '[v["name"] for v in d["spec"]["template"]["spec"]["volumes"] if v["name"]=="data"]')"
cap_expect "claims deleted with the set and on scale-down" "Delete Delete" \
  "$(sts 'd["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]') $(sts 'd["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"]')"
cap_expect "topology spread constraint gets the member selector" "topology.kubernetes.io/zone example" \
  "$(sts 'd["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["topologyKey"]') $(sts 'd["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"]')"
cap_expect "runs as non-root, read-only root filesystem" "True True" \
  "$(sts "$C[\"securityContext\"][\"runAsNonRoot\"]") $(sts "$C[\"securityContext\"][\"readOnlyRootFilesystem\"]")"

# ConfigMap: one file per member
CM=$(k get cm example-config -o json)
cap_expect "ConfigMap: one config file per member" '["example-0.yaml", "example-1.yaml", "example-2.yaml"]' "$(jq_py 'sorted(d["data"])' <<<"$CM")"
cfg_key() { # CLUSTER FILE KEY: one key of one member's config file
  k get cm "$1-config" -o json 2>/dev/null | python3 -c 'import json,sys,yaml
d=json.load(sys.stdin); c=yaml.safe_load(d["data"][sys.argv[1]]); print(c.get(sys.argv[2], "<absent>"))' "$2" "$3" 2>/dev/null
}
python3 -c 'import yaml' 2>/dev/null || cap_skip "python3 has no yaml module"
cap_expect "example-1: name, state new, advertised URLs on the headless service" \
  "example-1 new http://example-1.example-peers.default.svc:2380 http://example-1.example-peers.default.svc:2379" \
  "$(cfg_key example example-1.yaml name) $(cfg_key example example-1.yaml initial-cluster-state) $(cfg_key example example-1.yaml initial-advertise-peer-urls) $(cfg_key example example-1.yaml advertise-client-urls)"
cap_expect "example-1: founding set of 3" \
  "example-0=http://example-0.example-peers.default.svc:2380,example-1=http://example-1.example-peers.default.svc:2380,example-2=http://example-2.example-peers.default.svc:2380" \
  "$(cfg_key example example-1.yaml initial-cluster)"
cap_expect "example-0: typed options (quota, auto-compaction)" "4294967296 periodic 1h" \
  "$(cfg_key example example-0.yaml quota-backend-bytes) $(cfg_key example example-0.yaml auto-compaction-mode) $(cfg_key example example-0.yaml auto-compaction-retention)"
cap_expect "example-0: cluster token from the resource's UID" "capstan-$UID_EX" "$(cfg_key example example-0.yaml initial-cluster-token)"

# PDB
kexpect "PDB: maxUnavailable 1 for 3 members, selects the members" "1 example" \
  get pdb example -o 'jsonpath={.spec.maxUnavailable} {.spec.selector.matchLabels.app\.kubernetes\.io/instance}'

# dev: emptyDir
DEV=$(k get sts dev -o json)
cap_expect "dev StatefulSet: 1 replica, no claim template, data on an emptyDir" "1 None True" \
  "$(jq_py 'd["spec"]["replicas"]' <<<"$DEV") $(jq_py 'd["spec"].get("volumeClaimTemplates")' <<<"$DEV") $(jq_py '[v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"]=="data"][0].get("emptyDir") is not None' <<<"$DEV")"
kexpect "dev PDB: maxUnavailable 1" 1 get pdb dev -o 'jsonpath={.spec.maxUnavailable}'
cap_expect "dev: single founding member" "dev-0=http://dev-0.dev-peers.default.svc:2380 new" \
  "$(cfg_key dev dev-0.yaml initial-cluster) $(cfg_key dev dev-0.yaml initial-cluster-state)"

# --- pods (no kubelet) and status ---------------------------------------------------------
kawait "the StatefulSet controller creates 3 pods and 3 claims" 60 \
  bash -c "[ \$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get pods -l app.kubernetes.io/instance=example -o name | wc -l) = 3 ] && [ \$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get pvc -l app.kubernetes.io/instance=example -o name | wc -l) = 3 ]"
kexpect "pods stay Pending (no kubelet)" "Pending Pending Pending" get pods -l app.kubernetes.io/instance=example -o 'jsonpath={.items[*].status.phase}'
status_is() { # CLUSTER WANT: "Available-status/reason Progressing-status/reason readyMembers"
  [ "$(kjp '{.status.conditions[?(@.type=="Available")].status}/{.status.conditions[?(@.type=="Available")].reason} {.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason} {.status.readyMembers}' ec "$1")" = "$2" ]
}
kawait "status: not Available (Bootstrapping), Progressing, 0 ready members" 60 status_is example "False/Bootstrapping True/Bootstrapping 0"
kexpect "status: observedGeneration, selector, no cluster ID" "$(kjp '{.metadata.generation}' ec example) app.kubernetes.io/instance=example,app.kubernetes.io/name=capstan " \
  get ec example -o 'jsonpath={.status.observedGeneration} {.status.selector} {.status.clusterId}'
kawait "dev status: not Available" 60 status_is dev "False/Bootstrapping True/Bootstrapping 0"

# printer columns
kr get ec
cap_expect "kubectl get ec: printer columns" "NAME REPLICAS READY LEADER VERSION AVAILABLE AGE" "$(head -n 1 <<<"$K_OUT" | tr -s ' ')"
# (no leader yet: the LEADER cell is empty)
cap_expect "kubectl get ec: rows" "dev 1 0 0.1.0 False|example 3 0 0.1.0 False" \
  "$(tail -n +2 <<<"$K_OUT" | awk '{print $1, $2, $3, $4, $5}' | sort | paste -sd'|' -)"
cap_expect "category capstan lists both" "etcdcluster.capstan.dev/dev etcdcluster.capstan.dev/example" "$(k get capstan -o name | sort | paste -sd' ')"

# --- editing the spec ---------------------------------------------------------------------
kcheck "patch spec.resources" patch ec example --type=merge -p '{"spec":{"resources":{"requests":{"cpu":"250m","memory":"1Gi"},"limits":{"memory":"2Gi"}}}}'
kawait "StatefulSet follows the new resources" 30 \
  bash -c "[ \"\$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get sts example -o 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}')\" = 250m ]"
kcheck "patch spec.options (snapshotCount, extraArgs)" patch ec example --type=merge -p '{"spec":{"options":{"snapshotCount":5000,"extraArgs":["--max-txn-ops=256"]}}}'
opt_applied() { [ "$(cfg_key example example-2.yaml snapshot-count) $(cfg_key example example-2.yaml max-txn-ops)" = "5000 256" ]; }
kawait "ConfigMap follows the new options" 30 opt_applied
kcheck "patch spec.pod labels and nodeSelector" patch ec example --type=merge -p '{"spec":{"pod":{"labels":{"team":"storage"},"nodeSelector":{"disk":"ssd"}}}}'
pod_tmpl() { [ "$(kjp '{.spec.template.metadata.labels.team} {.spec.template.spec.nodeSelector.disk}' sts example)" = "storage ssd" ]; }
kawait "StatefulSet pod template follows pod overrides" 30 pod_tmpl
gen_seen() { [ "$(kjp '{.status.observedGeneration}' ec example)" = "$(kjp '{.metadata.generation}' ec example)" ]; }
kawait "status.observedGeneration catches up with the edits" 30 gen_seen

# --- CEL validation -----------------------------------------------------------------------
krefuse "CEL: storage.size cannot shrink (8Gi -> 4Gi)" 'storage.size cannot shrink' \
  patch ec example --type=merge -p '{"spec":{"storage":{"size":"4Gi"}}}'
kcheck "CEL: storage.size may grow (8Gi -> 16Gi)" patch ec example --type=merge -p '{"spec":{"storage":{"size":"16Gi"}}}'
kexpect "the claim template keeps its creation size (immutable in Kubernetes)" 8Gi \
  get sts example -o 'jsonpath={.spec.volumeClaimTemplates[0].spec.resources.requests.storage}'
krefuse "CEL: extraArgs may not set operator-owned flags" 'extraArgs may not set flags the operator manages' \
  patch ec example --type=merge -p '{"spec":{"options":{"extraArgs":["--initial-cluster-state=new"]}}}'
krefuse "CEL: electionTimeoutMs >= 5 x heartbeat" 'electionTimeoutMs must be at least 5 times' \
  patch ec example --type=merge -p '{"spec":{"options":{"heartbeatIntervalMs":500,"electionTimeoutMs":1000}}}'
krefuse "CEL: emptyDir cannot change" 'storage.emptyDir cannot change' \
  patch ec dev --type=merge -p '{"spec":{"storage":{"emptyDir":false}}}'
krefuse "schema: replicas at most 9" 'spec.replicas|less than or equal to 9' \
  patch ec example --type=merge -p '{"spec":{"replicas":10}}'

# --- paused ------------------------------------------------------------------------------
kcheck "pause example (spec.paused) and change its resources" patch ec example --type=merge \
  -p '{"spec":{"paused":true,"resources":{"requests":{"cpu":"700m"}}}}'
paused_status() { [ "$(kjp '{.status.conditions[?(@.type=="Progressing")].status}/{.status.conditions[?(@.type=="Progressing")].reason}' ec example)" = False/Paused ]; }
kawait "status: Progressing False/Paused" 30 paused_status
kexpect "paused: the StatefulSet is left alone" 250m get sts example -o 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}'
kcheck "unpause" patch ec example --type=merge -p '{"spec":{"paused":false}}'
kawait "unpaused: the StatefulSet follows" 30 \
  bash -c "[ \"\$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get sts example -o 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}')\" = 700m ]"

# --- scale subresource --------------------------------------------------------------------
kcheck "kubectl scale etcdcluster --replicas=5" scale etcdcluster example --replicas=5
kexpect "spec.replicas is 5" 5 get ec example -o 'jsonpath={.spec.replicas}'
SCALE=$(k get --raw /apis/capstan.dev/v1alpha1/namespaces/default/etcdclusters/example/scale)
cap_expect "/scale: spec 5, status 0, selector" "5 0 app.kubernetes.io/instance=example,app.kubernetes.io/name=capstan" \
  "$(jq_py '"%s %s %s" % (d["spec"]["replicas"], d["status"].get("replicas", 0), d["status"].get("selector"))' <<<"$SCALE")"
cfg5() { [ "$(k get cm example-config -o 'jsonpath={.data}' | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 5 ]; }
kawait "ConfigMap holds a config file for each of the 5 pods" 30 cfg5
kawait "Progressing stays True while the founding members are not up" 30 status_is example "False/Bootstrapping True/Bootstrapping 0"
sleep 3
kexpect "StatefulSet stays at its founding size until the cluster forms (members are added one at a time, after it exists)" 3 \
  get sts example -o 'jsonpath={.spec.replicas}'
cap_expect "example-4.yaml: founding set of 3" \
  "example-0=http://example-0.example-peers.default.svc:2380,example-1=http://example-1.example-peers.default.svc:2380,example-2=http://example-2.example-peers.default.svc:2380" \
  "$(cfg_key example example-4.yaml initial-cluster)"
kcheck "kubectl scale etcdcluster --replicas=3" scale etcdcluster example --replicas=3

# --- leader election: kill -9 the leader --------------------------------------------------
T_KILL=$SECONDS
cap_stop op1 KILL
kawait "operator 2 takes over the Lease after operator 1 is killed -9" 40 holder_is op2
cap_say "takeover after $((SECONDS - T_KILL)) s (lease duration 15 s)"
cap_check "operator 2 /metrics: leader 1" grep -q '^capstan_operator_leader 1' <<<"$(get_http op2 /metrics)"
kcheck "patch spec.resources again" patch ec example --type=merge -p '{"spec":{"resources":{"requests":{"cpu":"300m"}}}}'
kawait "the new leader reconciles: StatefulSet follows" 40 \
  bash -c "[ \"\$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get sts example -o 'jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}')\" = 300m ]"
reconciles_ok() { get_http op2 /metrics | grep -qE '^capstan_operator_reconciles_total\{result="ok"\} [1-9]'; }
cap_check "operator 2 /metrics counts successful reconciles" reconciles_ok
cap_check "operator 2 /metrics has reconcile durations" grep -q '^capstan_operator_reconcile_duration_seconds_count' <<<"$(get_http op2 /metrics)"
T_TERM=$SECONDS
cap_stop op2 TERM 20
cap_expect "operator 2 exits 0 on SIGTERM" 0 "${CAP_EXIT[op2]}"
op_start op3
kawait "a restarted operator gets the Lease at once (released on SIGTERM)" 10 holder_is op3
cap_say "SIGTERM → new leader in $((SECONDS - T_TERM)) s"

# --- TLS: mode auto -----------------------------------------------------------------------
# The operator is the CA: four Secrets (CA, server, peer, client), checked with openssl as
# a user would; the members' config files and the StatefulSet use them; status.tls and
# CertificatesReady report them; renew-certs re-issues every leaf; rotate-ca starts the
# first phase (new CA in every bundle) and, with no member to check (no kubelet), holds
# there; adding or removing spec.tls, or changing its mode, is refused.
kcheck "kubectl apply examples/etcdcluster-tls.yaml" apply -f "$ROOT/examples/etcdcluster-tls.yaml"
tls_secrets() { k get secret tls-ca tls-server-tls tls-peer-tls tls-client-tls >/dev/null 2>&1; }
kawait "tls: CA, server, peer and client Secrets created" 60 tls_secrets
UID_TLS=$(kjp '{.metadata.uid}' ec tls)
for s in tls-ca tls-server-tls tls-peer-tls tls-client-tls; do
  kexpect "secret/$s: type kubernetes.io/tls, owned by the EtcdCluster" "kubernetes.io/tls EtcdCluster $UID_TLS" \
    get secret "$s" -o 'jsonpath={.type} {.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].uid}'
done
PKI=$CAP_TMP/tls-pki
mkdir -p "$PKI"
# secret_file SECRET KEY FILE: one key of a Secret, decoded.
secret_file() { k get secret "$1" -o json | python3 -c 'import base64,json,sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["data"][sys.argv[1]]))' "$2" >"$3"; }
save_pki() { # PREFIX: the CA and the three leaves into $PKI/PREFIX-*
  secret_file tls-ca tls.crt "$PKI/$1-ca.crt"
  secret_file tls-ca ca.crt "$PKI/$1-bundle.crt"
  for p in server peer client; do
    secret_file "tls-$p-tls" tls.crt "$PKI/$1-$p.crt"
    secret_file "tls-$p-tls" tls.key "$PKI/$1-$p.key"
    secret_file "tls-$p-tls" ca.crt "$PKI/$1-$p-ca.crt"
  done
}
save_pki a
ossl() { openssl "$@" 2>&1; }
verify() { openssl verify -purpose "$1" -CAfile "$2" "$3" >/dev/null 2>&1; }
cap_expect "CA: self-signed CA (basicConstraints CA:TRUE, pathlen 0), ECDSA P-256" "CA:TRUE,pathlen:0 prime256v1" \
  "$(ossl x509 -in "$PKI/a-ca.crt" -noout -ext basicConstraints | tail -n 1 | tr -d ' ') $(ossl x509 -in "$PKI/a-ca.crt" -noout -text | sed -n 's/.*ASN1 OID: //p')"
cap_check "CA verifies against itself" verify any "$PKI/a-ca.crt" "$PKI/a-ca.crt"
cap_expect "CA subject: O=capstan, OU=<namespace>/<name>, CN unique per CA" "capstan default/tls capstan-ca" \
  "$(ossl x509 -in "$PKI/a-ca.crt" -noout -subject -nameopt multiline | sed -n 's/^ *\(organizationName\|organizationalUnitName\) *= *//p; s/^ *commonName *= *\(capstan-ca\) .*/\1/p' | paste -sd' ')"
cap_check "server certificate verifies for sslserver against the CA" verify sslserver "$PKI/a-ca.crt" "$PKI/a-server.crt"
cap_check "server certificate does not verify for sslclient (serverAuth only)" bash -c "! openssl verify -purpose sslclient -CAfile '$PKI/a-ca.crt' '$PKI/a-server.crt' >/dev/null 2>&1"
cap_check "peer certificate verifies for sslserver" verify sslserver "$PKI/a-ca.crt" "$PKI/a-peer.crt"
cap_check "peer certificate verifies for sslclient (serves and dials)" verify sslclient "$PKI/a-ca.crt" "$PKI/a-peer.crt"
cap_check "client certificate verifies for sslclient" verify sslclient "$PKI/a-ca.crt" "$PKI/a-client.crt"
cap_check "client certificate does not verify for sslserver" bash -c "! openssl verify -purpose sslserver -CAfile '$PKI/a-ca.crt' '$PKI/a-client.crt' >/dev/null 2>&1"
eku() { ossl x509 -in "$1" -noout -ext extendedKeyUsage | tail -n 1 | sed 's/^ *//'; }
cap_expect "EKUs: server / peer / client" "TLS Web Server Authentication|TLS Web Server Authentication, TLS Web Client Authentication|TLS Web Client Authentication" \
  "$(eku "$PKI/a-server.crt")|$(eku "$PKI/a-peer.crt")|$(eku "$PKI/a-client.crt")"
sans() { ossl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr ',' '\n'; }
has_sans() { # FILE SAN...: every SAN is in the certificate
  local f=$1 s; shift
  for s in "$@"; do grep -qxF "$s" <<<"$(sans "$f")" || { cap_say "  missing SAN $s in $f"; return 1; }; done
}
cap_check "server SANs: every pod (full, cluster.local, short), the client Service, localhost, loopback IPs" has_sans "$PKI/a-server.crt" \
  DNS:tls-0.tls-peers.default.svc DNS:tls-2.tls-peers.default.svc.cluster.local DNS:tls-8.tls-peers.default.svc \
  DNS:tls-1.tls-peers.default DNS:tls-1.tls-peers DNS:tls DNS:tls.default DNS:tls.default.svc DNS:tls.default.svc.cluster.local \
  DNS:localhost IPAddress:127.0.0.1 IPAddress:0:0:0:0:0:0:0:1
cap_check "peer SANs: every pod (full, cluster.local), localhost, 127.0.0.1" has_sans "$PKI/a-peer.crt" \
  DNS:tls-0.tls-peers.default.svc DNS:tls-8.tls-peers.default.svc.cluster.local DNS:localhost IPAddress:127.0.0.1
cap_expect "peer SANs: no client Service, no short forms (a member looks each name up per peer handshake)" "" \
  "$(sans "$PKI/a-peer.crt" | grep -xE 'DNS:(tls\.default\.svc|tls-1\.tls-peers|tls-1\.tls-peers\.default)')"
cap_expect "client certificate: CN root, no SANs" "root|" \
  "$(ossl x509 -in "$PKI/a-client.crt" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')|$(sans "$PKI/a-client.crt")"
for p in server peer client; do
  cap_expect "$p: the key is the certificate's" "$(ossl x509 -in "$PKI/a-$p.crt" -noout -pubkey)" "$(ossl pkey -in "$PKI/a-$p.key" -pubout)"
  cap_check "$p: Secret's ca.crt is the CA bundle" cmp -s "$PKI/a-$p-ca.crt" "$PKI/a-bundle.crt"
done
days() { python3 -c 'import subprocess,sys,datetime
def t(f, which):
    out = subprocess.run(["openssl","x509","-in",f,"-noout","-"+which], capture_output=True, text=True).stdout.strip().split("=",1)[1]
    return datetime.datetime.strptime(out, "%b %d %H:%M:%S %Y %Z")
print(round((t(sys.argv[1],"enddate") - t(sys.argv[1],"startdate")).total_seconds() / 86400, 2))' "$1"; }
cap_expect "validity: leaves 365 days (+5 min back-dating), CA 3650 days" "365.0 3650.0" "$(days "$PKI/a-server.crt") $(days "$PKI/a-ca.crt")"

TCFG=$(k get cm tls-config -o json)
tcfg() { python3 -c 'import json,sys,yaml; c=yaml.safe_load(json.load(sys.stdin)["data"]["tls-1.yaml"]); print(eval(sys.argv[1], {"c": c}))' "$1" <<<"$TCFG"; }
cap_expect "tls-1.yaml: https listen, advertise and initial-cluster URLs" \
  "https://0.0.0.0:2379 https://0.0.0.0:2380 https://tls-1.tls-peers.default.svc:2379 https://tls-1.tls-peers.default.svc:2380 https://tls-0.tls-peers.default.svc:2380" \
  "$(tcfg 'c["listen-client-urls"]') $(tcfg 'c["listen-peer-urls"]') $(tcfg 'c["advertise-client-urls"]') $(tcfg 'c["initial-advertise-peer-urls"]') $(tcfg 'c["initial-cluster"].split(",")[0].split("=")[1]')"
cap_expect "tls-1.yaml: client-transport-security (mounted files, client-cert-auth)" \
  "/etc/capstan-tls/server/tls.crt /etc/capstan-tls/server/tls.key /etc/capstan-tls/server/ca.crt True" \
  "$(tcfg 'c["client-transport-security"]["cert-file"]') $(tcfg 'c["client-transport-security"]["key-file"]') $(tcfg 'c["client-transport-security"]["trusted-ca-file"]') $(tcfg 'c["client-transport-security"]["client-cert-auth"]')"
cap_expect "tls-1.yaml: peer-transport-security, plain metrics listener for probes" \
  "/etc/capstan-tls/peer/tls.crt /etc/capstan-tls/peer/ca.crt True http://0.0.0.0:2381" \
  "$(tcfg 'c["peer-transport-security"]["cert-file"]') $(tcfg 'c["peer-transport-security"]["trusted-ca-file"]') $(tcfg 'c["peer-transport-security"]["client-cert-auth"]') $(tcfg 'c["listen-metrics-urls"]')"
TSTS=$(k get sts tls -o json)
cap_expect "StatefulSet: server and peer Secrets mounted read-only (0440), no client Secret" \
  "tls-server:tls-server-tls:288 tls-peer:tls-peer-tls:288 /etc/capstan-tls/server /etc/capstan-tls/peer" \
  "$(jq_py '" ".join("%s:%s:%s" % (v["name"], v["secret"]["secretName"], v["secret"]["defaultMode"]) for v in d["spec"]["template"]["spec"]["volumes"] if "secret" in v)' <<<"$TSTS") $(jq_py '" ".join(m["mountPath"] for m in d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"].startswith("tls-"))' <<<"$TSTS")"
cap_expect "StatefulSet: probes on the plain metrics port 2381" "metrics metrics 2381" \
  "$(jq_py 'd["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"]' <<<"$TSTS") $(jq_py 'd["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"]' <<<"$TSTS") $(jq_py '[p["containerPort"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"] if p["name"]=="metrics"][0]' <<<"$TSTS")"

tls_status() { k get ec tls -o json 2>/dev/null | jq_py "$1" 2>/dev/null; }
CA_FP=$(openssl x509 -in "$PKI/a-ca.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
tls_reported() { [ "$(tls_status 'd["status"]["tls"]["ca"]["fingerprint"]')" = "$CA_FP" ]; }
kawait "status.tls.ca.fingerprint is the CA's SHA-256 (openssl)" 30 tls_reported
cap_expect "status.tls: mode, phase, one trusted CA, three leaves, earliest notAfter" \
  "auto Idle 1 client,peer,server True" \
  "$(tls_status 'd["status"]["tls"]["mode"]') $(tls_status 'd["status"]["tls"]["rotationPhase"]') $(tls_status 'len(d["status"]["tls"]["trustedCaFingerprints"])') $(tls_status '",".join(sorted(c["purpose"] for c in d["status"]["tls"]["certificates"]))') $(tls_status 'd["status"]["tls"]["notAfter"] == min(c["notAfter"] for c in d["status"]["tls"]["certificates"])')"
cond_ok() { [ "$(tls_status '[c["status"] + "/" + c["reason"] for c in d["status"]["conditions"] if c["type"]=="CertificatesReady"][0]')" = "$1" ]; }
kawait "condition CertificatesReady True/Issued" 30 cond_ok True/Issued
serial() { openssl x509 -in "$1" -noout -serial | sed 's/.*=//'; }
cap_expect "status.tls: the server certificate's serial" "$(serial "$PKI/a-server.crt" | tr 'A-F' 'a-f')" \
  "$(tls_status '[c["serial"] for c in d["status"]["tls"]["certificates"] if c["purpose"]=="server"][0]' | tr -d ':' | tr 'A-F' 'a-f')"
n_issued=$(k get events.events.k8s.io -o json | jq_py 'len([e for e in d["items"] if e.get("reason")=="CertificatesIssued" and e["regarding"]["name"]=="tls"])')
cap_expect "one CertificatesIssued Event" 1 "$n_issued"

# renew-certs: every leaf re-issued by the same CA, CA unchanged.
kcheck "annotate capstan.dev/renew-certs" annotate ec tls capstan.dev/renew-certs=2026-12-01T00:00:00Z
renewed() { secret_file tls-server-tls tls.crt "$PKI/r.crt" && [ "$(serial "$PKI/r.crt")" != "$(serial "$PKI/a-server.crt")" ]; }
kawait "renew-certs: the server certificate is re-issued" 30 renewed
sleep 2
save_pki b
for p in server peer client; do
  cap_check "renew-certs: $p has a new serial and key" bash -c "[ '$(serial "$PKI/a-$p.crt")' != '$(serial "$PKI/b-$p.crt")' ] && ! cmp -s '$PKI/a-$p.key' '$PKI/b-$p.key'"
  cap_check "renew-certs: new $p certificate verifies against the same CA" verify any "$PKI/a-ca.crt" "$PKI/b-$p.crt"
done
cap_check "renew-certs: the CA is unchanged" cmp -s "$PKI/a-ca.crt" "$PKI/b-ca.crt"
cap_expect "renew-certs: recorded on each leaf Secret" "2026-12-01T00:00:00Z" \
  "$(kjp '{.metadata.annotations.capstan\.dev/renew-certs-handled}' secret tls-peer-tls)"
rotated_event() { [ "$(k get events.events.k8s.io -o json | jq_py 'len([e for e in d["items"] if e.get("reason")=="CertificatesRotated" and e["regarding"]["name"]=="tls"])')" -ge 1 ]; }
kawait "a CertificatesRotated Event" 20 rotated_event
sleep 12
secret_file tls-server-tls tls.crt "$PKI/c-server.crt"
cap_expect "renew-certs acts once: the server serial is still the renewed one" "$(serial "$PKI/b-server.crt")" "$(serial "$PKI/c-server.crt")"

# rotate-ca: phase 1 (new CA in every bundle), then held: no member can be checked.
kcheck "annotate capstan.dev/rotate-ca" annotate ec tls capstan.dev/rotate-ca=2026-12-02T00:00:00Z
trusting() { [ "$(kjp '{.metadata.annotations.capstan\.dev/ca-rotation-phase}' secret tls-ca)" = Trusting ]; }
kawait "rotate-ca: the CA Secret records phase Trusting" 30 trusting
sleep 2
save_pki d
cap_check "phase 1: the old CA still signs" cmp -s "$PKI/a-ca.crt" "$PKI/d-ca.crt"
secret_file tls-ca next.crt "$PKI/d-next.crt"
cap_expect "phase 1: the bundle holds the old and the new CA" "2" "$(grep -c 'BEGIN CERTIFICATE' "$PKI/d-bundle.crt")"
cap_check "phase 1: the new CA is in the bundle" bash -c "openssl verify -CAfile '$PKI/d-bundle.crt' '$PKI/d-next.crt' >/dev/null 2>&1"
for p in server peer client; do
  cap_check "phase 1: $p Secret's ca.crt is the two-CA bundle, its certificate unchanged" bash -c "cmp -s '$PKI/d-$p-ca.crt' '$PKI/d-bundle.crt' && cmp -s '$PKI/d-$p.crt' '$PKI/b-$p.crt'"
done
phase_event() { [ "$(k get events.events.k8s.io -o json | jq_py 'len([e for e in d["items"] if e.get("reason")=="CARotationTrusting" and e["regarding"]["name"]=="tls"])')" = 1 ]; }
kawait "a CARotationTrusting Event" 20 phase_event
rot_status() { [ "$(tls_status 'd["status"]["tls"]["rotationPhase"] + " " + str(len(d["status"]["tls"]["trustedCaFingerprints"]))')" = "Trusting 2" ]; }
kawait "status.tls: phase Trusting, two trusted CAs" 30 rot_status
kawait "condition CertificatesReady True/RotatingCA" 30 cond_ok True/RotatingCA
waiting() { tls_status 'd["status"]["tls"].get("rotationWaitingFor", "")' | grep -q "$1"; }
kawait "phase 1 waits for the settle period (2m by default)" 20 waiting "settle period"
kcheck "shorten rotationSettle to 1s" patch ec tls --type=merge -p '{"spec":{"tls":{"auto":{"rotationSettle":"1s"}}}}'
kawait "then it waits for members it cannot check (no member list without a kubelet)" 30 waiting "member list"
sleep 3
cap_expect "phase 1 holds: no member is known to trust the new CA" Trusting \
  "$(kjp '{.metadata.annotations.capstan\.dev/ca-rotation-phase}' secret tls-ca)"

cap_check "/metrics: certificates issued by purpose (2 server: issue + renewal)" grep -q '^capstan_operator_certificates_issued_total{purpose="server"} 2' <<<"$(get_http op3 /metrics)"
cap_check "/metrics: CA rotation phases entered" grep -q '^capstan_operator_ca_rotation_phases_total{phase="Trusting"} 1' <<<"$(get_http op3 /metrics)"

# Switching TLS on or off, or its mode, is refused by the schema.
krefuse "CEL: spec.tls cannot be added to a plain cluster" 'spec.tls cannot be added to or removed' \
  patch ec example --type=merge -p '{"spec":{"tls":{"mode":"auto"}}}'
krefuse "CEL: spec.tls cannot be removed" 'spec.tls cannot be added to or removed' \
  patch ec tls --type=json -p '[{"op":"remove","path":"/spec/tls"}]'
krefuse "CEL: tls.mode cannot change" 'tls.mode cannot change' \
  patch ec tls --type=merge -p '{"spec":{"tls":{"mode":"secrets","auto":null,"secrets":{"server":"a","peer":"b","client":"c"}}}}'
krefuse "CEL: renewBefore shorter than validity" 'renewBefore must be shorter than validity' \
  patch ec tls --type=merge -p '{"spec":{"tls":{"auto":{"validity":"24h"}}}}'

# --- TLS: mode secrets --------------------------------------------------------------------
# Secrets named in the spec (cert-manager's keys): missing -> not ready; created -> the
# watch on TLS Secrets reconciles at once and the status reports them.
cat >"$CAP_TMP/byo.yaml" <<'YAML'
apiVersion: capstan.dev/v1alpha1
kind: EtcdCluster
metadata: {name: byo}
spec:
  replicas: 1
  version: 0.1.0
  storage: {emptyDir: true}
  tls:
    mode: secrets
    secrets: {server: byo-server, peer: byo-peer, client: byo-client}
YAML
krefuse "CEL: mode secrets without a client Secret (client certificate auth on)" 'tls.secrets.client is required' \
  apply -f - <<<"$(sed 's/, client: byo-client//' "$CAP_TMP/byo.yaml")"
kcheck "create EtcdCluster byo (mode secrets, Secrets not there yet)" apply -f "$CAP_TMP/byo.yaml"
byo_cond() { [ "$(k get ec byo -o json 2>/dev/null | jq_py '[c["status"] + "/" + c["reason"] for c in d["status"]["conditions"] if c["type"]=="CertificatesReady"][0]' 2>/dev/null)" = "$1" ]; }
kawait "byo: CertificatesReady False/SecretInvalid while the Secrets are missing" 30 byo_cond False/SecretInvalid
kexpect "byo: the StatefulSet mounts the named Secrets" "byo-server byo-peer" \
  get sts byo -o 'jsonpath={.spec.template.spec.volumes[?(@.name=="tls-server")].secret.secretName} {.spec.template.spec.volumes[?(@.name=="tls-peer")].secret.secretName}'
T_BYO=$SECONDS
for p in server peer client; do
  kcheck "create Secret byo-$p (tls.crt, tls.key, ca.crt)" create secret generic "byo-$p" --type=kubernetes.io/tls \
    --from-file=tls.crt="$PKI/b-$p.crt" --from-file=tls.key="$PKI/b-$p.key" --from-file=ca.crt="$PKI/a-ca.crt"
done
kawait "byo: CertificatesReady True/SecretsValid (the Secret watch reconciles)" 30 byo_cond True/SecretsValid
cap_say "byo: Secrets noticed $((SECONDS - T_BYO)) s after their creation (the requeue alone would take 10 s)"
cap_expect "byo: status.tls reports the server certificate and the CA" \
  "secrets $(serial "$PKI/b-server.crt" | tr 'A-F' 'a-f') $CA_FP" \
  "$(k get ec byo -o json | jq_py '"%s %s %s" % (d["status"]["tls"]["mode"], [c["serial"] for c in d["status"]["tls"]["certificates"] if c["purpose"]=="server"][0].replace(":", "").lower(), d["status"]["tls"]["ca"]["fingerprint"])')"
kcheck "delete EtcdCluster byo" delete ec byo --wait=true --timeout=60s
cap_expect "byo: user Secrets are not garbage-collected (not owned)" "byo-client byo-peer byo-server" \
  "$(k get secret byo-server byo-peer byo-client -o name | sed 's#secret/##' | sort | paste -sd' ')"
kcheck "delete EtcdCluster tls" delete ec tls --wait=true --timeout=60s
tls_gone() { [ -z "$(k get secret -l app.kubernetes.io/instance=tls -o name 2>/dev/null)" ]; }
kawait "tls: the garbage collector removes the operator's four Secrets" 90 tls_gone

# --- errors in the operator's log ---------------------------------------------------------
for o in op1 op2 op3; do
  n=$(grep -c '"level":"ERROR"' "${CAP_LOG[$o]}" || true)
  forbidden=$(grep -c 'forbidden' "${CAP_LOG[$o]}" || true)
  cap_expect "$o log: no RBAC 'forbidden' answers (the chart's ClusterRole suffices)" 0 "$forbidden"
  [ "$forbidden" = 0 ] || grep 'forbidden' "${CAP_LOG[$o]}" | head -n 3 | cut -c1-400 | sed 's/^/    /'
  cap_say "$o log: $n ERROR line(s)"
done

# --- deletion -----------------------------------------------------------------------------
kcheck "delete EtcdCluster example" delete ec example --wait=true --timeout=60s
none_left() {
  [ -z "$(k get cm,svc,sts,pdb,pods,pvc -l app.kubernetes.io/instance=example -o name 2>/dev/null)" ] &&
    ! k get cm example-config >/dev/null 2>&1
}
kawait "the garbage collector removes every object of example (ConfigMap, Services, StatefulSet, PDB, pods, claims)" 90 none_left
[ -z "$(k get cm,svc,sts,pdb,pods,pvc -l app.kubernetes.io/instance=example -o name 2>/dev/null)" ] ||
  k get cm,svc,sts,pdb,pods,pvc -l app.kubernetes.io/instance=example 2>&1 | sed 's/^/    left: /'
kexpect "dev is untouched" "dev" get sts dev -o 'jsonpath={.metadata.name}'
kcheck "delete EtcdCluster dev" delete ec dev --wait=true --timeout=60s
kawait "the garbage collector removes every object of dev" 90 \
  bash -c "[ -z \"\$($(printf '%q ' "$KUBECTL") --kubeconfig $KCFG get cm,svc,sts,pdb,pods -l app.kubernetes.io/instance=dev -o name)\" ]"
cap_check "operator 3 still running" cap_alive op3
cap_stop op3 TERM 20
cap_expect "operator 3 exits 0 on SIGTERM" 0 "${CAP_EXIT[op3]}"
cap_expect "operator 3 released the Lease" "" "$(holder)"
cap_finish
