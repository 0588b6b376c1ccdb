# syntax=docker/dockerfile:1
# One image with both binaries: `capstan` (the member) and `capstan-operator`.
# The Helm chart runs the operator from it, and the operator runs members
# from it (spec.version is the tag).

FROM rust:1-bookworm AS build
# clang/libclang for RocksDB's bindgen, protoc for the gRPC protos.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang libclang-dev protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY proto ./proto
COPY server ./server
COPY operator ./operator
# (a workspace member: cargo loads every member's manifest, even for -p capstan)
COPY bench ./bench
# The release profile keeps debug info for profiling (perf, line tables); the
# image ships the binaries without it (function symbols stay, so profiles of a
# running pod still name functions), and keeps it apart in /out-debug.
RUN cargo build --release --locked -p capstan -p capstan-operator --bin capstan --bin capstan-operator \
    && mkdir -p /out /out-debug \
    && for b in capstan capstan-operator; do \
         objcopy --only-keep-debug "target/release/$b" "/out-debug/$b.debug" \
         && objcopy --strip-debug --add-gnu-debuglink="/out-debug/$b.debug" "target/release/$b" "/out/$b" \
         && chmod 0755 "/out/$b"; \
       done

FROM debian:bookworm-slim
# libstdc++ (RocksDB) and glibc come with the base image; nothing else is needed.
COPY --from=build /out/ /usr/local/bin/
# The member pods' fsGroup/runAsUser (65532) owns the data volume.
USER 65532:65532
EXPOSE 2379 2380 8080
CMD ["capstan"]
