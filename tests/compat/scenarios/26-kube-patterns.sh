#!/usr/bin/env bash
# kube-apiserver's request patterns: create/update/delete as txns on mod_revision, paginated list pinned to a revision with continue keys, count_only, compaction key txn.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

T() { cin "$1" txn "${@:2}"; }
# Create = if mod(key) == 0 then put
T $'mod("/registry/pods/ns/a") = "0"\n\nput /registry/pods/ns/a pod-a-v1\n\n' -w json     # 2
T $'mod("/registry/pods/ns/a") = "0"\n\nput /registry/pods/ns/a dup\n\n' -w json          # exists: fails
for p in b c d e f; do T $'mod("/registry/pods/ns/'"$p"$'") = "0"\n\nput /registry/pods/ns/'"$p"$' pod-'"$p"$'\n\n'; done   # 3..7
# Update = if mod(key) == rv then put else get
T $'mod("/registry/pods/ns/a") = "2"\n\nput /registry/pods/ns/a pod-a-v2\n\nget /registry/pods/ns/a\n' -w json   # 8
T $'mod("/registry/pods/ns/a") = "2"\n\nput /registry/pods/ns/a stale\n\nget /registry/pods/ns/a\n' -w json   # conflict
# Delete = if mod(key) == rv then delete else get
T $'mod("/registry/pods/ns/b") = "3"\n\ndel /registry/pods/ns/b\n\nget /registry/pods/ns/b\n' -w json   # 9
T $'mod("/registry/pods/ns/c") = "1"\n\ndel /registry/pods/ns/c\n\nget /registry/pods/ns/c\n' -w json
# Get = range limit 1; health check key
c get /registry/pods/ns/a --limit=1 -w json
c get /registry/health -w json
# List: first page at the current revision, next pages pinned to it
P=$(b64 /registry/pods/); E=$(b64 /registry/pods0)
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"limit\":2}"
c put /registry/pods/ns/g late                                                       # 10: not in the pinned list
gw POST /v3/kv/range "{\"key\":\"$(printf '/registry/pods/ns/c\0' | base64 -w0)\",\"range_end\":\"$E\",\"limit\":2,\"revision\":9}"
gw POST /v3/kv/range "{\"key\":\"$(printf '/registry/pods/ns/e\0' | base64 -w0)\",\"range_end\":\"$E\",\"limit\":2,\"revision\":9}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"count_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"count_only\":true,\"revision\":9}"
# Compaction: bump compact_rev_key's version in a txn, then compact
T $'version("compact_rev_key") = "0"\n\nput compact_rev_key 8\n\nget compact_rev_key\n' -w json   # 11
c compaction 8
T $'version("compact_rev_key") = "1"\n\nput compact_rev_key 11\n\nget compact_rev_key\n' -w json  # 12
c compaction 11
c get /registry/pods/ --prefix --rev=9 --limit=2 --keys-only   # compacted: kube relists
c get /registry/pods/ --prefix --keys-only -w json
