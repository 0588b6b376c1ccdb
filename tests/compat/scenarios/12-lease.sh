#!/usr/bin/env bash
# Leases: grant, attach keys, timetolive (--keys, json), list, keep-alive --once, revoke (keys deleted in one revision), unknown leases, TTL limits.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put plain x
grant 300 -w json
L1=$LEASE
c get plain -w json                             # grant did not bump the revision
grant 400
L2=$LEASE
c put l1/a 1 --lease="$L1"
c put l1/b 2 --lease="$L1"
c put l1/c 3 --lease="$L1" -w json
c put l2/a 1 --lease="$L2"
c get l1/ --prefix -w json
c lease timetolive "$L1"
c lease timetolive "$L1" --keys
c lease timetolive "$L1" --keys -w json
c lease timetolive "$L2" --keys
cs lease list
c lease keep-alive --once "$L1"
c lease keep-alive --once "$L2" -w json
c lease revoke "$L1" -w json                    # one revision for three keys
c get l1/ --prefix -w json
c get plain -w json
c lease timetolive "$L1"
c lease timetolive "$L1" -w json
c lease revoke "$L1"                             # already revoked
c lease keep-alive --once "$L1"
c lease list
c lease timetolive 1234
c lease timetolive 1234 -w json
c lease revoke 1234
c lease keep-alive --once 1234
c lease revoke nothex
c lease timetolive
c lease grant 0
c lease grant -5
c lease grant 9000000000 -w json                # maximum TTL
c lease grant 9000000001                        # too large
c lease grant abc
c lease revoke "$L2" -w json
c get l2/a -w json
c get '' --from-key --keys-only
