#!/usr/bin/env bash
# Differential compatibility suite: every scenario in tests/compat/scenarios/ runs
# against a fresh reference etcd and a fresh Capstan (each a single member on free
# ports, started with the same etcd flags); the transcripts are normalized
# (normalize.py masks IDs, terms, ports, timings, sizes, hashes) and compared command
# by command (compare.py). Differing blocks are printed with both sides.
#
# usage: tests/compat/run.sh [options] [SCENARIO...]
#   SCENARIO        a name such as "revisions" or "02-revisions", or a path
#   --ref-only      run the reference against itself (two fresh servers): checks that
#                   the scenarios are deterministic; needs no Capstan binary
#   --ref BIN       reference server (default $CAPSTAN_REF_ETCD, else /usr/bin/etcd)
#   --sut BIN       server under test (default $CAPSTAN_BIN, else
#                   $CARGO_TARGET_DIR/debug/capstan)
#   -j N            scenarios run in parallel (default $CAP_COMPAT_JOBS or 3)
#   --out DIR       write transcripts and server logs to DIR (kept); by default a
#                   temp dir, removed when everything is identical
#   --timeout SEC   limit per scenario (default 150)
#   -l, --list      list the scenarios and exit
# Exit status: 0 if every command's output is identical (or listed in
# known-differences.txt), 1 otherwise, 2 on usage errors.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CAP_TEST_NAME=compat
# shellcheck source=tests/lib/common.sh
. "$HERE/../lib/common.sh"

