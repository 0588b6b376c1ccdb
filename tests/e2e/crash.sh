#!/usr/bin/env bash
# Crash safety: concurrent writers put keys while the server is SIGKILLed; after a
# restart on the same data dir every acknowledged put (etcdctl exited 0) must be
# there with its value. Three kill/restart cycles.
#
# usage: tests/e2e/crash.sh   (CAPSTAN_BIN selects the server; any etcd-compatible
#        binary works, e.g. CAPSTAN_BIN=/usr/bin/etcd to check the test itself)
# Knobs: CRASH_WRITERS (default 4), CRASH_CYCLES (3), CRASH_WRITE_SECONDS (3).
set -u
CAP_TEST_NAME=crash
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
cap_init

WRITERS=${CRASH_WRITERS:-4}
CYCLES=${CRASH_CYCLES:-3}
WRITE_SECONDS=${CRASH_WRITE_SECONDS:-3}
ACK=$CAP_TMP/acked
mkdir -p "$ACK"

cap_up s1 "$CAPSTAN_BIN" || { cap_fail "server did not start"; cap_finish; }
ctl() { cap_ctl s1 "$@"; }

# writer CYCLE ID: put crash/CYCLE/ID/N = v-CYCLE-ID-N for N = 1, 2, ... until the
# stop file appears; record "key value" only after etcdctl exits 0.
writer() {
  local cycle=$1 id=$2 n=0 key val
  local out=$ACK/c$cycle-w$id
  : >"$out"
  while [ ! -e "$CAP_TMP/stop-$cycle" ]; do
    n=$((n + 1))
    key=crash/$cycle/$id/$(printf '%06d' "$n")
    val=v-$cycle-$id-$n
    if timeout 10 "$CAPSTAN_ETCDCTL" --endpoints="${CAP_EP[s1]}" --dial-timeout=1s \
      --command-timeout=3s put "$key" "$val" >/dev/null 2>&1; then
      printf '%s %s\n' "$key" "$val" >>"$out"
    else
      sleep 0.05
    fi
  done
}

# check_all: every acknowledged put of every cycle so far is present with its value.
check_all() {
  local label=$1 acked present missing
  cat "$ACK"/c* 2>/dev/null | sort >"$CAP_TMP/acked.txt"
  if ! ctl get crash/ --prefix >"$CAP_TMP/dump.txt" 2>"$CAP_TMP/dump.err"; then
    cap_fail "$label: reading back failed: $(head -c 300 "$CAP_TMP/dump.err")"
    return
  fi
  paste -d' ' - - <"$CAP_TMP/dump.txt" | sort >"$CAP_TMP/present.txt"
  acked=$(wc -l <"$CAP_TMP/acked.txt")
  present=$(wc -l <"$CAP_TMP/present.txt")
  missing=$(comm -23 "$CAP_TMP/acked.txt" "$CAP_TMP/present.txt" | wc -l)
  cap_say "$label: $acked acknowledged, $present present (unacknowledged puts may survive), $missing lost"
  if [ "$missing" = 0 ] && [ "$acked" -gt 0 ]; then
    cap_pass "$label: no acknowledged write lost"
  elif [ "$acked" = 0 ]; then
    cap_fail "$label: no write was acknowledged at all"
  else
    cap_fail "$label: $missing acknowledged writes lost, e.g.:"
    comm -23 "$CAP_TMP/acked.txt" "$CAP_TMP/present.txt" | head -5 | sed 's/^/    /'
  fi
}

for cycle in $(seq 1 "$CYCLES"); do
  pids=()
  for w in $(seq 1 "$WRITERS"); do
    writer "$cycle" "$w" &
    pids+=($!)
  done
  cap_track "${pids[@]}"
  # kill at a slightly different moment each cycle
  sleep "$WRITE_SECONDS.$((cycle * 3))"
  cap_say "cycle $cycle: kill -9 while $WRITERS writers are running"
  cap_stop s1 KILL
  touch "$CAP_TMP/stop-$cycle"
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if ! { cap__launch s1 && cap_wait_healthy s1 60; }; then
    cap_fail "cycle $cycle: server did not come back after kill -9"
    cap_log_tail s1 30
    break
  fi
  check_all "cycle $cycle"
  # the restarted server accepts writes and its revision moves on
  if ctl put crash-probe "$cycle" >/dev/null 2>&1 &&
    [ "$(ctl get crash-probe --print-value-only 2>/dev/null)" = "$cycle" ]; then
    cap_pass "cycle $cycle: writes after restart"
  else
    cap_fail "cycle $cycle: put/get after restart"
  fi
done

# a clean final restart keeps everything too
if cap_restart s1; then check_all "final clean restart"; else cap_fail "final restart"; fi
cap_finish
