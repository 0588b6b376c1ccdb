#!/usr/bin/env bash
# shellcheck disable=SC2317 # (cases and cells are functions called through tls_case and rec)
# Authentication and RBAC (users, roles, permissions, tokens), differential: every case
# runs against the reference etcd (3.7.3, built by tests/tools/build-etcd.sh) and then
# against $CAPSTAN_BIN with the same flags, names and ports (so member and cluster IDs
# agree), and what etcdctl 3.7.3 (and Debian's 3.4 for a subset) prints, with its exit
# status, must be identical (the framework is tests/lib/tls.sh). Normalised on top of
# tls_norm, because it differs from run to run even between two etcds: the client's
# ephemeral port in etcdctl's warning lines; lease IDs (etcd derives them from the
# clock: each is learned at its grant and printed by name, e.g. <Lk>); remaining TTLs;
# raft terms in JSON; durations ("took ..."); the hash of `endpoint hashkv` (the hashed
# values hold the lease IDs); the order of `endpoint health`'s lines (its result and
# the client's warning interleave by timing: sorted); `endpoint status` reduced to
# ENDPOINT, ID, IS LEARNER, ERRORS. For readability, 10 KB names are printed as <N x>
# (their length) and NUL bytes as \0 (a command substitution would drop them).
#
# Cases (AUTH_CASES="a b" or TLS_CASES="a b" runs a subset), one single-member server
# each unless said otherwise:
#   mgmt       user/role management with etcdctl 3.7.3, auth disabled then enabled:
#              user add (--new-user-password, user:pass, a password with a colon,
#              --no-password, a 72- and a 73-byte password), user get [--detail], user
#              list, user passwd (stdin), user grant-role/revoke-role, user delete, role
#              add/get/list/delete, role grant-permission (key, --prefix, [key, end),
#              --from-key, "" --prefix, read/write/readwrite, granting again changes the
#              type) and revoke-permission (key, --prefix, --from-key, range); errors:
#              empty names, duplicates, unknown user/role, role or permission not
#              granted, 10 KB names; auth status, auth enable without a root user (fails),
#              with a root user lacking the root role (etcdctl creates and grants it),
#              anonymous/wrong password/unknown user/no-password user once enabled,
#              deleting the root user, revoking or deleting the root role while enabled
#              (invalid auth management), auth disable; a few commands with -w json; a
#              subset with etcdctl 3.4.
#   matrix     the permission matrix (--bcrypt-cost 4, to keep 500+ authentications
#              quick): users none (no role), ro (read k), wo (write k), rw (readwrite
#              k), pfx (readwrite prefix p/), rng (read [r1, r5)), fk (read from-key
#              z), root; and anon (no --user), badpw (root, wrong password), ghost
#              (unknown user). Each row starts from the same keys (root deletes all,
#              then puts them in one txn) and two root leases, Lk on k and Ls on s (only
#              root may write s); then every user runs the same cells: auth status,
#              user get/role get of its own, user and role list; gets (key, --prefix,
#              ranges inside/overlapping/outside a granted range, --from-key); leases
#              (grant, timetolive [--keys] of Lk and Ls, keep-alive --once, list, revoke
#              of Ls and of Lk); watches (key, prefix, range; 2 s each, from the row's
#              first revision); txns (compares on k or on another key; put/get/del in
#              either branch: all branches are checked); put/del (--prev-kv needs read
#              too, prefixes, ranges); member list, endpoint status/health/hashkv, alarm
#              list, compaction, defrag, snapshot save (its exit status and error line
#              only), member add (not as root: nothing may really be added), member
#              update of an unknown ID. The number of cells is printed ("matrix: N
#              cells, all equal", or which differ).
#   revision   AuthRevision (auth status) after each mutation, after failed and repeated
#              ones (no bump where etcd does not bump), auth enable/disable; then after
#              restarts on the same data dir (enabled, then disabled): revision, users,
#              roles, permissions, passwords and the enabled state are kept.
#   cn         client-certificate CN as the user (--client-cert-auth; certificates of
#              tests/lib/tls-certs.sh: CN root, alice, mallory): with auth enabled and no
#              --user, root's certificate can administer, alice's only what her role
#              allows (also a watch), mallory (no such user) nothing; a --user token wins
#              over the CN (both ways), a wrong password is not rescued by the CN;
#              etcdctl 3.4 with alice's certificate; after auth disable, anything goes.
#   jwt        --auth-token jwt with RS256 (ttl=2s: a watch created on a session whose
#              token has expired is cancelled with "invalid auth token" while the
#              session's older watches go on) and ES256 keys made by openssl; a
#              verify-only server (pub-key only) cannot issue tokens; refused --auth-token
#              strings (exit status, and "invalid auth options" in both logs): an unknown
#              type, jwt without options, a missing key file, an unknown sign method, a
#              bad ttl.
#   token-ttl  simple tokens with --auth-token-ttl 2, against the default TTL: etcdctl
#              authenticates once per command, but `etcdctl watch -i` keeps its token
#              for the session: after 4.5 s idle a new watch on it is cancelled ("invalid
#              auth token"); with the default TTL it is not.
#
# usage: tests/e2e/auth.sh   (CAPSTAN_BIN selects the server; CAPSTAN_BIN=<etcd 3.7.3>
#        checks the suite itself). Skipped (77) without the reference etcd 3.7.3.
# timeout: 600
set -u
CAP_TEST_NAME=auth
# shellcheck source=tests/lib/tls.sh
. "$(dirname "$0")/../lib/tls.sh"
: "${TLS_CASES:=${AUTH_CASES:-}}"
command -v perl >/dev/null 2>&1 || cap_skip "no perl"
tls_setup

