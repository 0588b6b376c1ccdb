#!/usr/bin/env bash
# Capstan against etcd, side by side on this machine, in one run.
#
# For each cluster size (COMPARE_SIZES, default "1 3"), starts an etcd cluster and a
# Capstan cluster at the same time (tests/lib/cluster.sh: same flags for both, each on
# its own 127.A.B.x addresses, fsync on, heartbeat 100 ms / election 1000 ms), then:
#   1. loads COMPARE_KEYS keys (8-byte keys, COMPARE_VAL_SIZE-byte random values) into
#      each, and records the load time, the resident memory (VmRSS) of every member and
#      the disk usage of every data dir (du);
#   2. stops each cluster (SIGTERM) and starts it again on the same data: time from
#      starting the processes until every member answers a linearizable get; RSS again;
#   3. runs every workload (COMPARE_WORKLOADS) against both in alternation, A B A B
#      (etcd, then Capstan, COMPARE_ROUNDS rounds), with capstan-bench;
# and prints a markdown table (also written to COMPARE_OUT) of throughput and p99 per
# workload (mean over rounds) with the ratios Capstan/etcd (throughput: higher is
# better for Capstan; p99, RSS, restart time and disk: lower is better).
#
# usage: bench/compare.sh
# Knobs (environment):
#   COMPARE_ETCD        etcd binary (default: the current one from tests/tools/build-etcd.sh
#                       --print-dir if built, else /usr/bin/etcd, Debian's 3.4)
#   CAPSTAN_BIN         Capstan binary (default $CARGO_TARGET_DIR/release/capstan; built
#                       with `cargo build --release -p capstan` if missing)
#   CAPSTAN_BENCH_BIN   capstan-bench (default $CARGO_TARGET_DIR/release/capstan-bench;
#                       built with `cargo build --release -p capstan-bench` if missing)
#   COMPARE_BUILD=0     never build: fail if a binary is missing
#   CARGO_TARGET_DIR    default ~/.cache/capstan/target
#   CAPSTAN_ETCDCTL     etcdctl for health checks (default: the current one next to
#                       COMPARE_ETCD if there is one, else etcdctl on PATH)
#   COMPARE_SIZES       cluster sizes, default "1 3"
#   COMPARE_ROUNDS      rounds of A B per workload, default 2
#   COMPARE_TOTAL       requests per workload run, default 20000
#   COMPARE_WORKLOADS   default "put-c100 put-c1000 range-l range-s txn-put lease-keepalive
#                       watch-fanout" (see workload_args below for what each runs)
#   COMPARE_KEYS        keys loaded in step 1, default 1000000 (0 skips steps 1 and 2)
#   COMPARE_VAL_SIZE    value size of loaded and put keys, default 256
#   COMPARE_WATCHERS    watchers on one key for watch-fanout, default 10000
#   COMPARE_WATCH_PUTS  puts during watch-fanout, default 100, at COMPARE_WATCH_RATE/s
#                       (default 10)
#   COMPARE_TARGET_LEADER=1  send every request to the leader (default: all members)
#   COMPARE_SYSTEMS     which systems to run, default "etcd capstan" (one alone is for
#                       quick iterations while optimising; ratios need both)
#   COMPARE_OUT         the markdown file (default bench/results/compare-<UTC time>.md);
#                       every capstan-bench output is kept next to it in <name>.d/
#   COMPARE_SERVING_TIMEOUT  seconds to wait for serving after a restart, default 600
#   COMPARE_TLS=1       both clusters with client and peer TLS, as etcd's security guide
#                       has it: https client and peer URLs, --cert-file --key-file
#                       --trusted-ca-file --client-cert-auth and --peer-cert-file
#                       --peer-key-file --peer-trusted-ca-file --peer-client-cert-auth;
#                       capstan-bench and every etcdctl use --cacert --cert --key. The
#                       certificates (ECDSA P-256, one CA; per cluster a server
#                       certificate with the members' IPs, 127.0.0.1 and localhost; per
#                       member a peer certificate; one client certificate) are made with
#                       openssl in TMPDIR's run directory (tls/). Default 0: plain text.
#   COMPARE_AUTH=1      both clusters with auth enabled (etcd's RBAC): a root user, and
#                       the user capstan-bench runs as (`--user bench:...`, simple
#                       tokens) holds a role with READWRITE on every range the
#                       workloads touch (prefixes p/ and w/, [0, :) for the loaded
#                       keys, prefix compare-), so every request is checked
#                       against its permissions. Default 0: auth off.
#   TMPDIR              where the data dirs go (1 000 000 keys: a few GB in all);
#                       removed at the end unless something failed or CAP_KEEP_TMP=1
# Tiny run (seconds, e.g. against debug builds): COMPARE_SIZES=1 COMPARE_ROUNDS=1
#   COMPARE_TOTAL=200 COMPARE_KEYS=1000 COMPARE_WATCHERS=100 COMPARE_WATCH_PUTS=20
set -u
CAP_TEST_NAME=compare
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${CARGO_TARGET_DIR:=$HOME/.cache/capstan/target}"
DEFAULT_CAPSTAN_BIN=$CARGO_TARGET_DIR/release/capstan
DEFAULT_BENCH_BIN=$CARGO_TARGET_DIR/release/capstan-bench
: "${CAPSTAN_BIN:=$DEFAULT_CAPSTAN_BIN}"
: "${CAPSTAN_BENCH_BIN:=$DEFAULT_BENCH_BIN}"
if [ -z "${COMPARE_ETCD:-}" ]; then
  d=$("$ROOT/tests/tools/build-etcd.sh" --print-dir 2>/dev/null) || d=
  if [ -n "$d" ] && [ -x "$d/etcd" ]; then COMPARE_ETCD=$d/etcd; else COMPARE_ETCD=/usr/bin/etcd; fi
