#!/usr/bin/env bash
# capstan-bench smoke run: a few hundred requests of every workload against a 1-member
# server, checking that each run ends by itself, that its last line is `RESULT {json}`
# with the expected request counts and no errors, and that the server saw what the tool
# says it did (keys put, revisions of txns, leases revoked, events delivered); its TLS
# options against a member with client TLS (the reference etcd, and the server under
# test if it has TLS): verified, insecure, refused (other CA, no client certificate). Then
# bench/compare.sh in a tiny mode (1 member, 1 round, 200 requests, 1000 keys, 100
# watchers) against the same binaries and the reference etcd. Timings are not checked.
# Builds nothing: the debug binaries come from `cargo build --workspace`.
#
# usage: tests/e2e/bench-smoke.sh   (CAPSTAN_BIN selects the server)
# Knobs: CAPSTAN_BENCH_BIN (default $CARGO_TARGET_DIR/debug/capstan-bench),
#        BENCH_SMOKE_COMPARE=0 (only `bash -n` bench/compare.sh instead of running it).
# timeout: 300
set -u
CAP_TEST_NAME=bench-smoke
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${CAPSTAN_BENCH_BIN:=$CARGO_TARGET_DIR/debug/capstan-bench}"
cap_require_bin "$CAPSTAN_BIN" || exit 1
if [ ! -x "$CAPSTAN_BENCH_BIN" ]; then
  cap_err "no executable at $CAPSTAN_BENCH_BIN; build it with: cargo build -p capstan-bench"
  exit 1
fi
cap_init

cap_up s1 "$CAPSTAN_BIN" || { cap_fail "server did not start"; cap_finish; }
EP=${CAP_EP[s1]}
ctl() { cap_ctl s1 "$@"; }

# bench NAME ARGS...: run capstan-bench against s1 (bounded); output in $CAP_TMP/NAME.out,
# exit status in RC, the JSON of its RESULT line in R ("" if none).
bench() {
  local name=$1; shift
  timeout 120 "$CAPSTAN_BENCH_BIN" --endpoints "$EP" --no-progress "$@" >"$CAP_TMP/$name.out" 2>&1
  RC=$?
  R=$(tail -n 1 "$CAP_TMP/$name.out" | sed -n 's/^RESULT //p')
  if [ "$RC" != 0 ] || [ -z "$R" ]; then
    cap_err "$name: exit $RC; output:"; sed 's/^/  | /' "$CAP_TMP/$name.out" >&2
  fi
}
# jq_ EXPR [JSON]: a Python expression over the JSON (d), default $R.
jq_() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(eval(sys.argv[1], {"d": d}))' "$1" "${2:-$R}" 2>/dev/null; }
# expect_run NAME OK: exit 0, last line RESULT, OK successful requests, no error.
expect_run() {
  cap_expect "$1: exit status" 0 "$RC"
  cap_expect "$1: RESULT line with $2 ok, 0 errors, percentiles" "True" \
    "$(jq_ "d['ok'] == $2 and d['error_count'] == 0 and d['errors'] == {} and d['requests'] == $2 and d['throughput_rps'] > 0 and 0 < d['latency_ms']['p50'] <= d['latency_ms']['p90'] <= d['latency_ms']['p99'] <= d['latency_ms']['p999'] <= d['latency_ms']['max']")"
}
count() { ctl get "$1" --prefix --keys-only --limit 1 -w json | jq_ 'd.get("count", 0)' "$(cat)"; }
revision() { ctl get smoke-probe -w json | jq_ 'd["header"]["revision"]' "$(cat)"; }

# --- put ---------------------------------------------------------------------------
bench put --conns 2 --clients 8 --total 300 put --sequential-keys --key-space-size 300 --key-prefix smoke/put/ --val-size 64
expect_run put 300
cap_expect "put: 300 keys on the server" 300 "$(count smoke/put/)"
cap_expect "put: key names are prefix + zero-padded index" "smoke/put/00000000" "$(ctl get smoke/put/ --prefix --keys-only --limit 1 | head -n 1)"
cap_expect "put: values of --val-size bytes" 64 \
  "$(ctl get smoke/put/00000123 -w json | jq_ 'len(__import__("base64").b64decode(d["kvs"][0]["value"]))' "$(cat)")"
