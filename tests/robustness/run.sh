#!/usr/bin/env bash
# etcd's robustness suite (go.etcd.io/etcd/tests/v3/robustness, at the version go.mod
# pins) against a server: random KV, txn, lease, watch and Kubernetes-style traffic while
# a fault is injected (no gofail: kill, peer partition, partition until a snapshot is
# needed, peer delay, member replace), then Porcupine checks linearizability and the
# suite checks every watch guarantee and stale read, against persisted requests rebuilt
# from full-keyspace watches (the server has no etcd WAL; see persisted_test.go).
#
# Every run is its own process in its own network and PID namespace (`unshare --net
# --pid`: etcd's framework puts clusters on fixed ports from 127.0.0.1:20000) and its own
# working directory, bounded in time. A run's log and report (client histories, server
# data, history.html, the recorded watch streams) are kept when it fails.
#
# usage: tests/robustness/run.sh [options]
#   --sut capstan|etcd|PATH  the server under test (default capstan = $CAPSTAN_BIN, or
#                        ~/.cache/capstan/target/debug/capstan; etcd = etcd 3.7.3 of
#                        tests/tools/build-etcd.sh)
#   --run REGEX          only the scenarios whose name matches (grep -E), e.g.
#                        'ClusterOfSize3/(Kill|blackhole)' or 'EtcdHighTraffic'
#   --count N            runs of each scenario (default 1)
#   -j N                 runs in parallel (default 1; each 3-member run keeps ~1.5 cores
#                        busy, and etcd's traffic must reach 100 qps before the fault)
#   --timeout SECS       limit per run (default 240)
#   --compare-wal        also validate with the members' WAL and compare (needs a server
#                        that writes etcd's WAL: the default for --sut etcd)
#   --out DIR            where runs go and results.jsonl is kept (default a new
#                        $TMPDIR/robustness.XXXXXX, removed when every run passed)
#   --keep               keep the logs of passing runs too
#   --list               print the scenario names and exit
#   --results FILE       run nothing: summarize a results file (DIR/results.jsonl)
# Prints one line per run as it ends and a table per scenario: runs, passed,
# linearization violations, watch violations, stale-read (serializable) violations,
# other failures. Exit status: 0 every run passed, 1 otherwise, 2 usage/setup error.
# Needs root (unshare), jq, and Go >= 1.26 to build the test binary once (cached in
# $CAPSTAN_BIN_CACHE/robustness/, keyed by this directory's sources and the Go version).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/go-env.sh
. "$HERE/../lib/go-env.sh"
# shellcheck disable=SC2034 # read by go-env.sh's go_die
GO_TAG=robustness

SUT=capstan RUN_RE=. COUNT=1 JOBS=1 PER_RUN=240 COMPARE='' OUT='' KEEP=0 LIST=0 RESULTS=''
while [ $# -gt 0 ]; do
  case $1 in
    --sut) SUT=$2; shift ;;
    --run) RUN_RE=$2; shift ;;
    --count) COUNT=$2; shift ;;
    -j) JOBS=$2; shift ;;
    -j*) JOBS=${1#-j} ;;
    --timeout) PER_RUN=$2; shift ;;
    --compare-wal) COMPARE=1 ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    --list) LIST=1 ;;
    --results) RESULTS=$2; shift ;;
    -h | --help) go_usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { printf '[robustness] error: %s\n' "$*" >&2; exit 2; }
say() { printf '[robustness %s] %s\n' "$(date -u +%T)" "$*"; }
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, not '$JOBS'"
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "--count wants a positive number, not '$COUNT'"
if ! [[ $PER_RUN =~ ^[1-9][0-9]*$ ]] || [ "$PER_RUN" -lt 60 ]; then die "--timeout wants seconds >= 60"; fi
command -v jq >/dev/null || die "needs jq"

