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
# The Go environment (caches, GOFLAGS, GOTOOLCHAIN=local, CGO_ENABLED=0) and the build
# steps are shared with the other build scripts: tests/lib/go-env.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/go-env.sh
. "$HERE/../lib/go-env.sh"
GO_TAG=build-kube
go_tool_env
PVERSION=0 ARGS=()
for a in "$@"; do
  if [ "$a" = --version ]; then PVERSION=1; else ARGS+=("$a"); fi
done
go_args "${ARGS[@]}"

KV=$(go_modver "$HERE/go.mod" k8s.io/kubernetes)
[ -n "$KV" ] || go_die "could not read the k8s.io/kubernetes version from $HERE/go.mod"
VERSION=${KV#v}
OUT=$CAPSTAN_BIN_CACHE/kubernetes-$VERSION
if [ $PVERSION = 1 ]; then echo "$VERSION"; exit 0; fi
if [ $GO_PRINT = 1 ]; then echo "$OUT"; exit 0; fi

BINS=(kube-apiserver kube-controller-manager kubectl)
PKGS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kubectl)

# What identifies a build: the version, the exact dependency graph and the toolchain.
stamp_want() {
  echo "kubernetes $VERSION mod $(go_modhash "$HERE/go.mod" "$HERE/go.sum") $(go_stamp_gov)"
}

up_to_date() {
  go_built "$OUT" "$(stamp_want)" "${BINS[@]}" || return 1
  "$OUT/kube-apiserver" --version 2>/dev/null | grep -x "Kubernetes $KV" >/dev/null || return 1
  "$OUT/kube-controller-manager" --version 2>/dev/null | grep -x "Kubernetes $KV" >/dev/null || return 1
  "$OUT/kubectl" version --client 2>/dev/null | grep "Client Version: $KV\$" >/dev/null || return 1
}

if [ $GO_CHECK = 1 ]; then up_to_date; exit; fi
go_need "$HERE"
if [ $GO_FORCE = 0 ] && up_to_date; then
  go_say "Kubernetes $VERSION already built in $OUT (${BINS[*]}); nothing to do"
  exit 0
fi

GOV=$("$CAPSTAN_GO" env GOVERSION)
MINOR=${VERSION#*.}; MINOR=${MINOR%%.*}
go_say "building Kubernetes $VERSION (${BINS[*]}) with $GOV"
go_say "  into     $OUT"
go_say "  GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE (nice -n 19)"
go_stage "kubernetes-$VERSION"

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
go_step "go mod download (modules of the build list, verified against go.sum)" go_run mod download
for i in "${!BINS[@]}"; do
  go_step "go build -o ${BINS[$i]} ${PKGS[$i]}" \
    go_run build -trimpath -ldflags "$LDFLAGS" -o "$GO_STAGE/${BINS[$i]}" "${PKGS[$i]}"
done

"$GO_STAGE/kube-apiserver" --version | grep -x "Kubernetes $KV" >/dev/null ||
  go_die "built kube-apiserver reports: $("$GO_STAGE/kube-apiserver" --version | head -n 1) (want $KV)"
stamp_want >"$GO_STAGE/.stamp"
go_install "$OUT"
go_say "done in $((SECONDS - t0)) s:"
for b in "${BINS[@]}"; do go_say "  $OUT/$b ($(du -h "$OUT/$b" | cut -f1))"; done
"$OUT/kube-apiserver" --version | sed 's/^/[build-kube]   /'
