#!/usr/bin/env bash
# Runs tests/e2e/kube-apiserver.sh against several etcd-compatible servers, one after the
# other, and prints their results side by side (readiness time, workload wall time,
# RangeStream use, etcd errors, passes/failures).
#
# usage: tests/kube/compare.sh [BIN...]
#   default BINs: the reference etcd 3.7.3 (tests/tools/build-etcd.sh --print-dir; built
#   if missing), then $CAPSTAN_BIN (default ~/.cache/capstan/target/debug/capstan).
#   e.g. tests/kube/compare.sh /usr/bin/etcd "$(tests/tools/build-etcd.sh --print-dir)/etcd"
# The suite's knobs (KUBE_SOAK_SECS, ...) pass through. Each run's output is kept in
# $KUBE_COMPARE_OUT (default: a new /tmp/kube-compare.XXXXXX) as run-N.log; exit status
# is non-zero if any run failed.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${CARGO_TARGET_DIR:=$HOME/.cache/capstan/target}"
: "${CAPSTAN_BIN:=$CARGO_TARGET_DIR/debug/capstan}"
OUT=${KUBE_COMPARE_OUT:-$(mktemp -d /tmp/kube-compare.XXXXXX)}
mkdir -p "$OUT"
BINS=("$@")
if [ ${#BINS[@]} = 0 ]; then
  ETCD_DIR=$("$ROOT/tests/tools/build-etcd.sh" --print-dir)
  "$ROOT/tests/tools/build-etcd.sh" --check || nice -n 19 "$ROOT/tests/tools/build-etcd.sh" || exit 1
  BINS=("$ETCD_DIR/etcd" "$CAPSTAN_BIN")
fi
: >"$OUT/results"
RCS=()
i=0
for b in "${BINS[@]}"; do
  i=$((i + 1))
  echo "=== run $i: $b ($("$b" --version 2>&1 | head -n 1))"
  CAPSTAN_BIN=$b KUBE_RESULT_FILE=$OUT/results bash "$ROOT/tests/e2e/kube-apiserver.sh" 2>&1 |
    tee "$OUT/run-$i.log"
  rc=${PIPESTATUS[0]}
  RCS+=("$rc")
  grep -q "^backend=" "$OUT/results" && [ "$(grep -c . "$OUT/results")" = "$i" ] ||
    echo "backend=$(basename "$b") (no result: exit $rc)" >>"$OUT/results"
done
echo
echo "=== kube-apiserver suite, side by side (logs in $OUT)"
python3 - "$OUT/results" "${BINS[@]}" -- "${RCS[@]}" <<'EOF'
import sys
args = sys.argv[1:]
res_file, rest = args[0], args[1:]
sep = rest.index("--")
bins, rcs = rest[:sep], rest[sep + 1:]
rows = []
for line in open(res_file):
    d = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            d[k] = v
    rows.append(d)
keys = ["version", "kube", "ready", "workload", "workload_without_soak", "workload_core", "soak_rounds",
        "rangestream_lists", "paged_lists", "rangestream_fallbacks", "etcd_requests",
        "etcd_request_errors", "cache_consistent_reads", "etcd_log_lines", "expected_lines", "client_side_lines", "incompat_lines", "suspicious_lines", "passed", "failed",
        "namespaces", "configmaps", "secrets", "crd", "deployments", "pagination", "watch",
        "conflicts", "soak", "cleanup"]
w = max(len(k) for k in keys) + 2
print("%-*s" % (w, "binary") + "".join("%-26s" % b[-25:] for b in bins))
print("%-*s" % (w, "exit status") + "".join("%-26s" % r for r in rcs))
for k in keys:
    print("%-*s" % (w, k) + "".join("%-26s" % (r.get(k, "-")[:25]) for r in rows))
EOF
for rc in "${RCS[@]}"; do [ "$rc" = 0 ] || exit 1; done
exit 0
