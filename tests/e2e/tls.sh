#!/usr/bin/env bash
# TLS on the client port of a single member, differential: every case runs against the
# reference etcd (3.7.3, built by tests/tools/build-etcd.sh) and then against
# $CAPSTAN_BIN with the same flags, certificates (tests/lib/tls-certs.sh) and ports, and
# what etcdctl 3.7.3 (and curl, openssl) print must be identical (tests/lib/tls.sh).
#
# Cases (TLS_CASES="a b" runs a subset):
#   mtls            https client URL with --cert-file/--key-file/--trusted-ca-file/
#                   --client-cert-auth: put/get/del/txn/watch/lease/endpoint health and
#                   status/member list over mTLS with etcdctl 3.7.3; put/get/endpoint
#                   health with Debian's etcdctl 3.4; curl /health, /metrics and the
#                   /v3/kv gateway; curl without a client cert and over plain http.
#   refusals        (+ --client-crl-file, DER) what etcdctl prints when refused:
#                   plain-text client, no client cert, a foreign CA's cert, a revoked
#                   cert, a server cert the client does not trust.
#   trusted-ca-only --trusted-ca-file without --client-cert-auth still requires a cert.
#   allowed-hostname --client-cert-allowed-hostname: the named SAN accepted, others not.
#   startup         refused configurations (exit status, and the key sentence of etcd's
#                   error in both logs): https URL without cert/key; TLS1.3 only with
#                   --cipher-suites; min > max version; an unknown cipher suite.
#   tls-versions    --tls-min-version/--tls-max-version/--cipher-suites as curl sees them.
#   auto-tls        --auto-tls: etcdctl --insecure-skip-tls-verify works; the generated
#                   files under <data-dir>/fixtures/client/ (names, SANs, key type).
#   mixed-urls      http:// and https:// client URLs on two ports of one member.
#   conf-file       the seed guide's conf.yml shape with client-transport-security: and
#                   peer-transport-security: sections (https client and peer URLs).
#   conf-toplevel   the seed guide's conf.yml as written (TLS keys at the top level):
#                   (a) with its http:// URLs both serve plain text (etcd ignores the
#                   keys; Capstan takes them as flags, which http:// URLs ignore, and
#                   warns); (b) with https:// URLs etcd refuses to start (no cert: it
#                   ignored them) while Capstan serves TLS and warns. Not differential.
#   rotation        against $CAPSTAN_BIN only: the server cert/key replaced on disk
#                   under a bounded etcdctl put loop (each put a new connection), twice:
#                   kubelet style (a ..data symlink renamed over), then each file
#                   renamed into place; 0 failed puts, new connections get the new
#                   serial (openssl s_client); then CA rotation: bundle old+new CA,
#                   server and client certs re-issued by the new CA, old CA dropped: 0
#                   failed puts at each step, each change noticed within 2.5 s (2 s +
#                   polling). etcd reloads cert/key but not its CA: against etcd the CA
#                   steps are expected to fail (reported as XFAIL, passing).
#
# usage: tests/e2e/tls.sh   (CAPSTAN_BIN selects the server; CAPSTAN_BIN=<etcd 3.7.3>
#        checks the suite itself). Skipped (77) without the reference etcd 3.7.3.
# timeout: 600
set -u
CAP_TEST_NAME=tls
# shellcheck source=tests/lib/tls.sh
. "$(dirname "$0")/../lib/tls.sh"
tls_setup

