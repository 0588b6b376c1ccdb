#!/usr/bin/env bash
# Historical reads with --rev: every revision of a small history, ranges at a revision, deleted keys, rev 0 = latest, serializable.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put h/a 1                      # 2
c put h/b 1                      # 3
c put h/a 2                      # 4
c del h/b                        # 5
c put h/c 1                      # 6
c put h/b 2                      # 7
c del h/ --prefix                # 8
c put h/a 3                      # 9
for r in 1 2 3 4 5 6 7 8 9; do
  c get h/ --prefix --rev="$r" -w json
done
c get h/a --rev=0 -w json
c get h/b --rev=3 --print-value-only
c get h/ --prefix --rev=7 --keys-only
c get h/ --prefix --rev=7 --limit=1 -w json
c get h/ --prefix --rev=6 --sort-by=VALUE --order=DESCEND
c get h/ --prefix --rev=7 --consistency=s -w json
c get h/ --prefix --rev=10
c get h/ --prefix --rev=-1