AU=                       # client URL of the current case's server
ROOTPW=(--user root:rootpw)
MATRIX_SUMMARY=

# --- helpers -----------------------------------------------------------------------------
# auth_begin: per case and side, the file of learned lease IDs ("ID NAME" lines).
auth_begin() {
  AUTH_LEASES=$CAP_TMP/$TLS_CASE.$TLS_SIDE.leases
  : >"$AUTH_LEASES"
}
# auth_learn ID NAME: print lease ID as <NAME> from now on (also its decimal form).
auth_learn() { [ -n "$1" ] && echo "$1 $2" >>"$AUTH_LEASES"; }

# auth_norm: the filter of every command (after tls_norm).
auth_norm() {
  AUTH_LEASES_FILE=${AUTH_LEASES:-} perl -pe '
    BEGIN {
      our %m;
      if (open(my $f, "<", $ENV{AUTH_LEASES_FILE})) {
        while (<$f>) {
          my ($id, $n) = split;
          next unless defined $n;
          $m{$id} = $n;
          $m{sprintf("%d", hex($id))} = $n;
        }
      }
    }
    s/LocalAddr: \x27[0-9.]+:[0-9]+\x27/LocalAddr: <eph>/g;
    s/remaining\(-?[0-9]+s\)/remaining(<ttl>)/g;
    s/took [0-9.]+(?:ns|µs|us|ms|s|m)\b/took <t>/g;
    s/"raft_term":"?[0-9]+"?/"raft_term":<term>/g;
    s/(x{64,})/"<" . length($1) . " x>"/ge;
    s/\b([0-9a-f]{2,20})\b/exists $m{$1} ? "<$m{$1}>" : $1/ge if %m;
  '
}
auth_norm_status() { auth_norm | tls_norm_status; }
auth_norm_health() { auth_norm | tls_norm_health; }
auth_norm_hash() { auth_norm | sed -E 's/^([^ ,]+), [0-9]+, ([0-9]+)$/\1, <hash>, \2/'; }
# snapshot save: only the error line and the final sentence (its log lines are the
# client's progress messages).
auth_norm_snap() { auth_norm | grep -E '^(Error|Snapshot saved at)' || true; }

# auth_desc ARGS...: the command line as the transcript shows it (certificate flags as
# [cert NAME], the temp dir as <tmp>, long names and lease IDs normalised).
auth_desc() {
  printf '%s\n' "$*" | sed -E \
    -e "s#--cacert [^ ]*/ca\\.pem --cert [^ ]*/client-([a-z-]+)\\.pem --key [^ ]*/client-[a-z-]+-key\\.pem#[cert \\1]#g" \
    -e "s#--cacert [^ ]*/ca\\.pem#[ca only]#g" -e "s#$CAP_TMP/#<tmp>/#g" | auth_norm
}

# vis CMD...: CMD with NUL bytes shown as \0 (etcdctl prints the key of a permission
# on "" --prefix as a NUL byte, which a command substitution would drop).
vis() { "$@" 2>&1 | sed 's/\x00/\\0/g'; return "${PIPESTATUS[0]}"; }
# e ARGS...: etcdctl 3.7 ARGS against $AU, recorded. e34: etcdctl 3.4.
e() { rec "$(auth_desc "$@")" --norm auth_norm vis c37 "$AU" "$@"; }
e34() { rec "etcdctl 3.4: $(auth_desc "$@")" --norm auth_norm vis c34 "$AU" "$@"; }
# ein INPUT ARGS...: e with INPUT on etcdctl's stdin (user passwd --interactive=false).
ctl_in() { local in=$1; shift; printf '%s' "$in" | c37 "$AU" "$@"; }
ein() {
  local in=$1; shift
  rec "$(auth_desc "$@") <<< $(printf '%s' "$in" | tr '\n' '|')" --norm auth_norm ctl_in "$in" "$@"
}
# rootq ARGS...: etcdctl as root, not recorded (set-up steps whose effect is recorded
# by the commands that follow).
rootq() { c37 "$AU" "${ROOTPW[@]}" "$@"; }
# grant_learn NAME FLAGS... lease grant ARGS: a lease grant whose ID is learned as NAME
# (prints etcdctl's output: usable under rec).
grant_learn() {
  local name=$1 out rc; shift
  out=$(c37 "$AU" "$@" 2>&1)
  rc=$?
  auth_learn "$(awk '/^lease [0-9a-f]+ granted/ {print $2}' <<<"$out")" "$name"
  printf '%s\n' "$out"
  return "$rc"
}
# wait_up NAME URL FLAGS...: tls_wait, or record that the server did not start.
wait_up() {
  tls_wait "$@" && return 0
  t_fail "server $1 did not start"; rec_note "server $1 did not start"
  return 1
}

