#!/usr/bin/env bash
# Sorted ranges: --sort-by=KEY|CREATE|MODIFY|VALUE|VERSION with --order ASCEND/DESCEND, with and without --limit.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

# distinct create, mod, version and value for every key (no ties)
c put s/c v-3
c put s/a v-9
c put s/d v-1
c put s/b v-7
c put s/a v-5
c put s/a v-6
c put s/d v-2
c put s/e v-4
for target in KEY CREATE MODIFY VALUE VERSION; do
  c get s/ --prefix --sort-by="$target"
  c get s/ --prefix --sort-by="$target" --order=DESCEND
done
c get s/ --prefix --order=DESCEND --keys-only
c get s/ --prefix --order=ASCEND --keys-only
c get s/ --prefix --sort-by=MODIFY --order=DESCEND --limit=2 -w json
c get s/ --prefix --sort-by=VALUE --order=ASCEND --limit=3 --keys-only
c get s/ --prefix --sort-by=VERSION --order=DESCEND --limit=1 -w json
c get s/ --prefix --sort-by=KEY --order=DESCEND --limit=2 -w json
c get s/ --prefix --sort-by=CREATE --keys-only --limit=2
c get s/ --prefix --sort-by=BOGUS
c get s/ --prefix --order=SIDEWAYS
