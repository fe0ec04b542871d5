# The Wharf image: the `wharf` binary and the console's site (dist/) on Debian 12.
#
# Two ways to build it (see README, "Install on your cluster"):
#
#   Everything in the container (needs a registry for the two base images; a release build
#   of the workspace, 20+ minutes on two cores):
#     docker build -t registry.example.com/wharf/wharf:0.1.0 .
#     buildah build -t registry.example.com/wharf/wharf:0.1.0 .
#
#   Binaries built on the host, packaged only (what `make image` does, with a Debian 12 base
#   it builds itself, so no registry is needed):
#     cargo build --release -p wharf-server && trunk build --offline --release
#     docker build --target prebuilt -t registry.example.com/wharf/wharf:0.1.0 .
#
# The base images are arguments so that a mirror or a locally made base can stand in.
ARG BUILDER_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:12-slim

# ---- build: the release binary and the release site, from source -------------------------
FROM ${BUILDER_IMAGE} AS build
# Pinned like scripts/setup.sh: trunk, and the wasm-bindgen-cli that Cargo.lock pins.
ARG TRUNK_VERSION=0.21.14
ARG WASM_BINDGEN_VERSION=0.2.130
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-unknown-unknown \
 && cargo install trunk --version "${TRUNK_VERSION}" --locked \
 && cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
WORKDIR /src
COPY . .
# xterm.js, which Trunk copies into dist/ (pinned in frontend/package-lock.json)
RUN cd frontend && npm ci --no-audit --no-fund
RUN cargo build --release -p wharf-server \
 && trunk build --offline --release \
 && mkdir -p /out \
 && cp target/release/wharf /out/wharf \
 && cp -a dist /out/dist

# ---- runtime-base: Debian 12, CA certificates, an unprivileged user ------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# debian:12-slim has no CA certificates; the base `make image` builds has them already.
RUN if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --gid 10001 wharf \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/wharf --shell /usr/sbin/nologin wharf \
 && mkdir -p /var/lib/wharf /srv/wharf \
 && chown wharf:wharf /var/lib/wharf
# `wharf serve` keeps its log store under ./.wharf/logs unless --logs says otherwise.
WORKDIR /var/lib/wharf
EXPOSE 3000
# Numeric, so that a Pod's runAsNonRoot can check it.
USER 10001:10001
ENTRYPOINT ["wharf"]
CMD ["serve", "--listen", "0.0.0.0:3000", "--site-dir", "/srv/wharf/dist"]

# ---- prebuilt: package a binary and a site built on the host -------------------------------
# WHARF_BIN and WHARF_DIST are paths in the build context (defaults: the repository root after
# a release build). scripts/image.sh passes a small staged context instead.
FROM runtime-base AS prebuilt
ARG WHARF_BIN=target/release/wharf
ARG WHARF_DIST=dist
COPY ${WHARF_BIN} /usr/local/bin/wharf
COPY ${WHARF_DIST} /srv/wharf/dist

# ---- runtime (the default target): the binary and site from the build stage ---------------
FROM runtime-base AS runtime
COPY --from=build /out/wharf /usr/local/bin/wharf
COPY --from=build /out/dist /srv/wharf/dist