cap_expect "put: the report names its workload and options" "put 8 2 300" \
  "$(jq_ '"%s %d %d %d" % (d["workload"], d["config"]["clients"], d["config"]["conns"], d["config"]["key_space_size"])')"
grep -q '^  Requests/sec:' "$CAP_TMP/put.out" && grep -q '^    p99.9 ' "$CAP_TMP/put.out"
cap_check "put: human-readable report before the RESULT line" test $? = 0

# --- range -------------------------------------------------------------------------
bench range-l --clients 4 --total 200 range smoke/put/ smoke/put0 --consistency l --keys-only --limit 10
expect_run "range (linearizable, keys-only, limit)" 200
bench range-s --clients 4 --total 200 --target-leader range smoke/put/00000001 --consistency s
expect_run "range (serializable, --target-leader)" 200
cap_expect "range --target-leader: the leader's endpoint" "['$EP']" "$(jq_ 'd["config"]["endpoints"]')"
bench range-err --clients 2 --total 20 range ''
cap_expect "range of an empty key: 20 InvalidArgument errors, exit 0" "0 {'InvalidArgument': 20} 0" \
  "$RC $(jq_ 'd["errors"]') $(jq_ 'd["ok"]')"

# --- txn-put -----------------------------------------------------------------------
REV0=$(revision)
bench txn --clients 4 --total 200 txn-put --txn-ops 3 --sequential-keys --key-space-size 600 --key-prefix smoke/txn/
expect_run txn-put 200
cap_expect "txn-put: one revision per txn" "$((REV0 + 200))" "$(revision)"
cap_expect "txn-put: txn i puts keys i..i+2 (202 keys)" 202 "$(count smoke/txn/)"

# --- lease-keepalive ---------------------------------------------------------------
bench lease --clients 4 --total 200 lease-keepalive --ttl 30
expect_run lease-keepalive 200
cap_expect "lease-keepalive: its 4 leases revoked at the end" "4 0" \
  "$(jq_ 'd["extra"]["leases_revoked"]') $(ctl lease list | grep -c '^[0-9a-f]\{16\}$')"

# --- watch -------------------------------------------------------------------------
bench watch --clients 2 --total 50 watch --watchers 100 --keys 4 --streams 5
expect_run "watch (100 watchers on 4 keys, 50 puts)" 1250
cap_expect "watch: every event delivered" "1250 1250 50 0" \
  "$(jq_ '"%d %d %d %d" % (d["extra"]["expected_events"], d["extra"]["delivered_events"], d["extra"]["puts_ok"], d["extra"]["puts_failed"])')"

# --- bounds: --json, --rate, --duration, unreachable endpoint -----------------------
timeout 60 "$CAPSTAN_BENCH_BIN" --endpoints "$EP" --no-progress --json --total 20 --rate 100 put >"$CAP_TMP/json.out" 2>&1
R=$(cat "$CAP_TMP/json.out")
cap_expect "--json: one JSON line; --rate 100: 20 requests take >= 0.19 s" "1 20 True" \
  "$(wc -l <"$CAP_TMP/json.out") $(jq_ 'd["ok"]') $(jq_ 'd["elapsed_s"] >= 0.19')"
bench duration --clients 2 --total 0 --duration 1 --rate 50 range smoke/put/00000001
cap_expect "--total 0 --duration 1 --rate 50: stops by itself after about 50 requests" "0 True" \
  "$RC $(jq_ '40 <= d["ok"] <= 51 and d["error_count"] == 0')"
t0=$SECONDS
timeout 60 "$CAPSTAN_BENCH_BIN" --endpoints 127.0.0.1:1 --dial-timeout 2 --no-progress --total 5 put >"$CAP_TMP/refused.out" 2>&1
rc=$?
cap_check "unreachable endpoint: exit 1 with a message, promptly (status $rc)" \
  test "$rc" = 1 -a $((SECONDS - t0)) -lt 20 -a -s "$CAP_TMP/refused.out"
