# shellcheck shell=bash disable=SC2034  # (state read by the scripts sourcing this file)
# Differential TLS suites (tests/e2e/tls.sh, tls-cluster.sh): every case runs twice,
# first against the reference etcd, then against the binary under test, with the same
# flags, certificates, member names and ports (so member and cluster IDs agree), and
# the two transcripts (each command's description, its normalised output and exit
# status) must be identical. On top of common.sh (via cluster.sh) and tls-certs.sh.
#
#   . tests/lib/tls.sh
#   tls_setup                       # cap_init, reference binaries (else exit 77), certs
#   my_case() {                     # runs once per side: TLS_SIDE=ref|sut, TLS_BIN
#     tls_ports 2; cp=${TLS_P[0]}   # the same ports on both sides
#     tls_single s1 "https://$H:$cp" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}"
#     tls_wait s1 "https://$H:$cp" "${ROOT[@]}" || return 1
#     rec "put as root" c37 "https://$H:$cp" "${ROOT[@]}" put k v
#   }
#   tls_case my-case my_case        # both sides, then compare the transcripts
#
# Only what must differ is normalised (tls_norm): timestamps and callers of etcdctl's
# log lines, Go pointers, the client's ephemeral ports, proposal times; cases mask lease
# IDs, raft terms and remaining TTLs themselves.
#
# Environment (all optional):
#   CAPSTAN_TLS_REF_ETCD   reference etcd (default: etcd 3.7.3 built by
#                          tests/tools/build-etcd.sh, ~/.cache/capstan/bin/etcd-3.7.3/etcd)
#   CAPSTAN_TLS_ETCDCTL    etcdctl for the main cases (default: the 3.7.3 one beside it)
#   CAPSTAN_TLS_ETCDCTL34  older etcdctl for a subset (default /usr/bin/etcdctl, Debian's
#                          3.4; the subset is skipped if it is missing)
#   TLS_CASES              space-separated case names to run (default: all)

# shellcheck source=tests/lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"   # (common.sh, and cl_norm_* filters)
# shellcheck source=tests/lib/tls-certs.sh
. "$(dirname "${BASH_SOURCE[0]}")/tls-certs.sh"

H=127.0.0.1
TLS_REF_DIR=$(bash "$CAP_LIB_DIR/../tools/build-etcd.sh" --print-dir 2>/dev/null || echo "$HOME/.cache/capstan/bin/etcd-3.7.3")
: "${CAPSTAN_TLS_REF_ETCD:=$TLS_REF_DIR/etcd}"
: "${CAPSTAN_TLS_ETCDCTL:=$TLS_REF_DIR/etcdctl}"
: "${CAPSTAN_TLS_ETCDCTL34:=/usr/bin/etcdctl}"
TLS_REF=$CAPSTAN_TLS_REF_ETCD
TLS_CTL=$CAPSTAN_TLS_ETCDCTL
TLS_CTL34=$CAPSTAN_TLS_ETCDCTL34
# The harness's own health probes (cap_wait_healthy) use this etcdctl too.
CAPSTAN_ETCDCTL=$TLS_CTL
# (common.sh exports ETCDCTL_API=3 for etcdctl 3.4; etcdctl 3.7 warns about it)
unset ETCDCTL_API

TLS_CASE= TLS_SIDE= TLS_BIN= TLS_TR=/dev/null
TLS_P=()
declare -gA TLS_CASE_PORTS=()
TLS_CASE_FAILS=()   # cases whose transcripts differ

# tls_is_etcd BIN: BIN is an etcd (its --version does not say capstan).
tls_is_etcd() { ! timeout 10 "$1" --version 2>&1 | grep -q '^capstan Version'; }

