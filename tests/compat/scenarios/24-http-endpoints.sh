#!/usr/bin/env bash
# HTTP endpoints on the client port: /health, /version (versions masked), /v3 maintenance status and lease grant through the gateway, a range.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put h 1
gw GET /health
gw GET /version
gw POST /v3/maintenance/status '{}'
gw POST /v3/lease/grant '{"TTL":"500"}'
gw POST /v3/kv/range "{\"key\":\"$(b64 h)\"}"
