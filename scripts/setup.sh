#!/usr/bin/env bash
# Installs what building and testing Capstan need on a Debian or Ubuntu machine, and
# nothing that is already there (safe to run again and again):
#   apt: libclang-dev clang (RocksDB's bindgen), protobuf-compiler (protoc for
#        tonic-prost-build), etcd-server etcd-client (reference etcd and etcdctl for
#        the tests), python3 (test harness)
#   Rust: rustup's minimal profile, only if cargo is missing
# `apt-get update` runs only if an install fails; sudo is used only when not root.
# Prints what it does.
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }

APT_PACKAGES=(libclang-dev clang protobuf-compiler etcd-server etcd-client python3 jq iproute2 curl)

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo)
  else SUDO=(__no_sudo__); fi
fi

# apt_install PKG...: install the given packages, updating the package lists once if
# the first attempt fails.
apt_install() {
  if [ "${SUDO[0]:-}" = __no_sudo__ ]; then
    say "need root or sudo to install: $*"; return 1
  fi
  say "installing $* (apt-get install)"
  if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; then
    return 0
  fi
  say "install failed; running apt-get update and trying again"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
    case " ${missing[*]} " in
      *" etcd-server "*)
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
          say "note: the etcd-server package started a system etcd on 2379/2380;" \
            "the tests use their own ports (tests/e2e/defaults.sh skips while 2379 is taken)"
        fi ;;
    esac
  else
    say "apt packages present: ${APT_PACKAGES[*]}"
  fi
else
  say "not a Debian-like system (no apt-get/dpkg): checking commands only"
  for c in clang protoc etcd etcdctl python3; do
    command -v "$c" >/dev/null 2>&1 || { say "missing: $c (install it with your package manager)"; exit 1; }
  done
fi

# Rust: prefer what is installed (PATH, then ~/.cargo/bin); rustup only if there is none.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  if ! command -v curl >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then apt_install curl ca-certificates
    else say "need curl to install Rust"; exit 1; fi
  fi
  say "cargo not found: installing Rust with rustup (minimal profile) into ~/.cargo"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# scripts/test lints with clippy and checks formatting with rustfmt; a minimal
# toolchain lacks both.
if ! cargo clippy --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
  say "adding the clippy component"
  rustup component add clippy
fi
if ! cargo fmt --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
  say "adding the rustfmt component"
  rustup component add rustfmt
fi

say "$(cargo --version), $(protoc --version), $(clang --version | head -n 1)"
say "$(etcd --version 2>/dev/null | head -n 1), etcdctl $(ETCDCTL_API=3 etcdctl version 2>/dev/null | head -n 1 | awk '{print $3}'), $(python3 --version)"