# tls_setup: cap_init; skip (77) without the reference binaries or tools; certificates
# in $C; the client flag sets ROOT, ALICE, FOREIGN, REVOKED, OTHERCN, NOCERT and
# the server flag set TLS_SERVER_FLAGS.
tls_setup() {
  cap_require_bin "$CAPSTAN_BIN" || exit 1
  local t
  for t in openssl curl python3; do
    command -v "$t" >/dev/null 2>&1 || cap_skip "no $t"
  done
  if [ ! -x "$TLS_REF" ] || [ ! -x "$TLS_CTL" ]; then
    cap_skip "no reference etcd/etcdctl at $TLS_REF / $TLS_CTL (build them: tests/tools/build-etcd.sh)"
  fi
  cap_init
  C=$CAP_TMP/certs
  local t0=$SECONDS
  tls_certs_gen "$C" m1 m2 m3 m4 || { cap_fail "generating certificates"; cap_finish; }
  cap_say "certificates in $C ($((SECONDS - t0)) s); reference $TLS_REF, etcdctl $TLS_CTL, under test $CAPSTAN_BIN"
  ROOT=(--cacert "$C/ca.pem" --cert "$C/client-root.pem" --key "$C/client-root-key.pem")
  ALICE=(--cacert "$C/ca.pem" --cert "$C/client-alice.pem" --key "$C/client-alice-key.pem")
  FOREIGN=(--cacert "$C/ca.pem" --cert "$C/client-foreign.pem" --key "$C/client-foreign-key.pem")
  REVOKED=(--cacert "$C/ca.pem" --cert "$C/client-revoked.pem" --key "$C/client-revoked-key.pem")
  OTHERCN=(--cacert "$C/ca.pem" --cert "$C/client-other-cn.pem" --key "$C/client-other-cn-key.pem")
  NOCERT=(--cacert "$C/ca.pem")
  CURL_ROOT=(--cacert "$C/ca.pem" --cert "$C/client-root.pem" --key "$C/client-root-key.pem")
  TLS_SERVER_FLAGS=(--cert-file "$C/server.pem" --key-file "$C/server-key.pem"
    --trusted-ca-file "$C/ca.pem" --client-cert-auth)
}

# tls_want CASE: should this case run (TLS_CASES)?
tls_want() { [ -z "${TLS_CASES:-}" ] || [[ " $TLS_CASES " == *" $1 "* ]]; }

# tls_case NAME FUNC: FUNC against the reference (TLS_SIDE=ref), then against the binary
# under test (sut); every server FUNC started is stopped after each side; the
# transcripts must be identical.
# Differences from etcd that Capstan keeps on purpose (README, "TLS"), rewritten to
# etcd's text in the transcript under test before comparing, so that anything else
# still fails the case:
#  - TLS 1.2 without a client certificate: rustls' alert is certificate_required, Go's
#    handshake_failure (rustls picks the alert itself);
#  - a revoked client certificate is refused in the handshake (certificate_revoked);
#    etcd completes the handshake and then closes the connection;
#  - auto-TLS keys are P-256 (ring, rustls' provider, does not sign with P-521).
TLS_ACCEPTED=(
  -e 's/^curl: TLS alert: alert certificate required$/curl: TLS alert: alert handshake failure/'
  -e 's/^curl: TLS alert: alert certificate revoked$/curl: connection closed by the server/'
  -e 's/^( *)Public-Key: \(256 bit\)$/\1Public-Key: (521 bit)/'
  -e 's/^( *)NIST CURVE: P-256$/\1NIST CURVE: P-521/'
)

tls_case() {
  local name=$1 fn=$2 side t0
  tls_want "$name" || return 0
  TLS_CASE=$name
  for side in ref sut; do
    TLS_SIDE=$side
    if [ $side = ref ]; then TLS_BIN=$TLS_REF; else TLS_BIN=$CAPSTAN_BIN; fi
    TLS_TR=$CAP_TMP/$name.$side.tr
    : >"$TLS_TR"
    t0=$SECONDS
    "$fn"
    tls_stop_side
    cap_say "$name/$side: done in $((SECONDS - t0)) s"
  done
  TLS_TR=/dev/null
  if ! tls_is_etcd "$CAPSTAN_BIN"; then
    sed -E "${TLS_ACCEPTED[@]}" "$CAP_TMP/$name.sut.tr" >"$CAP_TMP/$name.sut.accepted"
    if ! cmp -s "$CAP_TMP/$name.sut.tr" "$CAP_TMP/$name.sut.accepted"; then
      cap_say "$name: $(diff "$CAP_TMP/$name.sut.tr" "$CAP_TMP/$name.sut.accepted" | grep -c '^<') line(s) are accepted differences (TLS_ACCEPTED)"
    fi
    mv "$CAP_TMP/$name.sut.accepted" "$CAP_TMP/$name.sut.tr"
  fi
  if diff -u --label "$name: reference ($TLS_REF)" --label "$name: under test ($CAPSTAN_BIN)" \
    "$CAP_TMP/$name.ref.tr" "$CAP_TMP/$name.sut.tr" >"$CAP_TMP/$name.diff"; then
    cap_pass "$name: transcript identical to the reference ($(grep -c '^\$ ' "$CAP_TMP/$name.ref.tr") commands)"
  else
    cap_fail "$name: transcript differs from the reference:"
    head -n 120 "$CAP_TMP/$name.diff" | sed 's/^/    /'
    TLS_CASE_FAILS+=("$name")
  fi
}