# watch_session URL FLAGS...: one `etcdctl watch -i` session (one token for all its
# watches): watch t/1, 0.5 s later watch t/2; root puts t/1 and t/2; 4.5 s idle; watch
# t/3; root puts t/3 and t/1; end of input 1 s later.
watch_session() {
  local u=$1; shift
  {
    echo "watch t/1"; sleep 0.5
    echo "watch t/2"; sleep 0.5
    c37 "$u" "${ROOTPW[@]}" put t/1 a >/dev/null 2>&1
    c37 "$u" "${ROOTPW[@]}" put t/2 b >/dev/null 2>&1
    sleep 4.5
    echo "watch t/3"; sleep 1
    c37 "$u" "${ROOTPW[@]}" put t/3 c >/dev/null 2>&1
    c37 "$u" "${ROOTPW[@]}" put t/1 d >/dev/null 2>&1
    sleep 1
  } | timeout 30 "$TLS_CTL" --endpoints="$u" "$@" watch -i
}

# auth_refuse IDX DESC SENTENCE FLAGS...: tls_refuse with a http:// client URL.
auth_refuse() { tls_refuse http "$@"; }

# auth_case NAME FUNC: tls_case, then the data dirs of both sides' servers are removed
# (etcd preallocates a 64 MB WAL per server; the logs and transcripts stay).
auth_case() {
  tls_case "$1" "$2"
  rm -rf "$CAP_TMP/$1"-*-*/data "$CAP_TMP/$1".snap.db
}

