#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubectl at the Kubernetes version
# pinned in tests/kube/go.mod (k8s.io/kubernetes vX.Y.Z) into
# $CAPSTAN_BIN_CACHE/kubernetes-<version>/ (default ~/.cache/capstan/bin/kubernetes-1.37.2/),
# from the Go module proxy, with `go build` in the wrapper module tests/kube (see
# update-version.sh for how its go.mod is made).
#
# The binaries carry the release's version (-ldflags -X ...version.gitVersion=vX.Y.Z, as
# Kubernetes' hack/lib/version.sh does), so `kubectl version` and the API server's
# /version report it instead of v0.0.0-master. Static (CGO_ENABLED=0), like the
# release builds of these three.
#
# Idempotent: when the three binaries exist, report the pinned version and the stamp
# file records the same go.mod/go.sum and Go version, nothing is built.
#
# usage: tests/kube/build-kube.sh [--force] [--print-dir] [--check] [--version]
#   --force      rebuild even if the binaries are there
#   --print-dir  only print the output directory (nothing is built or checked)
#   --check      exit 0 if the binaries are up to date, 1 otherwise (nothing built)
#   --version    only print the pinned Kubernetes version (e.g. 1.37.2)
# Environment (all optional):
#   CAPSTAN_BIN_CACHE  default $HOME/.cache/capstan/bin
#   GOMODCACHE         default $HOME/.cache/capstan/go-mod
#   GOCACHE            default $HOME/.cache/capstan/go-build
#   CAPSTAN_GO         the go command, default `go` on PATH
# Builds run under `nice -n 19`. Needs Go >= 1.26 (Kubernetes 1.37 declares `go 1.26.0`).
# Cold build on 2 cores: ~16 min (kube-apiserver alone ~12); see tests/kube/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CAPSTAN_BIN_CACHE:=$HOME/.cache/capstan/bin}"
: "${CAPSTAN_GO:=go}"
export GOMODCACHE=${GOMODCACHE:-$HOME/.cache/capstan/go-mod}
export GOCACHE=${GOCACHE:-$HOME/.cache/capstan/go-build}
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=local   # never download another toolchain behind our back
export CGO_ENABLED=0       # Kubernetes' release builds of these binaries are static too

say() { printf '[build-kube %s] %s\n' "$(date -u +%T)" "$*"; }
die() { printf '[build-kube] error: %s\n' "$*" >&2; exit 1; }

FORCE=0 PRINT=0 CHECK=0 PVERSION=0
for a in "$@"; do
  case $a in
    --force) FORCE=1 ;;
    --print-dir) PRINT=1 ;;
    --check) CHECK=1 ;;
    --version) PVERSION=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $a (try --help)" ;;
  esac
done

KV=$(sed -n 's#^[[:space:]]*k8s.io/kubernetes \(v[0-9][^ ]*\).*#\1#p' "$HERE/go.mod" | head -n 1)
[ -n "$KV" ] || die "could not read the k8s.io/kubernetes version from $HERE/go.mod"
VERSION=${KV#v}
OUT=$CAPSTAN_BIN_CACHE/kubernetes-$VERSION
if [ $PVERSION = 1 ]; then echo "$VERSION"; exit 0; fi
if [ $PRINT = 1 ]; then echo "$OUT"; exit 0; fi

BINS=(kube-apiserver kube-controller-manager kubectl)
PKGS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kubectl)

# What identifies a build: the version, the exact dependency graph and the toolchain.
stamp_want() {
  echo "kubernetes $VERSION mod $(cat "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-16) $("$CAPSTAN_GO" env GOVERSION 2>/dev/null || echo nogo)"
}

up_to_date() {
  local b
  for b in "${BINS[@]}"; do [ -x "$OUT/$b" ] || return 1; done
  [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$(stamp_want)" ] || return 1
  "$OUT/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $KV" || return 1
  "$OUT/kube-controller-manager" --version 2>/dev/null | grep -qx "Kubernetes $KV" || return 1
  "$OUT/kubectl" version --client 2>/dev/null | grep -q "Client Version: $KV\$" || return 1
}

if [ $CHECK = 1 ]; then up_to_date; exit; fi
command -v "$CAPSTAN_GO" >/dev/null || die "no go command ($CAPSTAN_GO) on PATH"
if [ $FORCE = 0 ] && up_to_date; then
  say "Kubernetes $VERSION already built in $OUT (${BINS[*]}); nothing to do"
  exit 0
fi

GOV=$("$CAPSTAN_GO" env GOVERSION)
MINOR=${VERSION#*.}; MINOR=${MINOR%%.*}
say "building Kubernetes $VERSION (${BINS[*]}) with $GOV"
say "  into     $OUT"
say "  GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE (nice -n 19)"
mkdir -p "$CAPSTAN_BIN_CACHE" "$GOMODCACHE" "$GOCACHE"
STAGE=$(mktemp -d "$CAPSTAN_BIN_CACHE/.kubernetes-$VERSION.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# As hack/lib/version.sh: the version variables of client-go and component-base. The
# module zip has no git metadata, so gitCommit stays empty; buildDate is the release's
# publication time on the proxy (reproducible).
RELDATE=$("$CAPSTAN_GO" mod download -json "k8s.io/kubernetes@$KV" 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(open(json.load(sys.stdin)["Info"])).get("Time",""))' 2>/dev/null || true)
LDFLAGS="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$KV -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${RELDATE:-1970-01-01T00:00:00Z}"
done

cd "$HERE"
t0=$SECONDS
say "go mod download (modules of the build list, verified against go.sum)"
nice -n 19 "$CAPSTAN_GO" mod download
say "  took $((SECONDS - t0)) s"
for i in "${!BINS[@]}"; do
  t=$SECONDS
  say "go build -o ${BINS[$i]} ${PKGS[$i]}"
  nice -n 19 "$CAPSTAN_GO" build -trimpath -ldflags "$LDFLAGS" -o "$STAGE/${BINS[$i]}" "${PKGS[$i]}"
  say "  took $((SECONDS - t)) s"
done

"$STAGE/kube-apiserver" --version | grep -qx "Kubernetes $KV" ||
  die "built kube-apiserver reports: $("$STAGE/kube-apiserver" --version | head -n 1) (want $KV)"
stamp_want >"$STAGE/.stamp"
# Replace the output directory as a whole (no half-updated set of binaries).
rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
chmod 755 "$STAGE"
mv "$STAGE" "$OUT"
rm -rf "$OUT.old"
trap - EXIT
say "done in $((SECONDS - t0)) s:"
for b in "${BINS[@]}"; do say "  $OUT/$b ($(du -h "$OUT/$b" | cut -f1))"; done
"$OUT/kube-apiserver" --version | sed 's/^/[build-kube]   /'
