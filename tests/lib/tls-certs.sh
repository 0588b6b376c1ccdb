# shellcheck shell=bash
# Test certificates for the TLS suites, made with `openssl` only (ECDSA P-256, PKCS#8
# keys, fixed serial numbers, valid 10 years from now). Sourced or run as a script:
#
#   . tests/lib/tls-certs.sh; tls_certs_gen DIR [MEMBER...]
#   tests/lib/tls-certs.sh DIR [MEMBER...]          # MEMBER default: m1 m2 m3 m4
#
# Files written into DIR (cert NAME.pem, key NAME-key.pem; serials in hex):
#   ca.pem                 the CA everything below is signed by (CN=capstan-test-ca)
#   foreign-ca.pem         a second, unrelated CA (CN=capstan-foreign-ca)
#   server.pem             client-port server cert: SANs IP:127.0.0.1, IP:::1,
#                          DNS:localhost; EKU serverAuth+clientAuth (as etcd's own
#                          fixtures: etcd presents it when it dials itself); CN=server;
#                          serial 1001
#   peer-MEMBER.pem        peer cert of each MEMBER: CN=MEMBER, SANs IP:127.0.0.1,
#                          DNS:localhost, EKU serverAuth+clientAuth (one cert serves and
#                          dials); serials 2001, 2002, ... in MEMBER order
#   peer-intruder.pem      a peer cert like the others (same CA) with CN=intruder, for
#                          --peer-cert-allowed-cn refusals; serial 2101
#   peer-foreign.pem       a peer cert signed by foreign-ca (CN=foreign); serial 2201
#   client-root.pem        client cert CN=root, SAN DNS:root.client.test, EKU
#                          clientAuth; serial 3001
#   client-alice.pem       CN=alice, SAN DNS:alice.client.test; serial 3002
#   client-foreign.pem     CN=root signed by foreign-ca; serial 3101
#   client-revoked.pem     CN=revoked, SAN DNS:revoked.client.test; serial 3201
#   client-other-cn.pem    CN=mallory, SAN DNS:mallory.client.test (a CN/host name no
#                          allowed list contains); serial 3301
#   crl.der                CRL of ca in DER (etcd reads DER and matches by serial)
#                          revoking client-revoked (serial 3201); crl.pem: the same, PEM
#   ca-bundle-both.pem     ca.pem followed by foreign-ca.pem (a multi-CA bundle)
# More certificates (e.g. for rotation) with the functions:
#   tls_ca DIR NAME CN                       -> DIR/NAME.pem, DIR/NAME-key.pem
#   tls_leaf DIR NAME CA CN SERIAL SANS EKU  -> DIR/NAME.pem, DIR/NAME-key.pem signed by
#       DIR/CA.pem; SANS an openssl subjectAltName value ("" for none); EKU e.g.
#       "serverAuth,clientAuth"
#   tls_server DIR NAME CA SERIAL            -> a server cert like server.pem
#   tls_client DIR NAME CA CN SERIAL         -> a client cert like client-root.pem
#   tls_serial FILE                          -> the serial of a cert, as openssl prints
#       it (upper-case hex, e.g. 1001)
# Takes well under 2 s. Needs openssl >= 1.1.1.

TLS_DAYS=3650

tls__key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# tls_ca DIR NAME CN
tls_ca() {
  local d=$1 n=$2 cn=$3
  tls__key "$d/$n-key.pem" || return 1
  openssl req -new -x509 -key "$d/$n-key.pem" -out "$d/$n.pem" -days "$TLS_DAYS" -sha256 \
    -subj "/O=capstan-tests/CN=$cn" -set_serial 1 -config /dev/null \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

# tls_leaf DIR NAME CA CN SERIAL SANS EKU
tls_leaf() {
  local d=$1 n=$2 ca=$3 cn=$4 serial=$5 sans=$6 eku=$7 ext
  tls__key "$d/$n-key.pem" || return 1
  ext=$(mktemp "$d/.ext.XXXXXX")
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl req -new -key "$d/$n-key.pem" -subj "/O=capstan-tests/CN=$cn" -config /dev/null 2>/dev/null |
    openssl x509 -req -CA "$d/$ca.pem" -CAkey "$d/$ca-key.pem" -set_serial "0x$serial" \
      -days "$TLS_DAYS" -sha256 -extfile "$ext" -out "$d/$n.pem" 2>/dev/null
  local rc=$?
  rm -f "$ext"
  return $rc
}

tls_server() { tls_leaf "$1" "$2" "$3" server "$4" "IP:127.0.0.1,IP:::1,DNS:localhost" "serverAuth,clientAuth"; }
tls_peer() { tls_leaf "$1" "$2" "$3" "$4" "$5" "IP:127.0.0.1,DNS:localhost" "serverAuth,clientAuth"; }
tls_client() { tls_leaf "$1" "$2" "$3" "$4" "$5" "DNS:$4.client.test" "clientAuth"; }

tls_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }

# tls_crl DIR CA OUT CERT...: DER CRL (OUT.der, and OUT.pem) of CA revoking CERTs.
tls_crl() {
  local d=$1 ca=$2 out=$3 c w
  shift 3
  w=$(mktemp -d "$d/.crl.XXXXXX")
  : >"$w/index.txt"
  echo 01 >"$w/crlnumber"
  cat >"$w/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $w/index.txt
crlnumber = $w/crlnumber
default_md = sha256
default_crl_days = $TLS_DAYS
EOF
  for c in "$@"; do
    openssl ca -config "$w/ca.cnf" -keyfile "$d/$ca-key.pem" -cert "$d/$ca.pem" -revoke "$c" \
      >/dev/null 2>&1 || { rm -rf "$w"; return 1; }
  done
  openssl ca -config "$w/ca.cnf" -keyfile "$d/$ca-key.pem" -cert "$d/$ca.pem" -gencrl \
    -out "$d/$out.pem" >/dev/null 2>&1 &&
    openssl crl -in "$d/$out.pem" -outform DER -out "$d/$out.der"
  local rc=$?
  rm -rf "$w"
  return $rc
}

# tls_certs_gen DIR [MEMBER...]: the standard set (see the top of this file).
tls_certs_gen() {
  local d=$1 m i=1
  shift
  [ $# -gt 0 ] || set -- m1 m2 m3 m4
  mkdir -p "$d" || return 1
  tls_ca "$d" ca capstan-test-ca &&
    tls_ca "$d" foreign-ca capstan-foreign-ca &&
    tls_server "$d" server ca 1001 || return 1
  for m in "$@"; do
    tls_peer "$d" "peer-$m" ca "$m" "$(printf '%d' $((2000 + i)))" || return 1
    i=$((i + 1))
  done
  tls_peer "$d" peer-intruder ca intruder 2101 &&
    tls_peer "$d" peer-foreign foreign-ca foreign 2201 &&
    tls_client "$d" client-root ca root 3001 &&
    tls_client "$d" client-alice ca alice 3002 &&
    tls_client "$d" client-foreign foreign-ca root 3101 &&
    tls_client "$d" client-revoked ca revoked 3201 &&
    tls_client "$d" client-other-cn ca mallory 3301 &&
    tls_crl "$d" ca crl "$d/client-revoked.pem" &&
    cat "$d/ca.pem" "$d/foreign-ca.pem" >"$d/ca-bundle-both.pem"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
    sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
  fi
  tls_certs_gen "$@" || { echo "tls-certs.sh: generating certificates in $1 failed" >&2; exit 1; }
fi