# --- mgmt ------------------------------------------------------------------------------
LONG=$(printf '%10240s' '' | tr ' ' x)
P72=$(printf '%72s' '' | tr ' ' p)
P73=$(printf '%73s' '' | tr ' ' p)
case_mgmt() {
  auth_begin
  tls_ports 2 || return 1
  AU="http://$H:${TLS_P[0]}"
  tls_single s1 "$AU" "${TLS_P[1]}"
  wait_up s1 "$AU" || return 1
  # users (auth disabled: anyone may administer)
  e user add alice --new-user-password=alicepw
  t_expect "user add" "User alice created" "$TR_OUT"
  e user add bob:bobpw
  e user add carol --no-password
  e user add col:on:colon
  e user add u72 --new-user-password="$P72"
  e user add u73 --new-user-password="$P73"
  e user add "" --new-user-password=x
  e user add alice --new-user-password=other
  e user add "$LONG" --new-user-password=x
  e user get alice
  e user get alice --detail
  e user get carol --detail
  e user get nobody
  e user get "$LONG"
  e user list
  # roles and permissions
  e role add admin
  e role add admin
  e role add ""
  e role add "$LONG"
  e role add every
  e role get admin
  e role grant-permission admin read k
  e role grant-permission admin write p/ --prefix
  e role grant-permission admin readwrite r1 r5
  e role grant-permission admin read z --from-key
  e role grant-permission every readwrite "" --prefix
  e role grant-permission "$LONG" read "$LONG"
  e role get admin
  t_check "role get lists the granted ranges" grep -qF '[p/, p0) (prefix p/)' <<<"$TR_OUT"
  e role get every
  e role get "$LONG"
  e role grant-permission admin write k
  e role get admin
  e role grant-permission admin readwrite k
  e role grant-permission admin readwrite k
  e role get admin
  e role grant-permission admin read r3 r1
  e role grant-permission nobody read k
  e role grant-permission "" read k
  e role revoke-permission admin k
  e role revoke-permission admin k
  e role revoke-permission admin p/ --prefix
  e role revoke-permission admin z --from-key
  e role revoke-permission admin r1 r4
  e role revoke-permission admin r1 r5
  e role revoke-permission nobody k
  e role get admin
  e role get nobody
  e role list
  # role grants
  e role grant-permission admin read k
  e user grant-role alice admin
  e user grant-role alice admin
  e user grant-role alice every
  e user grant-role alice nobody
  e user grant-role nobody admin
  e user grant-role "$LONG" "$LONG"
  e user get alice
  e user get alice --detail
  e user revoke-role alice every
  e user revoke-role alice every
  e user revoke-role nobody admin
  e user revoke-role alice nobody
  e user get "$LONG" --detail
  # passwords, deletions
  ein $'bobpw2\n' user passwd bob --interactive=false
  ein $'x\n' user passwd nobody --interactive=false
  e user delete carol
  e user delete carol
  e user delete ""
  e user delete "$LONG"
  e role delete "$LONG"
  e role delete nobody
  e user add carol --no-password
  e user list
  e role list
  # -w json
  e -w json user list
  e -w json role list
  e -w json user get alice
  e -w json role get admin
  e -w json user add dave:davepw
  e -w json role add viewer
  e -w json role grant-permission viewer read v --prefix
  e -w json user grant-role dave viewer
  e -w json auth status
  # auth enable
  e auth status
  e auth enable
  t_check "auth enable without a root user fails" test "$TR_RC" != 0
  e user add root:rootpw
  e auth enable
  t_expect "auth enable (etcdctl grants the root role itself)" "Authentication Enabled" "$(tail -n 1 <<<"$TR_OUT")"
  e auth status
  e -w json auth status
  e user list
  e put k v
  e "${ROOTPW[@]}" user list
  e "${ROOTPW[@]}" role list
  e "${ROOTPW[@]}" user get root --detail
  e "${ROOTPW[@]}" role get root
  e --user root:wrongpw user list
  e --user nobody:x user list
  e --user root --password rootpw auth status
  e --user alice:alicepw user get alice --detail
  e --user alice:alicepw user get bob
  e --user alice:alicepw user list
  e --user alice:alicepw role get admin
  e --user alice:alicepw role get every
  e --user alice:alicepw get k
  e --user bob:bobpw user get bob
  e --user bob:bobpw2 user get bob
  e --user col:on:colon user get col
  e --user u72:"$P72" user get u72
  e --user carol:x user get carol
  # the root user and role while enabled
  e "${ROOTPW[@]}" user delete root
  e "${ROOTPW[@]}" user revoke-role root root
  e "${ROOTPW[@]}" role delete root
  e "${ROOTPW[@]}" role revoke-permission root "" --prefix
  e "${ROOTPW[@]}" role grant-permission root read k
  e "${ROOTPW[@]}" role get root
  e "${ROOTPW[@]}" user grant-role alice root
  e --user alice:alicepw user list
  e "${ROOTPW[@]}" user revoke-role alice root
  e --user alice:alicepw user list
  ein $'rootpw2\n' "${ROOTPW[@]}" user passwd root --interactive=false
  e --user root:rootpw2 auth enable
  e --user root:rootpw2 -w json auth status
  e --user root:rootpw2 auth disable
  e auth status
  e auth disable
  e user delete root
  e role delete root
  e role list
  e auth enable
  # etcdctl 3.4
  if [ -x "$TLS_CTL34" ]; then
    e34 user add dan:danpw
    e34 user add dan:danpw
    e34 user get dan
    e34 role add r34
    e34 role add ""
    e34 role grant-permission r34 read k
    e34 role grant-permission r34 readwrite p/ --prefix
    e34 role grant-permission r34 write z --from-key
    e34 role get r34
    e34 user grant-role dan r34
    e34 user get dan --detail
    e34 -w json user get dan
    e34 role revoke-permission r34 p/ --prefix
    e34 role revoke-permission r34 p/ --prefix
    e34 user revoke-role dan r34
    e34 user list
    e34 role list
    e34 auth enable
    e34 user add root:rootpw
    e34 auth enable
    e34 "${ROOTPW[@]}" role get root
    e34 get k
    e34 "${ROOTPW[@]}" user list
    e34 --user root:wrongpw user list
    e34 --user dan:danpw user get dan
    e34 --user dan:danpw user list
    e34 "${ROOTPW[@]}" user delete root
    e34 "${ROOTPW[@]}" auth disable
    e34 user delete dan
    e34 role delete r34
    e34 role delete r34
  else
    rec_note "(no etcdctl 3.4 at $TLS_CTL34: its subset skipped)"
  fi
}
auth_case mgmt case_mgmt

# --- matrix ----------------------------------------------------------------------------
MX_ROWS=(none ro wo rw pfx rng fk root anon badpw ghost)
declare -A MX_PERM=([ro]="read k" [wo]="write k" [rw]="readwrite k" [pfx]="readwrite p/ --prefix"
  [rng]="read r1 r5" [fk]="read z --from-key")
