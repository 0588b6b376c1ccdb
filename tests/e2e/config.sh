#!/usr/bin/env bash
# Configuration the etcd way: the seed guide's conf.yml (adapted to one member on
# 127.0.0.1 and free ports) via --config-file, ETCD_* environment variables, and
# quick, explicit failures for an unknown YAML key, a bad value, a malformed file, a
# missing file, a bad URL, a bad environment value and an unknown flag; --help and
# --version.
#
# usage: tests/e2e/config.sh   (CAPSTAN_BIN selects the server)
set -u
CAP_TEST_NAME=config
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init
BIN=$CAPSTAN_BIN

# --- the seed guide's conf.yml (TLS lines left out: no certificates here)
read -r CP PP <<<"$(cap_ports 2)"
mkdir -p "$CAP_TMP/yaml"
cat >"$CAP_TMP/yaml/conf.yml" <<EOF
#conf.yml

#节点名称,确保唯一即可
name: etcd0
#数据文件存放目录
data-dir: $CAP_TMP/yaml/etcd-data
#心跳间隔时间(ms),如无必要可不设置
heartbeat-interval: 100
#选举超时时间(ms),如无必要可不设置
election-timeout: 1000
#监听对等端请求的地址,格式为scheme://IP:port,逗号分隔,不能使用域名
listen-peer-urls: http://127.0.0.1:$PP
#监听客户端请求的地址,格式为scheme://IP:port,逗号分隔,不能使用域名
listen-client-urls: http://127.0.0.1:$CP

##集群相关配置
initial-cluster: etcd0=http://127.0.0.1:$PP
initial-advertise-peer-urls: http://127.0.0.1:$PP
advertise-client-urls: http://127.0.0.1:$CP
initial-cluster-state: new
initial-cluster-token: etcd-cluster-token
EOF
cap_spawn yaml "127.0.0.1:$CP" "$BIN" --config-file="$CAP_TMP/yaml/conf.yml"
if cap_wait_healthy yaml; then
  cap_pass "starts from the seed guide's conf.yml"
  members=$(cap_ctl yaml member list 2>&1)
  cap_check "member list shows name etcd0 and the configured URLs" \
    grep -q "started, etcd0, http://127.0.0.1:$PP, http://127.0.0.1:$CP" <<<"$members"
  cap_ctl yaml put conf-key conf-value >/dev/null
  cap_expect "serves put/get" "conf-value" "$(cap_ctl yaml get conf-key --print-value-only)"
  cap_check "data dir from the file is used" test -d "$CAP_TMP/yaml/etcd-data/member"
  cap_stop yaml
else
  cap_fail "did not start from conf.yml: $(tail -n 5 "${CAP_LOG[yaml]}")"
fi

# --- ETCD_* environment variables instead of flags
read -r CP PP <<<"$(cap_ports 2)"
CAP_ENV=(ETCD_NAME=envnode "ETCD_DATA_DIR=$CAP_TMP/env/data"
  "ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:$CP" "ETCD_ADVERTISE_CLIENT_URLS=http://127.0.0.1:$CP"
  "ETCD_LISTEN_PEER_URLS=http://127.0.0.1:$PP" "ETCD_INITIAL_ADVERTISE_PEER_URLS=http://127.0.0.1:$PP"
  "ETCD_INITIAL_CLUSTER=envnode=http://127.0.0.1:$PP" ETCD_INITIAL_CLUSTER_TOKEN=env-token
  ETCD_HEARTBEAT_INTERVAL=100 ETCD_ELECTION_TIMEOUT=1000)
cap_spawn env "127.0.0.1:$CP" "$BIN"
if cap_wait_healthy env; then
  cap_pass "starts from ETCD_* environment variables"
  members=$(cap_ctl env member list 2>&1)
  cap_check "member list shows ETCD_NAME and the URLs from the environment" \
    grep -q "started, envnode, http://127.0.0.1:$PP, http://127.0.0.1:$CP" <<<"$members"
  cap_check "ETCD_DATA_DIR is used" test -d "$CAP_TMP/env/data/member"
  cap_stop env
else
  cap_fail "did not start from ETCD_* variables: $(tail -n 5 "${CAP_LOG[env]}")"
