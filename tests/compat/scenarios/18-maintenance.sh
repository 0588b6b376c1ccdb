#!/usr/bin/env bash
# Maintenance: endpoint status/health/hashkv in every format (version, sizes, indexes, hashes masked), alarm list/disarm, defrag, move-leader errors.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put m 1
c put m 2
c endpoint status
c endpoint status -w json
c endpoint status -w table
c endpoint status -w fields
c endpoint health
c endpoint health -w json
c endpoint health -w table
c endpoint health -w fields
c endpoint hashkv
c endpoint hashkv -w json
c endpoint hashkv -w table
c endpoint hashkv --rev=2 -w json
c endpoint hashkv --rev=99
c alarm list
c alarm list -w json
c alarm disarm
c alarm disarm -w json
c defrag
c defrag -w json
c endpoint status -w json
c get m -w json
c move-leader 1234
c move-leader
c endpoint status --cluster -w json
c endpoint health --cluster
