# syntax=docker/dockerfile:1
#
# The chat node image: the browser client and the node, on debian:bookworm-slim, run as
# uid 10001. Build from the repository root:
#
#   docker build -t chat-node:local .
#   docker run --rm -p 8080:8080 chat-node:local        # embedded SQLite store in /data
#
# Stages: `client` builds static/ (Vue + Vite) into static/dist; `build` compiles the
# chat-node binary (dependencies first, from the manifests alone, so a source change does
# not rebuild them); the final stage holds only the binary, the client and a health check.
# Linted by scripts/validate-deploy.sh (hadolint). Operations: docs/operations.md.

ARG RUST_VERSION=1.95
ARG NODE_VERSION=22

# --- the browser client --------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS client
WORKDIR /src/static
COPY static/package.json static/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY static/index.html static/vite.config.js ./
COPY static/public ./public
COPY static/src ./src
RUN npm run build

# --- the node ------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Cargo.toml keeps debug info in release builds (for profiling); the image does not need it.
# Symbol names stay, so panics still print readable backtraces.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_PROGRESS_WHEN=never
# 1. Dependencies, from the manifests and the lock file only: this layer is rebuilt only
#    when they change. Every workspace member needs its targets to exist, so empty stand-ins
#    are written for them (the load tester's stay; it is never built here).
COPY Cargo.toml Cargo.lock ./
# The patched actix-http of `[patch.crates-io]` (patches/README.md) is a dependency.
COPY patches ./patches
COPY actors/Cargo.toml actors/
COPY loadtest/Cargo.toml loadtest/
RUN mkdir -p src actors/src loadtest/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs actors/src/lib.rs loadtest/src/lib.rs \
    && echo 'fn main() {}' > loadtest/src/main.rs \
    && cargo build --release --bin chat-node --locked \
    && rm -rf src actors/src
# 2. The sources (sql/ is compiled in: migrations are include_str!). COPY keeps the files'
#    own times, which can be older than the stand-ins' build: touch them so cargo rebuilds.
COPY sql ./sql
COPY actors/src ./actors/src
COPY src ./src
RUN touch src/main.rs src/lib.rs actors/src/lib.rs \
    && cargo build --release --bin chat-node --locked \
    && install -D -m 0755 target/release/chat-node /out/chat-node

# --- the runtime image ---------------------------------------------------------------------
FROM debian:bookworm-slim
# A fixed, unprivileged uid/gid (10001), matching runAsUser in k8s/. /data belongs to it so
# the embedded store works in the volume; nothing else is writable by the node.
RUN groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin chat \
    && mkdir -p /data /app \
    && chown 10001:10001 /data
COPY --from=build /out/chat-node /usr/local/bin/chat-node
COPY --from=client /src/static/dist /app/static
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/chat-healthcheck
ENV CHAT_BIND=0.0.0.0:8080 \
    CHAT_STATIC_DIR=/app/static \
    CHAT_DATA_DIR=/data \
    CHAT_LOG_FORMAT=json \
    RUST_LOG=info
WORKDIR /app
# The embedded SQLite store (used only when DATABASE_URL is unset).
VOLUME ["/data"]
EXPOSE 8080
USER 10001:10001
# No curl in the slim image, and installing it would add libcurl and its TLS/LDAP/SSH
# libraries for one probe: chat-healthcheck does a loopback HTTP/1.0 GET with bash's
# /dev/tcp instead (see deploy/docker/healthcheck.sh). Kubernetes ignores HEALTHCHECK and
# uses its own httpGet probes (k8s/base/deployment.yaml).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/chat-healthcheck", "/api/health"]
# The node drains on SIGTERM: /api/ready turns 503, sessions get `reconnect` over
# CHAT_DRAIN_WINDOW and close with 1012, persistence is flushed. Give it time to finish:
# `docker stop -t 45`, compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chat-node"]
