# shellcheck shell=bash disable=SC2034  # (state read by the scripts sourcing this file)
# Multi-member static clusters for the e2e suites, on top of common.sh.
#
#   . tests/lib/cluster.sh           # also sources common.sh
#   cap_init
#   cl_net_init 5                    # addresses for up to 5 members, free ports
#   cl_new 3 "$CAPSTAN_BIN"          # members m1..m3, --initial-cluster-state new; waits
#   cl_wait_leader; L=$CL_LEADER     # name of the leader (m1..mN)
#   cl_ctl m2 put k v                # etcdctl against one member
#   cl_stop m2 KILL; cl_restart m2   # same flags, same data dir
#   cl_add m4 --learner              # member add via a live member, start it "existing"
#
# Addressing: member mI listens on 127.A.B.(10+I) (A, B random per run), every member
# on the same client port and the same peer port (distinct addresses, so no clash).
# Member and cluster IDs are hashes of the peer URLs and the cluster token, so two
# clusters started with the same addresses, ports and token (one after the other) get
# the same IDs: the differential mode of the suites relies on that (cl_run switches the
# data directories, not the addresses). cl_expected_ids computes them the way etcd does.
#
# Network namespaces instead of loopback addresses: set CL_IP[mI] and CL_NS[mI] before
# cl_new (see cluster-partition.sh); members are then started with `ip netns exec NS`.
#
# Knobs: CL_HEARTBEAT (ms, default 100), CL_ELECTION (ms, default 1000),
#        CL_TOKEN (--initial-cluster-token, default capstan-e2e-cluster).
#
# TLS: `cl_tls_init DIR` once, then `cl_tls_certs SIZE` before each cl_new (after
# cl_net_init): client and peer TLS with mutual authentication, certificates made by
# tests/lib/tls-certs.sh. They set what follows, which can also be set by hand after
# sourcing, before cl_new:
#   CL_CLIENT_SCHEME=https CL_PEER_SCHEME=https   # URLs given to and advertised by members
#   CL_EXTRA=(--cert-file ... --client-cert-auth --peer-trusted-ca-file ... ...)
#   CL_MEMBER_FLAGS_FN=FN      # FN NAME prints flags of member NAME only, one per line
#                              # (e.g. its own --peer-cert-file/--peer-key-file)
#   CAP_CTL_TLS=(--cacert CA --cert CERT --key KEY)   # every etcdctl of the harness
# With CL_CLIENT_SCHEME=https, cl_ep/cl_eps give https://IP:PORT rather than IP:PORT.

# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=tests/lib/tls-certs.sh
. "$(dirname "${BASH_SOURCE[0]}")/tls-certs.sh"

: "${CL_HEARTBEAT:=100}"
: "${CL_ELECTION:=1000}"
: "${CL_TOKEN:=capstan-e2e-cluster}"
CL_NET=          # "127.A.B"
CL_CPORT=        # client port of every member
CL_PPORT=        # peer port of every member
CL_RUN=c         # current run: key prefix in the CAP_* tables and data directory
CL_BIN=
CL_EXTRA=()      # extra server flags for every member started by cl_new / cl_add
CL_MEMBER_FLAGS_FN=  # function printing extra flags of one member (NAME), one per line
CL_CLIENT_SCHEME=http  # scheme of the client URLs (https: client TLS)
CL_PEER_SCHEME=http    # scheme of the peer URLs (https: peer TLS)
CL_MEMBERS=()    # names of the members of the current run, in start order
CL_LEADER=       # set by cl_leader / cl_wait_leader
CL_OUT=          # output of the last cl_add's `member add`
# CL_IP[NAME]: the member's (peer, and by default client) address; CL_CIP[NAME]: its
# client address if different; CL_NS[NAME]: network namespace to run it in.
declare -gA CL_IP=() CL_CIP=() CL_NS=()
# CL_LISTEN_PEER[NAME]: --listen-peer-urls for NAME if it must differ from its
# advertised peer URL (e.g. to listen on a second address before `member update`).
declare -gA CL_LISTEN_PEER=()
# CL_IDS[hexid]=NAME for every member seen by cl_learn_ids (for cl_norm_ids).
declare -gA CL_IDS=()