REF_ONLY=0
REF=$CAPSTAN_REF_ETCD
SUT=$CAPSTAN_BIN
JOBS=${CAP_COMPAT_JOBS:-3}
OUT=
SCEN_TIMEOUT=150
WANT=()
while [ $# -gt 0 ]; do
  case $1 in
    --ref-only) REF_ONLY=1 ;;
    --ref) REF=$2; shift ;;
    --sut) SUT=$2; shift ;;
    -j) JOBS=$2; shift ;;
    -j*) JOBS=${1#-j} ;;
    --out) OUT=$2; shift ;;
    --timeout) SCEN_TIMEOUT=$2; shift ;;
    -l | --list)
      for f in "$HERE"/scenarios/*.sh; do
        printf '%-22s %s\n' "$(basename "$f" .sh)" "$(sed -n 's/^# //p' "$f" | head -n1)"
      done
      exit 0 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compat: unknown option $1" >&2; exit 2 ;;
    *) WANT+=("$1") ;;
  esac
  shift
done

# Resolve the scenarios to run.
SCENARIOS=()
if [ ${#WANT[@]} -eq 0 ]; then
  SCENARIOS=("$HERE"/scenarios/*.sh)
else
  for w in "${WANT[@]}"; do
    if [ -f "$w" ]; then SCENARIOS+=("$(cd "$(dirname "$w")" && pwd)/$(basename "$w")"); continue; fi
    m=()
    for f in "$HERE"/scenarios/*.sh; do
      b=$(basename "$f" .sh)
      if [ "$b" = "$w" ] || [ "${b#[0-9][0-9]-}" = "$w" ] || [ "$b" = "${w%.sh}" ]; then m+=("$f"); fi
    done
    if [ ${#m[@]} -ne 1 ]; then echo "compat: no scenario named $w (see --list)" >&2; exit 2; fi
    SCENARIOS+=("${m[0]}")
  done
fi

if [ "$REF_ONLY" = 1 ]; then
  SUT=$REF; REF_LABEL="etcd#1"; SUT_LABEL="etcd#2"
else
  REF_LABEL="etcd"; SUT_LABEL="capstan"
fi
cap_require_bin "$REF" || exit 1
cap_require_bin "$SUT" || exit 1
command -v "$CAPSTAN_ETCDCTL" >/dev/null || { echo "compat: $CAPSTAN_ETCDCTL not found" >&2; exit 1; }

if [ -n "$OUT" ]; then
  mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd); KEEP_OUT=1
else
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/capstan-compat.XXXXXX"); KEEP_OUT=0
fi
echo "compat: $(basename "$REF") vs $(basename "$SUT") ($SUT), ${#SCENARIOS[@]} scenario(s), -j$JOBS, output in $OUT"

# run_pair SCENARIO DIR: one scenario against two fresh servers; writes DIR/report.txt
# and DIR/result ("identical total known ok|fail|error").
run_pair() {
  local scen=$1 dir=$2 name rc_a rc_b
  name=$(basename "$scen" .sh)
  CAP_TEST_NAME=compat/$name
  cap_init "$dir/servers"
  exec >"$dir/report.txt" 2>&1
  local a=ref b=sut
  # both members get the same name: it shows in member list
  CAP_MEMBER_NAME=node1
  if ! cap_start "$a" "$REF" || ! cap_start "$b" "$SUT"; then
    echo "0 0 0 error" >"$dir/result"; return 1
  fi
  local ok_a=0 ok_b=0
  cap_wait_healthy "$a" && ok_a=1
  cap_wait_healthy "$b" && ok_b=1
  # a port taken between pick and bind: one more try on new ports
  if [ $ok_a = 0 ] && grep -qi 'address already in use' "${CAP_LOG[$a]}"; then
    cap_stop "$a"; rm -rf "${CAP_DIR[$a]}/data"; cap_up "$a" "$REF" && ok_a=1
  fi
  if [ $ok_b = 0 ] && grep -qi 'address already in use' "${CAP_LOG[$b]}"; then
    cap_stop "$b"; rm -rf "${CAP_DIR[$b]}/data"; cap_up "$b" "$SUT" && ok_b=1
  fi
  if [ $ok_a = 0 ]; then
    echo "$name: the reference ($REF) did not start"
    echo "0 0 0 error" >"$dir/result"
    return 1
  fi
  timeout -k 5 "$SCEN_TIMEOUT" bash "$scen" "${CAP_EP[$a]}" "$dir/work-ref" >"$dir/ref.raw" 2>&1 &
  local pa=$!
  cap_track "$pa"
  if [ $ok_b = 1 ]; then
    timeout -k 5 "$SCEN_TIMEOUT" bash "$scen" "${CAP_EP[$b]}" "$dir/work-sut" >"$dir/sut.raw" 2>&1 &
    local pb=$!
    cap_track "$pb"
    wait "$pb"; rc_b=$?
  else
    # every command of the scenario counts as differing
    echo "$name: $SUT_LABEL did not start; log: ${CAP_LOG[$b]}"
    echo "(server did not start)" >"$dir/sut.raw"; rc_b=1
  fi
  wait "$pa"; rc_a=$?
  [ "$rc_a" = 124 ] && echo "$name: scenario timed out after ${SCEN_TIMEOUT}s against $REF_LABEL"
  [ "$rc_b" = 124 ] && echo "$name: scenario timed out after ${SCEN_TIMEOUT}s against $SUT_LABEL"
  cap_alive "$a" || echo "$name: $REF_LABEL server died during the scenario (log: ${CAP_LOG[$a]})"
  [ $ok_b = 0 ] || cap_alive "$b" || echo "$name: $SUT_LABEL server died during the scenario (log: ${CAP_LOG[$b]})"
  python3 "$HERE/normalize.py" --client-port "${CAP_EP[$a]##*:}" --peer-port "${CAP_PEER[$a]##*:}" \
    <"$dir/ref.raw" >"$dir/ref.norm"
  python3 "$HERE/normalize.py" --client-port "${CAP_EP[$b]##*:}" --peer-port "${CAP_PEER[$b]##*:}" \
    <"$dir/sut.raw" >"$dir/sut.norm"
  local cmp_args=(--ref-label "$REF_LABEL" --sut-label "$SUT_LABEL" --result "$dir/result")
  [ "$REF_ONLY" = 1 ] || cmp_args+=(--known "$HERE/known-differences.txt")
  [ $ok_b = 1 ] || cmp_args+=(--max-diffs 0)   # nothing ran: no point listing every block
  python3 "$HERE/compare.py" "$name" "$dir/ref.norm" "$dir/sut.norm" "${cmp_args[@]}"
  if [ "$rc_a" = 124 ] || [ "$rc_b" = 124 ]; then
    sed -i 's/ ok$/ fail/' "$dir/result"
  fi
}

# Run the pairs, at most $JOBS at a time; each in its own subshell with its own
# cleanup trap, so an interrupted run stops every server. (Polling with sleep rather
# than `wait -n`: a trapped signal reliably runs its trap after a short sleep.)
RUNNING=()
running() { local p n=0; for p in "${RUNNING[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }
# shellcheck disable=SC2329 # called from the traps below
cleanup_jobs() {
  local p i
  for p in "${RUNNING[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 300; i++)); do [ "$(running)" = 0 ] && break; sleep 0.1; done
}
trap 'cleanup_jobs; echo "compat: interrupted; partial output in $OUT"; exit 130' INT
trap 'cleanup_jobs; echo "compat: terminated; partial output in $OUT"; exit 143' TERM
trap 'cleanup_jobs; exit 129' HUP
START=$SECONDS
ORDER=()
for scen in "${SCENARIOS[@]}"; do
  name=$(basename "$scen" .sh)
  dir=$OUT/$name
  rm -rf "$dir"; mkdir -p "$dir"
  while [ "$(running)" -ge "$JOBS" ]; do sleep 0.2; done
  (run_pair "$scen" "$dir") &
  RUNNING+=($!)
  ORDER+=("$name")
done
while [ "$(running)" -gt 0 ]; do sleep 0.2; done
wait

TOTAL_SAME=0; TOTAL=0; TOTAL_KNOWN=0; BAD=()
echo
for name in "${ORDER[@]}"; do
  dir=$OUT/$name
  grep -v "^$name: [0-9]*/[0-9]* identical" "$dir/report.txt" 2>/dev/null
  read -r same total known status <"$dir/result" 2>/dev/null || { same=0; total=0; known=0; status=error; }
  TOTAL_SAME=$((TOTAL_SAME + same)); TOTAL=$((TOTAL + total)); TOTAL_KNOWN=$((TOTAL_KNOWN + known))
  [ "$status" = ok ] || BAD+=("$name")
done
echo
echo "compat: per scenario"
for name in "${ORDER[@]}"; do
  read -r same total known status <"$OUT/$name/result" 2>/dev/null || { same=0; total=0; known=0; status=error; }
  extra=""; [ "${known:-0}" != 0 ] && extra=" ($known known)"
  [ "$status" = error ] && extra=" (error: see $OUT/$name/report.txt)"
  printf '  %-28s %4s/%-4s identical%s\n' "$name" "$same" "$total" "$extra"
done
note=""; [ "$TOTAL_KNOWN" != 0 ] && note=", $TOTAL_KNOWN known differences"
echo "compat: $TOTAL_SAME/$TOTAL identical$note, ${#BAD[@]} of ${#ORDER[@]} scenario(s) differ ($((SECONDS - START))s, $REF_LABEL vs $SUT_LABEL)"
if [ ${#BAD[@]} -gt 0 ]; then
  echo "compat: differing: ${BAD[*]}"
  echo "compat: transcripts kept in $OUT (*.raw, *.norm, servers/*/server.log)"
  exit 1
fi
[ "$KEEP_OUT" = 1 ] || rm -rf "$OUT"
exit 0