# summarize FILE: the per-scenario table; returns 1 if a run failed.
summarize() {
  jq -rs '
    def verdict(x): if x == null or x == "" or x == "skipped" or x == "Success" then "ok"
      elif (x | startswith("Failure")) then "violation" else "other" end;
    group_by(.scenario) | map({
      s: .[0].scenario, runs: length,
      pass: map(select(.passed)) | length,
      lin: map(select(verdict(.linearization) == "violation")) | length,
      watch: map(select(verdict(.watch) == "violation")) | length,
      ser: map(select(verdict(.serializable) == "violation")) | length,
      other: map(select((.passed | not) and verdict(.linearization) != "violation"
        and verdict(.watch) != "violation" and verdict(.serializable) != "violation")) | length
    }) as $rows
    | (["scenario", "runs", "pass", "lin", "watch", "stale", "other"] | @tsv),
      ($rows[] | [.s, .runs, .pass, .lin, .watch, .ser, .other] | @tsv),
      (["TOTAL", ($rows | map(.runs) | add), ($rows | map(.pass) | add), ($rows | map(.lin) | add),
        ($rows | map(.watch) | add), ($rows | map(.ser) | add), ($rows | map(.other) | add)] | @tsv)
  ' "$1" | column -t -s $'\t'
  jq -se 'all(.passed)' "$1" >/dev/null
}

if [ -n "$RESULTS" ]; then
  [ -r "$RESULTS" ] || die "no results file $RESULTS"
  summarize "$RESULTS"
  exit $?
fi

[ "$(id -u)" = 0 ] || die "needs root (each run has its own network and PID namespace)"
if ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then die "needs unshare (util-linux) and ip (iproute2)"; fi
go_env

# --- the binaries -------------------------------------------------------------------------
ETCD_DIR=$("$HERE/../tools/build-etcd.sh" --print-dir)
if [ ! -x "$ETCD_DIR/etcd" ] || [ ! -x "$ETCD_DIR/etcdctl" ] || [ ! -x "$ETCD_DIR/etcdutl" ]; then
  say "etcd tools missing: tests/tools/build-etcd.sh"
  "$HERE/../tools/build-etcd.sh" || die "tests/tools/build-etcd.sh failed"
fi
case $SUT in
  capstan) SUT_BIN=${CAPSTAN_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/capstan/target}/debug/capstan} ;;
  etcd) SUT_BIN=$ETCD_DIR/etcd; [ -n "$COMPARE" ] || COMPARE=1 ;;
  *) SUT_BIN=$SUT ;;
esac
[ -x "$SUT_BIN" ] || die "no executable server at $SUT_BIN"
SUT_BIN=$(cd "$(dirname "$SUT_BIN")" && pwd)/$(basename "$SUT_BIN")

TEST_DIR=$CAPSTAN_BIN_CACHE/robustness
TEST_BIN=$TEST_DIR/robustness.test
if go_have; then
  STAMP="$(go_modhash "$HERE/go.mod" "$HERE/go.sum" "$HERE"/*_test.go) $(go_stamp_gov)"
elif [ -x "$TEST_BIN" ]; then
  STAMP=$(cat "$TEST_BIN.stamp" 2>/dev/null)
else
  die "no go command (${CAPSTAN_GO:-go}) to build the test binary; Go >= 1.26 needed"
fi
if ! [ -x "$TEST_BIN" ] || [ "$(cat "$TEST_BIN.stamp" 2>/dev/null)" != "$STAMP" ]; then
  go_need "$HERE"
  mkdir -p "$TEST_DIR"
  say "building $TEST_BIN (go test -c, etcd's robustness suite + tests/robustness, nice 19)"
  t0=$SECONDS
  (cd "$HERE" && go_run test -c -o "$TEST_BIN.tmp" .) || { rm -f "$TEST_BIN.tmp"; die "building the test binary failed"; }
  mv "$TEST_BIN.tmp" "$TEST_BIN" && echo "$STAMP" >"$TEST_BIN.stamp"
  say "built in $((SECONDS - t0)) s"
fi

# --- the run directory --------------------------------------------------------------------
OUT_GIVEN=$OUT
if [ -z "$OUT" ]; then OUT=$(mktemp -d "${TMPDIR:-/tmp}/robustness.XXXXXX"); else mkdir -p "$OUT"; fi
OUT=$(cd "$OUT" && pwd)
mkdir -p "$OUT/bin" "$OUT/runs"
ln -sfn "$SUT_BIN" "$OUT/bin/etcd"
ln -sfn "$ETCD_DIR/etcdctl" "$OUT/bin/etcdctl"
ln -sfn "$ETCD_DIR/etcdutl" "$OUT/bin/etcdutl"

mapfile -t SCENARIOS < <("$TEST_BIN" -test.run '^TestRobustness$' -bin-dir "$OUT/bin" -list-scenarios 2>/dev/null |
  sed -n 's/^SCENARIO //p' | grep -E -- "$RUN_RE")