# --- mtls ------------------------------------------------------------------------------
txn_root() {
  printf 'value("k1") = "v1"\n\nput t/txn yes\n\nput t/txn no\n\n' | c37 "$1" "${ROOT[@]}" txn
}
live_watch() { # URL: a watch from the next revision on, then one put
  local u=$1 f pid i rev
  f=$(tls_dir s1)/watch.out
  rev=$(c37 "$u" "${ROOT[@]}" get live/k -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  "$TLS_CTL" --endpoints="$u" "${ROOT[@]}" watch live/k --rev=$((rev + 1)) >"$f" 2>&1 &
  pid=$!
  cap_track "$pid"
  sleep 0.5
  c37 "$u" "${ROOT[@]}" put live/k v >/dev/null 2>&1
  for ((i = 0; i < 50; i++)); do
    [ "$(grep -c . "$f")" -ge 3 ] && break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  cat "$f"
}
has_leader_metric() { ccurl "${CURL_ROOT[@]}" "$1/metrics" | grep -E '^etcd_server_has_leader '; }
case_mtls() {
  tls_ports 2 || return 1
  local u="https://$H:${TLS_P[0]}"
  tls_single s1 "$u" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}"
  tls_wait s1 "$u" "${ROOT[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "put k1 v1" c37 "$u" "${ROOT[@]}" put k1 v1
  t_expect "put over mTLS" OK "$TR_OUT"
  rec "get k1" c37 "$u" "${ROOT[@]}" get k1
  t_expect "get over mTLS" "$(printf 'k1\nv1')" "$TR_OUT"
  rec "get k1 -w json" --norm tls_norm_term c37 "$u" "${ROOT[@]}" get k1 -w json
  rec "txn (value(k1) = v1: put t/txn yes)" txn_root "$u"
  t_expect "txn over mTLS" "$(printf 'SUCCESS\n\nOK')" "$TR_OUT"
  rec "get t/txn" c37 "$u" "${ROOT[@]}" get t/txn --print-value-only
  rec "del k1" c37 "$u" "${ROOT[@]}" del k1
  t_expect "del over mTLS" 1 "$TR_OUT"
  rec "put w/a 1" c37 "$u" "${ROOT[@]}" put w/a 1
  rec "put w/b 2" c37 "$u" "${ROOT[@]}" put w/b 2
  rec "watch --prefix w/ --rev=1 (history; ended after 3 s)" timeout 3 "$TLS_CTL" --endpoints="$u" \
    "${ROOT[@]}" watch --prefix w/ --rev=1
  t_expect "watch replays the history over mTLS" "$(printf 'PUT\nw/a\n1\nPUT\nw/b\n2')" "$TR_OUT"
  rec "watch live/k from the next revision, then put live/k v" live_watch "$u"
  t_expect "live watch over mTLS" "PUT live/k" "$(head -n 2 <<<"$TR_OUT" | paste -sd' ')"
  rec "lease grant 60" --norm tls_norm_lease c37 "$u" "${ROOT[@]}" lease grant 60
  local id; id=$(awk '/granted/ {print $2}' <<<"$TR_OUT")
  rec "put --lease l/k" c37 "$u" "${ROOT[@]}" put --lease="$id" l/k v
  rec "lease timetolive --keys" --norm tls_norm_lease c37 "$u" "${ROOT[@]}" lease timetolive "$id" --keys
  rec "lease list" --norm tls_norm_lease c37 "$u" "${ROOT[@]}" lease list
  rec "lease keep-alive --once" --norm tls_norm_lease c37 "$u" "${ROOT[@]}" lease keep-alive --once "$id"
  rec "lease revoke" --norm tls_norm_lease c37 "$u" "${ROOT[@]}" lease revoke "$id"
  t_check "lease revoke over mTLS" test "$TR_RC" = 0
  rec "get l/k (revoked with its lease)" c37 "$u" "${ROOT[@]}" get l/k
  rec "endpoint health" --norm tls_norm_health c37 "$u" "${ROOT[@]}" endpoint health
  t_check "endpoint health over mTLS" grep -q 'is healthy' <<<"$TR_OUT"
  rec "endpoint status -w table" --norm tls_norm_status c37 "$u" "${ROOT[@]}" endpoint status -w table
  t_check "endpoint status over mTLS" test "$TR_RC" = 0
  rec "member list" c37 "$u" "${ROOT[@]}" member list
  # Debian's etcdctl 3.4
  if [ -x "$TLS_CTL34" ]; then
    rec "etcdctl 3.4: put k34 v34" c34 "$u" "${ROOT[@]}" put k34 v34
    t_expect "etcdctl 3.4 put over mTLS" OK "$TR_OUT"
    rec "etcdctl 3.4: get k34" c34 "$u" "${ROOT[@]}" get k34
    t_expect "etcdctl 3.4 get over mTLS" "$(printf 'k34\nv34')" "$TR_OUT"
    rec "etcdctl 3.4: endpoint health" --norm tls_norm_health c34 "$u" "${ROOT[@]}" endpoint health
    t_check "etcdctl 3.4 endpoint health over mTLS" grep -q 'is healthy' <<<"$TR_OUT"
    rec "etcdctl 3.4: get k34 without a client certificate" c34 "$u" "${NOCERT[@]}" get k34
  else
    rec_note "(no etcdctl 3.4 at $TLS_CTL34: its subset skipped)"
  fi
  # HTTP endpoints over TLS
  rec "curl /health" ccurl "${CURL_ROOT[@]}" "$u/health"
  t_check "curl /health over mTLS" grep -q '"health":"true"' <<<"$TR_OUT"
  rec "curl /metrics: etcd_server_has_leader" has_leader_metric "$u"
  t_expect "curl /metrics over mTLS" "etcd_server_has_leader 1" "$TR_OUT"
  rec "curl POST /v3/kv/put {key: gw, value: 1}" --norm tls_norm_term ccurl "${CURL_ROOT[@]}" \
    -X POST -d '{"key":"Z3c=","value":"MQ=="}' "$u/v3/kv/put"
  rec "curl POST /v3/kv/range {key: gw}" --norm tls_norm_term ccurl "${CURL_ROOT[@]}" \
    -X POST -d '{"key":"Z3c="}' "$u/v3/kv/range"
  t_check "the /v3/kv/range gateway over mTLS" grep -q '"value":"MQ=="' <<<"$TR_OUT"
  rec "curl --tls-max 1.2 /health without a client certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" "$u/health"
  t_check "curl without a client certificate is refused" test "$TR_RC" != 0
  rec "curl http:// (plain text) to the TLS port" ccurl "http://$H:${TLS_P[0]}/health"
  t_check "plain-text curl gets no health answer" test "$TR_RC" != 0
}
tls_case mtls case_mtls

