#!/usr/bin/env bash
# Historical watches (--rev): single key, --prefix, [key, end) ranges, --prev-kv, deletes, txn events, json output of a replay.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put a 1                       # 2
c put b 1                       # 3
c put a 2                       # 4
c del b                         # 5
c put c 1                       # 6
cin $'\nput a 3\nput b 2\ndel c\n\n' txn      # 7
c put d 1                       # 8
c put a/x 1                     # 9
watch_rev w1 a --rev=1
watch_end w1 9
watch_rev w2 a --rev=4 --prev-kv
watch_end w2 10
watch_rev w3 a --prefix --rev=1
watch_end w3 12
watch_rev w4 a c --rev=2
watch_end w4 21
watch_rev w5 b --rev=1 --prev-kv
watch_end w5 11
watch_rev w6 a d --rev=6 -w json
watch_end w6 1
watch_rev w7 c --rev=7
watch_end w7 3
watch_rev w8 zzz --rev=2
watch_end w8 1 2
watch_rev w9 '' --prefix --rev=8
watch_end w9 6
