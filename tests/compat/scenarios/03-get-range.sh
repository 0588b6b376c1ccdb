#!/usr/bin/env bash
# Range reads: exact, [key, end), --prefix, --from-key, empty and reversed ranges, --limit with count/more, --keys-only, --consistency=s.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for k in a ab abc b ba c d e foo foo/1 foo/2 fop; do c put "$k" "val-$k"; done
c get a
c get a e
c get a e -w json
c get a a                        # range_end == key: nothing
c get e a                        # reversed range: nothing
c get a --prefix
c get ab --prefix -w json
c get foo --prefix --keys-only
c get foo/ --prefix
c get f --prefix --print-value-only
c get c --from-key
c get c --from-key --keys-only -w json
c get "" --from-key --keys-only
c get "" --prefix --keys-only
c get zzz --from-key
c get nothing
c get nothing -w json
c get a --prefix --limit=2
c get a --prefix --limit=2 -w json    # count 3, more true
c get a --prefix --limit=3 -w json    # more false
c get a --prefix --limit=4 -w json
c get a --prefix --limit=0 -w json
c get "" --from-key --limit=5 --keys-only -w json
c get b e --limit=1 -w json
c get a e --consistency=s -w json
c get a --consistency=s
c get foo --prefix --keys-only -w json
c get foo --prefix --keys-only --limit=1 -w fields
c get a z --keys-only