# --- refusals --------------------------------------------------------------------------
case_refusals() {
  tls_ports 2 || return 1
  local u="https://$H:${TLS_P[0]}"
  tls_single s1 "$u" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}" --client-crl-file "$C/crl.der"
  tls_wait s1 "$u" "${ROOT[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "root: put k v" c37 "$u" "${ROOT[@]}" put k v
  t_expect "root accepted (not in the CRL)" OK "$TR_OUT"
  rec "plain-text etcdctl (http://) against the TLS port" c37 "http://$H:${TLS_P[0]}" put k v
  t_check "plain-text client refused" test "$TR_RC" != 0
  rec "no client certificate" c37 "$u" "${NOCERT[@]}" put k v
  t_check "client without a certificate refused" test "$TR_RC" != 0
  rec "client certificate from the foreign CA" c37 "$u" "${FOREIGN[@]}" put k v
  t_check "foreign CA's client certificate refused" test "$TR_RC" != 0
  rec "revoked client certificate (--client-crl-file)" c37 "$u" "${REVOKED[@]}" put k v
  t_check "revoked client certificate refused" test "$TR_RC" != 0
  rec "client trusting only the foreign CA (server cert not trusted)" c37 "$u" \
    --cacert "$C/foreign-ca.pem" --cert "$C/client-root.pem" --key "$C/client-root-key.pem" put k v
  t_check "client refuses a server cert it does not trust" test "$TR_RC" != 0
  rec "curl --tls-max 1.2 without a client certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" "$u/health"
  rec "curl --tls-max 1.2 with the revoked certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" --cert "$C/client-revoked.pem" \
    --key "$C/client-revoked-key.pem" "$u/health"
  t_check "curl with the revoked certificate refused" test "$TR_RC" != 0
  rec "curl --tls-max 1.2 with the foreign CA's certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" --cert "$C/client-foreign.pem" \
    --key "$C/client-foreign-key.pem" "$u/health"
  rec "root again: get k" c37 "$u" "${ROOT[@]}" get k --print-value-only
  t_expect "still serving after the refusals" v "$TR_OUT"
}
tls_case refusals case_refusals

case_trusted_ca_only() {
  tls_ports 2 || return 1
  local u="https://$H:${TLS_P[0]}"
  tls_single s1 "$u" "${TLS_P[1]}" --cert-file "$C/server.pem" --key-file "$C/server-key.pem" \
    --trusted-ca-file "$C/ca.pem"
  tls_wait s1 "$u" "${ROOT[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "root: put k v" c37 "$u" "${ROOT[@]}" put k v
  t_expect "client with a certificate accepted" OK "$TR_OUT"
  rec "no client certificate" c37 "$u" "${NOCERT[@]}" put k v
  t_check "client without a certificate refused (--trusted-ca-file alone requires one)" test "$TR_RC" != 0
  rec "curl --tls-max 1.2 without a client certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" "$u/health"
  t_check "curl without a certificate refused" test "$TR_RC" != 0
}
tls_case trusted-ca-only case_trusted_ca_only

case_allowed_hostname() {
  tls_ports 2 || return 1
  local u="https://$H:${TLS_P[0]}"
  tls_single s1 "$u" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}" --client-cert-allowed-hostname alice.client.test
  tls_wait s1 "$u" "${ALICE[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "alice (SAN alice.client.test): put k v" c37 "$u" "${ALICE[@]}" put k v
  t_expect "the allowed host name accepted" OK "$TR_OUT"
  rec "root (SAN root.client.test)" c37 "$u" "${ROOT[@]}" put k v
  t_check "another host name refused" test "$TR_RC" != 0
  rec "mallory (SAN mallory.client.test)" c37 "$u" "${OTHERCN[@]}" get k
  t_check "a third host name refused" test "$TR_RC" != 0
  rec "curl as alice" ccurl --cacert "$C/ca.pem" --cert "$C/client-alice.pem" --key "$C/client-alice-key.pem" "$u/health"
  rec "curl --tls-max 1.2 as mallory" ccurl --tls-max 1.2 --cacert "$C/ca.pem" --cert "$C/client-other-cn.pem" --key "$C/client-other-cn-key.pem" "$u/health"
  rec "curl --tls-max 1.2 as root" ccurl --tls-max 1.2 "${CURL_ROOT[@]}" "$u/health"
}
tls_case allowed-hostname case_allowed_hostname

