#!/usr/bin/env bash
# Compaction: reads below/at/above the compacted revision and in the future, compacting again at or below it, --physical, hashkv's compact_revision.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for i in 1 2 3 4 5 6 7 8; do c put ck "v$i"; done   # revisions 2..9
c put other x                                          # 10
c del other                                            # 11
c endpoint hashkv -w json
c compaction 5
c get ck --rev=4                   # below: compacted
c get ck --rev=4 -w json
c get ck --rev=5 -w json           # at: allowed
c get ck --rev=6 --print-value-only
c get ck --rev=11 -w json          # current
c get ck --rev=12                  # future
c get ck -w json
c get other --rev=10 -w json
c compaction 5                     # again at the same revision
c compaction 3                     # below
c compaction 12                    # future
c compaction 0
c compaction abc
c endpoint hashkv -w json
c compaction 7 --physical
c get ck --rev=6
c get ck --rev=7 -w json
c endpoint hashkv -w json
c put ck v9 -w json                # revisions continue
c compaction 12 -w json
c get ck --rev=12 -w json
c get '' --from-key -w json
c get ck --rev=1
c del ck --prev-kv -w json
c compaction 13
c get ck -w json
c get ck --rev=13 -w json
c compaction 14