MXU='' MX_N=0 MX_REV='' MX_LK='' MX_LS=''
MXF=()
# mx ARGS...: one cell, etcdctl ARGS as the row's user. mxf FILTER ARGS...: with another
# filter. mxc DESC CMD...: a cell run by a function.
mx() { MX_N=$((MX_N + 1)); rec "[$MXU] $(auth_desc "$@")" --norm auth_norm vis c37 "$AU" "${MXF[@]}" "$@"; }
mxf() { local f=$1; shift; MX_N=$((MX_N + 1)); rec "[$MXU] $(auth_desc "$@")" --norm "$f" vis c37 "$AU" "${MXF[@]}" "$@"; }
mxc() {
  local f=auth_norm d
  if [ "$1" = --norm ]; then f=$2; shift 2; fi
  d=$1; shift
  MX_N=$((MX_N + 1))
  rec "[$MXU] $d" --norm "$f" "$@"
}
mx_ctl() { c37 "$AU" "${MXF[@]}" "$@"; }
mx_txn() { printf '%s\n\n%s\n\n%s\n\n' "$1" "$2" "$3" | c37 "$AU" "${MXF[@]}" txn; }
mx_watch() { timeout 2 "$TLS_CTL" --endpoints="$AU" "${MXF[@]}" watch "$@"; }
mx_snap() { rm -f "$CAP_TMP/matrix.snap.db"; c37 "$AU" "${MXF[@]}" snapshot save "$CAP_TMP/matrix.snap.db"; }
MX_FIXTURE=$(printf '%s\n' 'put k v0 --lease=@LK@' 'put o ov' 'put p/x px' 'put p/y py' 'put q q' \
  'put r1 1' 'put r3 3' 'put r5 5' 'put s s --lease=@LS@' 'put y y' 'put z z' 'put zz zz')
