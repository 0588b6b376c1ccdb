#!/usr/bin/env bash
# Lease expiry: TTL 1 is raised to the 2 s minimum, attached keys vanish together in one revision when the lease expires, timetolive after expiry.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put base 0                                    # 2
grant 1
L1=$LEASE
c lease timetolive "$L1"                        # granted TTL 2 (the minimum)
c lease timetolive "$L1" -w json
grant 2 -w json
L2=$LEASE
c put e/a 1 --lease="$L1"                       # 3
c put e/b 2 --lease="$L1"                       # 4
c put e/c 3 --lease="$L2"                       # 5
c put e/keep 4                                  # 6
c get e/ --prefix --keys-only -w json
sleep 5
c get e/ --prefix --keys-only -w json           # expired: 7 and 8 (one revision per lease)
c get e/a --rev=6 -w json
c lease timetolive "$L1"
c lease timetolive "$L2" -w json
c lease keep-alive --once "$L1"
c put e/x 1 --lease="$L1"
c lease list
# a lease kept alive survives; one not kept alive expires
grant 4
L3=$LEASE
c put e/alive 1 --lease="$L3"
sleep 2.5
c lease keep-alive --once "$L3"
sleep 2.5                                       # 5 s after the grant, 2.5 s after the renewal
c get e/alive --print-value-only
sleep 4
c get e/alive -w json
c get '' --from-key --keys-only -w json
