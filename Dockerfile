# syntax=docker/dockerfile:1
# The enricher image: a build stage with the pinned toolchain (rust-toolchain.toml)
# and wasm32-wasip2, and a small runtime stage with the binary, libduckdb.so
# beside it (found through the $ORIGIN/../lib rpath) and the default plugin.
#   docker build -t enricher .
#   docker run --rm -p 9464:9464 -e ENRICHER_ADMIN_TOKEN=... enricher run
# Not built by a container engine on the machine this was written on (podman's
# containers cannot start there, and Docker Hub is out of reach). How its
# contents are tested instead: scripts/image-rootfs builds this runtime stage
# as a root filesystem (Debian's packages, this RUN line verbatim, what the
# build stage installs into /out, the COPY lines), reading it from this file,
# and host/tests/image.rs runs the binary from it in a chroot as uid 10001 with
# this ENV, config file, ENTRYPOINT, CMD and HEALTHCHECK against a real broker;
# tests/tests/deployment.rs checks the rest statically. See docs/operations.md, Deployment.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm build-essential pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# DuckDB's prebuilt library (npm package), as on a developer's machine.
RUN scripts/fetch-duckdb
ENV DUCKDB_LIB_DIR=/src/.duckdb/1.5.6
RUN cargo build --release -p enricher \
 && cargo build --release -p enricher-plugin-typed --target wasm32-wasip2 \
 && scripts/install --binary target/release/enricher /out \
 && mkdir -p /out/share/enricher/plugins \
 && cp target/wasm32-wasip2/release/enricher_plugin_typed.wasm /out/share/enricher/plugins/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/enricher --create-home enricher
COPY --from=build /out/ /opt/enricher/
# The default plugin (plugins/typed) is also embedded in the binary; the file is for `plugin deploy`.
ENV PATH=/opt/enricher/bin:$PATH \
    ENRICHER_CONFIG=/etc/enricher/enricher.toml \
    DUCKDB_URL=/var/lib/enricher/claims.duckdb \
    ENRICHER_ADMIN_BIND=0.0.0.0:9464
COPY deploy/local/enricher.toml /etc/enricher/enricher.toml
USER 10001:10001
WORKDIR /var/lib/enricher
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["enricher"]
CMD ["run"]