fi
if [ -z "${CAPSTAN_ETCDCTL:-}" ] && [ -x "$(dirname "$COMPARE_ETCD")/etcdctl" ]; then
  CAPSTAN_ETCDCTL=$(dirname "$COMPARE_ETCD")/etcdctl
fi
SIZES=${COMPARE_SIZES:-1 3}
ROUNDS=${COMPARE_ROUNDS:-2}
TOTAL=${COMPARE_TOTAL:-20000}
WORKLOADS=${COMPARE_WORKLOADS:-put-c100 put-c1000 range-l range-s txn-put lease-keepalive watch-fanout}
KEYS=${COMPARE_KEYS:-1000000}
VAL_SIZE=${COMPARE_VAL_SIZE:-256}
WATCHERS=${COMPARE_WATCHERS:-10000}
WATCH_PUTS=${COMPARE_WATCH_PUTS:-100}
WATCH_RATE=${COMPARE_WATCH_RATE:-10}
SERVING_TIMEOUT=${COMPARE_SERVING_TIMEOUT:-600}
TLS=${COMPARE_TLS:-0}
case $TLS in 0 | 1) ;; *) echo "compare.sh: COMPARE_TLS must be 0 or 1" >&2; exit 2 ;; esac
AUTH=${COMPARE_AUTH:-0}
case $AUTH in 0 | 1) ;; *) echo "compare.sh: COMPARE_AUTH must be 0 or 1" >&2; exit 2 ;; esac
OUT=${COMPARE_OUT:-$ROOT/bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ).md}
RAW=${OUT%.md}.d

# shellcheck source=tests/lib/cluster.sh
. "$ROOT/tests/lib/cluster.sh"

# Release binaries at their default paths are built if missing (never the debug ones).
build_if_missing() { # BIN DEFAULT PACKAGE
  [ -x "$1" ] && return 0
  if [ "$1" = "$2" ] && [ "${COMPARE_BUILD:-1}" != 0 ]; then
    cap_say "building $3 (release): cargo build --release -p $3"
    (cd "$ROOT" && cargo build --release -p "$3") || return 1
  fi
  cap_require_bin "$1"
}
build_if_missing "$CAPSTAN_BIN" "$DEFAULT_CAPSTAN_BIN" capstan || exit 1
build_if_missing "$CAPSTAN_BENCH_BIN" "$DEFAULT_BENCH_BIN" capstan-bench || exit 1
cap_require_bin "$COMPARE_ETCD" || exit 1
command -v "$CAPSTAN_ETCDCTL" >/dev/null || { cap_err "no etcdctl ($CAPSTAN_ETCDCTL)"; exit 1; }
[ "$TLS" = 0 ] || command -v openssl >/dev/null || { cap_err "COMPARE_TLS=1 needs openssl"; exit 1; }
cap_init
mkdir -p "$RAW" || exit 1
RESULTS=$RAW/results.tsv   # size, workload, system, round, RESULT json
EXTRAS=$RAW/extras.tsv     # size, metric, system, value
: >"$RESULTS"
: >"$EXTRAS"

