#!/usr/bin/env bash
# txn limits and conflicts: duplicate put, put overlapping a delete range, 128 ops vs 129 ops in compares/success/failure.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put k 1
T() { cin "$1" txn "${@:2}"; }
T $'\nput a 1\nput a 2\n\n'                   # same key twice
T $'\nput a 1\n\nput a 2\nput a 3\n'          # twice in the failure branch
T $'\nput b/1 1\ndel b/ --prefix\n\n'         # put inside a deleted range
T $'\ndel b/ --prefix\nput b/1 1\n\n'
T $'\ndel a\ndel a\n\n' -w json               # two deletes of one key are allowed
T $'\nput a 1\nget a\nget a\n\n' -w json      # reads may repeat
T $'\nput a 1\n\nput a 2\n\n' -w json         # the same key in both branches is fine
c get '' --from-key -w json
ops() { local i; for ((i = 0; i < $1; i++)); do printf '%s %s%d %s\n' "$2" "$3" "$i" "${4:-}"; done; }
cmps() { local i; for ((i = 0; i < $1; i++)); do printf 'version("c%d") = "0"\n' "$i"; done; }
T $'\n'"$(ops 128 put s v)"$'\n\n' -w json
c get s0 s999 --keys-only --limit=3 -w json
T $'\n'"$(ops 129 put t v)"$'\n\n'
c get t --prefix -w json
T $'\n'"$(ops 129 get s)"$'\n\n'
T $'\n\n'"$(ops 129 put u v)"$'\n'
T "$(cmps 128)"$'\n\nget k\n\n'
T "$(cmps 129)"$'\n\nget k\n\n'
T $'\n'"$(ops 128 put w v)"$'\n\n'"$(ops 128 put w v)"$'\n' -w json
c get '' --from-key --keys-only --limit=1 -w json