# cl_net_init [SLOTS]: choose 127.A.B.0/24 and one client and one peer port that are
# free on all of 127.A.B.11 .. 127.A.B.(10+SLOTS).
cl_net_init() {
  local slots=${1:-5} out
  out=$(python3 - "$slots" <<'EOF'
import random, socket, sys
slots = int(sys.argv[1])
rng = random.SystemRandom()
for _ in range(200):
    net = f"127.{rng.randrange(100, 250)}.{rng.randrange(0, 256)}"
    hosts = [f"{net}.{10 + i}" for i in range(1, slots + 1)]
    ports = rng.sample(range(20000, 32768), 2)
    held, ok = [], True
    try:
        for h in hosts:
            for p in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(s)
                try:
                    s.bind((h, p))
                except OSError:
                    ok = False
                    break
            if not ok:
                break
    finally:
        for s in held:
            s.close()
    if ok:
        print(net, ports[0], ports[1])
        sys.exit(0)
sys.exit("cl_net_init: no free address/ports found")
EOF
  ) || return 1
  read -r CL_NET CL_CPORT CL_PPORT <<<"$out"
}

# cl_ip NAME: the member's address (CL_IP[NAME], else 127.A.B.(10+I) for NAME=mI).
cl_ip() {
  if [ -n "${CL_IP[$1]:-}" ]; then echo "${CL_IP[$1]}"; return; fi
  echo "$CL_NET.$((10 + ${1#m}))"
}
cl_peer_url() { echo "$CL_PEER_SCHEME://$(cl_ip "$1"):$CL_PPORT"; }
cl_client_ip() { if [ -n "${CL_CIP[$1]:-}" ]; then echo "${CL_CIP[$1]}"; else cl_ip "$1"; fi; }
cl_client_url() { echo "$CL_CLIENT_SCHEME://$(cl_client_ip "$1"):$CL_CPORT"; }
cl_key() { echo "$CL_RUN/$1"; }
# cl_ep NAME: the member's client endpoint for etcdctl: IP:PORT (https://IP:PORT with
# client TLS).
cl_ep() {
  if [ "$CL_CLIENT_SCHEME" = https ]; then echo "https://$(cl_client_ip "$1"):$CL_CPORT"
  else echo "$(cl_client_ip "$1"):$CL_CPORT"; fi
}
# cl_eps NAME...: comma-separated client endpoints (all members if no NAME).
cl_eps() {
  local n out=()
  [ $# -gt 0 ] || set -- "${CL_MEMBERS[@]}"
  for n in "$@"; do out+=("$(cl_ep "$n")"); done
  local IFS=,; echo "${out[*]}"
}

# cl_run RUN: switch to a fresh set of members (keys RUN/mI, data in $CAP_TMP/RUN/).
cl_run() { CL_RUN=$1; CL_MEMBERS=(); CL_LEADER=; }

# cl_spawn NAME STATE INITIAL_CLUSTER [EXTRA...]: start member NAME (no wait).
cl_spawn() {
  local name=$1 state=$2 ic=$3; shift 3
  local key; key=$(cl_key "$name")
  local -a pre=() own=()
  [ -n "${CL_NS[$name]:-}" ] && pre=(ip netns exec "${CL_NS[$name]}")
  if [ -n "$CL_MEMBER_FLAGS_FN" ]; then mapfile -t own < <("$CL_MEMBER_FLAGS_FN" "$name"); fi
  cap_spawn "$key" "$(cl_ep "$name")" "${pre[@]}" "$CL_BIN" --name "$name" \
    --data-dir "$CAP_TMP/$key/data" \
    --listen-client-urls "$(cl_client_url "$name")" --advertise-client-urls "$(cl_client_url "$name")" \
    --listen-peer-urls "${CL_LISTEN_PEER[$name]:-$(cl_peer_url "$name")}" --initial-advertise-peer-urls "$(cl_peer_url "$name")" \
    --initial-cluster "$ic" --initial-cluster-token "$CL_TOKEN" --initial-cluster-state "$state" \
    --heartbeat-interval "$CL_HEARTBEAT" --election-timeout "$CL_ELECTION" "${CL_EXTRA[@]}" "${own[@]}" "$@"
  CAP_PEER[$key]=$(cl_ip "$name"):$CL_PPORT
  case " ${CL_MEMBERS[*]} " in *" $name "*) ;; *) CL_MEMBERS+=("$name") ;; esac
}

# cl_initial_cluster NAME...: "m1=http://...,m2=http://..."
cl_initial_cluster() {
  local n out=()
  for n in "$@"; do out+=("$n=$(cl_peer_url "$n")"); done
  local IFS=,; echo "${out[*]}"
}