if [ $LIST = 1 ]; then printf '%s\n' "${SCENARIOS[@]}"; exit 0; fi
[ ${#SCENARIOS[@]} -gt 0 ] || die "no scenario matches '$RUN_RE'"
say "server under test: $SUT_BIN ($("$SUT_BIN" --version 2>&1 | head -n 1))"
say "${#SCENARIOS[@]} scenarios x $COUNT, -j $JOBS, ${PER_RUN} s each at most; runs in $OUT/runs"

UNSET=()
for v in $(compgen -e); do case $v in ETCD_* | ETCDCTL_*) UNSET+=(-u "$v") ;; esac; done
EXTRA=()
[ -z "$COMPARE" ] || EXTRA+=(-compare-wal)

# run_one SCENARIO N: runs it in $OUT/runs/<scenario>.N; appends its result to
# results.jsonl (a run without a result line, killed or crashed, is a failure).
run_one() {
  local s=$1 n=$2 d re rc start secs line
  d=$OUT/runs/$(tr '/' '_' <<<"$s").$n
  rm -rf "$d" && mkdir -p "$d/pkg" "$d/tmp" "$d/report"
  re='^TestRobustness$/'$(sed 's#/#$/^#g; s#^#^#; s#$#$#' <<<"$s")
  start=$SECONDS
  (cd "$d/pkg" && exec env "${UNSET[@]}" TMPDIR="$d/tmp" RESULTS_DIR="$d/report" timeout -k 10 "$PER_RUN" \
    unshare --net --pid --fork --kill-child --mount-proc \
    sh -c 'ip link set lo up && exec "$@"' sh \
    "$TEST_BIN" -test.run "$re" -test.v -test.count=1 -test.timeout "$((PER_RUN - 10))s" \
    -bin-dir "$OUT/bin" "${EXTRA[@]}") >"$d/log" 2>&1
  rc=$?
  secs=$((SECONDS - start))
  rm -rf "$d/tmp" "$d/pkg"
  line=$(sed -n 's/^ROBUSTNESS-RESULT //p' "$d/log" | tail -n 1)
  [ -n "$line" ] || line=$(jq -cn --arg s "$s" '{scenario: $s, other: ["no result (killed or crashed)"]}')
  line=$(jq -c --argjson rc "$rc" --argjson secs "$secs" --arg dir "$d" \
    '. + {rc: $rc, seconds: $secs, passed: ($rc == 0 and (.failed | not)), dir: $dir}' <<<"$line")
  printf '%s\n' "$line" >>"$OUT/results.jsonl"
  if jq -e .passed <<<"$line" >/dev/null; then
    printf 'PASS %s #%d (%d s)\n' "$s" "$n" "$secs"
    [ $KEEP = 1 ] || rm -rf "$d"
  else
    local why
    why=$(jq -r '[(if .linearization and .linearization != "Success" and .linearization != "skipped" then "linearization: " + .linearization else empty end),
      (if .watch and .watch != "Success" and .watch != "skipped" then "watch: " + .watch else empty end),
      (if .serializable and .serializable != "Success" and .serializable != "skipped" then "serializable: " + .serializable else empty end),
      (.other // [])[]] | join("; ")' <<<"$line")
    # else the test's own messages (not the framework's log lines)
    [ -n "$why" ] || why=$(grep -a -E '^\s+[a-z_]+\.go:[0-9]+: |^panic:' "$d/log" |
      grep -v -E '^\s+(logger\.go|testing\.go:25|peerproxy_test\.go):' | head -n 3 | tr -s ' \t' ' ' | cut -c1-300 | paste -sd '|')
    [ $rc = 124 ] || [ $rc = 137 ] && why="killed after $PER_RUN s; $why"
    printf 'FAIL %s #%d (%d s): %s\n     log: %s/log\n' "$s" "$n" "$secs" "$why" "$d"
  fi
}

T0=$SECONDS
running=0
for ((n = 1; n <= COUNT; n++)); do
  for s in "${SCENARIOS[@]}"; do
    if [ $running -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    run_one "$s" "$n" &
    running=$((running + 1))
  done
done
wait
echo
say "wall time $((SECONDS - T0)) s; results in $OUT/results.jsonl"
summarize "$OUT/results.jsonl"
rc=$?
[ $rc = 0 ] && [ $KEEP = 0 ] && [ -z "$OUT_GIVEN" ] && rm -rf "$OUT"
exit $rc