fi

# --- configurations that must be refused
# refuse LABEL PATTERN [VAR=value...] -- ARGS...: the server must exit non-zero within
# 15 s and say something matching PATTERN (grep -Ei) on stdout/stderr.
refuse() {
  local label=$1 pattern=$2; shift 2
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local d=$CAP_TMP/refuse-$((++REFUSE_N)) rc out
  mkdir -p "$d"
  cap_env_unset
  (cd "$d" && timeout -k 2 15 env "${CAP_UNSET[@]}" "${envs[@]}" "$BIN" "$@" >"$d/out" 2>&1)
  rc=$?
  out=$(head -c 2000 "$d/out")
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    cap_fail "$label: still running after 15 s (should exit with an error)"
  elif [ "$rc" = 0 ]; then
    cap_fail "$label: exited 0 (should fail)"
  elif grep -Eqi -- "$pattern" <<<"$out"; then
    cap_pass "$label: exits $rc naming the problem"
  else
    cap_fail "$label: exits $rc but the message does not match /$pattern/: $(tail -n 3 "$d/out")"
  fi
}
REFUSE_N=0
read -r CP PP <<<"$(cap_ports 2)"
BASE=(--listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP"
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP"
  --initial-cluster "default=http://127.0.0.1:$PP")
yaml_with() { # yaml_with FILE LINE: conf.yml for the free ports plus LINE
  { printf 'name: default\ndata-dir: %s\n' "$CAP_TMP/bad-data"
    printf 'listen-client-urls: http://127.0.0.1:%s\nadvertise-client-urls: http://127.0.0.1:%s\n' "$CP" "$CP"
    printf 'listen-peer-urls: http://127.0.0.1:%s\ninitial-advertise-peer-urls: http://127.0.0.1:%s\n' "$PP" "$PP"
    printf 'initial-cluster: default=http://127.0.0.1:%s\n' "$PP"
    printf '%s\n' "$2"; } >"$1"
}
yaml_with "$CAP_TMP/unknown-key.yml" "no-such-option: 42"
refuse "YAML with an unknown key" 'no-such-option' -- --config-file="$CAP_TMP/unknown-key.yml"
yaml_with "$CAP_TMP/bad-value.yml" "heartbeat-interval: soon"
refuse "YAML with a bad value" 'heartbeat-interval|soon' -- --config-file="$CAP_TMP/bad-value.yml"
printf 'name: [unclosed\n  data-dir: :\n' >"$CAP_TMP/malformed.yml"
refuse "malformed YAML file" 'malformed\.yml|yaml|parse' -- --config-file="$CAP_TMP/malformed.yml"
refuse "missing config file" 'does-not-exist\.yml' -- --config-file="$CAP_TMP/does-not-exist.yml"
refuse "bad listen URL" 'listen-client-urls|not-a-url' -- "${BASE[@]}" --listen-client-urls=not-a-url
refuse "unknown flag" 'no-such-flag' -- "${BASE[@]}" --no-such-flag=1
refuse "bad ETCD_ variable value" 'heartbeat|ETCD_HEARTBEAT_INTERVAL|soon' ETCD_HEARTBEAT_INTERVAL=soon -- "${BASE[@]}"
refuse "bad --initial-cluster-state" 'initial-cluster-state|sideways' -- "${BASE[@]}" --initial-cluster-state=sideways

# --- --help and --version
help=$(timeout 10 "$BIN" --help 2>&1); rc=$?
cap_expect "--help exits 0" 0 "$rc"
# shellcheck disable=SC2329 # called through cap_check
mentions_all() { local f; for f in "${@:2}"; do grep -q -- "$f" <<<"$1" || return 1; done; }
cap_check "--help lists etcd's flags (--listen-client-urls, --data-dir, --initial-cluster)" \
  mentions_all "$help" --listen-client-urls --data-dir --initial-cluster
version=$(timeout 10 "$BIN" --version 2>&1); rc=$?
cap_expect "--version exits 0" 0 "$rc"
cap_check "--version prints a version number ($(head -n 1 <<<"$version"))" grep -Eq '[0-9]+\.[0-9]+\.[0-9]+' <<<"$version"
cap_finish