# cl_new N BIN [EXTRA...]: start members m1..mN as a new cluster; wait until all are
# healthy and a leader is known. CL_EXTRA flags apply too.
cl_new() {
  local n=$1 i names=(); CL_BIN=$2; shift 2
  [ -n "$CL_NET" ] || cl_net_init "$((n > 5 ? n : 5))" || return 1
  for ((i = 1; i <= n; i++)); do names+=("m$i"); done
  local ic; ic=$(cl_initial_cluster "${names[@]}")
  for i in "${names[@]}"; do cl_spawn "$i" new "$ic" "$@"; done
  cl_wait_healthy "${names[@]}" && cl_wait_leader
}

# cl_wait_healthy [NAME...] : every named member (default all) healthy, one deadline.
cl_wait_healthy() {
  local n start=$SECONDS left
  [ $# -gt 0 ] || set -- "${CL_MEMBERS[@]}"
  for n in "$@"; do
    left=$((CAP_HEALTH_TIMEOUT - (SECONDS - start)))
    ((left > 1)) || left=1
    cap_wait_healthy "$(cl_key "$n")" "$left" || return 1
  done
}

# cl_ctl NAME ARGS...: etcdctl against one member (bounded; command timeout 5 s).
cl_ctl() { local n=$1; shift; cap_ctl "$(cl_key "$n")" "$@"; }
# cl_ctl_eps ENDPOINTS ARGS...: etcdctl against a list of endpoints.
cl_ctl_eps() {
  local eps=$1; shift
  timeout 20 "$CAPSTAN_ETCDCTL" --endpoints="$eps" --dial-timeout=2s --command-timeout=5s "${CAP_CTL_TLS[@]}" "$@"
}

cl_alive() { cap_alive "$(cl_key "$1")"; }
cl_live_members() { local n; for n in "${CL_MEMBERS[@]}"; do cl_alive "$n" && echo "$n"; done; }

# cl_json EXPR: evaluate a Python expression over JSON on stdin (d), print the result.
cl_json() { python3 -c 'import json,sys; d=json.load(sys.stdin); r=eval(sys.argv[1], {"d": d}); print(r if not isinstance(r, list) else "\n".join(map(str, r)))' "$1"; }

# cl_status NAME: "member_id_hex leader_id_hex raft_term revision is_learner" of one
# member (endpoint status of its own endpoint only), or nothing if it does not answer.
cl_status() {
  timeout 5 "$CAPSTAN_ETCDCTL" --endpoints="$(cl_ep "$1")" --dial-timeout=1s --command-timeout=2s \
    "${CAP_CTL_TLS[@]}" endpoint status -w json 2>/dev/null |
    python3 -c 'import json,sys
try:
    s = json.load(sys.stdin)[0]["Status"]
except Exception:
    sys.exit(1)
h = s["header"]
print("%x %x %d %d %s" % (h["member_id"], s.get("leader", 0), h.get("raft_term", 0), h.get("revision", 0), str(s.get("isLearner", False)).lower()))' 2>/dev/null
}

# cl_id NAME: the member's ID (hex) as it reports it.
cl_id() { local s; s=$(cl_status "$1") && echo "${s%% *}"; }

# cl_leader [NAME...]: set CL_LEADER to the name of the member that the (live) named
# members agree is leader; 1 if they do not answer or do not agree (or there is none).
cl_leader() {
  local n s id lead agreed= name=
  CL_LEADER=
  [ $# -gt 0 ] || set -- $(cl_live_members)
  [ $# -gt 0 ] || return 1
  for n in "$@"; do
    s=$(cl_status "$n") || return 1
    read -r id lead _ <<<"$s"
    [ "$lead" != 0 ] || return 1
    if [ -z "$agreed" ]; then agreed=$lead; elif [ "$agreed" != "$lead" ]; then return 1; fi
    [ "$id" = "$lead" ] && name=$n
  done
  [ -n "$name" ] || return 1
  CL_LEADER=$name
}

# cl_wait_leader [TIMEOUT] [NAME...]: poll cl_leader (default 30 s, all live members).
cl_wait_leader() {
  local limit=${1:-30} start=$SECONDS
  [ $# -gt 0 ] && shift
  while ((SECONDS - start < limit)); do
    cl_leader "$@" && return 0
    sleep 0.1
  done
  cap_err "no agreed leader within ${limit}s"
  return 1
}

# cl_followers: live members other than the leader (call cl_leader first).
cl_followers() { local n; for n in $(cl_live_members); do [ "$n" = "$CL_LEADER" ] || echo "$n"; done; }

# cl_stop NAME [SIGNAL] [GRACE]: as cap_stop; exit status in CAP_EXIT[$(cl_key NAME)].
cl_stop() { local n=$1; shift; cap_stop "$(cl_key "$n")" "$@"; }
# cl_start NAME: start a stopped member again with the same flags (no wait).
cl_start() { cap__launch "$(cl_key "$1")"; }
# cl_restart NAME [TIMEOUT]: cl_start and wait until healthy.
cl_restart() { cl_start "$1" && cap_wait_healthy "$(cl_key "$1")" "${2:-$CAP_HEALTH_TIMEOUT}"; }
cl_exit() { echo "${CAP_EXIT[$(cl_key "$1")]:-}"; }
cl_log() { echo "${CAP_LOG[$(cl_key "$1")]}"; }
# cl_forget NAME: drop a member from CL_MEMBERS (after it was removed from the cluster).
cl_forget() {
  local n out=()
  for n in "${CL_MEMBERS[@]}"; do [ "$n" = "$1" ] || out+=("$n"); done
  CL_MEMBERS=("${out[@]}")
}

# cl_add NAME VIA [--learner] [EXTRA...]: `member add NAME --peer-urls=... [--learner]`
# through member VIA, then start NAME with the ETCD_INITIAL_CLUSTER printed by etcdctl
# and --initial-cluster-state existing (no wait). Output of member add in CL_OUT.
# etcd refuses reconfiguration ("etcdserver: unhealthy cluster") until every voter has
# been connected for 5 s (--strict-reconfig-check): retried for up to 20 s.
cl_add() {
  local name=$1 via=$2 learner=() start=$SECONDS; shift 2
  if [ "${1:-}" = --learner ]; then learner=(--learner); shift; fi
  while :; do
    CL_OUT=$(cl_ctl "$via" member add "$name" --peer-urls="$(cl_peer_url "$name")" "${learner[@]}" 2>&1) && break
    if grep -q 'unhealthy cluster' <<<"$CL_OUT" && ((SECONDS - start < 20)); then sleep 0.5; continue; fi
    cap_err "member add $name failed: $CL_OUT"; return 1
  done
  local ic
  ic=$(sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' <<<"$CL_OUT")
  [ -n "$ic" ] || { cap_err "no ETCD_INITIAL_CLUSTER in: $CL_OUT"; return 1; }
  cl_spawn "$name" existing "$ic" "$@"
}

# cl_wait_status NAME [TIMEOUT]: wait until NAME answers endpoint status and knows a
# leader (for learners, which refuse the linearizable read of endpoint health).
cl_wait_status() {
  local limit=${2:-$CAP_HEALTH_TIMEOUT} start=$SECONDS s
  while ((SECONDS - start < limit)); do
    cl_alive "$1" || { cap_err "$1 exited; log tail:"; cap_log_tail "$(cl_key "$1")" 20 >&2; return 1; }
    s=$(cl_status "$1") && [ "$(cut -d' ' -f2 <<<"$s")" != 0 ] && return 0
    sleep 0.2
  done
  cap_err "$1: no status with a leader after ${limit}s"; return 1
}

# cl_learn_ids NAME: remember the ID -> name of every member listed by NAME (members
# not started yet have no name: CL_PENDING_NAME names them, if set).
cl_learn_ids() {
  local id nm rest
  while read -r id nm rest; do
    [ -n "$id" ] || continue
    if [ "$nm" = - ]; then nm=${CL_PENDING_NAME:-unnamed}; fi
    CL_IDS[$id]=$nm
  done < <(cl_ctl "$1" member list -w json 2>/dev/null | python3 -c 'import json,sys
for m in json.load(sys.stdin).get("members", []):
    print("%x %s" % (m["ID"], m.get("name") or "-"))')
}
# cl_id_of NAME: the ID (hex) remembered for member NAME.
cl_id_of() { local id; for id in "${!CL_IDS[@]}"; do [ "${CL_IDS[$id]}" = "$1" ] && { echo "$id"; return 0; }; done; return 1; }
# cl_norm_ids: replace remembered member IDs (hex, and decimal in JSON) by <id:NAME>.
cl_norm_ids() {
  local id map=""
  for id in "${!CL_IDS[@]}"; do map+="$id=${CL_IDS[$id]} "; done
  CL_IDMAP=$map python3 -c 'import os, re, sys
m = {}
for kv in os.environ["CL_IDMAP"].split():
    h, n = kv.split("=", 1)
    m[h] = n
    m[str(int(h, 16))] = n
pat = re.compile(r"\b(" + "|".join(sorted(map(re.escape, m), key=len, reverse=True)) + r")\b") if m else None
# (etcdctl prints IDs with %16x: an ID under 16 hex digits is padded with spaces, so the
# padding depends on the ID; "Member  <id:m4>" becomes "Member <id:m4>")
pad = re.compile(r" +(<id:)")
for line in sys.stdin:
    print(pad.sub(r" \1", pat.sub(lambda x: "<id:%s>" % m[x.group(1)], line)) if pat else line, end="")'
}

# cl_member_list NAME: "id name peerURLs clientURLs isLearner" per member, sorted by
# id (hex), from `member list -w json` through member NAME.
cl_member_list() {
  cl_ctl "$1" member list -w json | python3 -c 'import json,sys
d = json.load(sys.stdin)
for m in sorted(d.get("members", []), key=lambda m: m["ID"]):
    print("%x %s %s %s %s" % (m["ID"], m.get("name", ""), ",".join(m.get("peerURLs", [])),
          ",".join(m.get("clientURLs", []) or []), str(m.get("isLearner", False)).lower()))'
}

# cl_expected_ids TOKEN PEER_URL...: etcd's member IDs for a new cluster (one line per
# URL: "hexid url") and a last line "cluster hexid": member ID = first 8 bytes
# (big-endian) of sha1(sorted peer URLs of the member joined + token); cluster ID =
# first 8 bytes of sha1 of the sorted member IDs as 8-byte big-endian words.
cl_expected_ids() {
  python3 - "$@" <<'EOF'
import hashlib, struct, sys
token, urls = sys.argv[1], sys.argv[2:]
ids = []
for u in urls:
    mid = struct.unpack(">Q", hashlib.sha1((u + token).encode()).digest()[:8])[0]
    ids.append(mid)
    print("%x %s" % (mid, u))
b = b"".join(struct.pack(">Q", i) for i in sorted(ids))
print("cluster %x" % struct.unpack(">Q", hashlib.sha1(b).digest()[:8])[0])
EOF
}

# cl_hashkv NAME [REV]: "revision hash" from endpoint hashkv of one member.
cl_hashkv() {
  local rev=()
  [ -n "${2:-}" ] && rev=(--rev="$2")
  cl_ctl "$1" endpoint hashkv "${rev[@]}" -w json 2>/dev/null |
    cl_json '"%d %d" % (d[0]["HashKV"]["header"]["revision"], d[0]["HashKV"]["hash"])' 2>/dev/null
}

# cl_revision NAME: current revision seen by NAME (serializable, local).
cl_revision() {
  cl_ctl "$1" get cl-probe-nonexistent --consistency=s -w json 2>/dev/null | cl_json 'd["header"]["revision"]' 2>/dev/null
}

# cl_wait_converged [TIMEOUT] [NAME...]: wait until every named member (default all
# live) has applied the leader's current revision R and reports the same hashkv at R.
# Sets CL_CONVERGED to "R HASH" and CL_CONVERGE_SECS to the time it took (call it
# directly, not in $(...)).
cl_wait_converged() {
  local limit=${1:-60} start=$SECONDS n rev h first ok t0
  [ $# -gt 0 ] && shift
  [ $# -gt 0 ] || set -- $(cl_live_members)
  t0=$(date +%s.%N)
  rev= CL_CONVERGED= CL_CONVERGE_SECS=
  while ((SECONDS - start < limit)); do
    if [ -z "$rev" ]; then
      rev=$(cl_ctl_eps "$(cl_eps "$@")" get cl-probe-nonexistent -w json 2>/dev/null | cl_json 'd["header"]["revision"]' 2>/dev/null)
      [ -n "$rev" ] || { sleep 0.2; continue; }
    fi
    ok=1 first=
    for n in "$@"; do
      h=$(cl_hashkv "$n" "$rev") || { ok=0; break; }
      [ -n "$h" ] || { ok=0; break; }
      if [ -z "$first" ]; then first=$h; elif [ "$first" != "$h" ]; then ok=0; break; fi
    done
    if [ $ok = 1 ]; then
      CL_CONVERGE_SECS=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
      CL_CONVERGED=$first
      return 0
    fi
    sleep 0.2
  done
  return 1
}

cl_elapsed() { python3 -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(date +%s.%N)"; }
cl_now() { date +%s.%N; }

# cl_median NUMBERS...: median (average of the middle two for an even count).
cl_median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) printf "%.2f\n", a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# cl_wait_exit NAME TIMEOUT: wait for a member process to exit by itself; 0 if it did
# (exit status in CAP_EXIT[key]), 1 if it is still running after TIMEOUT seconds.
cl_wait_exit() {
  local key; key=$(cl_key "$1")
  local pid=${CAP_PID[$key]:-} limit=$2 start=$SECONDS
  [ -n "$pid" ] || return 0
  while ((SECONDS - start < limit)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null
      CAP_EXIT[$key]=$?
      CAP_PID[$key]=
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# cl_table_rows: table output on stdin -> rows as "cell|cell|..." with cells trimmed.
cl_table_rows() {
  sed -n 's/^|\(.*\)|[[:space:]]*$/\1/p' | awk -F'|' '{ s = ""; for (i = 1; i <= NF; i++) { c = $i; gsub(/^ +| +$/, "", c); s = s (i > 1 ? "|" : "") c } print s }'
}

# cl_same_binary A B: both paths name the same file.
cl_same_binary() { [ "$(readlink -f "$1")" = "$(readlink -f "$2")" ]; }

# --- transcripts (differential mode) -------------------------------------------------
# A suite writes what must be identical between the reference etcd and the binary under
# test into a transcript ($CL_TRANSCRIPT): commands with their (normalized) output. The
# addresses, ports and token are the same in both runs, so IDs and URLs are comparable.
CL_TRANSCRIPT=/dev/null
cl_note() { printf '%s\n' "$*" >>"$CL_TRANSCRIPT"; }

# cl_tr NAME [--norm FILTER] ARGS...: run `etcdctl ARGS` against member NAME (or all
# members' endpoints if NAME is "all"; note that a second --endpoints flag would not
# replace the first but add to it: etcdctl's string-slice flags accumulate); put
# "$ etcdctl@NAME ARGS", its output (stdout+stderr, through FILTER if given) and
# "[exit N]" into the transcript. Raw output in CL_TR_OUT, status in CL_TR_RC.
cl_tr() {
  local name=$1 filter=cat; shift
  if [ "${1:-}" = --norm ]; then filter=$2; shift 2; fi
  if [ "$name" = all ]; then CL_TR_OUT=$(cl_ctl_eps "$(cl_eps)" "$@" 2>&1 </dev/null)
  else CL_TR_OUT=$(cl_ctl "$name" "$@" 2>&1 </dev/null); fi
  CL_TR_RC=$?
  {
    if [ ${#CL_IDS[@]} -gt 0 ]; then printf '$ etcdctl@%s %s\n' "$name" "$*" | cl_norm_ids
    else printf '$ etcdctl@%s %s\n' "$name" "$*"; fi
    [ -n "$CL_TR_OUT" ] && printf '%s\n' "$CL_TR_OUT" | $filter
    printf '[exit %s]\n' "$CL_TR_RC"
  } >>"$CL_TRANSCRIPT"
  return "$CL_TR_RC"
}

# Filters for cl_tr --norm:
# etcdctl's client log lines: keep level, message and error only.
cl_norm_log() {
  sed -E 's/^\{"level":"([a-z]+)","ts":"[^"]*","caller":"[^"]*","msg":"([^"]*)".*"error":"([^"]*)"\}$/{"level":"\1","msg":"\2","error":"\3"}/'
}
# JSON output: mask raft terms.
cl_norm_json() { sed -E 's/"raft_term":[0-9]+/"raft_term":<term>/g'; }
# endpoint status -w table: mask version, db size, leader flag, term and indexes.
cl_norm_status_table() {
  python3 -c 'import sys
mask = {"VERSION": "<ver>", "DB SIZE": "<size>", "IS LEADER": "<leader?>", "RAFT TERM": "<term>",
        "RAFT INDEX": "<index>", "RAFT APPLIED INDEX": "<applied>"}
hdr = None
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.startswith("|"):
        if not line.startswith("+"):
            print(line)
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if hdr is None:
        hdr = cells
    else:
        cells = [mask.get(h, c) for h, c in zip(hdr, cells)]
    print("| " + " | ".join(cells) + " |")'
}
# endpoint health: drop the proposal time, sort (members are probed in parallel).
cl_norm_health() { sed -E 's/took = [0-9.]+[a-zµ]+/took = <t>/' | sort; }
# endpoint hashkv (simple): mask the hash (capstan's need not equal etcd's).
cl_norm_hashkv() { sed -E 's/, [0-9]+$/, <hash>/'; }
# member add: the new member's ID is time-based.
# Its ETCD_INITIAL_CLUSTER lists the members in Go map order: sorted here.
cl_norm_member_add() {
  sed -E 's/^Member +[0-9a-f]+ added to cluster +([0-9a-f]+)$/Member <new-id> added to cluster \1/' |
    python3 -c 'import sys
for line in sys.stdin:
    if line.startswith("ETCD_INITIAL_CLUSTER=\""):
        v = line.rstrip("\n")[len("ETCD_INITIAL_CLUSTER=\""):-1]
        line = "ETCD_INITIAL_CLUSTER=\"%s\"  (sorted)\n" % ",".join(sorted(v.split(",")))
    print(line, end="")'
}
# cl_pad16 HEX: etcdctl prints "Member %16x ..." / "cluster %16x": space-padded IDs.
cl_pad16() { printf '%16s' "$1"; }

# cl_compare_transcripts REF SUT: print a unified diff; 0 if identical.
cl_compare_transcripts() { diff -u --label "reference ($CAPSTAN_REF_ETCD)" --label "under test ($CAPSTAN_BIN)" "$1" "$2"; }

# cl_diff_mode: should the suite run the scenario against the reference etcd first and
# compare transcripts? CLUSTER_DIFF=1 forces it (even when CAPSTAN_BIN is etcd: checks
# that the transcripts are deterministic), 0 disables it; by default it is on when the
# binary under test is not the reference and the reference exists.
cl_diff_mode() {
  case ${CLUSTER_DIFF:-auto} in
    1) [ -x "$CAPSTAN_REF_ETCD" ] ;;
    0) return 1 ;;
    *) [ -x "$CAPSTAN_REF_ETCD" ] && ! cl_same_binary "$CAPSTAN_REF_ETCD" "$CAPSTAN_BIN" ;;
  esac
}

# cl_stop_all [SIGNAL]: stop every member of the current run (in parallel).
cl_stop_all() {
  local n pids=() sig=${1:-TERM}
  for n in "${CL_MEMBERS[@]}"; do
    cl_alive "$n" && kill -s "$sig" "${CAP_PID[$(cl_key "$n")]}" 2>/dev/null
  done
  for n in "${CL_MEMBERS[@]}"; do cl_stop "$n" "$sig"; done
}

# --- network namespaces ---------------------------------------------------------------
# cl_netns_setup N: a namespace per member (m1..mN) and a hub namespace holding two
# bridges: peer traffic (10.X.1.0/24) and client traffic (10.X.2.0/24) go over separate
# veth pairs, so a member can be cut off from its peers (cl_netns_cut) while clients
# still reach it. etcdctl then runs in the hub namespace (CAPSTAN_ETCDCTL becomes a
# wrapper). Sets CL_IP/CL_CIP/CL_NS, CL_CPORT/CL_PPORT (2379/2380: the namespaces are
# ours alone). Everything is removed by cap_cleanup. Needs root.
CL_HUB=
CL_NETNS=()
cl_netns_setup() {
  local n=$1 i tag="cap$$" x=$((RANDOM % 200 + 20))
  CL_HUB=$tag-hub
  CL_NETNS=("$CL_HUB")
  CAP_CLEANUP_HOOKS+=(cl_netns_cleanup)
  ip netns add "$CL_HUB" || return 1
  ip -n "$CL_HUB" link set lo up
  ip -n "$CL_HUB" link add brp type bridge && ip -n "$CL_HUB" link set brp up || return 1
  ip -n "$CL_HUB" link add brc type bridge && ip -n "$CL_HUB" link set brc up || return 1
  ip -n "$CL_HUB" addr add "10.$x.2.1/24" dev brc || return 1
  for ((i = 1; i <= n; i++)); do
    local ns=$tag-m$i
    ip netns add "$ns" || return 1
    CL_NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip link add "p$i" netns "$CL_HUB" type veth peer name peer0 netns "$ns" || return 1
    ip link add "c$i" netns "$CL_HUB" type veth peer name client0 netns "$ns" || return 1
    ip -n "$CL_HUB" link set "p$i" master brp up && ip -n "$CL_HUB" link set "c$i" master brc up || return 1
    ip -n "$ns" addr add "10.$x.1.$((10 + i))/24" dev peer0 && ip -n "$ns" link set peer0 up || return 1
    ip -n "$ns" addr add "10.$x.2.$((10 + i))/24" dev client0 && ip -n "$ns" link set client0 up || return 1
    CL_IP[m$i]=10.$x.1.$((10 + i))
    CL_CIP[m$i]=10.$x.2.$((10 + i))
    CL_NS[m$i]=$ns
  done
  CL_CPORT=2379 CL_PPORT=2380 CL_NET=10.$x.1
  local real; real=$(command -v "$CAPSTAN_ETCDCTL") || return 1
  printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$CL_HUB" "$real" >"$CAP_TMP/etcdctl-hub"
  chmod +x "$CAP_TMP/etcdctl-hub"
  CAPSTAN_ETCDCTL=$CAP_TMP/etcdctl-hub
}
# cl_netns_cut NAME / cl_netns_heal NAME: take the member's peer link down / up (on the
# hub side; its client link stays up).
cl_netns_cut() { ip -n "$CL_HUB" link set "p${1#m}" down; }
cl_netns_heal() { ip -n "$CL_HUB" link set "p${1#m}" up; }
cl_netns_cleanup() {
  local ns
  for ns in "${CL_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  CL_NETNS=()
}

# --- TLS ---------------------------------------------------------------------------------
CL_TLS_DIR=
# cl_tls_init DIR: a CA and a client certificate (CN root) in DIR; every member started
# from now on gets https:// client and peer URLs, and the harness's etcdctl (and
# CL_TLS_CLIENT, for other clients) --cacert/--cert/--key. cl_tls_certs makes the
# members' own certificates.
cl_tls_init() {
  CL_TLS_DIR=$1
  mkdir -p "$CL_TLS_DIR" || return 1
  tls_ca "$CL_TLS_DIR" ca "capstan-e2e-ca" &&
    tls_client "$CL_TLS_DIR" client ca root 3001 || return 1
  CL_TLS_CLIENT=(--cacert "$CL_TLS_DIR/ca.pem" --cert "$CL_TLS_DIR/client.pem" --key "$CL_TLS_DIR/client-key.pem")
  CAP_CTL_TLS=("${CL_TLS_CLIENT[@]}")
  CL_CLIENT_SCHEME=https CL_PEER_SCHEME=https
  CL_MEMBER_FLAGS_FN=cl__tls_member_flags
}
# cl_tls_certs SIZE: for the current run (CL_RUN; CL_NET chosen, cl_net_init first): a
# server certificate for members m1..mSIZE's client addresses, a peer certificate per
# member (its own address, and 127.0.0.1: a peer dials from 127.0.0.1 and its client
# certificate is checked against the address it comes from), and CL_EXTRA with the flags
# every member takes. Server and peer certificates are good for both ends, as etcd's.
cl_tls_certs() {
  local i ips=() n run=${CL_RUN//\//-}
  for ((i = 1; i <= $1; i++)); do ips+=("IP:$(cl_ip "m$i")"); done
  tls_leaf "$CL_TLS_DIR" "server-$run" ca server 1001 "$(IFS=,; echo "${ips[*]}"),IP:127.0.0.1,DNS:localhost" \
    serverAuth,clientAuth || return 1
  for ((i = 1; i <= $1; i++)); do
    n=m$i
    tls_leaf "$CL_TLS_DIR" "peer-$run-$n" ca "$n" "$((2000 + i))" "IP:$(cl_ip "$n"),IP:127.0.0.1,DNS:localhost" \
      serverAuth,clientAuth || return 1
  done
  CL_EXTRA=(--cert-file "$CL_TLS_DIR/server-$run.pem" --key-file "$CL_TLS_DIR/server-$run-key.pem"
    --trusted-ca-file "$CL_TLS_DIR/ca.pem" --client-cert-auth
    --peer-trusted-ca-file "$CL_TLS_DIR/ca.pem" --peer-client-cert-auth)
}
# (CL_MEMBER_FLAGS_FN) the member's own peer certificate, in the current run.
cl__tls_member_flags() {
  local run=${CL_RUN//\//-}
  printf '%s\n' --peer-cert-file "$CL_TLS_DIR/peer-$run-$1.pem" --peer-key-file "$CL_TLS_DIR/peer-$run-$1-key.pem"
}
