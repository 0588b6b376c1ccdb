#!/usr/bin/env bash
# etcd's Go client against a 3-member cluster: builds the tests of tests/goclient
# (`go test -c`, cached under ~/.cache/capstan/goclient), starts a cluster of
# $CAPSTAN_BIN, and runs each Go test as its own process (so one hung or crashing test
# cannot take the others with it), bounded in time. Covered: the etcd guide's three Go
# programs (service registration with lease + KeepAlive, discovery with Get + Watch,
# distributed lock with concurrency.NewMutex contended by several processes and released
# when its holder is killed), leader election (concurrency.NewElection, failover on
# kill -9), the v3election / v3lock gRPC services, STM bank transfers under contention
# at every isolation level, the client's kubernetes interface (optimistic writes,
# pagination, count, compaction) and RequestProgress on a watch. Then the guide's
# programs again as a user restricted to their prefix, with simple tokens and with JWTs
# (token expiry and the client's refresh included), and over mutual TLS.
# One PASS/FAIL line per Go test (failed subtests and the errors are printed under it),
# then checks that no test key is left and every member is still running.
#
# usage: tests/e2e/go-client.sh [REGEX]   (CAPSTAN_BIN selects the server; REGEX picks
#        the Go tests by name, e.g. 'Lock|Election')
# Knobs: GOCLIENT_TEST_TIMEOUT (seconds per Go test, default 240),
#        GOCLIENT_LOG_LEVEL (the Go client's log level: debug/info/warn/error; warn),
#        GOCLIENT_RACE=1 (build and run the tests with the race detector; needs cgo),
#        CAPSTAN_GO (the go command; default go), GOMODCACHE / GOCACHE (default
#        ~/.cache/capstan/go-mod and go-build: tests/lib/go-env.sh, shared with the Go
#        build scripts). Needs Go >= 1.26 (skipped if there is no go command).
# The run's Go test logs are kept in $CAP_TMP/go/ when something fails.
# timeout: 900
set -u
CAP_TEST_NAME=go-client
# shellcheck source=tests/lib/cluster.sh
. "$(dirname "$0")/../lib/cluster.sh"
# shellcheck source=tests/lib/go-env.sh
. "$CAP_LIB_DIR/go-env.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
go_env # caches, GOFLAGS="-mod=readonly -buildvcs=false", GOTOOLCHAIN=local (cgo stays on for -race)
go_have || cap_skip "no go command ($CAPSTAN_GO); Go >= 1.26 builds tests/goclient"
cap_init

GODIR=$(cd "$(dirname "$0")/../goclient" && pwd)
PER_TEST=${GOCLIENT_TEST_TIMEOUT:-240}
RUN_RE=${1:-.}

