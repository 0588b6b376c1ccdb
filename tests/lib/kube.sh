# shellcheck shell=bash disable=SC2034  # (state read by the scripts sourcing this file)
# A throw-away Kubernetes control plane for the operator's e2e suites, on top of
# common.sh: kube-apiserver (certificates made with openssl, an admin kubeconfig) and
# kube-controller-manager with the controllers the suite names, no kubelet, no
# scheduler. Binaries from tests/kube/build-kube.sh (built when missing).
#
#   . tests/lib/kube.sh              # also sources common.sh
#   cap_init
#   kube_bins                        # KUBE_DIR, KUBE_APISERVER, KUBE_KCM, KUBECTL
#   kube_up "$ETCD_URLS" 127.A.B.20  # certs, kubeconfig ($KCFG), apiserver; waits /readyz
#   kube_kcm statefulset,garbage-collector-controller
#   kube_user_kubeconfig NAME CN     # a kubeconfig for another user (client cert CN)
#   k get pods; kexpect "desc" want get ...; kawait "desc" 60 cmd...
#
# Knobs: KUBE_BIN_DIR (prebuilt binaries), KUBE_READY_TIMEOUT (default 180),
#   KUBE_V (klog verbosity, default 1).

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
KUBE_ROOT=$(cd "$CAP_LIB_DIR/../.." && pwd)

# kube_bins: set KUBE_DIR, KUBE_APISERVER, KUBE_KCM, KUBECTL; build them with
# tests/kube/build-kube.sh if they are not up to date (skip only without go and binaries).
kube_bins() {
  if [ -n "${KUBE_BIN_DIR:-}" ]; then
    KUBE_DIR=$KUBE_BIN_DIR
  else
    KUBE_DIR=$("$KUBE_ROOT/tests/kube/build-kube.sh" --print-dir)
    if ! command -v "${CAPSTAN_GO:-go}" >/dev/null 2>&1; then
      [ -x "$KUBE_DIR/kube-apiserver" ] && [ -x "$KUBE_DIR/kubectl" ] ||
        cap_skip "no go command: cannot build kube-apiserver (tests/kube/build-kube.sh)"
    elif ! "$KUBE_ROOT/tests/kube/build-kube.sh" --check 2>/dev/null; then
      cap_say "building Kubernetes with tests/kube/build-kube.sh (cold: ~16 min on 2 cores; log $CAP_TMP/build-kube.log)"
      local t0=$SECONDS
      if ! nice -n 19 "$KUBE_ROOT/tests/kube/build-kube.sh" >"$CAP_TMP/build-kube.log" 2>&1; then
        tail -n 30 "$CAP_TMP/build-kube.log" | sed 's/^/  build| /'
        cap_fail "tests/kube/build-kube.sh failed"
        cap_finish
      fi
      cap_say "built in $((SECONDS - t0)) s"
    fi
  fi
  KUBE_APISERVER=$KUBE_DIR/kube-apiserver KUBE_KCM=$KUBE_DIR/kube-controller-manager KUBECTL=$KUBE_DIR/kubectl
  local b
  for b in "$KUBE_APISERVER" "$KUBE_KCM" "$KUBECTL"; do
    [ -x "$b" ] || { cap_fail "no $b"; cap_finish; }
  done
}

# kube__sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the test CA.
kube__sign() (
  cd "$KUBE_PKI" || exit 1
  set -e
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%b' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile "$1.ext" -out "$1.crt"
) >>"$KUBE_PKI/openssl.log" 2>&1

# kube__kubeconfig FILE USER: a kubeconfig for $KUBE_API with USER's certificate.
kube__kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: capstan-e2e
  cluster:
    server: $KUBE_API
    certificate-authority: $KUBE_PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $KUBE_PKI/$2.crt
    client-key: $KUBE_PKI/$2.key
contexts:
- name: capstan-e2e
  context: {cluster: capstan-e2e, user: $2}
current-context: capstan-e2e
EOF
}

