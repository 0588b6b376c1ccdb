#!/usr/bin/env bash
# txn from stdin: compares on value/version/create/mod with = != < >, missing keys, success and failure branches, get/put/del ops, outputs.
# shellcheck source=tests/compat/scenario-lib.sh
. "$(dirname "$0")/../scenario-lib.sh" "$@"

c put x 10        # 2
c put y 20        # 3
c put x 11        # 4
T() { cin "$1" txn "${@:2}"; }
T $'value("x") = "11"\n\nput r a\n\nput r b\n'
T $'value("x") = "10"\n\nput r c\n\nput r d\n'
c get r -w json
T $'value("x") != "10"\n\nget x\n\n'
T $'value("x") > "1"\n\nget x\n\nget y\n'            # byte-wise "11" > "1"
T $'value("x") < "2"\n\nget x\n\nget y\n'
T $'version("x") = "2"\nversion("y") = "1"\n\nput v ok\n\nput v fail\n' -w json
T $'version("x") > "2"\n\nput v ok2\n\nput v fail2\n' -w json
T $'create("x") = "2"\n\nget x\n\n' -w json
T $'create("y") > "2"\nmod("y") < "4"\n\nget y\n\n'
T $'mod("x") = "4"\n\ndel y\n\nget y\n' -w json
c get y -w json
# missing keys: value never matches, version/create/mod compare against 0
T $'value("missing") = ""\n\nget yes\n\nget no\n'
T $'value("missing") != "x"\n\nget yes\n\nget no\n'
T $'version("missing") = "0"\n\nput m1 1\n\n' -w json
T $'create("missing") = "0"\nmod("missing") = "0"\n\nput m2 1\n\n' -w json
T $'mod("missing") < "1"\n\nget m1 m3\n\n'
T $'version("m1") = "0"\n\nput m1 again\n\nput m1 taken\n' -w json
c get m1
# ops with ranges and options
T $'\nput p/1 a\nput p/2 b\nput p/3 c\n\n'
T $'\nget p/ --prefix\n\n'
T $'\nget p/ --prefix --keys-only\nget p/1 p/3\n\n' -w json
T $'\ndel p/ --prefix\n\n' -w json
T $'\nput q 1\ndel missing\nget q\n\n' -w json
T $'\n\n\n' -w json                 # empty txn
T $'value("x") = "11"\n\n\n\n' -w json
T $'value("x") = "11"\nvalue("y") = "nope"\n\nget x\n\nget y\nget x\n' -w json
T $'bogus("x") = "1"\n\n\n'
T $'value("x") = "11"\n\nfrobnicate x\n\n'
c get '' --from-key -w json
