#!/usr/bin/env bash
# del: single key, missing key, [key, end) ranges, --prefix, --from-key, --prev-kv (simple/json), revisions of range deletes.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for k in d/a d/b d/c d/d d/e e/a e/b f g h; do c put "$k" "v-$k"; done
c del d/a
c del d/a
c del d/a -w json
c del d/b --prev-kv
c del d/c --prev-kv -w json
c del d/zzz --prev-kv -w json
c del d/d e/b -w json                # [d/d, e/b): d/d d/e e/a
c get d e/z --keys-only
c del e --prefix --prev-kv
c put d/1 x
c put d/2 y
c del d/ --prefix --prev-kv -w json
c del g --from-key -w json           # g h
c get '' --from-key --keys-only
c del nothing --prefix -w json
c del f f -w json                    # range_end == key
c del h a                            # reversed range
c get f -w json
c del '' --prefix --prev-kv
c get '' --from-key -w json
c put z 1
c del '' --from-key -w json
c get '' --from-key -w json
c del
c del a b c
