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
