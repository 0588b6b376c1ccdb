#!/usr/bin/env bash
# Interactive watch (watch -i): several watches on one stream, historical replay, and a progress request (one synced watcher: etcd 3.4 answers once per watcher, 3.5+ once per stream) reporting the current revision.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put iw/a 1        # 2
c put iw/b 1        # 3
c put iw/a 2        # 4
# iwatch SECONDS LINE...: feed the lines to `etcdctl watch -i`, keep stdin open for
# SECONDS, then close it (etcdctl exits on end of input). A line "#sleep N" pauses the
# input instead (so that responses of two watchers come in a defined order).
iwatch() {
  local secs=$1; shift
  printf '$ etcdctl watch -i <<EOF\n'
  printf '> %s\n' "$@"
  printf '> EOF\n'
  local out rc
  out=$({ for l in "$@"; do
      case $l in "#sleep "*) sleep "${l#\#sleep }" ;; *) printf '%s\n' "$l" ;; esac
    done; sleep "$secs"; } |
    timeout 30 "$ETCDCTL" --endpoints="$EP" --dial-timeout=3s watch -i 2>&1); rc=$?
  _out "$rc" "$out"
}
iwatch 2 'watch iw/a --rev=1'
iwatch 2 'watch iw/ --prefix --rev=2'
iwatch 2 'watch iw/ --prefix' 'progress'
iwatch 2 'progress'
iwatch 2 'watch iw/b --rev=3 --prev-kv' '#sleep 1' 'watch iw/a --rev=4'
iwatch 2 'watch'
iwatch 2 'bogus iw/a'
c put iw/c 1
iwatch 2 'watch iw/c --rev=5'
iwatch 2 'watch iw/c' 'progress'