mx_reset_txn() { # (no compare; the fixture as the success ops; no failure ops)
  local fx=${MX_FIXTURE//@LK@/$MX_LK}
  printf '\n%s\n\n\n' "${fx//@LS@/$MX_LS}" | c37 "$AU" "${ROOTPW[@]}" -w json txn
}
# mx_reset: as root, revoke every lease, grant Lk and Ls, delete every key, then put the
# fixture in one txn; MX_REV = the revision of that txn (the row's watches start there;
# the root row compacts there). (The deletion is not in the txn: etcd 3.7.3 dies
# ("range failed to find revision pair") reading a key that one txn deleted, by a range,
# and put again, once compacted at that revision.)
mx_reset() {
  local id
  for id in $(rootq lease list 2>/dev/null | grep -E '^[0-9a-f]+$'); do
    rootq lease revoke "$id" >/dev/null 2>&1
  done
  MX_LK=$(grant_learn Lk "${ROOTPW[@]}" lease grant 1000 | awk '/granted/ {print $2}')
  MX_LS=$(grant_learn Ls "${ROOTPW[@]}" lease grant 2000 | awk '/granted/ {print $2}')
  rec "reset for $MXU: root del 0 --from-key" --norm auth_norm rootq del 0 --from-key
  rec "reset for $MXU: root txn (put k o p/x p/y q r1 r3 r5 s y z zz; k on Lk, s on Ls)" --norm auth_norm mx_reset_txn
  MX_REV=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["header"]["revision"])' <<<"$TR_OUT" 2>/dev/null)
  rec_note "reset revision: ${MX_REV:-none}"
  : "${MX_REV:=1}"   # (a failed reset is in the transcript already; keep etcdctl's usage out)
}
mx_row() {
  MXU=$1
  local self=$1 role="r-$1"
  case $MXU in
    anon) MXF=() self=none role=r-ro ;;
    badpw) MXF=(--user root:wrongpw) self=root role=root ;;
    ghost) MXF=(--user ghost:ghostpw) self=ghost role=r-ro ;;
    root) MXF=("${ROOTPW[@]}") role=root ;;
    none) MXF=(--user none:nonepw) role=r-ro ;;
    *) MXF=(--user "$MXU:${MXU}pw") ;;
  esac
  mx_reset
  # auth management
  mx auth status
  mx user get "$self"
  mx role get "$role"
  mx user list
  mx role list
  # reads
  mx get k
  mx get k --prefix
  mx get p/x
  mx get p/ --prefix
  mx get r1 r5
  mx get r2 r4
  mx get r1 r6
  mx get z
  mx get z --from-key
  mx get o
  # leases (k and s are still attached to Lk and Ls)
  mxc "lease grant 500" grant_learn Lu "${MXF[@]}" lease grant 500
  mx lease timetolive "$MX_LK" --keys
  mx lease timetolive "$MX_LS" --keys
  mx lease timetolive "$MX_LS"
  mx lease keep-alive --once "$MX_LK"
  mx lease list
  mx lease revoke "$MX_LS"
  mx lease revoke "$MX_LK"
  # watches, from the reset's revision on (2 s each)
  mxc "watch k --rev=<reset>" mx_watch k --rev="$MX_REV"
  mxc "watch p/ --prefix --rev=<reset>" mx_watch p/ --prefix --rev="$MX_REV"
  mxc "watch r2 r4 --rev=<reset>" mx_watch r2 r4 --rev="$MX_REV"
  # txns (etcd checks every compare and both branches, whichever is taken)
  mxc 'txn: value(k) = "v0" ? put k vt : get k' mx_txn 'value("k") = "v0"' 'put k vt' 'get k'
  mxc 'txn: value(o) = "ov" ? put p/t vt : get p/t' mx_txn 'value("o") = "ov"' 'put p/t vt' 'get p/t'
  mxc 'txn: value(k) = "no" ? put o x : get k' mx_txn 'value("k") = "no"' 'put o x' 'get k'
  mxc 'txn: version(p/x) > 0 ? del p/ --prefix : get r1 r5' mx_txn 'version("p/x") > "0"' 'del p/ --prefix' 'get r1 r5'
  # writes
  mx put k vw
  mx put k vp --prev-kv
  mx put p/x vw
  mx put r2 vw
  mx put z vw
  mx del k --prev-kv
  mx del k
  mx del p/ --prefix --prev-kv
  mx del p/ --prefix
  mx get k
  # cluster and maintenance
  mx member list
  mxf auth_norm_status endpoint status -w table
  mxf auth_norm_health endpoint health
  mxf auth_norm_hash endpoint hashkv
  mx alarm list
  mxc "compaction <reset>" mx_ctl compaction "$MX_REV"
  mx defrag
  mxc --norm auth_norm_snap "snapshot save <tmp>/matrix.snap.db" mx_snap
  [ "$MXU" = root ] || mx member add mx-new --peer-urls=http://127.0.0.1:9
  mx member update 1 --peer-urls=http://127.0.0.1:9
}
case_matrix() {
  auth_begin
  tls_ports 2 || return 1
  AU="http://$H:${TLS_P[0]}"
  MX_N=0
  tls_single s1 "$AU" "${TLS_P[1]}" --bcrypt-cost 4
  wait_up s1 "$AU" || return 1
  local u
  e user add root:rootpw
  for u in none ro wo rw pfx rng fk; do e user add "$u:${u}pw"; done
  for u in ro wo rw pfx rng fk; do
    e role add "r-$u"
    # shellcheck disable=SC2086 # (the permission's words)
    e role grant-permission "r-$u" ${MX_PERM[$u]}
    e user grant-role "$u" "r-$u"
  done
  e auth enable
  if [ "$TR_RC" != 0 ]; then # (a server without authentication: 549 cells for nothing)
    t_fail "auth enable failed: the matrix is not run"; rec_note "auth enable failed: no matrix"
    return 1
  fi
  for u in "${MX_ROWS[@]}"; do mx_row "$u"; done
  rec_note "matrix: $MX_N cells"
}
auth_case matrix case_matrix
# matrix_summary: the cells (blocks "$ [user] ...") that differ between the transcripts.
if tls_want matrix; then
  MATRIX_SUMMARY=$(python3 - "$CAP_TMP/matrix.ref.tr" "$CAP_TMP/matrix.sut.tr" <<'EOF'
import sys
def cells(path):
    out, cur = [], None
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        return out
    for line in lines:
        if line.startswith("$ "):
            cur = [line]
            out.append(cur)
        elif cur is not None:
            cur.append(line)
    return [c for c in out if c[0].startswith("$ [")]
ref, sut = cells(sys.argv[1]), cells(sys.argv[2])
diff = [r[0][2:] for r, s in zip(ref, sut) if r != s]
diff += [r[0][2:] for r in ref[len(sut):]]
if not ref:
    print("matrix: no cells ran")
elif not diff:
    print(f"matrix: {len(ref)} cells, all equal")
else:
    print(f"matrix: {len(ref)} cells, {len(diff)} differ, e.g. " + "; ".join(diff[:8]))
EOF
)
fi

# --- revision --------------------------------------------------------------------------
case_revision() {
  auth_begin
  tls_ports 2 || return 1
  AU="http://$H:${TLS_P[0]}"
  tls_single s1 "$AU" "${TLS_P[1]}"
  wait_up s1 "$AU" || return 1
  e auth status
  e user add a:apw; e auth status
  e user add a:apw; e auth status
  e role add r; e auth status
  e role add r; e auth status
  e user grant-role a r; e auth status
  e user grant-role a r; e auth status
  e role grant-permission r read k; e auth status
  e role grant-permission r read k; e auth status
  e role grant-permission r write k; e auth status
  e role grant-permission r read p/ --prefix; e auth status
  e role revoke-permission r k; e auth status
  e role revoke-permission r k; e auth status
  ein $'apw2\n' user passwd a --interactive=false; e auth status
  e user revoke-role a r; e auth status
  e user revoke-role a r; e auth status
  e user grant-role a r; e auth status
  e put k v; e auth status
  e user add root:rootpw; e auth status
  e auth enable; e auth status
  e "${ROOTPW[@]}" auth enable; e auth status
  e "${ROOTPW[@]}" auth disable; e auth status
  e auth disable; e auth status
  e auth enable; e auth status
  e --user a:apw2 get p/x
  # restart, enabled
  rec_note "\$ restart (enabled)"
  tls_restart s1 "$AU" "${ROOTPW[@]}" || { t_fail "no restart"; rec_note "no restart"; return 1; }
  e auth status
  e "${ROOTPW[@]}" user list
  e "${ROOTPW[@]}" role list
  e "${ROOTPW[@]}" user get a --detail
  e "${ROOTPW[@]}" role get root
  e --user a:apw2 get k
  e --user a:apw get k
  e get k
  e "${ROOTPW[@]}" auth disable; e auth status
  # restart, disabled
  rec_note "\$ restart (disabled)"
  tls_restart s1 "$AU" || { t_fail "no restart"; rec_note "no restart"; return 1; }
  e auth status
  e get k
  e user list
  e role get r
}
auth_case revision case_revision

