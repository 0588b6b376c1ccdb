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
#   GOMODCACHE         default $HOME/.cache/capstan/gomod
#   GOCACHE            default $HOME/.cache/capstan/gocache
#   CAPSTAN_GO         the go command, default `go` on PATH
# Builds run under `nice -n 19`. Needs Go >= 1.26 (etcd 3.7.3 declares `go 1.26.0`).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CAPSTAN_BIN_CACHE:=$HOME/.cache/capstan/bin}"
: "${CAPSTAN_GO:=go}"
export GOMODCACHE=${GOMODCACHE:-$HOME/.cache/capstan/gomod}
export GOCACHE=${GOCACHE:-$HOME/.cache/capstan/gocache}
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local   # never download another toolchain behind our back
export CGO_ENABLED=0       # etcd's release builds are static too

say() { printf '[build-etcd] %s\n' "$*"; }
die() { printf '[build-etcd] error: %s\n' "$*" >&2; exit 1; }

FORCE=0 PRINT=0 CHECK=0
for a in "$@"; do
  case $a in
    --force) FORCE=1 ;;
    --print-dir) PRINT=1 ;;
    --check) CHECK=1 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $a (try --help)" ;;
  esac
done

# The pinned versions, read from go.mod (the single source of truth).
modver() { sed -n "s#^[[:space:]]*$1 \(v[^ ]*\).*#\1#p" "$HERE/go.mod" | head -n 1; }
SERVER_V=$(modver go.etcd.io/etcd/server/v3)
CTL_V=$(modver go.etcd.io/etcd/etcdctl/v3)
UTL_V=$(modver go.etcd.io/etcd/etcdutl/v3)
ROOT_V=$(HERE=$HERE/benchmark modver go.etcd.io/etcd/v3)
[ -n "$SERVER_V" ] && [ -n "$CTL_V" ] && [ -n "$UTL_V" ] && [ -n "$ROOT_V" ] ||
  die "could not read the pinned versions from $HERE/go.mod and $HERE/benchmark/go.mod"
[ "$SERVER_V" = "$CTL_V" ] && [ "$SERVER_V" = "$UTL_V" ] ||
  die "go.mod pins server $SERVER_V, etcdctl $CTL_V, etcdutl $UTL_V: they must agree"
VERSION=${SERVER_V#v}
OUT=$CAPSTAN_BIN_CACHE/etcd-$VERSION
if [ $PRINT = 1 ]; then echo "$OUT"; exit 0; fi

# What identifies a build: the versions and the exact dependency graph.
STAMP_WANT="etcd $VERSION benchmark-root $ROOT_V mod $(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/benchmark/go.mod" "$HERE/benchmark/go.sum" | sha256sum | cut -c1-16)"
BINS=(etcd etcdctl etcdutl benchmark)

up_to_date() {
  local b
  for b in "${BINS[@]}"; do [ -x "$OUT/$b" ] || return 1; done
  [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP_WANT" ] || return 1
  "$OUT/etcd" --version 2>/dev/null | grep -qx "etcd Version: $VERSION" || return 1
  "$OUT/etcdctl" version 2>/dev/null | grep -qx "etcdctl version: $VERSION" || return 1
}

if [ $CHECK = 1 ]; then up_to_date; exit; fi
if [ $FORCE = 0 ] && up_to_date; then
  say "etcd $VERSION already built in $OUT (etcd, etcdctl, etcdutl, benchmark); nothing to do"
  exit 0
fi

command -v "$CAPSTAN_GO" >/dev/null || die "no go command ($CAPSTAN_GO) on PATH"
GOV=$("$CAPSTAN_GO" env GOVERSION)
say "building etcd $VERSION (benchmark from go.etcd.io/etcd/v3 $ROOT_V) with $GOV"
say "  into     $OUT"
say "  GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE (nice -n 19)"
mkdir -p "$CAPSTAN_BIN_CACHE" "$GOMODCACHE" "$GOCACHE"
STAGE=$(mktemp -d "$CAPSTAN_BIN_CACHE/.etcd-$VERSION.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

cd "$HERE"
t0=$SECONDS
say "go mod download (modules of the build list, verified against go.sum)"
nice -n 19 "$CAPSTAN_GO" mod download
(cd benchmark && nice -n 19 "$CAPSTAN_GO" mod download)
say "  took $((SECONDS - t0)) s"
build() { # NAME PACKAGE
  local t=$SECONDS
  say "go build -o $1 $2"
  nice -n 19 "$CAPSTAN_GO" build -trimpath -o "$STAGE/$1" "$2"
  say "  took $((SECONDS - t)) s"
}
build etcd go.etcd.io/etcd/server/v3
build etcdctl go.etcd.io/etcd/etcdctl/v3
build etcdutl go.etcd.io/etcd/etcdutl/v3
(cd benchmark && build benchmark go.etcd.io/etcd/v3/tools/benchmark)

"$STAGE/etcd" --version | grep -qx "etcd Version: $VERSION" ||
  die "built etcd reports: $("$STAGE/etcd" --version | head -n 1) (want $VERSION)"
echo "$STAMP_WANT" >"$STAGE/.stamp"
# Replace the output directory as a whole (no half-updated set of binaries).
rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
chmod 755 "$STAGE"
mv "$STAGE" "$OUT"
rm -rf "$OUT.old"
trap - EXIT
say "done in $((SECONDS - t0)) s:"
for b in "${BINS[@]}"; do say "  $OUT/$b"; done
"$OUT/etcd" --version | sed 's/^/[build-etcd]   /'