cap_check "server still running" cap_alive s1

REF=$("$ROOT/tests/tools/build-etcd.sh" --print-dir 2>/dev/null)/etcd
[ -x "$REF" ] || REF=$CAPSTAN_REF_ETCD

# --- TLS -----------------------------------------------------------------------------
# capstan-bench's --cacert/--cert/--key against a member with client TLS and
# --client-cert-auth: the reference etcd, and the server under test too if its --help
# lists --client-cert-auth and does not say that TLS is not supported. Certificates (ECDSA P-256) made here with openssl.
T=$CAP_TMP/tls
tls_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
tls_leaf() { # NAME SANS EKU [CA]
  tls_key "$T/$1-key.pem" &&
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=$3" "subjectAltName=$2" >"$T/$1.ext" &&
    openssl req -new -key "$T/$1-key.pem" -subj "/CN=$1" -config /dev/null 2>/dev/null |
    openssl x509 -req -CA "$T/${4:-ca}.pem" -CAkey "$T/${4:-ca}-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
      -days 2 -sha256 -extfile "$T/$1.ext" -out "$T/$1.pem" 2>/dev/null
}
tls_ca() { # NAME
  tls_key "$T/$1-key.pem" && openssl req -new -x509 -key "$T/$1-key.pem" -out "$T/$1.pem" -days 2 \
    -subj "/CN=$1" -config /dev/null -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,digitalSignature" 2>/dev/null
}
# tls_smoke NAME BIN: one member of BIN with client TLS; runs against it.
tls_smoke() {
  local name=$1 bin=$2 cp pp ep url
  read -r cp pp <<<"$(cap_ports 2)"
  url=https://127.0.0.1:$cp
  cap_spawn "$name" "$url" "$bin" --name "$name" --data-dir "$CAP_TMP/$name/data" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "$name=http://127.0.0.1:$pp" \
    --cert-file "$T/server.pem" --key-file "$T/server-key.pem" --trusted-ca-file "$T/ca.pem" --client-cert-auth
  CAP_CTL_TLS=("${TLS_OK[@]}")
  cap_wait_healthy "$name" || { CAP_CTL_TLS=(); cap_fail "$name: member with client TLS did not start"; return; }
  CAP_CTL_TLS=()
  EP=127.0.0.1:$cp
  bench "$name-bare" --clients 4 --total 100 "${TLS_OK[@]}" put --key-prefix smoke/tls/
  expect_run "$name: host:port with --cacert --cert --key" 100
  cap_expect "$name: the report says TLS" True "$(jq_ 'd["config"]["tls"]')"
  EP=$url
  bench "$name-https" --clients 4 --total 100 "${TLS_OK[@]}" --target-leader range smoke/tls/ smoke/tls0
  expect_run "$name: https:// endpoint, --target-leader" 100
  EP=localhost:$cp
  bench "$name-localhost" --clients 2 --total 20 "${TLS_OK[@]}" lease-keepalive
  expect_run "$name: server name localhost" 20
  EP=$url
  bench "$name-insecure" --clients 2 --total 20 --insecure-skip-tls-verify --cert "$T/client.pem" --key "$T/client-key.pem" range k
  expect_run "$name: --insecure-skip-tls-verify, no --cacert" 20
  bench "$name-foreign-ca" --dial-timeout 3 --total 5 --cacert "$T/other-ca.pem" --cert "$T/client.pem" --key "$T/client-key.pem" range k
  cap_check "$name: a server certificate of another CA is refused (exit 1, UnknownIssuer)" \
    test "$RC" = 1 -a "$(grep -c 'UnknownIssuer' "$CAP_TMP/$name-foreign-ca.out")" -gt 0
  EP=http://127.0.0.1:$cp
  bench "$name-plain" --dial-timeout 3 --request-timeout 2 --total 5 "${TLS_OK[@]}" range k
  cap_check "$name: http:// to the TLS port: no request succeeds" test "$RC" != 0 -o "$(jq_ 'd["ok"]')" = 0
  EP=$url
  bench "$name-nocert" --dial-timeout 3 --request-timeout 2 --total 5 --cacert "$T/ca.pem" range k
  cap_check "$name: no client certificate with --client-cert-auth: no request succeeds" \
    test "$RC" != 0 -o "$(jq_ 'd["ok"]')" = 0
  cap_stop "$name"
}
if ! command -v openssl >/dev/null; then
  cap_say "TLS: not run (no openssl)"