# --- cn --------------------------------------------------------------------------------
case_cn() {
  auth_begin
  tls_ports 2 || return 1
  AU="https://$H:${TLS_P[0]}"
  tls_single s1 "$AU" "${TLS_P[1]}" "${TLS_SERVER_FLAGS[@]}"
  wait_up s1 "$AU" "${ROOT[@]}" || return 1
  e "${ROOT[@]}" user add root:rootpw
  e "${ROOT[@]}" user add alice --no-password
  e "${ROOT[@]}" user add bob:bobpw
  e "${ROOT[@]}" role add ra
  e "${ROOT[@]}" role grant-permission ra readwrite a/ --prefix
  e "${ROOT[@]}" user grant-role alice ra
  e "${ROOT[@]}" put a/1 x
  e "${ROOT[@]}" put b/1 y
  e "${ROOT[@]}" auth enable
  e "${ROOT[@]}" auth status
  # the CN is the user
  e "${ROOT[@]}" user list
  e "${ROOT[@]}" get "" --prefix
  e "${ALICE[@]}" put a/2 v
  e "${ALICE[@]}" get a/ --prefix
  e "${ALICE[@]}" get b/1
  e "${ALICE[@]}" put b/2 v
  e "${ALICE[@]}" user get alice
  e "${ALICE[@]}" user list
  rec "[cert alice] watch a/ --prefix --rev=1 (2 s)" --norm auth_norm timeout 2 "$TLS_CTL" --endpoints="$AU" "${ALICE[@]}" watch a/ --prefix --rev=1
  rec "[cert alice] watch b/ --prefix --rev=1 (2 s)" --norm auth_norm timeout 2 "$TLS_CTL" --endpoints="$AU" "${ALICE[@]}" watch b/ --prefix --rev=1
  e "${OTHERCN[@]}" get a/1
  e "${OTHERCN[@]}" auth status
  # a --user token wins over the CN
  e "${ALICE[@]}" --user bob:bobpw get a/1
  e "${ALICE[@]}" --user bob:bobpw user get bob
  e "${ROOT[@]}" --user bob:bobpw user list
  e "${ALICE[@]}" "${ROOTPW[@]}" user list
  e "${ROOT[@]}" --user root:wrongpw user list
  e "${ROOT[@]}" --user alice:x get a/1
  # etcdctl 3.4
  if [ -x "$TLS_CTL34" ]; then
    e34 "${ALICE[@]}" get a/1
    e34 "${ALICE[@]}" get b/1
    e34 "${ROOT[@]}" user list
  fi
  # a user granted root; then auth disabled
  e "${ROOT[@]}" user grant-role alice root
  e "${ALICE[@]}" get b/1
  e "${ALICE[@]}" auth disable
  e "${OTHERCN[@]}" get b/1
}
auth_case cn case_cn

