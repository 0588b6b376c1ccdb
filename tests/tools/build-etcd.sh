#!/usr/bin/env bash
# Builds the reference etcd binaries (etcd, etcdctl, etcdutl, benchmark) at the version
# pinned in tests/tools/go.mod into $CAPSTAN_BIN_CACHE/etcd-<version>/ (default
# ~/.cache/capstan/bin/etcd-3.7.3/), from the Go module proxy, with `go build` in the
# wrapper module tests/tools (see the comment at the top of its go.mod).
#
# Idempotent: when the four binaries exist, `etcd --version` reports the pinned version
# and the stamp file records the same go.mod/go.sum, nothing is built.
#
# usage: tests/tools/build-etcd.sh [--force] [--print-dir] [--check]
#   --force      rebuild even if the binaries are there
#   --print-dir  only print the output directory (nothing is built or checked)
#   --check      exit 0 if the binaries are up to date, 1 otherwise (nothing built)
# Environment (all optional):
#   CAPSTAN_BIN_CACHE  default $HOME/.cache/capstan/bin
#   GOMODCACHE         default $HOME/.cache/capstan/go-mod
#   GOCACHE            default $HOME/.cache/capstan/go-build
#   CAPSTAN_GO         the go command, default `go` on PATH
# Builds run under `nice -n 19`. Needs Go >= 1.26 (etcd 3.7.3 declares `go 1.26.0`).
# The Go environment (caches, GOFLAGS, GOTOOLCHAIN=local, CGO_ENABLED=0) and the build
# steps are shared with the other build scripts: tests/lib/go-env.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/go-env.sh
. "$HERE/../lib/go-env.sh"
GO_TAG=build-etcd
go_tool_env
go_args "$@"

# The pinned versions, read from go.mod (the single source of truth).
SERVER_V=$(go_modver "$HERE/go.mod" go.etcd.io/etcd/server/v3)
CTL_V=$(go_modver "$HERE/go.mod" go.etcd.io/etcd/etcdctl/v3)
UTL_V=$(go_modver "$HERE/go.mod" go.etcd.io/etcd/etcdutl/v3)
ROOT_V=$(go_modver "$HERE/benchmark/go.mod" go.etcd.io/etcd/v3)
[ -n "$SERVER_V" ] && [ -n "$CTL_V" ] && [ -n "$UTL_V" ] && [ -n "$ROOT_V" ] ||
  go_die "could not read the pinned versions from $HERE/go.mod and $HERE/benchmark/go.mod"
[ "$SERVER_V" = "$CTL_V" ] && [ "$SERVER_V" = "$UTL_V" ] ||
  go_die "go.mod pins server $SERVER_V, etcdctl $CTL_V, etcdutl $UTL_V: they must agree"
VERSION=${SERVER_V#v}
OUT=$CAPSTAN_BIN_CACHE/etcd-$VERSION
if [ $GO_PRINT = 1 ]; then echo "$OUT"; exit 0; fi

# What identifies a build: the versions and the exact dependency graph.
STAMP_WANT="etcd $VERSION benchmark-root $ROOT_V mod $(go_modhash "$HERE/go.mod" "$HERE/go.sum" "$HERE/benchmark/go.mod" "$HERE/benchmark/go.sum")"
BINS=(etcd etcdctl etcdutl benchmark)

up_to_date() {
  go_built "$OUT" "$STAMP_WANT" "${BINS[@]}" || return 1
  "$OUT/etcd" --version 2>/dev/null | grep -x "etcd Version: $VERSION" >/dev/null || return 1
  "$OUT/etcdctl" version 2>/dev/null | grep -x "etcdctl version: $VERSION" >/dev/null || return 1
}

if [ $GO_CHECK = 1 ]; then up_to_date; exit; fi
if [ $GO_FORCE = 0 ] && up_to_date; then
  go_say "etcd $VERSION already built in $OUT (etcd, etcdctl, etcdutl, benchmark); nothing to do"
  exit 0
fi

go_need "$HERE" "$HERE/benchmark"
GOV=$("$CAPSTAN_GO" env GOVERSION)
go_say "building etcd $VERSION (benchmark from go.etcd.io/etcd/v3 $ROOT_V) with $GOV"
go_say "  into     $OUT"
go_say "  GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE (nice -n 19)"
go_stage "etcd-$VERSION"

cd "$HERE"
t0=$SECONDS
download() { go_run mod download && (cd benchmark && go_run mod download); }
go_step "go mod download (modules of the build list, verified against go.sum)" download
build() { # NAME PACKAGE
  go_step "go build -o $1 $2" go_run build -trimpath -o "$GO_STAGE/$1" "$2"
}
build etcd go.etcd.io/etcd/server/v3
build etcdctl go.etcd.io/etcd/etcdctl/v3
build etcdutl go.etcd.io/etcd/etcdutl/v3
(cd benchmark && build benchmark go.etcd.io/etcd/v3/tools/benchmark)

"$GO_STAGE/etcd" --version | grep -x "etcd Version: $VERSION" >/dev/null ||
  go_die "built etcd reports: $("$GO_STAGE/etcd" --version | head -n 1) (want $VERSION)"
echo "$STAMP_WANT" >"$GO_STAGE/.stamp"
go_install "$OUT"
go_say "done in $((SECONDS - t0)) s:"
for b in "${BINS[@]}"; do go_say "  $OUT/$b"; done
"$OUT/etcd" --version | sed 's/^/[build-etcd]   /'
