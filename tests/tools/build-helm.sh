#!/usr/bin/env bash
# Builds the `helm` binary at the version pinned in tests/tools/helm/go.mod
# (helm.sh/helm/v4) into $CAPSTAN_BIN_CACHE/helm-<version>/ (default
# ~/.cache/capstan/bin/helm-4.3.1/), from the Go module proxy, with `go build` in the
# wrapper module tests/tools/helm (it requires helm.sh/helm/v4 as a tool, so the build
# list is pinned by its go.sum). Used by tests/e2e/operator-chart.sh.
#
# The binary carries the release's version (-ldflags -X .../internal/version.version=vX,
# as Helm's Makefile does), so `helm version` reports it.
#
# Idempotent: when the binary exists, reports the pinned version and the stamp file
# records the same go.mod/go.sum and Go version, nothing is built.
#
# usage: tests/tools/build-helm.sh [--force] [--print-dir] [--check]
#   --force      rebuild even if the binary is there
#   --print-dir  only print the output directory (nothing is built or checked)
#   --check      exit 0 if the binary is up to date, 1 otherwise (nothing built)
# Environment (all optional):
#   CAPSTAN_BIN_CACHE  default $HOME/.cache/capstan/bin
#   GOMODCACHE         default $HOME/.cache/capstan/go-mod
#   GOCACHE            default $HOME/.cache/capstan/go-build
#   CAPSTAN_GO         the go command, default `go` on PATH
# Builds run under `nice -n 19` (cold: a few minutes on 2 cores).
# To change versions: cd tests/tools/helm && go get -tool helm.sh/helm/v4/cmd/helm@vX.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD=$HERE/helm
: "${CAPSTAN_BIN_CACHE:=$HOME/.cache/capstan/bin}"
: "${CAPSTAN_GO:=go}"
export GOMODCACHE=${GOMODCACHE:-$HOME/.cache/capstan/go-mod}
export GOCACHE=${GOCACHE:-$HOME/.cache/capstan/go-build}
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local   # never download another toolchain behind our back
export CGO_ENABLED=0       # Helm's release builds are static too

say() { printf '[build-helm] %s\n' "$*"; }
die() { printf '[build-helm] error: %s\n' "$*" >&2; exit 1; }

FORCE=0 PRINT=0 CHECK=0
for a in "$@"; do
  case $a in
    --force) FORCE=1 ;;
    --print-dir) PRINT=1 ;;
    --check) CHECK=1 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $a (try --help)" ;;
  esac
done

HV=$(sed -n 's#^[[:space:]]*helm.sh/helm/v4 \(v[0-9][^ ]*\).*#\1#p' "$MOD/go.mod" | head -n 1)
[ -n "$HV" ] || die "could not read the helm.sh/helm/v4 version from $MOD/go.mod"
VERSION=${HV#v}
OUT=$CAPSTAN_BIN_CACHE/helm-$VERSION
if [ $PRINT = 1 ]; then echo "$OUT"; exit 0; fi

stamp_want() {
  echo "helm $VERSION mod $(cat "$MOD/go.mod" "$MOD/go.sum" | sha256sum | cut -c1-16) $("$CAPSTAN_GO" env GOVERSION 2>/dev/null || echo nogo)"
}
up_to_date() {
  [ -x "$OUT/helm" ] || return 1
  [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$(stamp_want)" ] || return 1
  "$OUT/helm" version --short 2>/dev/null | grep -q "^$HV" || return 1
}

if [ $CHECK = 1 ]; then up_to_date; exit; fi
command -v "$CAPSTAN_GO" >/dev/null || die "no go command ($CAPSTAN_GO) on PATH"
if [ $FORCE = 0 ] && up_to_date; then
  say "helm $VERSION already built in $OUT; nothing to do"
  exit 0
fi

say "building helm $VERSION with $("$CAPSTAN_GO" env GOVERSION) into $OUT (nice -n 19)"
mkdir -p "$CAPSTAN_BIN_CACHE" "$GOMODCACHE" "$GOCACHE"
STAGE=$(mktemp -d "$CAPSTAN_BIN_CACHE/.helm-$VERSION.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
cd "$MOD"
t0=$SECONDS
nice -n 19 "$CAPSTAN_GO" mod download
nice -n 19 "$CAPSTAN_GO" build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HV -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$STAGE/helm" helm.sh/helm/v4/cmd/helm
"$STAGE/helm" version --short | grep -q "^$HV" ||
  die "built helm reports: $("$STAGE/helm" version --short) (want $HV)"
stamp_want >"$STAGE/.stamp"
rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
chmod 755 "$STAGE"
mv "$STAGE" "$OUT"
rm -rf "$OUT.old"
trap - EXIT
say "done in $((SECONDS - t0)) s: $OUT/helm ($("$OUT/helm" version --short))"