# --- start-up refusals -----------------------------------------------------------------
# refuse IDX DESC SENTENCE FLAGS...: tls_refuse with a https:// client URL.
refuse() { tls_refuse https "$@"; }
case_startup() {
  tls_ports 8 || return 1
  refuse 0 "https client URL without --cert-file/--key-file" \
    "TLS key/cert (--cert-file, --key-file) must be provided for client url https://$H:<cp> with HTTPS scheme"
  refuse 1 "--tls-min-version=TLS1.3 with --cipher-suites" \
    "cipher suites cannot be configured when only TLS1.3 is enabled" \
    "${TLS_SERVER_FLAGS[@]}" --tls-min-version=TLS1.3 --cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  refuse 2 "--tls-min-version=TLS1.3 --tls-max-version=TLS1.2" \
    "min version (TLS1.3) is greater than max version (TLS1.2)" \
    "${TLS_SERVER_FLAGS[@]}" --tls-min-version=TLS1.3 --tls-max-version=TLS1.2
  refuse 3 "--cipher-suites=X" 'unexpected TLS cipher suite "X"' \
    "${TLS_SERVER_FLAGS[@]}" --cipher-suites=X
}
tls_case startup case_startup

# --- TLS versions and cipher suites ----------------------------------------------------
curl_v() { ccurl "${CURL_ROOT[@]}" -o /dev/null -w '%{http_code}\n' "$@"; }
case_tls_versions() {
  tls_ports 4 || return 1
  local u1="https://$H:${TLS_P[0]}" u2="https://$H:${TLS_P[2]}"
  tls_single s1 "$u1" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}" --tls-min-version=TLS1.3
  tls_single s2 "$u2" "${TLS_P[3]}" "${TLS_SERVER_FLAGS[@]}" --tls-max-version=TLS1.2 \
    --cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
  tls_wait s1 "$u1" "${ROOT[@]}" && tls_wait s2 "$u2" "${ROOT[@]}" ||
    { t_fail "servers did not start"; rec_note "no server"; return 1; }
  rec "min TLS1.3: curl --tls-max 1.2" curl_v --tls-max 1.2 "$u1/health"
  t_check "min TLS1.3 refuses a TLS 1.2 client" test "$TR_RC" != 0
  rec "min TLS1.3: curl --tlsv1.3" curl_v --tlsv1.3 "$u1/health"
  t_expect "min TLS1.3 serves TLS 1.3" 200 "$TR_OUT"
  rec "min TLS1.3: etcdctl put" c37 "$u1" "${ROOT[@]}" put k v
  rec "max TLS1.2: curl --tlsv1.3" curl_v --tlsv1.3 "$u2/health"
  t_check "max TLS1.2 refuses a TLS 1.3-only client" test "$TR_RC" != 0
  rec "max TLS1.2 + 2 suites: curl --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256" \
    curl_v --tls-max 1.2 --ciphers ECDHE-ECDSA-AES128-GCM-SHA256 "$u2/health"
  t_expect "a configured suite is served" 200 "$TR_OUT"
  rec "max TLS1.2 + 2 suites: curl --tls-max 1.2 --ciphers ECDHE-ECDSA-AES256-GCM-SHA384" \
    curl_v --tls-max 1.2 --ciphers ECDHE-ECDSA-AES256-GCM-SHA384 "$u2/health"
  t_check "a suite not configured is refused" test "$TR_RC" != 0
  rec "max TLS1.2: etcdctl put" c37 "$u2" "${ROOT[@]}" put k v
}
tls_case tls-versions case_tls_versions

# --- auto-tls --------------------------------------------------------------------------
INSECURE=(--insecure-transport=false --insecure-skip-tls-verify)
case_auto_tls() {
  tls_ports 2 || return 1
  local u="https://$H:${TLS_P[0]}" fx
  tls_single s1 "$u" "${TLS_P[1]}" --auto-tls
  tls_wait s1 "$u" "${INSECURE[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "etcdctl --insecure-skip-tls-verify put k v" c37 "$u" "${INSECURE[@]}" put k v
  t_expect "put with --insecure-skip-tls-verify" OK "$TR_OUT"
  rec "etcdctl --insecure-skip-tls-verify get k" c37 "$u" "${INSECURE[@]}" get k --print-value-only
  rec "etcdctl verifying the server cert against our CA" c37 "$u" "${ROOT[@]}" get k
  t_check "the self-signed cert is not trusted by a verifying client" test "$TR_RC" != 0
  rec "curl -k /health" ccurl -k "$u/health"
  fx=$(tls_dir s1)/data/fixtures/client
  rec "ls <data-dir>/fixtures/client" ls "$fx"
  t_expect "auto-TLS files" "$(printf 'cert.pem\nkey.pem')" "$TR_OUT"
  rec "fixtures/client/cert.pem: subjectAltName" openssl x509 -in "$fx/cert.pem" -noout -ext subjectAltName
  rec "fixtures/client/cert.pem: key and basic constraints" \
    bash -c 'openssl x509 -in "$1" -noout -text | grep -E "^ *(Public Key Algorithm:|Public-Key:|NIST CURVE:|CA:(TRUE|FALSE)|Issuer:|Subject:)" | sed "s/^ *//"' _ "$fx/cert.pem"
  rec "the served cert is fixtures/client/cert.pem" served_is "$H:${TLS_P[0]}" "$fx/cert.pem"
}
served_is() { [ "$(tls_serial_of "$1")" = "$(tls_serial "$2")" ] && echo same; }
tls_case auto-tls case_auto_tls

