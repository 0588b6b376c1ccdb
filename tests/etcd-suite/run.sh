#!/usr/bin/env bash
# etcd's own end-to-end tests against a server: the shared cases of
# go.etcd.io/etcd/tests/v3/common (built with -tags e2e, at the version pinned in
# tests/etcd-suite/go.mod) run with a bin dir holding the server under test as `etcd`
# and the real etcdctl/etcdutl of tests/tools/build-etcd.sh beside it.
#
# Every top-level Go test runs as its own process in its own network and PID namespace
# (`unshare --net --pid`: etcd's framework puts every cluster on fixed ports from
# 127.0.0.1:20000, and nothing a test starts can outlive it) and its own working
# directory, bounded in time. The Go tests' -test.v results of top-level tests AND
# subtests are collected; one line per top-level test is printed as it ends, then the
# failed subtests and the totals.
#
# usage: tests/etcd-suite/run.sh [options]
#   --sut capstan|etcd|PATH  the server under test: capstan = $CAPSTAN_BIN (default
#                        ~/.cache/capstan/target/debug/capstan), etcd = etcd of
#                        build-etcd.sh, or the path of a binary (default capstan)
#   --matrix default|3members  the cluster cases each shared test runs on: default =
#                        etcd's own (1 member; 3 members with peer+client TLS; 3 with
#                        auto TLS); 3members = one case, 3 members without TLS (etcd's
#                        package common rebuilt with overlay/e2e_test.go in place of its
#                        e2e_test.go, in build/; only the tests that use the matrix run).
#                        Control and expected files then default to *-3members.*
#   -j N                 tests run in parallel (default 2, or $ETCD_SUITE_JOBS)
#   --run REGEX          only the top-level tests whose name matches (Go regexp, as
#                        -test.list takes it)
#   --timeout SECS       limit per top-level test (default 300, $ETCD_SUITE_TIMEOUT)
#   --expected FILE      check mode: exit 1 unless every failure is listed in FILE
#                        (lines "Test/Subtest<TAB>CAPABILITY: reason"), every listed
#                        test that ran still fails, and nothing that passes on etcd
#                        (the control file) is skipped or missing here
#   --control FILE       etcd's results (default tests/etcd-suite/etcd-3.7.3.results,
#                        or etcd-3.7.3-3members.results)
#   --save FILE          write this run's results (one "name<TAB>STATUS" a line)
#   --out DIR            where logs go (default a new $TMPDIR/etcd-suite.XXXXXX; kept
#                        unless a check passes)
#   --keep               keep DIR even when the check passes
#   --results FILE       run nothing: summarize and check a results file written by
#                        --save (or DIR/results) instead
# Needs root (unshare), Go >= 1.26 to build the test binary once (cached in
# $CAPSTAN_BIN_CACHE/etcd-suite/, keyed by go.mod/go.sum and the Go version) and the
# etcd 3.7.3 tools (built by tests/tools/build-etcd.sh if missing). Exit status: 0 all
# passed (or, in check mode, results as expected), 1 otherwise, 2 usage/setup error.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/go-env.sh
. "$HERE/../lib/go-env.sh"
# shellcheck disable=SC2034 # read by go-env.sh's go_die
GO_TAG=etcd-suite

SUT=capstan JOBS=${ETCD_SUITE_JOBS:-2} RUN_RE=. PER_TEST=${ETCD_SUITE_TIMEOUT:-300}
EXPECTED='' CONTROL='' MATRIX=default SAVE='' OUT='' KEEP=0 RESULTS=''
while [ $# -gt 0 ]; do
  case $1 in
    --sut) SUT=$2; shift ;;
    --matrix) MATRIX=$2; shift ;;
    -j) JOBS=$2; shift ;;
    -j*) JOBS=${1#-j} ;;
    --run) RUN_RE=$2; shift ;;
    --timeout) PER_TEST=$2; shift ;;
    --expected) EXPECTED=$2; shift ;;
    --control) CONTROL=$2; shift ;;
    --save) SAVE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    --results) RESULTS=$2; shift ;;
    -h | --help) go_usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { printf '[etcd-suite] error: %s\n' "$*" >&2; exit 2; }
say() { printf '[etcd-suite %s] %s\n' "$(date -u +%T)" "$*"; }
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, not '$JOBS'"
if ! [[ $PER_TEST =~ ^[1-9][0-9]*$ ]] || [ "$PER_TEST" -lt 30 ]; then die "--timeout wants seconds >= 30"; fi
case $MATRIX in
  default) SUFFIX='' ;;
  3members) SUFFIX=-3members ;;
  *) die "--matrix wants default or 3members, not '$MATRIX'" ;;
