#!/usr/bin/env bash
# The same requests in every etcdctl output format (simple, json, fields, table) and with --hex, for put, get, del, txn, lease and compaction.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put fmt/a alpha
c put fmt/b beta -w json
c put fmt/c gamma -w fields
c put fmt/a alpha2 --prev-kv
c put fmt/a alpha3 --prev-kv -w fields
c get fmt/a
c get fmt/a -w json
c get fmt/a -w fields
c get fmt/a -w table
c get fmt/ --prefix -w fields
c get fmt/ --prefix -w simple --hex
c get fmt/ --prefix -w json --hex
c get fmt/ --prefix -w fields --hex
c get fmt/a --print-value-only --hex
c get fmt/ --prefix --keys-only --hex
c get fmt/ --prefix --keys-only -w fields
c get fmt/ --prefix --print-value-only --keys-only
c get fmt/none -w fields
c get fmt/none -w table
c get fmt/a -w yaml
c del fmt/c -w fields
c del fmt/b --prev-kv -w fields
c del fmt/a --prev-kv --hex
cin $'value("fmt/a") = "alpha3"\n\nput fmt/x 1\nget fmt/x\n\ndel fmt/x\n' txn -w fields
cin $'value("fmt/a") = "nope"\n\nput fmt/x 1\n\nget fmt/x\ndel fmt/x\n' txn -w fields
cin $'\nget fmt/x\n\n' txn -w table
cin $'\nget fmt/x\n\n' txn --hex
grant 500 -w fields
c lease timetolive "$LEASE" -w fields
c lease keep-alive --once "$LEASE" -w fields
c lease revoke "$LEASE" -w fields
c compaction 2 -w fields
c put fmt/a '' -w json
c get fmt/a -w json
c get fmt/a