# --- http and https on two ports -------------------------------------------------------
case_mixed_urls() {
  tls_ports 3 || return 1
  local uh="http://$H:${TLS_P[0]}" us="https://$H:${TLS_P[1]}"
  tls_single s1 "$uh,$us" "${TLS_P[2]}" "${TLS_SERVER_FLAGS[@]}"
  tls_wait s1 "$us" "${ROOT[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "plain etcdctl on the http URL: put m v" c37 "$uh" put m v
  t_expect "http URL serves plain text" OK "$TR_OUT"
  rec "mTLS etcdctl on the https URL: get m" c37 "$us" "${ROOT[@]}" get m --print-value-only
  t_expect "https URL serves mTLS" v "$TR_OUT"
  rec "plain etcdctl on the https URL" c37 "http://$H:${TLS_P[1]}" get m
  t_check "https URL refuses plain text" test "$TR_RC" != 0
  rec "TLS etcdctl (endpoint without scheme) on the http URL" c37 "$H:${TLS_P[0]}" "${ROOT[@]}" get m
  t_check "http URL does not speak TLS" test "$TR_RC" != 0
  rec "curl http://.../health" ccurl "$uh/health"
  rec "curl https:// on the http port" ccurl "${CURL_ROOT[@]}" "https://$H:${TLS_P[0]}/health"
  rec "curl https://.../health" ccurl "${CURL_ROOT[@]}" "$us/health"
  rec "member list" c37 "$us" "${ROOT[@]}" member list
  t_check "member list shows both client URLs" grep -qF "$uh,$us" <<<"$TR_OUT"
}
tls_case mixed-urls case_mixed_urls

# --- conf.yml with TLS sections ----------------------------------------------------------
case_conf_file() {
  tls_ports 2 || return 1
  local cp=${TLS_P[0]} pp=${TLS_P[1]} u="https://$H:${TLS_P[0]}" d
  d=$(tls_dir m1); mkdir -p "$d"
  cat >"$d/conf.yml" <<EOF
#conf.yml (the seed guide's shape, TLS under the sections etcd reads)
name: m1
data-dir: $d/data
heartbeat-interval: 100
election-timeout: 1000
listen-peer-urls: https://$H:$pp
listen-client-urls: https://$H:$cp
initial-cluster: m1=https://$H:$pp
initial-advertise-peer-urls: https://$H:$pp
advertise-client-urls: https://$H:$cp
initial-cluster-state: new
initial-cluster-token: etcd-cluster-token
client-transport-security:
  cert-file: $C/server.pem
  key-file: $C/server-key.pem
  trusted-ca-file: $C/ca.pem
  client-cert-auth: true
peer-transport-security:
  cert-file: $C/peer-m1.pem
  key-file: $C/peer-m1-key.pem
  trusted-ca-file: $C/ca.pem
  client-cert-auth: true
EOF
  tls_spawn m1 "$H:$cp" --config-file "$d/conf.yml"
  tls_wait m1 "$u" "${ROOT[@]}" || { t_fail "server did not start"; rec_note "no server"; return 1; }
  rec "put k v" c37 "$u" "${ROOT[@]}" put k v
  t_expect "put over mTLS (config file)" OK "$TR_OUT"
  rec "member list" c37 "$u" "${ROOT[@]}" member list
  t_check "member list shows the https peer URL" grep -qF "https://$H:$pp" <<<"$TR_OUT"
  rec "no client certificate" c37 "$u" "${NOCERT[@]}" get k
  t_check "client port requires a certificate" test "$TR_RC" != 0
  rec "peer port: certificate served (serial)" tls_serial_of "$H:$pp" -cert "$C/peer-m2.pem" -key "$C/peer-m2-key.pem"
  t_expect "the peer port serves peer-m1.pem" "$(tls_serial "$C/peer-m1.pem")" "$TR_OUT"
  rec "peer port: TLS 1.2 handshake with peer-m2's certificate" handshake12 "$H:$pp" \
    -cert "$C/peer-m2.pem" -key "$C/peer-m2-key.pem"
  t_expect "the peer port accepts a peer certificate" "handshake ok" "$TR_OUT"
  rec "peer port: curl --tls-max 1.2 without a client certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" "https://$H:$pp/"
  t_check "the peer port requires a client certificate" test "$TR_RC" != 0
  rec "peer port: curl --tls-max 1.2 with the foreign CA's certificate" ccurl --tls-max 1.2 --cacert "$C/ca.pem" \
    --cert "$C/peer-foreign.pem" --key "$C/peer-foreign-key.pem" "https://$H:$pp/"
  t_check "the peer port refuses another CA's certificate" test "$TR_RC" != 0
}
# handshake12 HOST:PORT [s_client flags]: a TLS 1.2 handshake (the server's Finished
# comes after it has checked the client's certificate) verified against our CA.
handshake12() {
  if timeout 10 openssl s_client -tls1_2 -connect "$1" -CAfile "$C/ca.pem" -verify_return_error "${@:2}" \
    </dev/null >/dev/null 2>&1; then echo "handshake ok"; else echo "handshake failed"; return 1; fi
}
tls_case conf-file case_conf_file