esac
: "${CONTROL:=$HERE/etcd-3.7.3$SUFFIX.results}"
[ -z "$EXPECTED" ] || [ -r "$EXPECTED" ] || die "no expected-results file $EXPECTED"

# run_suite: builds what is missing, runs the tests, leaves their results in $ALL.
run_suite() {
  [ "$(id -u)" = 0 ] || die "needs root (each test runs in its own network and PID namespace)"
  if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    die "needs unshare (util-linux) and ip (iproute2)"
  fi

  go_env
  # --- the binaries ---------------------------------------------------------------------
  ETCD_DIR=$("$HERE/../tools/build-etcd.sh" --print-dir)
  # Only when a binary is missing: build-etcd.sh's own up-to-date check pipes
  # `etcd --version` into grep -q under pipefail, which fails now and then (SIGPIPE).
  if [ ! -x "$ETCD_DIR/etcd" ] || [ ! -x "$ETCD_DIR/etcdctl" ] || [ ! -x "$ETCD_DIR/etcdutl" ]; then
    say "etcd tools missing: tests/tools/build-etcd.sh"
    "$HERE/../tools/build-etcd.sh" || die "tests/tools/build-etcd.sh failed"
  fi
  case $SUT in
    capstan) SUT_BIN=${CAPSTAN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}/debug/capstan} ;;
    etcd) SUT_BIN=$ETCD_DIR/etcd ;;
    *) SUT_BIN=$SUT ;;
  esac
  [ -x "$SUT_BIN" ] || die "no executable server at $SUT_BIN"
  SUT_BIN=$(cd "$(dirname "$SUT_BIN")" && pwd)/$(basename "$SUT_BIN")

  # The test binary: rebuilt only when go.mod/go.sum or the Go version change.
  TEST_DIR=$CAPSTAN_BIN_CACHE/etcd-suite
  TEST_BIN=$TEST_DIR/common$SUFFIX.test
  if go_have; then
    STAMP="$(go_modhash "$HERE/go.mod" "$HERE/go.sum") $(go_stamp_gov) e2e"
    [ "$MATRIX" = default ] || STAMP="$STAMP overlay $(go_modhash "$HERE/overlay/e2e_test.go")"
  elif [ -x "$TEST_BIN" ]; then
    STAMP=$(cat "$TEST_BIN.stamp" 2>/dev/null) # no go: use what was built before
  else
    die "no go command (${CAPSTAN_GO:-go}) to build the test binary; Go >= 1.26 needed"
  fi
  if [ -x "$TEST_BIN" ] && [ "$(cat "$TEST_BIN.stamp" 2>/dev/null)" = "$STAMP" ]; then
    :
  else
    go_need "$HERE"
    mkdir -p "$TEST_DIR"
    say "building $TEST_BIN (go test -c -tags e2e, etcd's tests/v3/common, matrix $MATRIX, nice 19)"
    t0=$SECONDS
    if [ "$MATRIX" = default ]; then
      (cd "$HERE" && go_run test -c -tags e2e -o "$TEST_BIN.tmp" go.etcd.io/etcd/tests/v3/common) ||
        { rm -f "$TEST_BIN.tmp"; die "building the test binary failed"; }
    else
      # etcd's package common, copied into this module with our e2e_test.go (go build
      # -overlay may not replace files in the module cache)
      local src moddir
      moddir=$(cd "$HERE" && go_run list -m -f '{{.Dir}}' go.etcd.io/etcd/tests/v3) || die "go list -m failed"
      src=$HERE/build/common$SUFFIX
      if ! { rm -rf "$src" && mkdir -p "$src" && cp "$moddir"/common/*.go "$src"/ &&
        chmod u+w "$src"/*.go && cp "$HERE/overlay/e2e_test.go" "$src"/; }; then
        die "copying $moddir/common failed"
      fi
      (cd "$HERE" && go_run test -c -tags e2e -o "$TEST_BIN.tmp" "./build/common$SUFFIX") ||
        { rm -f "$TEST_BIN.tmp"; die "building the test binary failed"; }
    fi
    mv "$TEST_BIN.tmp" "$TEST_BIN" && echo "$STAMP" >"$TEST_BIN.stamp"
    say "built in $((SECONDS - t0)) s"
  fi
  # The framework reads its certificates from ../fixtures of the working directory it
  # starts in (the module's tests/v3/fixtures).
  FIXTURES=$(cd "$HERE" && "${CAPSTAN_GO:-go}" list -m -f '{{.Dir}}' go.etcd.io/etcd/tests/v3 2>/dev/null)/fixtures
  [ -r "$FIXTURES/ca.crt" ] || { (cd "$HERE" && go_run mod download go.etcd.io/etcd/tests/v3) &&
    FIXTURES=$(cd "$HERE" && "${CAPSTAN_GO:-go}" list -m -f '{{.Dir}}' go.etcd.io/etcd/tests/v3)/fixtures; }
  [ -r "$FIXTURES/ca.crt" ] || die "no fixtures of go.etcd.io/etcd/tests/v3 (looked in $FIXTURES)"

  # --- the run directory ----------------------------------------------------------------
  if [ -z "$OUT" ]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/etcd-suite.XXXXXX"); else mkdir -p "$OUT"; fi
  OUT=$(cd "$OUT" && pwd)
  mkdir -p "$OUT/bin" "$OUT/tests"
  ln -sfn "$SUT_BIN" "$OUT/bin/etcd"
  ln -sfn "$ETCD_DIR/etcdctl" "$OUT/bin/etcdctl"
  ln -sfn "$ETCD_DIR/etcdutl" "$OUT/bin/etcdutl"

  mapfile -t TESTS < <("$TEST_BIN" -test.list "$RUN_RE" 2>/dev/null | grep '^Test')
  if [ "$MATRIX" != default ]; then
    # only the tests that run on the cluster matrix: those with a NoTLS case in the
    # default matrix's control results
    local uses
    uses=$(awk -F'\t' '$1 ~ /\/NoTLS(\/|$)/ { sub(/\/.*/, "", $1); print $1 }' "$HERE/etcd-3.7.3.results" | sort -u)
    mapfile -t TESTS < <(printf '%s\n' "${TESTS[@]}" | grep -Fxf <(printf '%s\n' "$uses"))
  fi
  [ ${#TESTS[@]} -gt 0 ] || die "no test matches '$RUN_RE'"
  say "server under test: $SUT_BIN ($("$SUT_BIN" --version 2>&1 | head -n 1))"
  say "etcdctl/etcdutl:   $ETCD_DIR"
  say "${#TESTS[@]} top-level tests (matrix $MATRIX), -j $JOBS, ${PER_TEST} s each at most; logs in $OUT"

  # Variables of the caller that would configure the servers or etcdctl.
  UNSET=()
  for v in $(compgen -e); do case $v in ETCD_* | ETCDCTL_*) UNSET+=(-u "$v") ;; esac; done

  # run_one TEST: runs it in $OUT/tests/TEST/ (pkg = working dir, tmp = TMPDIR), log in
  # log, then "name<TAB>STATUS<TAB>seconds" lines in results (STATUS PASS, FAIL or SKIP;
  # a test or subtest that started and never reported, because of a timeout or crash, is
  # FAIL with seconds "-").
  run_one() {
    local t=$1 d=$OUT/tests/$1 rc
    rm -rf "$d" && mkdir -p "$d/pkg" "$d/tmp" && ln -s "$FIXTURES" "$d/fixtures"
    local start=$SECONDS
    (cd "$d/pkg" && exec env "${UNSET[@]}" TMPDIR="$d/tmp" timeout -k 10 "$PER_TEST" \
      unshare --net --pid --fork --kill-child --mount-proc \
      sh -c 'ip link set lo up && exec "$@"' sh \
      "$TEST_BIN" -test.run "^$t\$" -test.v=test2json -test.count=1 \
      -test.timeout "$((PER_TEST - 15))s" -bin-dir "$OUT/bin") >"$d/log.raw" 2>&1
    rc=$?
    # -test.v=test2json prints each (sub)test's result when it ends (plain -test.v holds
    # the subtests' lines until their parent ends, so a panic would lose them); its
    # framing lines start with ^V.
    tr -d '\026' <"$d/log.raw" >"$d/log" && rm -f "$d/log.raw"
    echo "$rc $((SECONDS - start))" >"$d/rc"
    awk -v top="$t" -v rc="$rc" '
      /^=== RUN / { if (!($3 in st)) { order[++n] = $3; st[$3] = "" } next }
      match($0, /^ *--- (PASS|FAIL|SKIP): [^ ]+ \(/) {
        split(substr($0, RSTART, RLENGTH), f, " ")
        s = f[2]; sub(/:$/, "", s); name = f[3]
        if (!(name in st)) order[++n] = name
        st[name] = s; secs = $0; sub(/.*\(/, "", secs); sub(/s\).*/, "", secs); tm[name] = secs
      }
      END {
        if (!(top in st)) { order[++n] = top; st[top] = "" }
        for (i = 1; i <= n; i++) {
          nm = order[i]
          if (st[nm] == "") { st[nm] = "FAIL"; tm[nm] = "-" }
          if (nm == top && rc != 0 && st[nm] != "FAIL") { st[nm] = "FAIL"; tm[nm] = "-" }
          printf "%s\t%s\t%s\n", nm, st[nm], tm[nm]
        }
      }' "$d/log" >"$d/results"
    rm -rf "$d/tmp" "$d/pkg"
    local status secs
    status=$(awk -F'\t' -v t="$t" '$1 == t { print $2 }' "$d/results")
    secs=$((SECONDS - start))
    local why=
    case $rc in 124 | 137) why=", killed after $PER_TEST s" ;; esac
    grep -q '^panic: test timed out' "$d/log" && why=", timed out"
    local sub
    sub=$(awk -F'\t' -v t="$t" '$1 != t { c[$2]++ } END { if (c["PASS"] + c["FAIL"] + c["SKIP"]) printf " [subtests: %d pass, %d fail, %d skip]", c["PASS"], c["FAIL"], c["SKIP"] }' "$d/results")
    printf '%-4s %s (%s s%s)%s\n' "$status" "$t" "$secs" "$why" "$sub"
  }

  # --- run --------------------------------------------------------------------------------
  T0=$SECONDS
  running=0
  for t in "${TESTS[@]}"; do
    if [ $running -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    run_one "$t" &
    running=$((running + 1))
  done
  wait
  WALL=$((SECONDS - T0))

  ALL=$OUT/results
  for t in "${TESTS[@]}"; do cat "$OUT/tests/$t/results"; done >"$ALL"
}

# --- results ------------------------------------------------------------------------------
if [ -n "$RESULTS" ]; then
  [ -r "$RESULTS" ] || die "no results file $RESULTS"
  ALL=$RESULTS OUT='' WALL=''
  # a run directory's results: its logs are beside it
  if [ -d "$(dirname "$RESULTS")/tests" ]; then OUT=$(cd "$(dirname "$RESULTS")" && pwd); KEEP=1; fi
else
  run_suite
fi
[ -z "$SAVE" ] || cut -f1,2 "$ALL" >"$SAVE"

# failure summary: each failed leaf (a failed test without failed subtests) with the
# first error lines of its log
echo
awk -F'\t' '$2 == "FAIL" { f[++n] = $1 }
  END { for (i = 1; i <= n; i++) { leaf = 1
          for (j = 1; j <= n; j++) if (index(f[j], f[i] "/") == 1) { leaf = 0; break }
          if (leaf) print f[i] } }' "$ALL" | while IFS= read -r n; do
  t=${n%%/*}
  # in check mode the listed failures are only counted
  if [ -n "$EXPECTED" ] && awk -F'\t' -v n="$n" '$1 == n { f = 1 } END { exit !f }' "$EXPECTED"; then
    continue
  fi
  echo "FAIL $n"
  if [ -z "$OUT" ] || [ ! -r "$OUT/tests/$t/log" ]; then continue; fi
  # what the test logged while this (sub)test ran, without the framework's log lines:
  # the messages that look like errors (testify's Error:, "error", "failed", ...), else
  # the last ones; 10 lines at most, without stack traces
  awk -v n="$n" '
    function flush() { if (cnt) { blk[++nb] = text; err[nb] = bad }; cnt = 0; text = ""; bad = 0 }
    function add(l) { if (l ~ /Error Trace:|^[[:space:]]+\//) return; text = text l "\n"; cnt++ }
    /^=== (RUN|NAME|CONT) / { flush(); cur = $3; msg = 0; next }
    /^ *--- (PASS|FAIL|SKIP): / || /^(PASS|FAIL)$/ { flush(); cur = ""; next }
    cur != n { next }
    match($0, /^ +[A-Za-z0-9_.-]+\.go:[0-9]+: /) {
      flush()
      msg = !($0 ~ /^ +(logger\.go|testing\.go:25|cluster\.go:632):/)
      ind = match($0, /[^ ]/)
      if (msg) { add($0); if (tolower($0) ~ /error|fail|timed out|unexpected|expected/) bad = 1 }
      next
    }
    msg && match($0, /[^ ]/) > ind { add($0); if ($0 ~ /Error:/) bad = 1 }
    END {
      flush(); out = ""
      for (i = 1; i <= nb; i++) if (err[i]) out = out blk[i]
      if (out == "") for (i = (nb > 3 ? nb - 2 : 1); i <= nb; i++) out = out blk[i]
      k = split(out, lines, "\n")
      for (i = 1; i <= k && i <= 10; i++) if (lines[i] != "") print lines[i]
    }' "$OUT/tests/$t/log" |
    cut -c1-400 | sed 's/^ */    /'
  grep -q '^panic: test timed out' "$OUT/tests/$t/log" && [ "$n" = "$t" ] && echo "    (timed out)"
done

top=$(awk -F'\t' '$1 !~ /\// { c[$2]++ } END { printf "%d passed, %d failed, %d skipped", c["PASS"], c["FAIL"], c["SKIP"] }' "$ALL")
sub=$(awk -F'\t' '$1 ~ /\// { c[$2]++ } END { printf "%d passed, %d failed, %d skipped", c["PASS"], c["FAIL"], c["SKIP"] }' "$ALL")
echo
say "top-level tests: $top"
say "subtests:        $sub"
[ -z "$WALL" ] || say "wall time: ${WALL} s (-j $JOBS); results in $ALL"

# --- check mode -----------------------------------------------------------------------------
if [ -z "$EXPECTED" ]; then
  grep -q "$(printf '\t')FAIL" "$ALL" && exit 1
  exit 0
fi
[ -r "$CONTROL" ] || { say "no control file $CONTROL: skips are not checked"; CONTROL=/dev/null; }
# The expected file: "name<TAB>reason" lines; # comments and blank lines ignored.
bad=0
report=$(awk -F'\t' '
  FILENAME == ARGV[1] { if ($0 ~ /^[[:space:]]*(#|$)/) next; ex[$1] = $2; next }
  FILENAME == ARGV[2] { ctl[$1] = $2; next }
  { st[$1] = $2; tm[$1] = $3; order[++n] = $1 }
  END {
    for (i = 1; i <= n; i++) {
      nm = order[i]; s = st[nm]
      # a failed test with a failed (sub)test under it is explained by that one
      kid = 0
      for (j = 1; j <= n; j++) if (index(order[j], nm "/") == 1 && st[order[j]] == "FAIL") { kid = 1; break }
      if (s == "FAIL" && !kid) own[nm] = 1
      if (s == "FAIL" && !(nm in ex) && !kid) print "UNEXPECTED FAIL\t" nm
      if (s == "PASS" && (nm in ex)) print "NOW PASSES (remove it from the expected file)\t" nm
      if (s == "SKIP" && ctl[nm] == "PASS" && !(nm in ex)) print "UNEXPECTED SKIP (passes on etcd)\t" nm
    }
    # tests etcd passes that did not report here: fine if a test above them failed by
    # itself (e.g. its cluster did not start) or the run of their top-level test was cut
    # short (timeout, panic: its time is "-")
    for (nm in ctl) {
      if (ctl[nm] != "PASS" || (nm in st)) continue
      t = nm; sub(/\/.*/, "", t)
      if (!(t in st)) continue           # not run (--run)
      p = nm; hidden = (tm[t] == "-")
      while (!hidden && sub(/\/[^\/]*$/, "", p)) if (p in own) hidden = 1
      if (!hidden) print "MISSING (passes on etcd, not reported here)\t" nm
    }
    for (nm in ex) {
      t = nm; sub(/\/.*/, "", t)
      if ((t in st) && !(nm in st)) print "note: listed but not reported (did its parent fail first?)\t" nm
    }
  }' "$EXPECTED" "$CONTROL" "$ALL") || die "checking the results failed (awk)"
echo
if [ -n "$report" ]; then
  printf '%s\n' "$report" | sort | sed 's/\t/: /; s/^/[etcd-suite] /'
  grep -qv '^note:' <<<"$report" && bad=1
fi
if [ $bad = 0 ]; then
  say "CHECK OK: every failure is listed in ${EXPECTED#"$HERE"/}, nothing listed passes, no unexpected skip"
  [ $KEEP = 1 ] || [ -z "$OUT" ] || rm -rf "$OUT"
  exit 0
fi
say "CHECK FAILED against ${EXPECTED#"$HERE"/}${OUT:+ (logs kept in $OUT)}"
exit 1
