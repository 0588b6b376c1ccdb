#!/usr/bin/env bash
# Revision and version rules: +1 per mutation, same-value put bumps version, delete resets history, no bump for reads, missing deletes, grants, compaction, empty txns.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c get k -w json                 # empty store: revision 1
c put k v1 -w json              # 2
c get k -w json                 # create 2, mod 2, version 1
c put k v1 -w json              # same value: 3, version 2
c get k -w json
c put k v2 -w json              # 4, version 3
c get k -w json
c get k --rev=3 -w json
c del k -w json                 # 5
c get k -w json
c del k -w json                 # missing key: stays 5
c del nothing -w json
c del a z -w json               # empty range: stays 5
c get k -w json
c put k v3 -w json              # 6: new history, create 6, version 1
c get k -w json
c get k --rev=4 -w json         # the old generation at rev 4
cin $'\nput t1 1\nput t2 2\nput t3 3\n\n' txn -w json   # one txn, one revision (7)
c get t1 t4 -w json
cin $'value("t1") = "1"\n\nget t1\nget t2\n\nget t3\n' txn -w json  # read-only: no bump
c get k -w json
cin $'value("t1") = "nope"\n\nput t1 x\n\n' txn -w json    # compare fails, empty failure branch: no bump
c get k -w json
grant 100 -w json                # lease grant: no bump
c get k -w json
c compaction 3 -w json           # compaction: no bump
c get k -w json
c lease revoke "$LEASE" -w json  # revoking a lease without keys: no bump
c get k -w json
c del t --prefix -w json         # three keys, one revision (8)
c get t --prefix -w json
c get t1 --rev=7 -w json
c put k v4 --prev-kv -w json     # 9, prev version 1
c get "" --from-key -w json
