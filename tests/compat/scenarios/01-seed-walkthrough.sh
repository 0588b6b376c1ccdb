#!/usr/bin/env bash
# The seed guide's etcdctl session, unchanged: put/get/--hex/--print-value-only/--prefix, keys-only, del, lease expiry, watch, member list, health.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put foo bar
c get foo
c get foo --hex
c get foo --print-value-only
c put foo1 bar1
c put foo2 bar2
c put foo3 bar3
c get foo --prefix
# the directory tree example
c put / 0
c put /home 1
c put /home/root 2
c put /home/mysql 2
c put /home/etcd 2
c put /home/etcd/history 3
c get /home/ --keys-only --prefix
c get /home --keys-only --prefix
c del foo
c del foo --prefix
# lease: a key that disappears with its lease (guide uses 10 s and 20 s; 3 s here)
grant 3
c put foo1 bar1 --lease="$LEASE"
grant 3
c put zoo 1 --lease="$LEASE"
c get zoo
sleep 5
c get zoo
c get foo1
# watch /dc/ while another client registers and removes /dc/beijing1
watch_bg dc /dc/ --prefix
grant 60
c put /dc/beijing1 13557 --lease="$LEASE"
c lease keep-alive --once "$LEASE"
c lease revoke "$LEASE"
watch_end dc 5
c get /dc/ --prefix
c member list -w json
c member list --write-out=table
c endpoint health
c endpoint health -w json
