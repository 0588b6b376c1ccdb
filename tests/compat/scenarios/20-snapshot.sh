#!/usr/bin/env bash
# snapshot save streams a usable backup; snapshot status reads its revision (hash, key count and size masked).
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for i in 1 2 3 4 5; do c put "snap/$i" "value-$i"; done
c del snap/5
c snapshot save snap.db
check "snapshot file is non-empty" test -s snap.db
c snapshot status snap.db
c snapshot status snap.db -w json
c snapshot status snap.db -w table
c put snap/6 after -w json
c snapshot save snap2.db
c snapshot status snap2.db -w json
c snapshot save
c snapshot save /nonexistent-dir/x.db
c snapshot status missing.db
c get snap/ --prefix --keys-only