# --- the test binary (rebuilt only when tests/goclient changes) ------------------------
BIN_DIR=$HOME/.cache/capstan/goclient
TEST_BIN=$BIN_DIR/goclient.test
RACE=()
if [ "${GOCLIENT_RACE:-0}" = 1 ]; then TEST_BIN=$BIN_DIR/goclient-race.test; RACE=(-race); fi
mkdir -p "$BIN_DIR"
# shellcheck disable=SC2046 # the file names have no spaces
SRC_HASH=$(cd "$GODIR" && cat go.mod go.sum $(ls ./*.go | LC_ALL=C sort) | sha256sum | cut -c1-16)
SRC_HASH="$SRC_HASH $("$CAPSTAN_GO" env GOVERSION) ${RACE[*]}"
if [ -x "$TEST_BIN" ] && [ "$(cat "$TEST_BIN.stamp" 2>/dev/null)" = "$SRC_HASH" ]; then
  cap_say "test binary up to date: $TEST_BIN"
else
  cap_say "building $TEST_BIN (go test -c in tests/goclient, nice -n 19)"
  t0=$SECONDS
  if (cd "$GODIR" && go_run test "${RACE[@]}" -c -o "$TEST_BIN.tmp" .) >"$CAP_TMP/build.log" 2>&1; then
    mv "$TEST_BIN.tmp" "$TEST_BIN" && echo "$SRC_HASH" >"$TEST_BIN.stamp"
    cap_say "built in $((SECONDS - t0)) s"
  else
    sed 's/^/  build| /' "$CAP_TMP/build.log" | tail -n 40
    rm -f "$TEST_BIN.tmp"
    cap_fail "go test -c in tests/goclient"
    cap_finish
  fi
fi
mapfile -t TESTS < <("$TEST_BIN" -test.list "$RUN_RE" 2>/dev/null | grep '^Test')
[ ${#TESTS[@]} -gt 0 ] || { cap_fail "no Go test matches '$RUN_RE'"; cap_finish; }

# --- cluster ------------------------------------------------------------------------------
cap_say "server: $("$CAPSTAN_BIN" --version 2>&1 | head -n 1)"
cl_new 3 "$CAPSTAN_BIN" || { cap_fail "3-member cluster did not come up"; cap_finish; }
cap_pass "3-member cluster up, leader $CL_LEADER"
export CAPSTAN_ENDPOINTS
CAPSTAN_ENDPOINTS=$(cl_eps)
cap_say "CAPSTAN_ENDPOINTS=$CAPSTAN_ENDPOINTS"

# --- the guide's programs over mutual TLS: a second cluster with client and peer TLS, the
# Go client with a CA and a client certificate (CAPSTAN_CACERT/CERT/KEY, tls.Config) ---
TLS_RE=${GOCLIENT_TLS_TESTS:-ServiceRegistration|ServiceDiscovery|Lock}
mapfile -t TLS_TESTS < <("$TEST_BIN" -test.list "$TLS_RE" 2>/dev/null | grep '^Test' | grep -E "$RUN_RE")

# --- the Go tests, one process each ---------------------------------------------------
mkdir -p "$CAP_TMP/go"
# summarize LOG: the subtests' results and the failure messages (file:line: text) of a
# go test -v log, indented.
summarize() {
  grep -E '^[[:space:]]*--- (FAIL|SKIP): |^[[:space:]]+[a-z_]+_test\.go:[0-9]+: |^panic: |^FAIL|test timed out' "$1" |
    grep -vE '^[[:space:]]*--- PASS' | head -n 40 | sed 's/^/    /'
}
# run_tests NAME...: each Go test as its own process, bounded in time.
run_tests() {
local t log start pid rc secs why
for t in "$@"; do
  log=$CAP_TMP/go/$t.log
  start=$SECONDS
  # `timeout` runs the test in its own process group and kills the group (the test's
  # helper processes too) if the test overruns; -test.timeout (10 s earlier) makes Go
  # print the stacks first.
  timeout -k 10 "$PER_TEST" "$TEST_BIN" -test.run "^${t}\$" -test.v -test.count=1 \
    -test.timeout "$((PER_TEST - 10))s" >"$log" 2>&1 &
  pid=$!
  cap_track "$pid"
  wait "$pid"
  rc=$?
  CAP_EXTRA_PIDS=()
  secs=$((SECONDS - start))
  if grep -q "^--- SKIP: $t " "$log" && [ $rc = 0 ]; then
    cap_say "SKIP $t ($secs s): $(grep -A1 "^--- SKIP: $t " "$log" | tail -n 1 | sed 's/^ *//')"
  elif [ $rc = 0 ] && grep -q "^--- PASS: $t " "$log"; then
    cap_pass "$t ($secs s)"
  else
    case $rc in 124 | 137) why="killed after ${PER_TEST} s" ;; *) why="exit $rc" ;; esac
    grep -q '^panic: test timed out' "$log" && why="timed out (-test.timeout $((PER_TEST - 10))s)"
    cap_fail "$t ($secs s, $why)"
    summarize "$log"
  fi
done

}
run_tests "${TESTS[@]}"

# --- afterwards ---------------------------------------------------------------------------
leftover=$(cl_ctl m1 get /goclient/ --prefix --keys-only 2>&1 | grep .)
cap_expect "no key left under /goclient/ by the tests" 0 "$(grep -c . <<<"$leftover")"
[ -z "$leftover" ] || head -n 10 <<<"$leftover" | sed 's/^/    left: /'

for m in "${CL_MEMBERS[@]}"; do
  cap_check "$m still running and healthy" cap_quiet cl_ctl "$m" endpoint health
done

