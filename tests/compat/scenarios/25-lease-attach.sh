#!/usr/bin/env bash
# Moving keys between leases: re-put with another lease, revoke of the old lease keeps moved keys, one revoke deletes many keys in one revision, deleted keys leave the lease.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

grant 600
A=$LEASE
grant 600
B=$LEASE
for i in 1 2 3 4 5 6; do c put "la/$i" "v$i" --lease="$A"; done    # 2..7
c put la/3 moved --lease="$B"                                    # 8
c put la/4 plain                                                 # 9
c del la/5                                                       # 10
c lease timetolive "$A" --keys
c lease timetolive "$B" --keys
c lease revoke "$A" -w json                                      # 11: la/1 la/2 la/6
c get la/ --prefix -w json
c get la/1 --rev=10 -w json
c lease timetolive "$B" --keys -w json
cin $'\nput la/7 x\nput la/8 y\n\n' txn                          # 12 (no lease)
c put la/7 x --lease="$B"                                        # 13
c put la/8 y --lease="$B"                                        # 14
c lease timetolive "$B" --keys
c lease revoke "$B" -w json                                      # 15
c get la/ --prefix -w json
c get '' --from-key --keys-only -w json