# tls_only_sut NAME FUNC: a case that runs against the binary under test only.
tls_only_sut() {
  local name=$1 fn=$2 t0=$SECONDS
  tls_want "$name" || return 0
  TLS_CASE=$name TLS_SIDE=sut TLS_BIN=$CAPSTAN_BIN TLS_TR=$CAP_TMP/$name.sut.tr
  : >"$TLS_TR"
  "$fn"
  tls_stop_side
  TLS_TR=/dev/null
  cap_say "$name/sut: done in $((SECONDS - t0)) s"
}

# tls_ports N: TLS_P = N free ports, the same on both sides of a case.
tls_ports() {
  if [ "$TLS_SIDE" = ref ] || [ -z "${TLS_CASE_PORTS[$TLS_CASE]:-}" ]; then
    TLS_CASE_PORTS[$TLS_CASE]=$(cap_ports "$1")
  fi
  read -r -a TLS_P <<<"${TLS_CASE_PORTS[$TLS_CASE]}"
  [ "${#TLS_P[@]}" -ge "$1" ] || { cap_err "could not pick $1 free ports"; return 1; }
}

# tls_key NAME: the harness key of server NAME in the current case and side.
tls_key() { echo "$TLS_CASE-$TLS_SIDE-$1"; }
tls_log() { echo "${CAP_LOG[$(tls_key "$1")]}"; }
tls_dir() { echo "$CAP_TMP/$(tls_key "$1")"; }
tls_alive() { cap_alive "$(tls_key "$1")"; }

# tls_spawn NAME ENDPOINT ARGS...: start $TLS_BIN ARGS (cap_spawn; no wait).
tls_spawn() { local n=$1 ep=$2; shift 2; cap_spawn "$(tls_key "$n")" "$ep" "$TLS_BIN" "$@"; }

# tls_single NAME CLIENT_URLS PEER_PORT [FLAGS...]: a one-member cluster named NAME
# listening and advertising CLIENT_URLS, plain-text peer URL on PEER_PORT.
tls_single() {
  local n=$1 urls=$2 pp=$3; shift 3
  local first=${urls%%,*}
  tls_spawn "$n" "${first#*://}" --name "$n" --data-dir "$(tls_dir "$n")/data" \
    --listen-client-urls "$urls" --advertise-client-urls "$urls" \
    --listen-peer-urls "http://$H:$pp" --initial-advertise-peer-urls "http://$H:$pp" \
    --initial-cluster "$n=http://$H:$pp" "$@"
}

# tls_wait NAME URL [ETCDCTL_FLAGS...]: wait (30 s) until `endpoint health` through URL
# with these flags succeeds; fails early if the server exits.
tls_wait() {
  local n=$1 url=$2 k start=$SECONDS; shift 2
  k=$(tls_key "$n")
  while ((SECONDS - start < CAP_HEALTH_TIMEOUT)); do
    if ! cap_alive "$k"; then
      wait "${CAP_PID[$k]}" 2>/dev/null
      CAP_EXIT[$k]=$?
      cap_err "$k exited (status ${CAP_EXIT[$k]}) before becoming healthy; log tail:"
      cap_log_tail "$k" 20 >&2
      CAP_PID[$k]=
      return 1
    fi
    timeout 5 "$TLS_CTL" --endpoints="$url" --dial-timeout=1s --command-timeout=2s "$@" \
      endpoint health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  cap_err "$k not healthy at $url after ${CAP_HEALTH_TIMEOUT}s; log tail:"
  cap_log_tail "$k" 20 >&2
  return 1
}

# tls_restart NAME URL [ETCDCTL_FLAGS...]: stop server NAME (TERM) and start the same
# command again (same flags, data dir and ports), then tls_wait through URL with these
# flags (e.g. --user root:PASSWORD once authentication is enabled).
tls_restart() {
  local k
  k=$(tls_key "$1")
  cap_stop "$k" TERM 10
  cap__launch "$k"
  tls_wait "$@"
}