# --- the guide's programs as a restricted user with auth on: the client authenticates
# (CAPSTAN_USER/CAPSTAN_PASSWORD: clientv3 Username/Password) as `app`, who holds
# READWRITE on /goclient/ only; once with simple tokens, once with JWTs (ES256), both
# expiring after CAPSTAN_AUTH_TTL seconds so TestAuthTokenRefresh sees a refresh ------
AUTH_RE=${GOCLIENT_AUTH_TESTS:-ServiceRegistration|ServiceDiscovery|LockContendedProcesses|LockHolderKilled|Auth}
mapfile -t AUTH_TESTS < <("$TEST_BIN" -test.list "$AUTH_RE" 2>/dev/null | grep '^Test' | grep -E "$RUN_RE")
ROOT_USER=(--user root:rootpw)
# auth_cluster NAME FLAGS...: a new 3-member cluster with FLAGS, users root and app, auth on.
auth_cluster() {
  local name=$1 step; shift
  cl_stop_all TERM
  cl_run "$name"
  CL_NET=
  cl_net_init 5 || return 1
  CL_EXTRA=("$@")
  cl_new 3 "$CAPSTAN_BIN" || return 1
  CL_EXTRA=()
  for step in "user add root:rootpw" "user grant-role root root" "user add app:apppw" "role add app" \
    "role grant-permission app readwrite /goclient/ --prefix" "user grant-role app app" "auth enable"; do
    # shellcheck disable=SC2086  # (each step is words)
    cl_ctl m1 $step >/dev/null || { cap_fail "$name: etcdctl $step"; return 1; }
  done
  CAPSTAN_ENDPOINTS=$(cl_eps)
}
if [ ${#AUTH_TESTS[@]} -gt 0 ] && [ "${GOCLIENT_AUTH:-1}" = 1 ]; then
  export CAPSTAN_USER=app CAPSTAN_PASSWORD=apppw CAPSTAN_AUTH_TTL=2
  openssl ecparam -name prime256v1 -genkey -noout -out "$CAP_TMP/jwt-ec.pem" 2>/dev/null &&
    openssl ec -in "$CAP_TMP/jwt-ec.pem" -pubout -out "$CAP_TMP/jwt-ec.pub" 2>/dev/null ||
    cap_fail "JWT keys (openssl)"
  for tokens in "simple --auth-token simple --auth-token-ttl 2" \
    "jwt --auth-token jwt,pub-key=$CAP_TMP/jwt-ec.pub,priv-key=$CAP_TMP/jwt-ec.pem,sign-method=ES256,ttl=2s"; do
    read -r -a flags <<<"$tokens"
    if auth_cluster "auth-${flags[0]}" "${flags[@]:1}"; then
      cap_pass "3-member cluster with auth on (${flags[0]} tokens), tests as user app"
      run_tests "${AUTH_TESTS[@]}"
      leftover=$(cl_ctl m1 "${ROOT_USER[@]}" get /goclient/ --prefix --keys-only 2>&1 | grep .)
      cap_expect "auth (${flags[0]}): no key left under /goclient/ by the tests" 0 "$(grep -c . <<<"$leftover")"
    else
      cap_fail "3-member cluster with auth (${flags[0]} tokens) did not come up"
    fi
  done
  unset CAPSTAN_USER CAPSTAN_PASSWORD CAPSTAN_AUTH_TTL
fi

if [ ${#TLS_TESTS[@]} -gt 0 ] && [ "${GOCLIENT_TLS:-1}" = 1 ]; then
  cl_stop_all TERM
  cl_run tls
  CL_NET=
  cl_net_init 5 && cl_tls_init "$CAP_TMP/tls" && cl_tls_certs 3 || { cap_fail "TLS certificates (openssl)"; cap_finish; }
  if cl_new 3 "$CAPSTAN_BIN"; then
    cap_pass "3-member cluster with client and peer TLS up, leader $CL_LEADER"
    CAPSTAN_ENDPOINTS=$(for m in "${CL_MEMBERS[@]}"; do echo "$(cl_client_ip "$m"):$CL_CPORT"; done | paste -sd, -)
    export CAPSTAN_CACERT=$CL_TLS_DIR/ca.pem CAPSTAN_CERT=$CL_TLS_DIR/client.pem CAPSTAN_KEY=$CL_TLS_DIR/client-key.pem
    cap_say "over mutual TLS: ${TLS_TESTS[*]}"
    run_tests "${TLS_TESTS[@]}"
    leftover=$(cl_ctl m1 get /goclient/ --prefix --keys-only 2>&1 | grep .)
    cap_expect "TLS: no key left under /goclient/ by the tests" 0 "$(grep -c . <<<"$leftover")"
  else
    cap_fail "3-member TLS cluster did not come up"
  fi
fi
cap_finish