# kube_user_kubeconfig NAME CN [ORG]: print the path of a kubeconfig for user CN.
kube_user_kubeconfig() {
  local org=${3:+/O=$3}
  kube__sign "$1" "$org/CN=$2" "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n" ||
    return 1
  kube__kubeconfig "$CAP_TMP/$1.kubeconfig" "$1"
  echo "$CAP_TMP/$1.kubeconfig"
}

# kube_up ETCD_URLS IP: certificates, admin kubeconfig ($KCFG), kube-apiserver on IP (a
# free port); waits for /readyz (fails the test and finishes if it does not come).
kube_up() {
  local etcd=$1 ip=$2 port
  port=$(python3 "$CAP_LIB_DIR/freeport.py" 1 "$ip" | head -n 1)
  KUBE_API=https://$ip:$port
  KUBE_PKI=$CAP_TMP/pki
  mkdir -p "$KUBE_PKI"
  if ! (cd "$KUBE_PKI" && set -e &&
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key &&
    openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=capstan-e2e-ca" -out ca.crt &&
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key &&
    openssl pkey -in sa.key -pubout -out sa.pub) >>"$KUBE_PKI/openssl.log" 2>&1 ||
    ! kube__sign server "/CN=kube-apiserver" \
      "subjectAltName=IP:$ip,IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n" ||
    ! kube__sign admin "/O=system:masters/CN=capstan-e2e-admin" \
      "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"; then
    sed 's/^/  openssl| /' "$KUBE_PKI/openssl.log"
    cap_fail "certificates (openssl)"
    cap_finish
  fi
  KCFG=$CAP_TMP/admin.kubeconfig
  kube__kubeconfig "$KCFG" admin
  # The endpoint reconciler refuses a loopback advertise address: advertise a TEST-NET-1
  # documentation address, which nothing ever connects to (clients use $KUBE_API).
  cap_spawn apiserver "$ip:$port" "$KUBE_APISERVER" \
    --etcd-servers="$etcd" \
    --bind-address="$ip" --advertise-address=192.0.2.10 --secure-port="$port" \
    --cert-dir="$CAP_TMP/apiserver/certs" \
    --tls-cert-file="$KUBE_PKI/server.crt" --tls-private-key-file="$KUBE_PKI/server.key" \
    --client-ca-file="$KUBE_PKI/ca.crt" \
    --service-account-issuer="$KUBE_API" --service-account-key-file="$KUBE_PKI/sa.pub" \
    --service-account-signing-key-file="$KUBE_PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --authorization-mode=RBAC --disable-admission-plugins=ServiceAccount \
    --profiling=false --v="${KUBE_V:-1}"
  local i limit=${KUBE_READY_TIMEOUT:-180} t0=$SECONDS
  for ((i = 0; i < limit * 2; i++)); do
    cap_alive apiserver || break
    [ "$(k get --raw /readyz 2>/dev/null)" = ok ] && {
      cap_pass "kube-apiserver ready at $KUBE_API ($((SECONDS - t0)) s)"
      return 0
    }
    sleep 0.5
  done
  cap_fail "kube-apiserver /readyz not ok within $limit s (alive: $(cap_alive apiserver && echo yes || echo no))"
  grep -E '^[EF][0-9]{4} ' "${CAP_LOG[apiserver]}" | tail -n 20 | cut -c1-300 | sed 's/^/    api| /'
  cap_finish
}

# kube_kcm CONTROLLERS: kube-controller-manager with these controllers (comma list),
# waits for its leader lease.
kube_kcm() {
  cap_spawn kcm - "$KUBE_KCM" --kubeconfig="$KCFG" --controllers="$1" \
    --leader-elect=true --secure-port=0 --v="${KUBE_V:-1}"
  kawait "kube-controller-manager holds its leader lease" 90 k get lease -n kube-system kube-controller-manager
}

