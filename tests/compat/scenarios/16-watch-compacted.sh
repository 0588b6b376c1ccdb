#!/usr/bin/env bash
# Watch from a compacted revision is canceled with the compaction error; from exactly the compacted revision it replays; a future start revision waits.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for i in 1 2 3 4 5; do c put wc "v$i"; done     # revisions 2..6
c compaction 4
watch_rev below wc --rev=2
watch_end below 2 5
watch_rev belowjson wc --rev=3 -w json
watch_end belowjson 1 5
watch_rev at wc --rev=4
watch_end at 9
watch_rev above wc --rev=5 --prev-kv
watch_end above 10
watch_bg future wc --rev=8
c put wc v6                                       # 7: not delivered (before 8)
c put wc v7                                       # 8: delivered
c put wc v8                                       # 9
watch_end future 6
watch_bg zero wc --rev=0
c put wc v9
watch_end zero 3
