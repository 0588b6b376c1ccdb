#!/usr/bin/env bash
# Cluster membership on one member: member list in every format, add/remove a learner (quorum unchanged), promote error, update, error texts.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c member list
c member list -w json
c member list -w table
c member list -w fields
# a learner does not count for quorum, so a one-member cluster stays available
# (members are listed in ID order; IDs differ between servers, so compare sorted)
out=$(_ctl member add learner1 --learner --peer-urls=http://127.0.0.1:1 -w json 2>&1)
rc=$?
printf '$ etcdctl member add learner1 --learner --peer-urls=http://127.0.0.1:1 -w json  (output sorted)\n'
_out "$rc" "$out"
NEW=$(printf '%s\n' "$out" | sed -n 's/.*"member":{"ID":\([0-9]*\).*/\1/p')
NEWHEX=$(printf '%x' "${NEW:-0}")
cs member list
cs member list -w table
sleep 1.1   # member IDs hash the peer URLs and the time in seconds: force a new ID
c member add learner2 --learner --peer-urls=http://127.0.0.1:1
c member promote "$NEWHEX"
c put after-add ok -w json
c member update "$NEWHEX" --peer-urls=http://127.0.0.1:2
cs member list -w json
c member remove "$NEWHEX"
c member remove "$NEWHEX"
c member list
c member remove 1234
c member promote 1234
c member update 1234 --peer-urls=http://127.0.0.1:3
c member add nourl
c member add bad --peer-urls=notaurl
c get after-add -w json
