# shellcheck shell=bash disable=SC2034  # (state read by the scripts sourcing this file)
# Process harness shared by tests/e2e and tests/compat: free ports, servers in fresh
# temp dirs with captured logs, bounded health waits, and cleanup of every process we
# started (on success, failure or interrupt).
#
#   . tests/lib/common.sh
#   cap_init                        # temp dir + exit trap
#   cap_up s1 "$CAPSTAN_BIN"        # start a single member on free ports, wait healthy
#   cap_ctl s1 put foo bar          # etcdctl against it (bounded)
#   cap_stop s1 KILL; cap_restart s1
#
# Both etcd and capstan take the same flags, so everything here works for either.
# Environment knobs (all optional):
#   CARGO_TARGET_DIR   default $HOME/.cache/capstan/target
#   CAPSTAN_BIN        default $CARGO_TARGET_DIR/debug/capstan
#   CAPSTAN_REF_ETCD   reference etcd, default /usr/bin/etcd (or etcd on PATH)
#   CAPSTAN_ETCDCTL    etcdctl to use, default etcdctl on PATH
#   CAP_HEALTH_TIMEOUT seconds to wait for health, default 30
#   CAP_KEEP_TMP=1     keep the temp dir even on success
# (None of these start with ETCD_: servers read ETCD_* variables as configuration.)

CAP_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CARGO_TARGET_DIR:=$HOME/.cache/capstan/target}"
: "${CAPSTAN_BIN:=$CARGO_TARGET_DIR/debug/capstan}"
if [ -z "${CAPSTAN_REF_ETCD:-}" ]; then
  if [ -x /usr/bin/etcd ]; then CAPSTAN_REF_ETCD=/usr/bin/etcd
  else CAPSTAN_REF_ETCD=$(command -v etcd || echo /usr/bin/etcd); fi
fi
: "${CAPSTAN_ETCDCTL:=etcdctl}"
: "${CAP_HEALTH_TIMEOUT:=30}"
: "${CAP_HOST:=127.0.0.1}"
export ETCDCTL_API=3

# Per-server state, keyed by the server's name.
declare -gA CAP_PID=() CAP_EP=() CAP_PEER=() CAP_DIR=() CAP_LOG=() CAP_CMD=() \
  CAP_ENVS=() CAP_STARTS=() CAP_EXIT=()
# Other background processes a test started (writers, watchers): killed on exit too.
CAP_EXTRA_PIDS=()
# Commands (eval'd) run by cap_cleanup after every process is stopped, e.g. to remove
# network namespaces a test created. Register them after cap_init.
CAP_CLEANUP_HOOKS=()
# Extra VAR=value pairs for the next cap_spawn (e.g. ETCD_NAME=x); reset after use.
CAP_ENV=()
# Flags added to every etcdctl command of the harness (health checks, cap_ctl, and
# cluster.sh's), e.g. (--cacert CA --cert CERT --key KEY) for servers with client TLS.
CAP_CTL_TLS=()
CAP_FAILS=0
CAP_PASSES=0

cap_say() { printf '[%s] %s\n' "${CAP_TEST_NAME:-test}" "$*"; }
cap_err() { printf '[%s] %s\n' "${CAP_TEST_NAME:-test}" "$*" >&2; }

# cap_init [DIR]: make the temp dir (DIR, or a fresh mktemp one that is removed on a
# successful exit) and install the cleanup trap. Call once per shell or subshell that
# starts processes; it forgets servers inherited from a parent shell.
# shellcheck disable=SC2120 # DIR is optional
cap_init() {
  CAP_PID=() CAP_EP=() CAP_PEER=() CAP_DIR=() CAP_LOG=() CAP_CMD=() CAP_ENVS=()
  CAP_STARTS=() CAP_EXIT=() CAP_EXTRA_PIDS=() CAP_ENV=() CAP_CLEANUP_HOOKS=()
  if [ -n "${1:-}" ]; then
    CAP_TMP=$1; CAP_OWN_TMP=0; mkdir -p "$CAP_TMP"
  else
    CAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/capstan-${CAP_TEST_NAME:-test}.XXXXXX"); CAP_OWN_TMP=1
  fi
  CAP_TMP=$(cd "$CAP_TMP" && pwd)
  trap 'cap__on_exit' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

cap__on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  cap_cleanup
  if [ "${CAP_OWN_TMP:-0}" = 1 ]; then
    if [ "$rc" = 0 ] && [ -z "${CAP_KEEP_TMP:-}" ]; then rm -rf "$CAP_TMP"
    else cap_err "logs and data kept in $CAP_TMP"; fi
  fi
  exit "$rc"
}

# cap__kill_pid PID SIGNAL GRACE: signal one process we started, wait up to GRACE
# seconds, then SIGKILL it. Returns 0 if it ended within GRACE.
cap__kill_pid() {
  local pid=$1 sig=${2:-TERM} grace=${3:-10} i
  {
    kill -0 "$pid" || { wait "$pid"; return 0; }
    kill -s "$sig" "$pid"
    for ((i = 0; i < grace * 10; i++)); do
      kill -0 "$pid" || { wait "$pid"; return 0; }
      sleep 0.1
    done
    kill -s KILL "$pid"
    wait "$pid"
  } 2>/dev/null
  return 1
}

