#!/usr/bin/env bash
# Live watches: events from later puts, deletes, a range delete and a txn, with --prefix/--prev-kv, and two watchers on overlapping ranges.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put live/seed 0
watch_bg all live/ --prefix --rev=3       # 3 = the next revision
watch_bg prev live/a --prev-kv --rev=3
c put live/a 1
c put live/a 2
c put live/b 1
c del live/a
cin $'\nput live/c 1\nput live/d 1\n\n' txn
c del live/ --prefix
c put other x
watch_end all 30
watch_end prev 13
# json shows how events are grouped into responses (a txn or range delete is one response)
WATCH_SETTLE=2.5 watch_bg j live/ --prefix -w json
cin $'\nput live/x 1\nput live/y 2\n\n' txn
c del live/ --prefix
c put live/z 3
watch_end j 3