# --- conf.yml with the TLS keys at the top level (the seed guide as written) ------------
toplevel_yaml() { # FILE NAME SCHEME CP PP
  local f=$1 n=$2 s=$3 cp=$4 pp=$5
  cat >"$f" <<EOF
name: $n
data-dir: $(dirname "$f")/data
listen-peer-urls: http://$H:$pp
listen-client-urls: $s://$H:$cp
initial-cluster: $n=http://$H:$pp
initial-advertise-peer-urls: http://$H:$pp
advertise-client-urls: $s://$H:$cp
initial-cluster-state: new
initial-cluster-token: etcd-cluster-token
cert-file: $C/server.pem
key-file: $C/server-key.pem
trusted-ca-file: $C/ca.pem
client-cert-auth: true
peer-cert-file: $C/peer-m1.pem
peer-key-file: $C/peer-m1-key.pem
peer-trusted-ca-file: $C/ca.pem
peer-client-cert-auth: true
EOF
}
TOPLEVEL_WARNING='etcd ignores them at the top level'
case_conf_toplevel() {
  tls_ports 4 || return 1
  local d sut_etcd=0
  tls_is_etcd "$TLS_BIN" && sut_etcd=1
  # (a) as written: http:// URLs. Differential: both serve plain text.
  d=$(tls_dir a); mkdir -p "$d"
  toplevel_yaml "$d/conf.yml" a http "${TLS_P[0]}" "${TLS_P[1]}"
  tls_spawn a "$H:${TLS_P[0]}" --config-file "$d/conf.yml"
  if tls_wait a "http://$H:${TLS_P[0]}"; then
    rec "(a) http URLs + top-level keys: plain etcdctl put k v" c37 "http://$H:${TLS_P[0]}" put k v
    t_expect "(a) plain text served" OK "$TR_OUT"
    rec "(a) TLS etcdctl on the same port" c37 "$H:${TLS_P[0]}" "${ROOT[@]}" get k
    if [ $sut_etcd = 0 ]; then
      t_check "(a) Capstan warns about the top-level keys ('$TOPLEVEL_WARNING')" tls_log_has a "$TOPLEVEL_WARNING"
    fi
  else
    rec_note "(a) did not start"; t_fail "(a) did not start"
  fi
  # (b) https:// URLs: etcd has no cert (it ignored the keys) and refuses to start;
  # Capstan takes the keys as flags, serves mTLS and warns. Not in the transcript.
  d=$(tls_dir b); mkdir -p "$d"
  toplevel_yaml "$d/conf.yml" b https "${TLS_P[2]}" "${TLS_P[3]}"
  tls_spawn b "$H:${TLS_P[2]}" --config-file "$d/conf.yml"
  local u="https://$H:${TLS_P[2]}"
  if [ $sut_etcd = 1 ]; then
    tls_wait_exit b 15 || cap_stop "$(tls_key b)" TERM 5
    t_check "(b) etcd ignores top-level TLS keys: refuses the https URL (exit status $TLS_EXIT)" \
      test "$TLS_EXIT" != running -a "$TLS_EXIT" != 0
    t_check "(b) etcd's log: TLS key/cert ... must be provided" tls_log_has b 'TLS key/cert \(--cert-file, --key-file\) must be provided'
  else
    if tls_wait b "$u" "${ROOT[@]}"; then
      t_expect "(b) Capstan serves mTLS from the top-level keys" OK "$(c37 "$u" "${ROOT[@]}" put k v 2>&1)"
      if c37 "$u" "${NOCERT[@]}" get k >/dev/null 2>&1; then t_fail "(b) a client without a certificate was served"
      else t_pass "(b) a client without a certificate is refused"; fi
      t_check "(b) Capstan warns about the top-level keys ('$TOPLEVEL_WARNING')" tls_log_has b "$TOPLEVEL_WARNING"
    else
      t_fail "(b) Capstan did not serve mTLS from the top-level keys"
    fi
  fi
}
tls_case conf-toplevel case_conf_toplevel

