#!/usr/bin/env bash
# put options and put errors: --prev-kv, --ignore-value, --ignore-lease, unknown lease, lease+ignore-lease together, empty key, value from stdin.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put p1 one --prev-kv               # no previous: nothing printed after OK
c put p1 two --prev-kv
c put p1 three --prev-kv -w json
c put p1 --ignore-value -w json      # keeps "three", bumps version and revision
c get p1 -w json
c put p1 four --ignore-value         # value and --ignore-value: error
c put missing --ignore-value         # key not found
c put p1 again --ignore-lease        # no lease to keep: still fine
c get p1 -w json
grant 600
L1=$LEASE
c put p2 leased --lease="$L1"
c put p2 new-value --ignore-lease -w json   # keeps the lease
c get p2 -w json
c lease timetolive "$L1" --keys
c put p2 --ignore-value --ignore-lease
c get p2 -w json
c put p2 detached                    # a plain put detaches the lease
c lease timetolive "$L1" --keys
c get p2 -w json
c put p3 v --lease=1234              # unknown lease
c put p3 v --lease=zz                # not hex
c put p3 v --lease="$L1" --ignore-lease
c get p3 -w json
c put '' x                           # empty key
c put '' x --prev-kv -w json
c put p4                             # value missing and stdin empty
cin 'from-stdin' put p5
c get p5 -w json
c put p6 '  spaces  '
c get p6 --print-value-only
c put -- -dash -value
c get -- -dash
c put p7 $'line1\nline2'
c get p7
c get p7 -w json
c get p --prefix --keys-only
c lease revoke "$L1"
c get p --prefix --keys-only -w json
