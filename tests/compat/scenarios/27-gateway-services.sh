#!/usr/bin/env bash
# The JSON gateway beyond /v3/kv: a streamed /v3/watch (history and created), compaction, the lease endpoints (grant with a chosen ID, timetolive with keys, leases, a streamed keep-alive, revoke), member list, authenticate without auth, and the v3lock / v3election services (lock/unlock, campaign, leader, proclaim, a streamed observe, resign).
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put w/a 1                                     # 2
c put w/b 2                                     # 3
c put w/a 3                                     # 4
# a watch from revision 2: the "created" answer, then the three events
gw --text --stream 2 POST /v3/watch "{\"create_request\":{\"key\":\"$(b64 w/)\",\"range_end\":\"$(b64 w0)\",\"start_revision\":\"2\"}}"
gw --text --stream 1 POST /v3/watch "{\"create_request\":{\"key\":\"$(b64 w/a)\",\"prev_kv\":true}}"
gw POST /v3/kv/compaction '{"revision":"3","physical":true}'
gw POST /v3/kv/range "{\"key\":\"$(b64 w/a)\",\"revision\":\"2\"}"
gw POST /v3/kv/compaction '{"revision":"2"}'

# leases, with IDs chosen by the client (4660 = 0x1234)
gw POST /v3/lease/grant '{"TTL":"60","ID":"4660"}'
gw POST /v3/lease/grant '{"TTL":"60","ID":"4660"}'
gw POST /v3/lease/grant '{"TTL":"30","ID":"4661"}'
c put w/leased x --lease=1234
gw --text POST /v3/lease/timetolive '{"ID":"4660","keys":true}'
gw POST /v3/lease/leases '{}'
gw --stream 1 POST /v3/lease/keepalive '{"ID":"4661"}'
gw POST /v3/lease/revoke '{"ID":"4661"}'
gw POST /v3/lease/revoke '{"ID":"4661"}'
gw POST /v3/lease/timetolive '{"ID":"4661"}'

gw POST /v3/cluster/member/list '{}'
gw POST /v3/auth/authenticate '{"name":"root","password":"secret"}'

# v3lock: the lock key is name/<lease ID in hex>
gw --text POST /v3/lock/lock "{\"name\":\"$(b64 lk)\",\"lease\":\"4660\"}"
c get lk --prefix --keys-only
gw --text POST /v3/lock/unlock "{\"key\":\"$(b64 lk/1234)\"}"
c get lk --prefix --keys-only

# v3election
gw --text POST /v3/election/campaign "{\"name\":\"$(b64 el)\",\"lease\":\"4660\",\"value\":\"$(b64 v1)\"}"
gw --text POST /v3/election/leader "{\"name\":\"$(b64 el)\"}"
R=$(rev)
gw --text POST /v3/election/proclaim "{\"leader\":{\"name\":\"$(b64 el)\",\"key\":\"$(b64 el/1234)\",\"rev\":\"$((R - 1))\",\"lease\":\"4660\"},\"value\":\"$(b64 v2)\"}"
gw --text --stream 1 POST /v3/election/observe "{\"name\":\"$(b64 el)\"}"
gw --text POST /v3/election/resign "{\"leader\":{\"name\":\"$(b64 el)\",\"key\":\"$(b64 el/1234)\",\"rev\":\"$((R - 1))\",\"lease\":\"4660\"}}"
gw --text POST /v3/election/leader "{\"name\":\"$(b64 el)\"}"