else
  mkdir -p "$T"
  if tls_ca ca && tls_ca other-ca && tls_leaf server "IP:127.0.0.1,DNS:localhost" serverAuth,clientAuth &&
    tls_leaf client "DNS:client.test" clientAuth; then
    TLS_OK=(--cacert "$T/ca.pem" --cert "$T/client.pem" --key "$T/client-key.pem")
    [ -x "$REF" ] && tls_smoke tls-ref "$REF"
    # (a Capstan without TLS lists the flags too, as ignored, and says it refuses https)
    help=$("$CAPSTAN_BIN" --help 2>&1)
    if grep -q -- --client-cert-auth <<<"$help" && ! grep -qi 'TLS is not supported\|(TLS).* refused' <<<"$help" &&
      [ "$(readlink -f "$CAPSTAN_BIN")" != "$(readlink -f "$REF")" ]; then
      tls_smoke tls-sut "$CAPSTAN_BIN"
    fi
  else
    cap_fail "TLS: generating certificates with openssl"
  fi
fi
EP=${CAP_EP[s1]}

# --- bench/compare.sh --------------------------------------------------------------
cap_check "bench/compare.sh parses (bash -n)" bash -n "$ROOT/bench/compare.sh"
if [ "${BENCH_SMOKE_COMPARE:-1}" = 0 ]; then
  cap_say "compare.sh: not run (BENCH_SMOKE_COMPARE=0)"
elif [ ! -x "$REF" ]; then
  cap_say "compare.sh: not run (no reference etcd)"
else
  # Tiny mode: about 40 s with debug builds on 2 CPUs.
  t0=$SECONDS
  # (binaries passed explicitly and COMPARE_BUILD=0: compare.sh must not build the
  # release binaries it defaults to)
  CARGO_TARGET_DIR=$CARGO_TARGET_DIR CAPSTAN_BIN=$CAPSTAN_BIN CAPSTAN_BENCH_BIN=$CAPSTAN_BENCH_BIN \
    COMPARE_BUILD=0 COMPARE_ETCD=$REF COMPARE_SIZES=1 COMPARE_ROUNDS=1 COMPARE_TOTAL=200 \
    COMPARE_KEYS=1000 COMPARE_WATCHERS=100 COMPARE_WATCH_PUTS=20 COMPARE_WATCH_RATE=20 \
    COMPARE_OUT="$CAP_TMP/compare/out.md" timeout 150 bash "$ROOT/bench/compare.sh" >"$CAP_TMP/compare.log" 2>&1
  rc=$?
  cap_say "compare.sh (tiny) took $((SECONDS - t0)) s against $REF"
  [ "$rc" = 0 ] || sed 's/^/  compare| /' "$CAP_TMP/compare.log" | tail -n 30
  cap_expect "compare.sh (tiny): exit status" 0 "$rc"
  rows=$(grep -c '^| 1 | [a-z0-9-]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | 0 / 0 |$' "$CAP_TMP/compare/out.md" 2>/dev/null)
  cap_expect "compare.sh (tiny): 7 workload rows with ratios and no errors" 7 "$rows"
  for m in "RSS after load" "disk after load" "restart to serving" "RSS after restart"; do
    cap_check "compare.sh (tiny): $m measured for both" \
      grep -q "^| 1 | $m ([a-zA-Z]*) | [0-9.]* | [0-9.]* | [0-9.]* |$" "$CAP_TMP/compare/out.md"
  done
fi
cap_finish
