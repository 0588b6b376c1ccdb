# shellcheck shell=bash disable=SC2034  # (GO_* state is read by the sourcing scripts)
# The Go environment of every script that runs Go, in one place: tests/tools/build-etcd.sh,
# tests/tools/build-helm.sh, tests/kube/build-kube.sh, tests/kube/update-version.sh,
# tests/e2e/go-client.sh, scripts/test and .ci/run. Sourcing it defines functions only;
# nothing is set or exported until one of them is called.
#
#   go_env_caches      export GOMODCACHE and GOCACHE, defaulting to
#                      ~/.cache/capstan/go-mod and ~/.cache/capstan/go-build
#   go_env             go_env_caches, plus CAPSTAN_GO (the go command, default `go` on
#                      PATH), CAPSTAN_BIN_CACHE (default ~/.cache/capstan/bin),
#                      GOFLAGS="-mod=readonly -buildvcs=false" (a caller that must
#                      write go.mod overrides it afterwards) and GOTOOLCHAIN=local
#                      (never download another toolchain behind our back)
#   go_have            true if the go command exists
#   go_run ARGS...     the go command under nice -n 19 (the machine has other work)
#
# For the scripts that build reference binaries into $CAPSTAN_BIN_CACHE/NAME-VERSION/
# (set GO_TAG, the name their messages start with, then call go_tool_env):
#   go_tool_env        go_env and CGO_ENABLED=0 (static, like the projects' release builds)
#   go_say / go_die    "[TAG HH:MM:SS] message" / "[TAG] error: message" and exit 1
#   go_args "$@"       --force, --print-dir, --check, -h/--help: GO_FORCE, GO_PRINT, GO_CHECK
#   go_modver FILE MOD the version FILE (a go.mod) requires of module MOD (vX.Y.Z)
#   go_need [MODDIR...] die unless the go command exists and is at least as new as the
#                      `go` line of each MODDIR/go.mod
#   go_modhash FILE... a short hash of go.mod/go.sum files (the exact build list)
#   go_stamp_gov       the go command's GOVERSION, or "nogo" (for stamps)
#   go_built OUT STAMP BIN...  every OUT/BIN is executable and OUT/.stamp holds STAMP
#                      (the caller then checks the versions the binaries report)
#   go_step LABEL CMD...  say LABEL, run CMD, say how long it took
#   go_stage NAME      make the caches and a staging directory GO_STAGE in
#                      $CAPSTAN_BIN_CACHE (removed on exit unless installed)
#   go_install OUT     replace OUT by GO_STAGE as a whole (never a half-updated set)

go_env_caches() {
  export GOMODCACHE=${GOMODCACHE:-$HOME/.cache/capstan/go-mod}
  export GOCACHE=${GOCACHE:-$HOME/.cache/capstan/go-build}
}

go_env() {
  go_env_caches
  : "${CAPSTAN_GO:=go}"
  : "${CAPSTAN_BIN_CACHE:=$HOME/.cache/capstan/bin}"
  export GOFLAGS="-mod=readonly -buildvcs=false"
  export GOTOOLCHAIN=local
}

go_have() { command -v "${CAPSTAN_GO:-go}" >/dev/null 2>&1; }

go_run() { nice -n 19 "${CAPSTAN_GO:-go}" "$@"; }

go_tool_env() {
  go_env
  export CGO_ENABLED=0
}

go_say() { printf '[%s %s] %s\n' "${GO_TAG:-go}" "$(date -u +%T)" "$*"; }
go_die() { printf '[%s] error: %s\n' "${GO_TAG:-go}" "$*" >&2; exit 1; }

# go_usage: the script's header comment (from line 2 to the first line that is not a
# comment), without the "# ".
go_usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

go_args() {
  GO_FORCE=0 GO_PRINT=0 GO_CHECK=0
  local a
  for a in "$@"; do
    case $a in
      --force) GO_FORCE=1 ;;
      --print-dir) GO_PRINT=1 ;;
      --check) GO_CHECK=1 ;;
      -h | --help) go_usage; exit 0 ;;
      *) go_die "unknown argument $a (try --help)" ;;
    esac
  done
}

go_modver() { sed -n "s#^[[:space:]]*$2 \(v[0-9][^ ]*\).*#\1#p" "$1" | head -n 1; }

# go_version: the go command's version as digits and dots (go1.26.8 -> 1.26.8,
# go1.27rc1 -> 1.27, which sorts before 1.27.0 as it should).
go_version() {
  "${CAPSTAN_GO:-go}" env GOVERSION 2>/dev/null | sed -n 's/^\(devel \)\{0,1\}go\([0-9][0-9.]*\).*/\2/p'
}

go_need() {
  go_have || go_die "no go command (${CAPSTAN_GO:-go}) on PATH"
  local have want d
  have=$(go_version)
  [ -n "$have" ] || return 0 # an unusual version string: let go itself judge
  for d in "$@"; do
    want=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$d/go.mod" | head -n 1)
    [ -n "$want" ] || continue
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" = "$want" ] ||
      go_die "${CAPSTAN_GO:-go} is Go $have; $d/go.mod needs Go >= $want (GOTOOLCHAIN=local: no other toolchain is fetched)"
  done
}

go_modhash() { cat "$@" | sha256sum | cut -c1-16; }

go_stamp_gov() { "${CAPSTAN_GO:-go}" env GOVERSION 2>/dev/null || echo nogo; }

go_built() {
  local out=$1 stamp=$2 b
  shift 2
  for b in "$@"; do [ -x "$out/$b" ] || return 1; done
  [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]
}

go_step() {
  local t=$SECONDS
  go_say "$1"
  shift
  "$@" || return
  go_say "  took $((SECONDS - t)) s"
}

go_stage() {
  mkdir -p "$CAPSTAN_BIN_CACHE" "$GOMODCACHE" "$GOCACHE"
  GO_STAGE=$(mktemp -d "$CAPSTAN_BIN_CACHE/.$1.XXXXXX")
  trap 'rm -rf "$GO_STAGE"' EXIT
}

go_install() {
  rm -rf "$1.old"
  if [ -e "$1" ]; then mv "$1" "$1.old"; fi
  chmod 755 "$GO_STAGE"
  mv "$GO_STAGE" "$1"
  rm -rf "$1.old"
  trap - EXIT
}
