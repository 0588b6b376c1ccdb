#!/usr/bin/env bash
# etcd's own end-to-end tests against $CAPSTAN_BIN: the shared cases of
# go.etcd.io/etcd/tests/v3/common at the version tests/etcd-suite/go.mod pins (built with
# -tags e2e, cached), with $CAPSTAN_BIN as the framework's `etcd` beside the real
# etcdctl/etcdutl 3.7.3 (tests/tools/build-etcd.sh). Runs tests/etcd-suite/run.sh in
# check mode: every failure must be listed in tests/etcd-suite/expected-failures.txt
# with the capability it waits for (TLS, AUTH, DISCOVERY, SNAPSHOT) or as a known BUG; a
# listed test that now passes, or a test etcd 3.7.3 passes (etcd-3.7.3.results) that is
# skipped or missing here, fails too. Each Go test runs in its own network and PID
# namespace (needs root and unshare; skipped, exit 77, otherwise).
#
# usage: tests/e2e/etcd-suite.sh [REGEX]   (CAPSTAN_BIN selects the server; REGEX picks
#        top-level tests, e.g. 'TestKV|TestLease')
# Two runs: etcd's own cluster matrix (expected-failures.txt), then --matrix 3members
# (every shared case on 3 members without TLS; expected-failures-3members.txt), since all
# 3-member clusters of etcd's matrix use TLS.
# Knobs: ETCD_SUITE_MATRICES (default "default 3members"), ETCD_SUITE_JOBS (tests in
#        parallel, default 2), ETCD_SUITE_TIMEOUT (seconds per top-level test, default
#        300), plus those of tests/lib/go-env.sh. Needs Go >= 1.26 the first time (the
#        test binaries are cached in ~/.cache/capstan/bin/etcd-suite/).
# Wall time on 2 cores: about 2 + 1.5 minutes today (most cases fail fast: no TLS, no
# auth); etcd 3.7.3 itself takes about 8 + 2 minutes, which is what this becomes as TLS
# and auth land.
# timeout: 1500
set -u
CAP_TEST_NAME=etcd-suite
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=tests/lib/go-env.sh
. "$CAP_LIB_DIR/go-env.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
[ "$(id -u)" = 0 ] || cap_skip "needs root (each test runs in its own network and PID namespace)"
if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then cap_skip "needs unshare and ip"; fi
go_env
if ! go_have && [ ! -x "$CAPSTAN_BIN_CACHE/etcd-suite/common.test" ]; then # (or -3members)
  cap_skip "no go command ($CAPSTAN_GO) to build etcd's tests; Go >= 1.26 needed"
fi

SUITE=$(cd "$CAP_LIB_DIR/../etcd-suite" && pwd)
for matrix in ${ETCD_SUITE_MATRICES:-default 3members}; do
  case $matrix in default) exp=expected-failures.txt ;; *) exp=expected-failures-$matrix.txt ;; esac
  args=(--sut "$CAPSTAN_BIN" --matrix "$matrix" --expected "$SUITE/$exp")
  [ -z "${1:-}" ] || args+=(--run "$1")
  cap_say "--- matrix $matrix"
  "$SUITE/run.sh" "${args[@]}"
  rc=$?
  case $rc in
    0) cap_pass "etcd's e2e tests, matrix $matrix: results as expected" ;;
    1) cap_fail "etcd's e2e tests, matrix $matrix: results differ from tests/etcd-suite/$exp" ;;
    *) cap_fail "tests/etcd-suite/run.sh --matrix $matrix could not run (exit $rc)" ;;
  esac
done
cap_finish