# k ARGS...: kubectl as admin, bounded in time (KUBE_K_TIMEOUT seconds in all, default
# 60; KUBE_K_REQUEST_TIMEOUT per request, default 30s).
k() {
  timeout "${KUBE_K_TIMEOUT:-60}" "$KUBECTL" --kubeconfig "$KCFG" --cache-dir "$CAP_TMP/kcache" \
    --request-timeout="${KUBE_K_REQUEST_TIMEOUT:-30s}" "$@"
}
K_OUT=
kr() { K_OUT=$(k "$@" 2>&1); }
# kcheck DESC ARGS...: pass if kubectl ARGS succeeds.
kcheck() {
  local d=$1; shift
  if kr "$@"; then cap_pass "$d"; else cap_fail "$d: kubectl $*"; head -n 5 <<<"$K_OUT" | sed 's/^/    /'; fi
}
# kexpect DESC EXPECTED ARGS...: kubectl ARGS must succeed and print EXPECTED.
kexpect() {
  local d=$1 want=$2; shift 2
  if kr "$@" && [ "$K_OUT" == "$want" ]; then cap_pass "$d"
  else cap_fail "$d: expected [$want], got [$(head -c 400 <<<"$K_OUT")]"; fi
}
# krefuse DESC PATTERN ARGS...: kubectl ARGS must fail with output matching PATTERN (ERE).
krefuse() {
  local d=$1 pat=$2; shift 2
  if kr "$@"; then cap_fail "$d: succeeded: $(head -c 200 <<<"$K_OUT")"
  elif grep -qE "$pat" <<<"$K_OUT"; then cap_pass "$d"
  else cap_fail "$d: expected /$pat/, got [$(head -c 400 <<<"$K_OUT")]"; fi
}
# kawait DESC TIMEOUT CMD...: poll CMD (every 0.5 s) until it succeeds; pass or fail.
kawait() {
  local d=$1 limit=$2 start=$SECONDS; shift 2
  while ((SECONDS - start < limit)); do
    if "$@" >/dev/null 2>&1; then cap_pass "$d ($((SECONDS - start)) s)"; return 0; fi
    sleep 0.5
  done
  cap_fail "$d: not within ${limit} s"
  return 1
}
# kjp JSONPATH ARGS...: kubectl get ARGS -o jsonpath=JSONPATH (output only).
kjp() { local p=$1; shift; k get "$@" -o "jsonpath=$p" 2>/dev/null; }
# jq_py EXPR: evaluate a Python expression over JSON on stdin (d); print the result
# (JSON for dicts/lists, plain text otherwise).
jq_py() {
  python3 -c 'import json,sys
d=json.load(sys.stdin); r=eval(sys.argv[1], {"d": d, "json": json})
print(json.dumps(r, sort_keys=True) if isinstance(r, (dict, list)) else r)' "$1"
}

# kube_operator_rbac USER NAMESPACE: the chart's ClusterRole and leader-election Role
# (templates rendered by substituting the few template expressions they hold), bound to
# USER, so the operator runs with exactly the chart's privileges.
kube_operator_rbac() {
  local user=$1 ns=$2 out=$CAP_TMP/operator-rbac.yaml
  python3 - "$KUBE_ROOT/charts/capstan-operator/templates" "$user" "$ns" >"$out" <<'EOF' || return 1
import re, sys
tdir, user, ns = sys.argv[1:]
docs = []
for f in ("clusterrole.yaml", "role.yaml"):
    text = open(f"{tdir}/{f}").read()
    text = re.sub(r'\{\{ include "capstan-operator.fullname" \. \}\}', "capstan-operator", text)
    text = text.replace("{{ .Release.Namespace }}", ns)
    text = re.sub(r'\n +labels:\n +\{\{-[^}]*\}\}', "", text)
    text = re.sub(r'\{\{ include "capstan-operator.serviceAccountName" \. \}\}', "capstan-operator", text)
    if "{{" in text:
        sys.exit(f"unrendered template expression left in {f}")
    # Bind to a user (the operator's client certificate) instead of the ServiceAccount.
    text = re.sub(r"subjects:\n  - kind: ServiceAccount\n    name: capstan-operator\n    namespace: [^\n]*",
                  f"subjects:\n  - kind: User\n    name: {user}\n    apiGroup: rbac.authorization.k8s.io", text)
    docs.append(text.strip())
print("\n---\n".join(docs))
print("---")
print(f"""apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: capstan-operator
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: capstan-operator
subjects:
  - kind: User
    name: {user}
    apiGroup: rbac.authorization.k8s.io""")
EOF
  k apply -f "$out"
}