# cap_cleanup: stop every process this shell started (servers, then extras).
cap_cleanup() {
  local name pid
  for pid in "${CAP_EXTRA_PIDS[@]}"; do
    cap__kill_pid "$pid" TERM 2
  done
  CAP_EXTRA_PIDS=()
  for name in "${!CAP_PID[@]}"; do
    pid=${CAP_PID[$name]}
    [ -n "$pid" ] && cap__kill_pid "$pid" TERM 5
    CAP_PID[$name]=
  done
  local hook
  for hook in "${CAP_CLEANUP_HOOKS[@]}"; do eval "$hook"; done
  CAP_CLEANUP_HOOKS=()
}

# cap_track PID...: kill these background processes on exit too.
cap_track() { CAP_EXTRA_PIDS+=("$@"); }

# cap_ports N: N distinct free ports on $CAP_HOST, space separated.
cap_ports() { python3 "$CAP_LIB_DIR/freeport.py" "${1:-1}" "$CAP_HOST" | tr '\n' ' '; }

# cap_require_bin BIN: fail with a useful message if BIN is not an executable.
cap_require_bin() {
  if [ ! -x "$1" ]; then
    cap_err "no executable at $1"
    case $1 in *capstan*) cap_err "build it with: cargo build -p capstan (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" ;; esac
    return 1
  fi
}