# --- jwt -------------------------------------------------------------------------------
JWT_KEYS=
jwt_keys() { # the key pairs, made once (both sides use the same files)
  [ -n "$JWT_KEYS" ] && return 0
  JWT_KEYS=$CAP_TMP/jwt-keys
  mkdir -p "$JWT_KEYS"
  openssl genrsa -out "$JWT_KEYS/rsa.pem" 2048 2>/dev/null &&
    openssl rsa -in "$JWT_KEYS/rsa.pem" -pubout -out "$JWT_KEYS/rsa.pub" 2>/dev/null &&
    openssl ecparam -name prime256v1 -genkey -noout -out "$JWT_KEYS/ec.pem" 2>/dev/null &&
    openssl ec -in "$JWT_KEYS/ec.pem" -pubout -out "$JWT_KEYS/ec.pub" 2>/dev/null
}
jwt_setup() { # users root and u (readwrite u/ --prefix); auth enable
  e user add root:rootpw
  e user add u:upw
  e role add ru
  e role grant-permission ru readwrite u/ --prefix
  e user grant-role u ru
  e auth enable
}
jwt_ops() {
  e "${ROOTPW[@]}" put k v
  e --user u:upw put u/1 x
  e --user u:upw get u/1
  e --user u:upw get k
  e --user u:wrongpw get u/1
  e get k
  e "${ROOTPW[@]}" user list
}
case_jwt() {
  auth_begin
  tls_ports 16 || return 1
  jwt_keys || { t_fail "openssl could not make the JWT keys"; rec_note "no keys"; return 1; }
  local K=$JWT_KEYS rs
  rs="jwt,pub-key=$K/rsa.pub,priv-key=$K/rsa.pem,sign-method=RS256"
  # RS256, ttl=2s
  AU="http://$H:${TLS_P[0]}"
  tls_single s1 "$AU" "${TLS_P[1]}" --auth-token "$rs,ttl=2s"
  rec_note "--- server s1: RS256, ttl=2s"
  if wait_up s1 "$AU"; then
    jwt_setup
    jwt_ops
    rec "RS256 ttl=2s: watch -i session as root (watch t/1; watch t/2; 4.5 s idle; watch t/3)" --norm auth_norm \
      watch_session "$AU" "${ROOTPW[@]}"
    e "${ROOTPW[@]}" get t/ --prefix
  fi
  # ES256, default ttl
  AU="http://$H:${TLS_P[2]}"
  tls_single s2 "$AU" "${TLS_P[3]}" --auth-token "jwt,pub-key=$K/ec.pub,priv-key=$K/ec.pem,sign-method=ES256"
  rec_note "--- server s2: ES256, default ttl"
  if wait_up s2 "$AU"; then
    jwt_setup
    jwt_ops
  fi
  # verify-only: a public key and no private key
  AU="http://$H:${TLS_P[4]}"
  tls_single s3 "$AU" "${TLS_P[5]}" --auth-token "jwt,pub-key=$K/rsa.pub,sign-method=RS256"
  rec_note "--- server s3: RS256, verify-only (no priv-key)"
  if wait_up s3 "$AU"; then
    e user add root:rootpw
    e auth enable
    e "${ROOTPW[@]}" put k v
    e auth status
  fi
  # refused --auth-token values (port pairs 3..7)
  auth_refuse 3 "--auth-token bogus" "invalid auth options" --auth-token bogus
  auth_refuse 4 "--auth-token jwt" "invalid auth options" --auth-token jwt
  auth_refuse 5 "--auth-token jwt with a missing pub-key file" "invalid auth options" \
    --auth-token "jwt,pub-key=$K/missing.pub,priv-key=$K/rsa.pem,sign-method=RS256"
  auth_refuse 6 "--auth-token jwt,...,sign-method=XS256" "invalid auth options" \
    --auth-token "jwt,pub-key=$K/rsa.pub,priv-key=$K/rsa.pem,sign-method=XS256"
  auth_refuse 7 "--auth-token jwt,...,ttl=abc" "invalid auth options" --auth-token "$rs,ttl=abc"
}
auth_case jwt case_jwt

# --- token-ttl -------------------------------------------------------------------------
replay() { cat "$1"; return "$(cat "$1.rc" 2>/dev/null || echo 99)"; }
case_token_ttl() {
  auth_begin
  tls_ports 4 || return 1
  local u1="http://$H:${TLS_P[0]}" u2="http://$H:${TLS_P[2]}" f pid
  tls_single s1 "$u1" "${TLS_P[1]}" --auth-token-ttl 2
  tls_single s2 "$u2" "${TLS_P[3]}"
  wait_up s1 "$u1" && wait_up s2 "$u2" || return 1
  for AU in "$u1" "$u2"; do
    rec_note "--- server $([ "$AU" = "$u1" ] && echo 's1 (--auth-token-ttl 2)' || echo 's2 (default TTL)')"
    e user add root:rootpw
    e auth enable
  done
  # both sessions at once (one per server), recorded one after the other
  f=$(tls_dir s2)/session.out
  rm -f "$f" "$f.rc"
  { watch_session "$u2" "${ROOTPW[@]}" >"$f" 2>&1; echo $? >"$f.rc"; } &
  pid=$!
  cap_track "$pid"
  AU=$u1
  rec "s1 (--auth-token-ttl 2): watch -i session as root (watch t/1; watch t/2; 4.5 s idle; watch t/3)" \
    --norm auth_norm watch_session "$u1" "${ROOTPW[@]}"
  t_check "--auth-token-ttl 2: a watch created with an expired token is refused" grep -q 'invalid auth token' <<<"$TR_OUT"
  e "${ROOTPW[@]}" get t/ --prefix
  wait "$pid" 2>/dev/null
  AU=$u2
  rec "s2 (default TTL): the same session" --norm auth_norm replay "$f"
  e "${ROOTPW[@]}" get t/ --prefix
}
auth_case token-ttl case_token_ttl

[ -n "$MATRIX_SUMMARY" ] && cap_say "$MATRIX_SUMMARY"
tls_summary