read -r -a SYSTEMS <<<"${COMPARE_SYSTEMS:-etcd capstan}"
declare -A SYS_BIN=([etcd]=$COMPARE_ETCD [capstan]=$CAPSTAN_BIN)
declare -A SYS_NET=() SYS_CPORT=() SYS_PPORT=() SYS_MEMBERS=()
LEADER_FLAG=()
[ "${COMPARE_TARGET_LEADER:-0}" = 1 ] && LEADER_FLAG=(--target-leader)

# --- TLS (COMPARE_TLS=1) ---------------------------------------------------------------
BENCH_TLS=()   # capstan-bench's TLS flags (the same as etcdctl's: CAP_CTL_TLS)
if [ "$TLS" = 1 ]; then
  cl_tls_init "$CAP_TMP/tls" || { cap_err "COMPARE_TLS=1: generating the CA and client certificate with openssl failed"; exit 1; }
  BENCH_TLS=("${CL_TLS_CLIENT[@]}")
fi

# --- auth (COMPARE_AUTH=1) -------------------------------------------------------------
BENCH_AUTH=() ROOT_AUTH=()
[ "$AUTH" = 1 ] && BENCH_AUTH=(--user bench:benchpw) ROOT_AUTH=(--user root:rootpw)
# auth_setup: the current cluster gets users root and bench, bench's role, and auth on.
auth_setup() {
  local step
  for step in "user add root:rootpw" "user grant-role root root" "user add bench:benchpw" "role add bench" \
    "role grant-permission bench readwrite p/ --prefix" "role grant-permission bench readwrite w/ --prefix" \
    "role grant-permission bench readwrite 0 :" "role grant-permission bench readwrite compare- --prefix" \
    "user grant-role bench bench" "auth enable"; do
    # shellcheck disable=SC2086  # (each step is words)
    cl_ctl m1 $step >/dev/null || { cap_err "auth setup: etcdctl $step failed"; return 1; }
  done
}

# sys_use SYS SIZE: make SYS's cluster of SIZE members the current run of cluster.sh.
sys_use() {
  CL_RUN=$1-$2 CL_NET=${SYS_NET[$1]:-} CL_CPORT=${SYS_CPORT[$1]:-} CL_PPORT=${SYS_PPORT[$1]:-}
  CL_BIN=${SYS_BIN[$1]} CL_LEADER=
  read -r -a CL_MEMBERS <<<"${SYS_MEMBERS[$1]:-}"
}
# sys_start SYS SIZE: a new cluster of SYS on fresh addresses; waits for a leader.
sys_start() {
  CL_RUN=$1-$2 CL_NET= CL_MEMBERS=()
  cl_net_init 3 || return 1
  SYS_NET[$1]=$CL_NET SYS_CPORT[$1]=$CL_CPORT SYS_PPORT[$1]=$CL_PPORT
  if [ "$TLS" = 1 ]; then
    cl_tls_certs "$2" || { cap_err "$1: generating the cluster's certificates failed"; return 1; }
  fi
  cl_new "$2" "${SYS_BIN[$1]}" || return 1
  SYS_MEMBERS[$1]="${CL_MEMBERS[*]}"
  if [ "$AUTH" = 1 ]; then auth_setup || return 1; fi
}
sys_stop() { sys_use "$1" "$2"; cl_stop_all TERM; }

