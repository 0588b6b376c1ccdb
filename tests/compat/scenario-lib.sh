# shellcheck shell=bash
# Helpers for compat scenarios. A scenario is run as
#   bash scenarios/NAME.sh ENDPOINT WORKDIR
# and sources this file first:
#   . "$(dirname "$0")/../scenario-lib.sh" "$@"
# It prints a transcript: for every command a line "$ <command>", then the command's
# output (stdout and stderr together) and "[exit N]". run.sh compares transcripts of
# the reference etcd and of Capstan block by block after normalize.py.
#
# Scenarios must be deterministic against etcd itself (check: run.sh --ref-only):
# never print times, random values or anything that depends on scheduling.

set -u
EP=${1:?usage: scenario ENDPOINT WORKDIR}
W=${2:?usage: scenario ENDPOINT WORKDIR}
mkdir -p "$W"
cd "$W" || exit 1
SCEN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ETCDCTL=${CAPSTAN_ETCDCTL:-etcdctl}
# A client environment from the caller must not change what etcdctl does.
for _v in $(compgen -e); do case $_v in ETCDCTL_*) unset "$_v" ;; esac; done
unset _v
export ETCDCTL_API=3
LEASE=
declare -A _WATCH_PID=() _WATCH_ARGS=()
trap '_scen_cleanup' EXIT

_scen_cleanup() {
  local p
  for p in "${_WATCH_PID[@]}"; do kill "$p" 2>/dev/null; done
}

# _show ARGS...: the arguments as a readable shell command line.
_show() {
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+^-]+$ ]]; then out+=("$a")
    else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  printf '%s' "${out[*]}"
}

# _ctl ARGS...: etcdctl against the server, bounded. If nothing listens on the
# endpoint any more (the server died), fail at once instead of waiting for dial
# timeouts, so that a crashed server does not make the scenario run into its limit.
_ctl() {
  if ! (exec 3<>"/dev/tcp/${EP%:*}/${EP##*:}") 2>/dev/null; then
    echo "Error: no server listening on $EP"
    return 99
  fi
  timeout 20 "$ETCDCTL" --endpoints="$EP" --dial-timeout=3s --command-timeout=5s "$@"
}

# _out STATUS OUTPUT: print a command's output (if any) and "[exit STATUS]".
_out() {
  [ -n "$2" ] && printf '%s\n' "$2"
  printf '[exit %s]\n' "$1"
}

# c ARGS...: run `etcdctl ARGS` and print the block.
c() {
  local out rc
  printf '$ etcdctl %s\n' "$(_show "$@")"
  out=$(_ctl "$@" </dev/null 2>&1); rc=$?
  _out "$rc" "$out"
}

# cs ARGS...: like c, for output whose order etcd leaves undefined: compared sorted.
cs() {
  local out rc
  printf '$ etcdctl %s  (output sorted)\n' "$(_show "$@")"
  out=$(_ctl "$@" </dev/null 2>&1); rc=$?
  _out "$rc" "$out"
}

# cin INPUT ARGS...: run `etcdctl ARGS` with INPUT on stdin (e.g. txn); the input is
# printed under the command, each line prefixed with "> ".
cin() {
  local input=$1; shift
  printf '$ etcdctl %s <<EOF\n' "$(_show "$@")"
  printf '%s\n' "$input" | sed 's/^/> /'
  printf '> EOF\n'
  local out rc
  out=$(printf '%s\n' "$input" | _ctl "$@" 2>&1); rc=$?
  _out "$rc" "$out"
}

# cfile FILE ARGS...: run `etcdctl ARGS < FILE`.
cfile() {
  local file=$1; shift
  printf '$ etcdctl %s < %s (%s bytes)\n' "$(_show "$@")" "$file" "$(wc -c <"$file" | tr -d ' ')"
  local out rc
  out=$(_ctl "$@" <"$file" 2>&1); rc=$?
  _out "$rc" "$out"
}