# tls_wait_exit NAME SECONDS: wait until server NAME exits; its status in TLS_EXIT
# ("running" if it did not exit in time; it is then left running).
tls_wait_exit() {
  local k start=$SECONDS
  k=$(tls_key "$1")
  TLS_EXIT=running
  while ((SECONDS - start < $2)); do
    if ! cap_alive "$k"; then
      wait "${CAP_PID[$k]}" 2>/dev/null
      TLS_EXIT=$?
      CAP_EXIT[$k]=$TLS_EXIT CAP_PID[$k]=
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# tls_stop_side: stop every server of the current case and side (in parallel).
tls_stop_side() {
  local k pre="$TLS_CASE-$TLS_SIDE-"
  for k in "${!CAP_PID[@]}"; do
    [[ $k == "$pre"* ]] && [ -n "${CAP_PID[$k]}" ] && kill -s TERM "${CAP_PID[$k]}" 2>/dev/null
  done
  for k in "${!CAP_PID[@]}"; do
    [[ $k == "$pre"* ]] && cap_stop "$k" TERM 10
  done
  return 0
}

# c37 URL ARGS...: etcdctl (3.7) against URL; refusals are quick (2 s dial, 3 s command).
c37() { local u=$1; shift; timeout 20 "$TLS_CTL" --endpoints="$u" --dial-timeout=2s --command-timeout=3s "$@"; }
# c34 URL ARGS...: the older etcdctl.
c34() { local u=$1; shift; ETCDCTL_API=3 timeout 20 "$TLS_CTL34" --endpoints="$u" --dial-timeout=2s --command-timeout=3s "$@"; }
# ccurl ARGS...: curl, bounded. A refusal after the handshake reaches curl as a reset,
# an unclean close or a TLS alert depending on timing: printed as "curl: connection
# closed by the server" (or "curl: TLS alert: ..."), status 1 for every failure.
ccurl() {
  local out rc
  out=$(curl -sS --max-time 5 "$@" 2>&1)
  rc=$?
  if [ $rc = 0 ]; then printf '%s\n' "$out"; return 0; fi
  case $out in
    *alert*) printf 'curl: TLS alert: %s\n' "$(grep -oE 'alert [a-z0-9 ]+' <<<"$out" | head -n 1 | sed 's/ *$//')" ;;
    *"reset by peer"* | *"not connected"* | *"not closed cleanly"* | *"Send failure"* | *"Recv failure"* | *"unexpected eof"* | *"SSL_ERROR_SYSCALL"*)
      echo "curl: connection closed by the server" ;;
    *) printf '%s\n' "$out" ;;
  esac
  return 1
}

# tls_norm: what must differ between two runs (see the top of the file). When a server
# refuses a client after (TLS 1.3) or while its handshake completes, whether etcdctl
# sees the server's alert, EOF, a reset or a broken pipe depends on timing: all are
# printed as <connection closed by the server> (the refusal suites probe alerts with
# curl --tls-max 1.2, where the alert is part of the handshake).
TLS_CLOSED='<connection closed by the server>'
tls_norm() {
  sed -E -e 's/"ts":"[^"]*",//; s/"caller":"[^"]*",//; s/"target":"[^"]*",//' \
    -e "s/connection error: desc = \\\\\"error reading server preface: (EOF|connection reset by peer|remote error: tls: [a-z ]+)\\\\\"/$TLS_CLOSED/" \
    -e "s/write tcp [0-9.]+:([0-9]+|<eph>)->[0-9.]+:[0-9]+: write: (broken pipe|connection reset by peer)/$TLS_CLOSED/" \
    -e 's/0x[0-9a-f]{6,}/0x<ptr>/g' \
    -e 's/([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+):[0-9]+->/\1:<eph>->/g' \
    -e 's/(local|remote)( addr)?[ =]"?127\.0\.0\.1:[0-9]+/\1\2 127.0.0.1:<eph>/g' \
    -e 's/took = [0-9.]+[a-zµ]+/took = <t>/g' \
    -e 's/, errno [0-9]+$//'
}
# Case-specific filters (for rec --norm):
tls_norm_lease() { sed -E 's/\b[0-9a-f]{16}\b/<lease>/g; s/remaining\([0-9-]+s\)/remaining(<ttl>)/'; }
tls_norm_term() { sed -E 's/"raft_term":"?[0-9]+"?/"raft_term":<term>/g'; }
# tls_norm_table COLUMN...: a table (etcdctl 3.7 draws boxes, 3.4 pipes) reduced to
# these columns, one "| a | b |" line per row.
tls_norm_table() {
  python3 -c 'import re, sys
keep = sys.argv[1:]
hdr = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line or line[0] not in "|\u2502":
        if line and line[0] not in "+\u250c\u251c\u2514":
            print(line)
        continue
    cells = [c.strip() for c in re.split("[|\u2502]", line.strip()[1:-1])]
    if hdr is None:
        hdr = cells
        idx = [hdr.index(k) for k in keep if k in hdr]
    print("| " + " | ".join(cells[i] for i in idx) + " |")' "$@"
}
# endpoint status -w table: what does not depend on timing or the implementation's sizes.
tls_norm_status() { tls_norm_table ENDPOINT ID "IS LEARNER" ERRORS; }
tls_norm_members() { tls_norm_table ID STATUS NAME "PEER ADDRS" "CLIENT ADDRS" "IS LEARNER"; }
tls_norm_health() { sed -E 's/took = [0-9.]+[a-zµ]+/took = <t>/' | sort; }

