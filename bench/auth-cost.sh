#!/usr/bin/env bash
# What authentication costs, measured on the same clusters in alternation: for each
# system (etcd and Capstan, as bench/compare.sh starts them) and cluster size, each round
# runs every workload twice, with auth off and then with auth on as a non-root user
# (capstan-bench --user, simple tokens) whose role holds READWRITE on the ranges the
# workloads use, so every request is checked against its permissions; auth is enabled
# and disabled between the two (etcdctl auth enable/disable). Prints, per system and
# workload, the mean throughput off and on and the ratio on/off (1.00 = free).
#
# usage: bench/auth-cost.sh
# Knobs: AUTHCOST_SIZES (default "1 3"), AUTHCOST_ROUNDS (default 2), AUTHCOST_TOTAL
#   (requests per run, default 20000), AUTHCOST_WORKLOADS (default "put-c100 range-l
#   range-s txn-put lease-keepalive"), AUTHCOST_SYSTEMS (default "etcd capstan"), and
#   COMPARE_ETCD, CAPSTAN_BIN, CAPSTAN_BENCH_BIN, CAPSTAN_ETCDCTL as bench/compare.sh.
set -u
CAP_TEST_NAME=auth-cost
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${CARGO_TARGET_DIR:=$HOME/.cache/capstan/target}"
: "${CAPSTAN_BIN:=$CARGO_TARGET_DIR/release/capstan}"
: "${CAPSTAN_BENCH_BIN:=$CARGO_TARGET_DIR/release/capstan-bench}"
if [ -z "${COMPARE_ETCD:-}" ]; then
  d=$("$ROOT/tests/tools/build-etcd.sh" --print-dir 2>/dev/null) || d=
  if [ -n "$d" ] && [ -x "$d/etcd" ]; then COMPARE_ETCD=$d/etcd; else COMPARE_ETCD=/usr/bin/etcd; fi
fi
[ -n "${CAPSTAN_ETCDCTL:-}" ] || CAPSTAN_ETCDCTL=$(dirname "$COMPARE_ETCD")/etcdctl
SIZES=${AUTHCOST_SIZES:-1 3}
ROUNDS=${AUTHCOST_ROUNDS:-2}
TOTAL=${AUTHCOST_TOTAL:-20000}
WORKLOADS=${AUTHCOST_WORKLOADS:-put-c100 range-l range-s txn-put lease-keepalive}
read -r -a SYSTEMS <<<"${AUTHCOST_SYSTEMS:-etcd capstan}"
declare -A SYS_BIN=([etcd]=$COMPARE_ETCD [capstan]=$CAPSTAN_BIN)

# shellcheck source=tests/lib/cluster.sh
. "$ROOT/tests/lib/cluster.sh"
for b in "$COMPARE_ETCD" "$CAPSTAN_BIN" "$CAPSTAN_BENCH_BIN" "$CAPSTAN_ETCDCTL"; do
  [ -x "$b" ] || { echo "auth-cost.sh: missing $b (build the release binaries and etcd first)" >&2; exit 1; }
done
cap_init
RESULTS=$CAP_TMP/results.tsv # system, size, workload, auth, req/s
: >"$RESULTS"

ctl() { cl_ctl m1 "$@" >/dev/null || { cap_err "etcdctl $*"; return 1; }; }
# users root and bench; bench's role covers what the workloads touch (compare.sh's keys).
users() {
  ctl user add root:rootpw && ctl user grant-role root root && ctl user add bench:benchpw &&
    ctl role add bench && ctl role grant-permission bench readwrite p/ --prefix &&
    ctl role grant-permission bench readwrite compare- --prefix && ctl user grant-role bench bench &&
    ctl put compare-range "$(head -c 256 /dev/zero | tr '\0' v)"
}
args() { # WORKLOAD: capstan-bench arguments, as compare.sh's
  local put=(--key-size 8 --val-size 256 --key-space-size 100000 --key-prefix p/)
  case $1 in
    put-c100) echo --conns 10 --clients 100 --total "$TOTAL" put "${put[@]}" ;;
    range-l) echo --conns 10 --clients 100 --total "$TOTAL" range compare-range --consistency l ;;
    range-s) echo --conns 10 --clients 100 --total "$TOTAL" range compare-range --consistency s ;;
    txn-put) echo --conns 10 --clients 100 --total "$TOTAL" txn-put --txn-ops 4 "${put[@]}" ;;
    lease-keepalive) echo --conns 10 --clients 100 --total "$TOTAL" lease-keepalive ;;
    *) return 1 ;;
  esac
}
run() { # SYSTEM SIZE WORKLOAD AUTH [capstan-bench flags]: one run, its req/s recorded
  local s=$1 n=$2 w=$3 a=$4 out; shift 4
  read -r -a wargs <<<"$(args "$w")"
  out=$("$CAPSTAN_BENCH_BIN" --endpoints "$(cl_eps)" --no-progress "$@" "${wargs[@]}" 2>&1 | sed -n 's/^RESULT //p')
  local rps errors
  rps=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["throughput_rps"])' "$out" 2>/dev/null) || rps=
  errors=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["error_count"])' "$out" 2>/dev/null) || errors=
  [ -n "$rps" ] && [ "$errors" = 0 ] || { cap_err "$s/$n $w auth=$a: failed or had errors: ${out:0:200}"; return 1; }
  printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$n" "$w" "$a" "$rps" >>"$RESULTS"
  cap_say "$s $n member(s) $w auth $a: $rps req/s"
}

FAILED=0
for n in $SIZES; do
  for s in "${SYSTEMS[@]}"; do
    cl_run "$s-$n"
    CL_NET=
    cl_net_init 3 && cl_new "$n" "${SYS_BIN[$s]}" && users || { cap_err "$s: $n-member cluster"; exit 1; }
    for ((r = 1; r <= ROUNDS; r++)); do
      for w in $WORKLOADS; do
        run "$s" "$n" "$w" off || FAILED=$((FAILED + 1))
        ctl auth enable || exit 1
        run "$s" "$n" "$w" on --user bench:benchpw || FAILED=$((FAILED + 1))
        ctl --user root:rootpw auth disable || exit 1
      done
    done
    cl_stop_all TERM
  done
done

python3 - "$RESULTS" <<'EOF'
import collections, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    s, n, w, a, rps = line.rstrip("\n").split("\t")
    runs[(s, n, w, a)].append(float(rps))
mean = lambda v: sum(v) / len(v)
print("| system | members | workload | auth off req/s | auth on req/s | on/off |")
print("|---|---|---|---|---|---|")
for (s, n, w, a) in sorted(k for k in runs if k[3] == "off"):
    off, on = runs[(s, n, w, "off")], runs.get((s, n, w, "on"))
    if on:
        print(f"| {s} | {n} | {w} | {mean(off):.0f} | {mean(on):.0f} | {mean(on) / mean(off):.2f} |")
EOF
[ "$FAILED" = 0 ] || { cap_err "$FAILED run(s) failed"; exit 1; }
cap_finish
