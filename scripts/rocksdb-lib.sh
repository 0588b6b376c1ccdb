#!/usr/bin/env bash
# Compiles RocksDB's C++ library once per librocksdb-sys version (the one Cargo.lock
# pins) into ~/.cache/capstan/rocksdb/<version>/librocksdb.a and prints that directory.
#
# Why: librocksdb-sys compiles RocksDB (~1 GB of objects, 15-25 min on 2 cores) in its
# build script, and cargo re-runs that build script whenever the build script's own
# dependencies (cc, bindgen) are built with other features: `cargo clippy` and `cargo
# build` do that, as does adding a crate to the workspace. With
#   ROCKSDB_LIB_DIR=<printed dir> ROCKSDB_STATIC=1
# in the environment, librocksdb-sys links this library instead (still generating its
# bindings from its bundled headers), so RocksDB is compiled once, not once per variant.
#
# usage: scripts/rocksdb-lib.sh [--release] [--check]
#   --check:   exit 0 iff the library is cached
#   --release: the optimised library for `cargo build --release` (cached apart: the
#              dev-profile one is compiled at -O0, fine for tests, not for benchmarks)
# Environment: CARGO_TARGET_DIR (where the one-time build happens), CAPSTAN_ROCKSDB_CACHE
# (default ~/.cache/capstan/rocksdb).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '[rocksdb-lib] %s\n' "$*" >&2; }

VERSION=$(awk '/^name = "librocksdb-sys"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
[ -n "$VERSION" ] || { say "librocksdb-sys not found in Cargo.lock"; exit 1; }
PROFILE_FLAG=() SUFFIX="" CHECK=0
for arg in "$@"; do
  case $arg in
    --release) PROFILE_FLAG=(--release) SUFFIX=-release ;;
    --check) CHECK=1 ;;
    *) say "unknown argument $arg"; exit 2 ;;
  esac
done
DIR=${CAPSTAN_ROCKSDB_CACHE:-$HOME/.cache/capstan/rocksdb}/$VERSION$SUFFIX
if [ -s "$DIR/librocksdb.a" ]; then echo "$DIR"; exit 0; fi
[ "$CHECK" = 0 ] || exit 1

say "compiling RocksDB for librocksdb-sys $VERSION once (cached in $DIR; 15-25 min on 2 cores)"
t0=$SECONDS
# Without ROCKSDB_LIB_DIR the build script compiles the library into its OUT_DIR, which
# cargo reports in its build-script-executed message.
OUT=$(env -u ROCKSDB_LIB_DIR -u ROCKSDB_STATIC cargo build "${PROFILE_FLAG[@]}" -p librocksdb-sys --message-format=json |
  python3 -c 'import json, re, sys
out = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "build-script-executed" and re.search(r"[#/ ]librocksdb-sys[@ ]", m.get("package_id", "")):
        out = m.get("out_dir") or out
print(out)')
[ -n "$OUT" ] && [ -s "$OUT/librocksdb.a" ] || { say "no librocksdb.a after the build (out dir: ${OUT:-none})"; exit 1; }
mkdir -p "$(dirname "$DIR")"
STAGE=$(mktemp -d "$(dirname "$DIR")/.stage.XXXXXX")
cp "$OUT/librocksdb.a" "$STAGE/"
rm -rf "$DIR" && mv "$STAGE" "$DIR"
say "done in $((SECONDS - t0)) s: $DIR/librocksdb.a ($(du -h "$DIR/librocksdb.a" | cut -f1))"
echo "$DIR"