# rec DESC [--norm FILTER] CMD...: run CMD (stdin /dev/null); into the transcript go
# "$ DESC", its output (stdout+stderr, tls_norm, then FILTER) and "[exit N]".
# Raw output in TR_OUT, status in TR_RC.
rec() {
  local desc=$1 filter=cat; shift
  if [ "${1:-}" = --norm ]; then filter=$2; shift 2; fi
  TR_OUT=$("$@" 2>&1 </dev/null)
  TR_RC=$?
  {
    printf '$ %s\n' "$desc"
    [ -n "$TR_OUT" ] && printf '%s\n' "$TR_OUT" | tls_norm | $filter
    printf '[exit %s]\n' "$TR_RC"
  } >>"$TLS_TR"
  return "$TR_RC"
}
# rec_note TEXT: a line of the transcript (a fact both sides must agree on).
rec_note() { printf '%s\n' "$*" >>"$TLS_TR"; }

# Checks, labelled with the case and side.
t_expect() { cap_expect "$TLS_CASE/$TLS_SIDE: $1" "$2" "$3"; }
t_check() { local d=$1; shift; cap_check "$TLS_CASE/$TLS_SIDE: $d" "$@"; }
t_pass() { cap_pass "$TLS_CASE/$TLS_SIDE: $*"; }
t_fail() { cap_fail "$TLS_CASE/$TLS_SIDE: $*"; }

# tls_serial_of HOST:PORT [s_client flags]: serial of the certificate a new connection
# is served (empty if the handshake fails).
tls_serial_of() {
  local ep=$1; shift
  timeout 10 openssl s_client -connect "$ep" -showcerts "$@" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# tls_log_has NAME REGEX...: does the log of server NAME match one of the (grep -E,
# case-insensitive) REGEXes? Only lines after the mark set by tls_log_mark NAME count.
declare -gA TLS_LOG_MARK=()
tls_log_mark() { TLS_LOG_MARK[$1]=$(wc -l <"$(tls_log "$1")" 2>/dev/null || echo 0); }
tls_log_since() { tail -n "+$((${TLS_LOG_MARK[$1]:-0} + 1))" "$(tls_log "$1")" 2>/dev/null; }
tls_log_has() {
  local n=$1 r; shift
  for r in "$@"; do tls_log_since "$n" | grep -Eqi -- "$r" && return 0; done
  return 1
}

# tls_summary: the closing lines (cases with differing transcripts), then cap_finish.
tls_summary() {
  if [ ${#TLS_CASE_FAILS[@]} -gt 0 ]; then
    cap_say "cases whose transcript differs from etcd's: ${TLS_CASE_FAILS[*]} (diffs in $CAP_TMP/*.diff)"
  fi
  cap_finish
}

# tls_refuse SCHEME IDX DESC SENTENCE FLAGS...: start a member with FLAGS (a SCHEME://
# client URL on the IDX-th port pair); it must exit; its exit status and whether
# SENTENCE (where <cp> stands for the client port) is in its log go into the transcript.
tls_refuse() {
  local scheme=$1 i=$2 desc=$3 sentence=$4; shift 4
  local cp=${TLS_P[$((2 * i))]} pp=${TLS_P[$((2 * i + 1))]} n="r$i"
  sentence=${sentence//<cp>/$cp}
  tls_single "$n" "$scheme://$H:$cp" "$pp" "$@"
  tls_wait_exit "$n" 15 || cap_stop "$(tls_key "$n")" TERM 5
  rec_note "\$ start: $desc"
  rec_note "exit status: $TLS_EXIT"
  t_check "refused to start: $desc (exit status $TLS_EXIT)" test "$TLS_EXIT" != running -a "$TLS_EXIT" != 0
  if sed 's/\\"/"/g' "$(tls_log "$n")" | grep -qF -- "$sentence"; then
    rec_note "log says: $sentence"
    t_pass "the log of '$desc' says: $sentence"
  else
    rec_note "log does not say: $sentence"
    t_fail "the log of '$desc' does not say: $sentence; it ends with:"
    cap_log_tail "$(tls_key "$n")" 8
  fi
}
