#!/usr/bin/env bash
# The HTTP/JSON gateway (/v3/kv/*): range with count_only, keys_only, limit/more, min/max mod/create revision filters, txn with lease and range compares, deleterange prev_kv.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

for k in g/a g/b g/c g/d; do c put "$k" "v-$k"; done   # 2..5
c put g/a v2                                            # 6
c put g/c v2                                            # 7
A=$(b64 g/a); P=$(b64 g/); E=$(b64 g0)
gw POST /v3/kv/range "{\"key\":\"$A\"}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"count_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"keys_only\":true,\"limit\":2}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"limit\":4}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"min_mod_revision\":5,\"keys_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"max_mod_revision\":4,\"keys_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"min_create_revision\":3,\"max_create_revision\":4,\"keys_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"min_mod_revision\":6,\"count_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"sort_order\":\"DESCEND\",\"sort_target\":\"MOD\",\"limit\":2,\"keys_only\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"revision\":4,\"keys_only\":true}"
gw POST /v3/kv/range "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"keys_only\":true,\"limit\":1}"
gw POST /v3/kv/put "{\"key\":\"$(b64 g/e)\",\"value\":\"$(b64 e)\",\"prev_kv\":true}"
gw POST /v3/kv/put "{\"key\":\"$A\",\"value\":\"$(b64 v3)\",\"prev_kv\":true}"
# txn: compares the gateway can express and etcdctl cannot (lease, ranges)
gw POST /v3/kv/txn "{\"compare\":[{\"key\":\"$A\",\"target\":\"LEASE\",\"result\":\"EQUAL\",\"lease\":\"0\"}],\"success\":[{\"request_range\":{\"key\":\"$A\"}}]}"
gw POST /v3/kv/txn "{\"compare\":[{\"key\":\"$P\",\"range_end\":\"$E\",\"target\":\"VERSION\",\"result\":\"GREATER\",\"version\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 g/all)\",\"value\":\"$(b64 yes)\"}}],\"failure\":[{\"request_put\":{\"key\":\"$(b64 g/all)\",\"value\":\"$(b64 no)\"}}]}"
gw POST /v3/kv/txn "{\"compare\":[{\"key\":\"$P\",\"range_end\":\"$E\",\"target\":\"MOD\",\"result\":\"LESS\",\"mod_revision\":\"8\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 g/old)\",\"value\":\"$(b64 yes)\"}}],\"failure\":[{\"request_put\":{\"key\":\"$(b64 g/old)\",\"value\":\"$(b64 no)\"}}]}"
gw POST /v3/kv/txn "{\"compare\":[{\"key\":\"$(b64 nope)\",\"target\":\"VALUE\",\"result\":\"NOT_EQUAL\",\"value\":\"$(b64 x)\"}],\"success\":[{\"request_put\":{\"key\":\"$(b64 g/ne)\",\"value\":\"$(b64 yes)\"}}],\"failure\":[{\"request_put\":{\"key\":\"$(b64 g/ne)\",\"value\":\"$(b64 no)\"}}]}"
gw POST /v3/kv/txn "{\"success\":[{\"request_txn\":{\"success\":[{\"request_put\":{\"key\":\"$(b64 g/nested)\",\"value\":\"$(b64 1)\"}}]}}]}"
c get g/ --prefix
gw POST /v3/kv/deleterange "{\"key\":\"$(b64 g/n)\",\"range_end\":\"$(b64 g/o)\",\"prev_kv\":true}"
gw POST /v3/kv/range "{\"key\":\"$P\",\"range_end\":\"$E\",\"count_only\":true}"