# grant TTL [ARGS...]: `etcdctl lease grant TTL`, printed; the lease ID goes to $LEASE.
grant() {
  local out rc
  out=$(_ctl lease grant "$@" 2>&1 </dev/null); rc=$?
  printf '$ etcdctl %s\n' "$(_show lease grant "$@")"
  _out "$rc" "$out"
  LEASE=$(printf '%s\n' "$out" | sed -n 's/^lease \([0-9a-f]*\) granted.*/\1/p' | head -n1)
  if [ -z "$LEASE" ]; then # -w json / fields: decimal ID
    local id
    id=$(printf '%s\n' "$out" | sed -n 's/.*"ID"[ :]*\([0-9][0-9]*\).*/\1/p' | head -n1)
    [ -n "$id" ] && LEASE=$(printf '%x' "$id")
  fi
}

# check LABEL CMD...: run a shell command (not etcdctl) and print it as a block, for
# facts derived from several outputs.
check() {
  local label=$1; shift
  printf '$ check %s\n' "$label"
  local out rc
  out=$("$@" 2>&1); rc=$?
  _out "$rc" "$out"
}

# watch_bg NAME ARGS...: start `etcdctl watch ARGS` in the background and give it
# WATCH_SETTLE seconds (default 1.5) to establish before later writes; watch_end
# prints what it saw. Prefer --rev=<next revision> where the scenario allows: a
# watch that starts late then replays the same events instead of missing them.
watch_bg() {
  watch_rev "$@"
  sleep "${WATCH_SETTLE:-1.5}"
}

# watch_rev NAME ARGS...: like watch_bg without the pause, for watches that only
# replay history (--rev at or below the current revision).
watch_rev() {
  local name=$1; shift
  _WATCH_ARGS[$name]=$(_show "$@")
  : >"$W/watch-$name.out"  # exists before watch_end looks at it
  timeout 60 "$ETCDCTL" --endpoints="$EP" --dial-timeout=3s watch "$@" \
    >"$W/watch-$name.out" 2>&1 </dev/null &
  _WATCH_PID[$name]=$!
}

# watch_end NAME LINES [MAXWAIT]: wait until the watch printed LINES lines (or MAXWAIT
# seconds, default 8, passed), then 0.5 s more for anything unexpected; stop it and
# print the block. "[exit N]" if the watch ended by itself, "[watch stopped]" if not.
watch_end() {
  local name=$1 lines=$2 maxwait=${3:-8} f="$W/watch-$1.out" pid=${_WATCH_PID[$1]} i rc
  for ((i = 0; i < maxwait * 10; i++)); do
    [ "$(wc -l <"$f")" -ge "$lines" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.5
  printf '$ etcdctl watch %s  (in the background)\n' "${_WATCH_ARGS[$name]}"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    awk 1 "$f"  # (adds a missing final newline)
    printf '[watch stopped]\n'
  else
    wait "$pid" 2>/dev/null; rc=$?
    awk 1 "$f"
    printf '[exit %s]\n' "$rc"
  fi
  unset "_WATCH_PID[$name]"
}

# gw [--text] [--stream N] METHOD PATH [JSON-BODY]: a request to the HTTP/JSON gateway on the client port (options: see gw.py);
# prints the response JSON with sorted keys and "[http STATUS]".
gw() {
  local opts=()
  while [[ ${1:-} == --* ]]; do
    opts+=("$1")
    if [ "$1" = --stream ]; then opts+=("$2"); shift; fi
    shift
  done
  printf '$ http %s %s %s%s\n' "$1" "$2" "${3:-}" "${opts[*]:+  (gw.py ${opts[*]})}"
  python3 "$SCEN_LIB_DIR/gw.py" "${opts[@]}" "$EP" "$@" 2>&1
}

# b64 STRING: base64 of STRING (keys and values in gateway requests are bytes).
b64() { printf '%s' "$1" | base64 -w0; }

# rev: the store's current revision, from a serializable-free get -w json.
rev() {
  _ctl get __capstan_probe__ -w json </dev/null 2>/dev/null |
    sed -n 's/.*"revision":\([0-9]*\).*/\1/p'
}
