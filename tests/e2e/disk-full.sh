#!/usr/bin/env bash
# A full disk, as etcd meets it: the member's data dir is a small tmpfs; writers put
# 64 KiB values until puts fail. etcd cannot persist its WAL any more and exits
# (non-zero, "failed to save Raft hard state and entries" or a bbolt failure), so
# its supervisor restarts it once there is room; Capstan does the same rather than
# keep serving a /livez while no write can ever succeed. Then the data is moved to a
# disk with room and the member restarted: every acknowledged put must be there.
#
# Needs root (mount); skipped otherwise. Passes against etcd too:
#   CAPSTAN_BIN=/usr/bin/etcd tests/e2e/disk-full.sh
# usage: tests/e2e/disk-full.sh   (CAPSTAN_BIN selects the server)
# timeout: 300
set -u
CAP_TEST_NAME=disk-full
# shellcheck source=tests/lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
cap_require_bin "$CAPSTAN_BIN" || exit 1
[ "$(id -u)" = 0 ] || cap_skip "needs root to mount a small tmpfs"
cap_init

DATA=$CAP_TMP/s1/data
mkdir -p "$DATA"
# 200 MiB: room for etcd's preallocated 64 MiB WAL segments, little else.
mount -t tmpfs -o size=200m,mode=0700 capstan-disk-full "$DATA" || cap_skip "cannot mount tmpfs"
unmount_small() { if mountpoint -q "$DATA"; then umount "$DATA"; fi; }
CAP_CLEANUP_HOOKS+=(unmount_small)

cap_up s1 "$CAPSTAN_BIN" --quota-backend-bytes=8589934592 || { cap_fail "server did not start"; cap_finish; }
ctl() { cap_ctl s1 "$@"; }

value=$(head -c 49152 /dev/urandom | base64 -w0)
acked=$CAP_TMP/acked
: >"$acked"
failed=""
# Bounded: 200 MiB are full long before 4000 puts of 64 KiB.
for i in $(seq 1 4000); do
  if out=$(ctl put "full/$i" "$value" 2>&1); then
    echo "full/$i" >>"$acked"
  else
    failed=$out
    break
  fi
done
n=$(wc -l <"$acked")
if [ -n "$failed" ]; then
  cap_pass "puts fail once the disk is full (after $n acknowledged): $(head -n 1 <<<"$failed")"
else
  cap_fail "4000 puts of 64 KiB fitted in 200 MiB"
fi

# The member stops by itself, with an error status, within its request timeout.
for _ in $(seq 1 300); do cap_alive s1 || break; sleep 0.1; done
if cap_alive s1; then
  cap_fail "the member is still running 30 s after its disk filled up (livez: $(curl -s -m 2 "http://${CAP_EP[s1]}/livez"))"
  cap_stop s1 KILL
else
  wait "${CAP_PID[s1]}" 2>/dev/null
  rc=$?
  CAP_PID[s1]=
  cap_check "it exits with an error status (got $rc)" test "$rc" -ne 0
  cap_log_tail s1 5
fi

# Move the data to a disk with room and restart on it.
cp -a "$DATA" "$CAP_TMP/s1/moved"
umount "$DATA"
rmdir "$DATA" && mv "$CAP_TMP/s1/moved" "$DATA"
cap__launch s1
cap_check "the member restarts once there is room" cap_wait_healthy s1
missing=0
while read -r key; do
  [ -n "$(ctl get "$key" --keys-only 2>/dev/null)" ] || missing=$((missing + 1))
done <"$acked"
cap_check "all $n acknowledged puts survived the full disk ($missing missing)" test "$missing" = 0
cap_check "writes are accepted again" cap_quiet ctl put after full
cap_finish