# --- rotation (binary under test only) -------------------------------------------------
# Files are swapped the way kubelet updates a Secret volume: each name is a symlink
# into ..data, itself a symlink to a version directory; a new ..data is renamed over
# the old one (one atomic rename switches cert and key together). The CA bundle is a
# plain file replaced by rename.
rot_swap() { # DIR VERSION: point DIR/..data at DIR/VERSION atomically
  ln -sfn "$2" "$1/..data.tmp" && mv -T "$1/..data.tmp" "$1/..data"
}
# rot_rename_pair DIR CERT KEY: replace DIR/server.pem and DIR/server-key.pem by copies
# of CERT and KEY, each by a rename (key then cert, microseconds apart).
rot_rename_pair() {
  cp "$2" "$1/.server.pem.new" && cp "$3" "$1/.server-key.pem.new" &&
    python3 -c 'import os, sys
d = sys.argv[1]
os.rename(d + "/.server-key.pem.new", d + "/server-key.pem")
os.rename(d + "/.server.pem.new", d + "/server.pem")' "$1"
}
rot_ca() { # FILE PEM...: replace FILE by the concatenation of PEMs (rename)
  local f=$1; shift
  cat "$@" >"$f.tmp" && mv -f "$f.tmp" "$f"
}
# rot_load NAME SECONDS: a bounded loop of etcdctl puts (each a new connection), with
# the client files of $RC, for SECONDS (at most 400 puts); one line per put in
# $ROTD/NAME.load ("ok" or "FAIL <error>").
rot_load() {
  local name=$1 secs=$2 i start=$SECONDS out
  : >"$ROTD/$name.load"
  for ((i = 0; i < 400 && SECONDS - start < secs; i++)); do
    if out=$(c37 "$RU" --cacert "$RC/ca.pem" --cert "$RC/cert.pem" --key "$RC/key.pem" put "rot/$name/$i" v 2>&1); then
      echo ok >>"$ROTD/$name.load"
    else
      echo "FAIL $(tail -n 1 <<<"$out")" >>"$ROTD/$name.load"
    fi
  done
}
rot_load_start() { rot_load "$@" & ROT_PID=$!; cap_track "$ROT_PID"; }
rot_load_result() { # NAME: "N puts, F failed"
  wait "$ROT_PID" 2>/dev/null
  local n f
  n=$(grep -c . "$ROTD/$1.load"); f=$(grep -c '^FAIL' "$ROTD/$1.load")
  ROT_N=$n ROT_F=$f
}
# rot_wait_serial SERIAL: poll the served serial for up to 2.5 s; seconds taken in ROT_T.
rot_wait_serial() {
  local t0 s; t0=$(date +%s.%N)
  while :; do
    s=$(tls_serial_of "$H:$ROTP")
    ROT_T=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
    [ "$s" = "$1" ] && return 0
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 2.5 else 1)" "$ROT_T" || break
    sleep 0.1
  done
  ROT_SERIAL=$s
  return 1
}
# rot_wait_put OK|REFUSED CERT KEY: poll a put with this client cert for up to 2.5 s
# until it succeeds (OK) or is refused (REFUSED).
rot_wait_put() {
  local want=$1 cert=$2 key=$3 t0=$SECONDS i
  for ((i = 0; i < 25; i++)); do
    if c37 "$RU" --cacert "$RC/ca.pem" --cert "$cert" --key "$key" --dial-timeout=1s put rot/probe x >/dev/null 2>&1; then
      [ "$want" = OK ] && return 0
    else
      [ "$want" = REFUSED ] && return 0
    fi
    sleep 0.1
    ((SECONDS - t0 < 3)) || break
  done
  return 1
}
# rot_ok DESC CA_STEP CMD...: a check; CA_STEP=1 marks what etcd cannot do (it does not
# reload its CA bundle): against etcd such a check is expected to fail (XFAIL).
rot_ok() {
  local desc=$1 ca=$2; shift 2
  if "$@"; then
    if [ "$ca" = 1 ] && [ "$ROT_ETCD" = 1 ]; then t_fail "$desc: passed against etcd, which does not reload its CA: the check is wrong"
    else t_pass "$desc"; fi
  else
    if [ "$ca" = 1 ] && [ "$ROT_ETCD" = 1 ]; then t_pass "$desc: XFAIL against etcd (it does not reload its CA bundle), as expected"
    else t_fail "$desc"; fi
  fi
}
case_rotation() {
  tls_ports 2 || return 1
  ROTP=${TLS_P[0]} RU="https://$H:${TLS_P[0]}" ROT_ETCD=0
  tls_is_etcd "$TLS_BIN" && ROT_ETCD=1
  ROTD=$(tls_dir s1)/pki
  local G=$ROTD/gen S=$ROTD/srv v
  RC=$ROTD/cli
  mkdir -p "$G" "$S" "$RC"
  cp "$C/ca.pem" "$C/ca-key.pem" "$G/"
  tls_ca "$G" ca2 capstan-rotated-ca && tls_server "$G" server-v2 ca 1002 &&
    tls_server "$G" server-v3 ca 1003 && tls_server "$G" server-v4 ca2 1004 && tls_client "$G" client-new ca2 root 4001 ||
    { t_fail "generating the rotation certificates"; return 1; }
  # server side: v1 (server.pem), v2 (same CA, new serial) in version directories;
  # server-v3 (same CA) and server-v4 (issued by the new CA) are renamed into place
  mkdir -p "$S/v1" "$S/v2"
  cp "$C/server.pem" "$S/v1/server.pem"; cp "$C/server-key.pem" "$S/v1/server-key.pem"
  cp "$G/server-v2.pem" "$S/v2/server.pem"; cp "$G/server-v2-key.pem" "$S/v2/server-key.pem"
  rot_swap "$S" v1
  ln -s ..data/server.pem "$S/server.pem"; ln -s ..data/server-key.pem "$S/server-key.pem"
  rot_ca "$S/ca.pem" "$C/ca.pem"
  # client side: v1 old cert + old CA; v2 old cert + both CAs; v3 new cert + both CAs
  for v in v1 v2 v3; do mkdir -p "$RC/$v"; done
  cp "$C/ca.pem" "$RC/v1/ca.pem"; cp "$C/client-root.pem" "$RC/v1/cert.pem"; cp "$C/client-root-key.pem" "$RC/v1/key.pem"
  cat "$C/ca.pem" "$G/ca2.pem" >"$RC/v2/ca.pem"; cp "$RC/v1/cert.pem" "$RC/v1/key.pem" "$RC/v2/"
  cp "$RC/v2/ca.pem" "$RC/v3/"; cp "$G/client-new.pem" "$RC/v3/cert.pem"; cp "$G/client-new-key.pem" "$RC/v3/key.pem"
  rot_swap "$RC" v1
  for v in ca.pem cert.pem key.pem; do ln -s "..data/$v" "$RC/$v"; done

  tls_single s1 "$RU" "${TLS_P[1]}" --cert-file "$S/server.pem" --key-file "$S/server-key.pem" \
    --trusted-ca-file "$S/ca.pem" --client-cert-auth
  tls_wait s1 "$RU" --cacert "$RC/ca.pem" --cert "$RC/cert.pem" --key "$RC/key.pem" ||
    { t_fail "server did not start"; return 1; }
  t_expect "initial server cert serial" 1001 "$(tls_serial_of "$H:$ROTP")"

  # A: server cert/key replaced (same CA) under load: kubelet style (..data renamed)
  rot_load_start A 5; sleep 1.5
  rot_swap "$S" v2
  rot_ok "A: new connections get the new server cert (serial 1002) within 2.5 s of the ..data swap" 0 rot_wait_serial 1002
  cap_say "A: serial $(tls_serial_of "$H:$ROTP") served ${ROT_T} s after the swap"
  rot_load_result A
  rot_ok "A: 0 failed puts while cert/key were swapped ($ROT_N puts, $ROT_F failed)" 0 test "$ROT_F" = 0 -a "$ROT_N" -gt 5
  # A2: the same, the files themselves replaced by rename (the symlinks become files)
  rot_load_start A2 5; sleep 1.5
  rot_rename_pair "$S" "$G/server-v3.pem" "$G/server-v3-key.pem"
  rot_ok "A2: new connections get the new server cert (serial 1003) within 2.5 s of the renames" 0 rot_wait_serial 1003
  cap_say "A2: serial $(tls_serial_of "$H:$ROTP") served ${ROT_T} s after the renames"
  rot_load_result A2
  rot_ok "A2: 0 failed puts while cert/key were renamed into place ($ROT_N puts, $ROT_F failed)" 0 test "$ROT_F" = 0 -a "$ROT_N" -gt 5

  # B: the server's CA bundle becomes old+new (clients already trust both)
  rot_swap "$RC" v2
  rot_load_start B 5; sleep 1.5
  rot_ca "$S/ca.pem" "$C/ca.pem" "$G/ca2.pem"
  rot_ok "B: a client cert of the new CA accepted within 2.5 s of the bundle change" 1 \
    rot_wait_put OK "$G/client-new.pem" "$G/client-new-key.pem"
  rot_load_result B
  rot_ok "B: 0 failed puts (old client certs) while the CA bundle changed ($ROT_N puts, $ROT_F failed)" 0 test "$ROT_F" = 0 -a "$ROT_N" -gt 5

  # C: server and client certs re-issued by the new CA
  rot_load_start C 6; sleep 1
  rot_rename_pair "$S" "$G/server-v4.pem" "$G/server-v4-key.pem"
  rot_swap "$RC" v3
  rot_ok "C: new connections get the new CA's server cert (serial 1004) within 2.5 s" 0 rot_wait_serial 1004
  rot_load_result C
  rot_ok "C: 0 failed puts while server and client certs moved to the new CA ($ROT_N puts, $ROT_F failed)" 1 test "$ROT_F" = 0 -a "$ROT_N" -gt 5

  # D: the old CA dropped from the server's bundle
  rot_load_start D 5; sleep 1.5
  rot_ca "$S/ca.pem" "$G/ca2.pem"
  rot_ok "D: a client cert of the old CA refused within 2.5 s of the drop" 1 \
    rot_wait_put REFUSED "$C/client-root.pem" "$C/client-root-key.pem"
  rot_load_result D
  rot_ok "D: 0 failed puts (new client certs) while the old CA was dropped ($ROT_N puts, $ROT_F failed)" 1 test "$ROT_F" = 0 -a "$ROT_N" -gt 5
  grep -h '^FAIL' "$ROTD"/*.load 2>/dev/null | sort | uniq -c | head -n 5 | sed 's/^/    failed put: /'
}
tls_only_sut rotation case_rotation

tls_summary