# cap_spawn NAME ENDPOINT BIN ARGS...: start BIN with exactly ARGS in $CAP_TMP/NAME
# (its working directory; log in server.log), without waiting. ENDPOINT (host:port)
# is where clients reach it. ETCD_*/ETCDCTL_* variables of the caller's environment
# are removed; the ones in CAP_ENV are set.
cap_spawn() {
  local name=$1 ep=$2; shift 2
  local dir=$CAP_TMP/$name
  mkdir -p "$dir"
  CAP_DIR[$name]=$dir
  CAP_LOG[$name]=$dir/server.log
  CAP_EP[$name]=$ep
  CAP_CMD[$name]=$(printf '%q ' "$@")
  CAP_ENVS[$name]=$( ((${#CAP_ENV[@]})) && printf '%q ' "${CAP_ENV[@]}")
  CAP_ENV=()
  CAP_STARTS[$name]=0
  cap__launch "$name"
}

# cap_env_unset: sets CAP_UNSET to `env` arguments (-u VAR ...) that remove every
# ETCD_* and ETCDCTL_* variable, so the caller's environment cannot configure servers.
cap_env_unset() {
  local v
  CAP_UNSET=()
  for v in $(compgen -e); do
    case $v in ETCD_* | ETCDCTL_*) CAP_UNSET+=(-u "$v") ;; esac
  done
}

cap__launch() {
  local name=$1 dir=${CAP_DIR[$1]}
  local -a cmd envs envargs
  eval "cmd=(${CAP_CMD[$name]})"
  eval "envs=(${CAP_ENVS[$name]})"
  cap_env_unset
  envargs=("${CAP_UNSET[@]}")
  CAP_STARTS[$name]=$((CAP_STARTS[$name] + 1))
  printf '=== start %s at %s: %s %s\n' "${CAP_STARTS[$name]}" "$(date -u +%FT%TZ)" \
    "${CAP_ENVS[$name]}" "${CAP_CMD[$name]}" >>"${CAP_LOG[$name]}"
  (cd "$dir" && exec env "${envargs[@]}" "${envs[@]}" "${cmd[@]}") >>"${CAP_LOG[$name]}" 2>&1 &
  CAP_PID[$name]=$!
  CAP_EXIT[$name]=
}

# cap_start NAME BIN [EXTRA_FLAGS...]: spawn a single-member server on free ports with
# etcd's standard flags (+ EXTRA_FLAGS), data in $CAP_TMP/NAME/data. No wait.
# The member is named NAME, or $CAP_MEMBER_NAME if set.
cap_start() {
  local name=$1 bin=$2; shift 2
  local cp pp h=$CAP_HOST member=${CAP_MEMBER_NAME:-$name}
  read -r cp pp <<<"$(cap_ports 2)"
  [ -n "$pp" ] || { cap_err "could not pick free ports"; return 1; }
  cap_spawn "$name" "$h:$cp" "$bin" --name "$member" --data-dir "$CAP_TMP/$name/data" \
    --listen-client-urls "http://$h:$cp" --advertise-client-urls "http://$h:$cp" \
    --listen-peer-urls "http://$h:$pp" --initial-advertise-peer-urls "http://$h:$pp" \
    --initial-cluster "$member=http://$h:$pp" "$@"
  CAP_PEER[$name]=$h:$pp
}

# cap_up NAME BIN [EXTRA_FLAGS...]: cap_start + cap_wait_healthy; retries with new
# ports (twice) if the server died because a port was taken meanwhile.
cap_up() {
  local name=$1 attempt
  for attempt in 1 2 3; do
    cap_start "$@" || return 1
    cap_wait_healthy "$name" && return 0
    if [ "$attempt" -lt 3 ] && ! cap_alive "$name" &&
      grep -qi 'address already in use' "${CAP_LOG[$name]}"; then
      cap_say "$name: port taken, retrying on other ports"
      rm -rf "${CAP_DIR[$name]}/data"
      continue
    fi
    return 1
  done
  return 1
}

# cap_alive NAME: is the server process still running?
cap_alive() { [ -n "${CAP_PID[$1]:-}" ] && kill -0 "${CAP_PID[$1]}" 2>/dev/null; }

# cap_wait_healthy NAME [TIMEOUT]: wait until `etcdctl endpoint health` succeeds.
# Fails early (with the log's tail) if the process exits.
cap_wait_healthy() {
  local name=$1 limit=${2:-$CAP_HEALTH_TIMEOUT} start=$SECONDS
  while ((SECONDS - start < limit)); do
    if ! cap_alive "$name"; then
      wait "${CAP_PID[$name]}" 2>/dev/null
      CAP_EXIT[$name]=$?
      cap_err "$name exited (status ${CAP_EXIT[$name]}) before becoming healthy; log tail:"
      cap_log_tail "$name" 20 >&2
      CAP_PID[$name]=
      return 1
    fi
    if timeout 5 "$CAPSTAN_ETCDCTL" --endpoints="${CAP_EP[$name]}" --dial-timeout=1s \
      --command-timeout=2s "${CAP_CTL_TLS[@]}" endpoint health >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  cap_err "$name not healthy at ${CAP_EP[$name]} after ${limit}s; log tail:"
  cap_log_tail "$name" 20 >&2
  return 1
}

# cap_stop NAME [SIGNAL] [GRACE]: signal the server (TERM by default) and wait for it
# (SIGKILL after GRACE seconds, default 15). Returns 1 if it had to be SIGKILLed.
# Its exit status is left in CAP_EXIT[NAME].
cap_stop() {
  local name=$1 sig=${2:-TERM} grace=${3:-15} pid=${CAP_PID[$1]:-} rc=0 i
  [ -n "$pid" ] || return 0
  # (stderr of the group is discarded: bash reports killed jobs there)
  {
    if kill -0 "$pid"; then
      kill -s "$sig" "$pid"
      for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" || break
        sleep 0.1
      done
      if kill -0 "$pid"; then
        kill -s KILL "$pid"; rc=1
      fi
    fi
    wait "$pid"
    CAP_EXIT[$name]=$?
  } 2>/dev/null
  CAP_PID[$name]=
  return $rc
}

# cap_restart NAME: start the same command again (same data dir and ports); wait healthy.
cap_restart() {
  cap_stop "$1" TERM
  cap__launch "$1"
  cap_wait_healthy "$1"
}

# cap_ctl NAME ARGS...: etcdctl against server NAME, bounded in time.
cap_ctl() {
  local name=$1; shift
  timeout 20 "$CAPSTAN_ETCDCTL" --endpoints="${CAP_EP[$name]}" --dial-timeout=2s \
    --command-timeout=5s "${CAP_CTL_TLS[@]}" "$@"
}

# (awk, not sed: cluster.sh's names contain a slash, e.g. c/m1)
cap_log_tail() { tail -n "${2:-30}" "${CAP_LOG[$1]}" 2>/dev/null | awk -v p="  $1| " '{ print p $0 }'; }

# Assertions for e2e tests: count results, print PASS/FAIL lines, cap_finish exits.
cap_pass() { CAP_PASSES=$((CAP_PASSES + 1)); cap_say "PASS $*"; }
cap_fail() { CAP_FAILS=$((CAP_FAILS + 1)); cap_say "FAIL $*"; }
# cap_check DESCRIPTION CMD...: pass if CMD exits 0.
cap_check() {
  local desc=$1; shift
  if "$@"; then cap_pass "$desc"; else cap_fail "$desc"; fi
}
# cap_quiet CMD...: run CMD with its output discarded (for cap_check).
cap_quiet() { "$@" >/dev/null 2>&1; }
# cap_expect DESCRIPTION EXPECTED ACTUAL
cap_expect() {
  if [ "$2" == "$3" ]; then cap_pass "$1"
  else cap_fail "$1: expected [$2], got [$3]"; fi
}
# cap_finish: summary line; exit 1 if anything failed.
cap_finish() {
  cap_say "$CAP_PASSES passed, $CAP_FAILS failed"
  [ "$CAP_FAILS" = 0 ] || exit 1
  exit 0
}
# cap_skip REASON: exit 77 (the conventional "skipped" status scripts/test reports).
cap_skip() { cap_say "SKIP: $*"; exit 77; }