# bench NAME ARGS...: capstan-bench against the current cluster; output kept in
# $RAW/NAME.txt; prints the RESULT JSON (nothing, and status 1, if it failed). With
# COMPARE_TLS=1 a run whose connections were not TLS (config.tls) fails too.
bench() {
  local name=$1; shift
  "$CAPSTAN_BENCH_BIN" --endpoints "$(cl_eps)" --no-progress --label "$name" "${BENCH_TLS[@]}" "${BENCH_AUTH[@]}" "$@" >"$RAW/$name.txt" 2>&1
  local rc=$? r
  r=$(sed -n 's/^RESULT //p' "$RAW/$name.txt" | tail -n 1)
  printf '%s\n' "$r"
  [ $rc = 0 ] || { cap_err "$name: capstan-bench failed ($rc): $(tail -n 3 "$RAW/$name.txt")"; return 1; }
  if [ "$TLS" = 1 ] && [ "$(json_get 'd["config"].get("tls")' "$r")" != True ]; then
    cap_err "$name: COMPARE_TLS=1 but capstan-bench's connections were not TLS"; return 1
  fi
}
json_get() { python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(eval(sys.argv[1], {"d": d}))' "$1" "$2"; }
extra() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$EXTRAS"; }

# Members' resident memory (MiB, space separated) and data dir sizes (MiB).
rss_mib() {
  local n pid out=()
  for n in "${CL_MEMBERS[@]}"; do
    pid=${CAP_PID[$(cl_key "$n")]:-}
    out+=("$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo nan)")
  done
  echo "${out[*]}"
}
disk_mib() {
  local n out=()
  for n in "${CL_MEMBERS[@]}"; do
    out+=("$(du -sb "$CAP_TMP/$(cl_key "$n")/data" | awk '{printf "%.1f", $1 / 1048576}')")
  done
  echo "${out[*]}"
}

# serving_after_restart: stop every member (SIGTERM), start them again and set SERVING_S
# to the seconds from the first start until every member answers a linearizable get.
# (Not in a $(...) subshell: the harness must learn the new PIDs.)
now_us() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); }
serving_after_restart() {
  local n t0 ok
  cl_stop_all TERM
  t0=$(now_us)
  for n in "${CL_MEMBERS[@]}"; do cl_start "$n"; done
  for n in "${CL_MEMBERS[@]}"; do
    ok=0
    while (($(now_us) - t0 < SERVING_TIMEOUT * 1000000)); do
      if "$CAPSTAN_BENCH_BIN" --endpoints "$(cl_ep "$n")" "${BENCH_TLS[@]}" "${BENCH_AUTH[@]}" --no-progress --json --total 1 --dial-timeout 1 \
        --request-timeout 1 range compare-probe --consistency l 2>/dev/null | grep -q '"ok":1,'; then ok=1; break; fi
      cl_alive "$n" || break
      sleep 0.02
    done
    [ $ok = 1 ] || { cap_err "$CL_RUN/$n not serving after restart"; return 1; }
  done
  local dt=$(($(now_us) - t0))
  SERVING_S=$(printf '%d.%03d' $((dt / 1000000)) $((dt % 1000000 / 1000)))
}

# workload_args WORKLOAD: capstan-bench arguments (after the global --endpoints).
workload_args() {
  local put=(--key-size 8 --val-size "$VAL_SIZE" --key-space-size 100000 --key-prefix p/)
  case $1 in
    put-c100) echo --conns 10 --clients 100 --total "$TOTAL" put "${put[@]}" ;;
    put-c1000) echo --conns 100 --clients 1000 --total "$TOTAL" put "${put[@]}" ;;
    range-l) echo --conns 10 --clients 100 --total "$TOTAL" range compare-range --consistency l ;;
    range-s) echo --conns 10 --clients 100 --total "$TOTAL" range compare-range --consistency s ;;
    txn-put) echo --conns 10 --clients 100 --total "$TOTAL" txn-put --txn-ops 4 "${put[@]}" ;;
    lease-keepalive) echo --conns 10 --clients 100 --total "$TOTAL" lease-keepalive ;;
    watch-fanout) echo --conns 10 --clients 1 --total "$WATCH_PUTS" --rate "$WATCH_RATE" \
      watch --watchers "$WATCHERS" --keys 1 --streams 10 --val-size "$VAL_SIZE" --key-prefix w/ ;;
    *) return 1 ;;
  esac
}
for w in $WORKLOADS; do workload_args "$w" >/dev/null || { cap_err "unknown workload $w"; exit 2; }; done

