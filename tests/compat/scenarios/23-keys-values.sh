#!/usr/bin/env bash
# Unusual keys and values: UTF-8, spaces, control characters, very long keys, empty values, keys that sort around prefixes (byte order).
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put 'ключ' 'значение'
c put '键' '值'
c get 'ключ'
c get 'ключ' --hex
c get '键' -w json
c put 'with space' 'a b c'
c get 'with space' -w json
c put $'tab\there' $'v\tv'
c get $'tab\there' --hex
c put $'\x01\x02' $'\x7f'
c get $'\x01' $'\x03' --hex
LONG=$(printf 'k%.0s' $(seq 1 10000))
c put "$LONG" long-key-value
c get "$LONG" --print-value-only
c get k --prefix --keys-only -w json --limit=1
c put empty ''
c get empty -w json
c get empty --print-value-only
c put 'a' 1
c put 'a/' 2
c put 'a0' 3
c put 'a.' 4
c put 'A' 5
c put 'a/b' 6
c get a --prefix --keys-only
c get 'a/' --prefix --keys-only
c get '' --from-key --keys-only --limit=4
c get A a0 --keys-only
c get $'\xff' --from-key --keys-only
c put $'\xff\xfe' high
c get $'\xff' --from-key --hex
c get $'\xff' --prefix --keys-only --hex
c del $'\xff' --prefix
