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
# The Go environment (caches, GOFLAGS, GOTOOLCHAIN=local, CGO_ENABLED=0) and the build
# steps are shared with the other build scripts: tests/lib/go-env.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD=$HERE/helm
# shellcheck source=tests/lib/go-env.sh
. "$HERE/../lib/go-env.sh"
GO_TAG=build-helm
go_tool_env
go_args "$@"

HV=$(go_modver "$MOD/go.mod" helm.sh/helm/v4)
[ -n "$HV" ] || go_die "could not read the helm.sh/helm/v4 version from $MOD/go.mod"
VERSION=${HV#v}
OUT=$CAPSTAN_BIN_CACHE/helm-$VERSION
if [ $GO_PRINT = 1 ]; then echo "$OUT"; exit 0; fi

stamp_want() {
  echo "helm $VERSION mod $(go_modhash "$MOD/go.mod" "$MOD/go.sum") $(go_stamp_gov)"
}
up_to_date() {
  go_built "$OUT" "$(stamp_want)" helm || return 1
  "$OUT/helm" version --short 2>/dev/null | grep "^$HV" >/dev/null || return 1
}

if [ $GO_CHECK = 1 ]; then up_to_date; exit; fi
go_need "$MOD"
if [ $GO_FORCE = 0 ] && up_to_date; then
  go_say "helm $VERSION already built in $OUT; nothing to do"
  exit 0
fi

go_say "building helm $VERSION with $("$CAPSTAN_GO" env GOVERSION) into $OUT (nice -n 19)"
go_stage "helm-$VERSION"
cd "$MOD"
t0=$SECONDS
go_step "go mod download (modules of the build list, verified against go.sum)" go_run mod download
go_step "go build -o helm helm.sh/helm/v4/cmd/helm" go_run build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HV -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$GO_STAGE/helm" helm.sh/helm/v4/cmd/helm
"$GO_STAGE/helm" version --short | grep "^$HV" >/dev/null ||
  go_die "built helm reports: $("$GO_STAGE/helm" version --short) (want $HV)"
stamp_want >"$GO_STAGE/.stamp"
go_install "$OUT"
go_say "done in $((SECONDS - t0)) s: $OUT/helm ($("$OUT/helm" version --short))"