ETCD_VERSION=$("$COMPARE_ETCD" --version 2>/dev/null | head -n 1)
cap_say "etcd: $COMPARE_ETCD ($ETCD_VERSION); capstan: $CAPSTAN_BIN; bench: $CAPSTAN_BENCH_BIN"
cap_say "sizes [$SIZES], $ROUNDS rounds, $TOTAL requests per run, $KEYS keys, TLS $([ "$TLS" = 1 ] && echo "on (certificates in $CL_TLS_DIR)" || echo off); raw output in $RAW"
FAILED=0
START=$SECONDS
for size in $SIZES; do
  for s in "${SYSTEMS[@]}"; do
    sys_start "$s" "$size" || { cap_err "$s: $size-member cluster did not start"; exit 1; }
  done
  cap_say "$size member(s): clusters up ($(for s in "${SYSTEMS[@]}"; do printf '%s on %s.x ' "$s" "${SYS_NET[$s]}"; done))"

  if [ "$KEYS" -gt 0 ]; then
    for s in "${SYSTEMS[@]}"; do
      sys_use "$s" "$size"
      r=$(bench "load-$s-$size" --conns 10 --clients 200 --total "$KEYS" "${LEADER_FLAG[@]}" \
        put --sequential-keys --key-space-size "$KEYS" --key-size 8 --val-size "$VAL_SIZE") || FAILED=$((FAILED + 1))
      [ -n "$r" ] && extra "$size" "load: seconds" "$s" "$(json_get 'd["elapsed_s"]' "$r")"
      [ -n "$r" ] && extra "$size" "load: errors" "$s" "$(json_get 'd["error_count"]' "$r")"
      extra "$size" "RSS after load (MiB)" "$s" "$(rss_mib)"
      extra "$size" "disk after load (MiB)" "$s" "$(disk_mib)"
      cap_say "$s: loaded $KEYS keys: ${r:0:160}"
    done
    for s in "${SYSTEMS[@]}"; do
      sys_use "$s" "$size"
      if serving_after_restart; then
        extra "$size" "restart to serving (s)" "$s" "$SERVING_S"
        extra "$size" "RSS after restart (MiB)" "$s" "$(rss_mib)"
        cap_say "$s: serving $SERVING_S s after restart"
      else
        FAILED=$((FAILED + 1))
      fi
    done
  fi

  for s in "${SYSTEMS[@]}"; do
    sys_use "$s" "$size"
    cl_ctl m1 "${ROOT_AUTH[@]}" put compare-range "$(head -c "$VAL_SIZE" /dev/zero | tr '\0' v)" >/dev/null || FAILED=$((FAILED + 1))
  done
  for ((round = 1; round <= ROUNDS; round++)); do
    for w in $WORKLOADS; do
      read -r -a args <<<"$(workload_args "$w")"
      for s in "${SYSTEMS[@]}"; do
        sys_use "$s" "$size"
        if r=$(bench "$w-$s-$size-r$round" "${LEADER_FLAG[@]}" "${args[@]}"); then :; else FAILED=$((FAILED + 1)); fi
        [ -n "$r" ] && printf '%s\t%s\t%s\t%s\t%s\n' "$size" "$w" "$s" "$round" "$r" >>"$RESULTS"
        cap_say "$size member(s) round $round $w $s: $( [ -n "$r" ] && json_get '"%.1f req/s, p99 %.3f ms, %d errors" % (d["throughput_rps"], d["latency_ms"]["p99"], d["error_count"])' "$r")"
      done
    done
  done
  for s in "${SYSTEMS[@]}"; do sys_stop "$s" "$size"; done
  # The data of this size is not needed any more (1 000 000 keys take GBs).
  for s in "${SYSTEMS[@]}"; do rm -rf "${CAP_TMP:?}/$s-$size"/*/data; done
done

MACHINE="$(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
mkdir -p "$(dirname "$OUT")"
python3 - "$RESULTS" "$EXTRAS" "$ROUNDS" >"$OUT" <<EOF
import json, statistics, sys
results, extras, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
print("# Capstan vs etcd, side by side$([ "$TLS" = 1 ] && echo ", with TLS")")
print()
print("- date: $(date -u +%FT%TZ); duration: $((SECONDS - START)) s; machine: $MACHINE")
print("- etcd: \`$COMPARE_ETCD\` ($ETCD_VERSION); Capstan: \`$CAPSTAN_BIN\`; bench: \`$CAPSTAN_BENCH_BIN\`")
print("- auth: $([ "$AUTH" = 1 ] && echo 'on (COMPARE_AUTH=1): capstan-bench as a non-root user with READWRITE on the ranges it uses, simple tokens' || echo 'off')")
print("- TLS: $([ "$TLS" = 1 ] && echo 'on (COMPARE_TLS=1): client and peer, https URLs, mutual (--client-cert-auth, --peer-client-cert-auth), ECDSA P-256 certificates; capstan-bench and etcdctl with --cacert --cert --key' || echo 'off (plain-text client and peer connections)')")
print("- sizes: $SIZES; rounds: %s (A B alternation, etcd first); requests per run: $TOTAL; loaded keys: $KEYS (8 B keys, $VAL_SIZE B values); watch fan-out: $WATCHERS watchers on one key, $WATCH_PUTS puts at $WATCH_RATE/s; target leader: ${COMPARE_TARGET_LEADER:-0}" % rounds)
print()
rows = {}
for line in open(results):
    size, wl, sysname, rnd, js = line.rstrip("\n").split("\t", 4)
    rows.setdefault((int(size), wl), {}).setdefault(sysname, []).append(json.loads(js))
def mean(xs):
    return statistics.fmean(xs) if xs else float("nan")
def ratio(a, b):
    return "%.2f" % (a / b) if b and a == a and b == b else "n/a"
print("## Workloads (mean over rounds; ratio = Capstan / etcd: throughput higher is better, p99 lower is better)")
print()
print("| members | workload | etcd req/s | Capstan req/s | ratio | etcd p99 ms | Capstan p99 ms | p99 ratio | errors etcd / Capstan |")
print("|---|---|---|---|---|---|---|---|---|")
for (size, wl) in rows:
    e, c = rows[(size, wl)].get("etcd", []), rows[(size, wl)].get("capstan", [])
    et, ct = mean([r["throughput_rps"] for r in e]), mean([r["throughput_rps"] for r in c])
    ep, cp = mean([r["latency_ms"]["p99"] for r in e]), mean([r["latency_ms"]["p99"] for r in c])
    ee, ce = sum(r["error_count"] for r in e), sum(r["error_count"] for r in c)
    print("| %d | %s | %.1f | %.1f | %s | %.3f | %.3f | %s | %d / %d |" % (size, wl, et, ct, ratio(ct, et), ep, cp, ratio(cp, ep), ee, ce))
ex = {}
for line in open(extras):
    size, metric, sysname, value = line.rstrip("\n").split("\t", 3)
    ex.setdefault((int(size), metric), {})[sysname] = value
if ex:
    print()
    print("## Load, memory, restart, disk (per member: max over members, all members in brackets; ratio = Capstan / etcd, lower is better)")
    print()
    print("| members | metric | etcd | Capstan | ratio |")
    print("|---|---|---|---|---|")
    for (size, metric), v in ex.items():
        def cell(s):
            vals = [float(x) for x in v.get(s, "").split() if x not in ("", "nan")]
            if not vals:
                return None, "n/a"
            m = max(vals)
            return m, ("%g" % m) + (" [%s]" % v[s] if len(vals) > 1 else "")
        (em, es), (cm, cs) = cell("etcd"), cell("capstan")
        print("| %d | %s | %s | %s | %s |" % (size, metric, es, cs, ratio(cm, em) if em is not None and cm is not None else "n/a"))
EOF
cat "$OUT"
cap_say "results in $OUT (raw capstan-bench output in $RAW)"
if [ "$FAILED" -gt 0 ]; then cap_err "$FAILED step(s) failed (see above)"; exit 1; fi
exit 0
