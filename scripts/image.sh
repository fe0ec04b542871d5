#!/usr/bin/env bash
# Builds the Wharf image without a container registry or a Docker daemon (`make image`):
#
#   1. a Debian 12 base root filesystem made here by mmdebstrap from Debian's archive, imported
#      into buildah's local storage as $BASE_IMAGE (once; reused after);
#   2. the Dockerfile's `prebuilt` target on that base, packaging a `wharf` binary and a site
#      already built on this host ($TARGET_DIR/$PROFILE/wharf and $DIST_DIR);
#   3. the result pushed into an OCI archive, $OUT (default target/image/wharf.oci.tar).
#
# Settings (environment):
#   PROFILE      release (default) or debug: which target/<profile>/wharf is packaged
#   TARGET_DIR   cargo's target folder (default: <repo>/target)
#   DIST_DIR     Trunk's output (default: <repo>/dist)
#   IMAGE        the image's name (default: localhost/wharf/wharf)
#   TAG          its tag (default: the workspace version in Cargo.toml, plus -debug for debug)
#   OUT          the OCI archive (default: <repo>/target/image/wharf.oci.tar)
#   BASE_IMAGE   the local Debian 12 base (default: localhost/wharf-base/debian:12-slim)
#   DEBIAN_MIRROR  where mmdebstrap fetches from (default: http://deb.debian.org/debian)
#   REBUILD_BASE=1 makes the base again
#
# buildah runs with the vfs storage driver and chroot isolation: no daemon, no overlay mounts,
# no user namespaces, so it works as root in a VM or a container without systemd.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${PROFILE:-release}
TARGET_DIR=${TARGET_DIR:-$repo/target}
DIST_DIR=${DIST_DIR:-$repo/dist}
IMAGE=${IMAGE:-localhost/wharf/wharf}
OUT=${OUT:-$repo/target/image/wharf.oci.tar}
BASE_IMAGE=${BASE_IMAGE:-localhost/wharf-base/debian:12-slim}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$repo/target/image
log() { printf '\033[1;34m[image]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[image]\033[0m %s\n' "$*" >&2; exit 1; }

case $PROFILE in release | debug) ;; *) die "PROFILE must be release or debug, not '$PROFILE'" ;; esac
if [ -z "${TAG:-}" ]; then
  TAG=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
  [ -n "$TAG" ] || TAG=latest
  [ "$PROFILE" = release ] || TAG=$TAG-$PROFILE
fi
for tool in buildah mmdebstrap objcopy; do
  command -v "$tool" >/dev/null || die "$tool is missing: run 'bash scripts/setup.sh --image'"
done
bin=$TARGET_DIR/$PROFILE/wharf
[ -x "$bin" ] || die "no $bin: build it first (cargo build$([ "$PROFILE" = release ] && echo ' --release') -p wharf-server)"
[ -f "$DIST_DIR/index.html" ] || die "no $DIST_DIR/index.html: build the site first (trunk build --offline)"

export BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs
bh() { buildah --storage-driver vfs "$@"; }
mkdir -p "$work"

# 1. The base: Debian 12 minbase with CA certificates, documentation left out as in debian:12-slim.
if [ "${REBUILD_BASE:-0}" = 1 ] || ! bh inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs_tar=$work/debian-12-rootfs.tar
  if [ "${REBUILD_BASE:-0}" = 1 ] || [ ! -s "$rootfs_tar" ]; then
    log "making a Debian 12 root filesystem with mmdebstrap from $DEBIAN_MIRROR (once)"
    rm -f "$rootfs_tar.partial"
    mmdebstrap --variant=minbase --format=tar --include=ca-certificates \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --aptopt='Acquire::Retries "3"' \
      bookworm "$rootfs_tar.partial" "$DEBIAN_MIRROR"
    mv "$rootfs_tar.partial" "$rootfs_tar"
  fi
  log "importing it into buildah's storage as $BASE_IMAGE"
  ctr=$(bh from --pull=never scratch)
  trap 'bh rm "$ctr" >/dev/null 2>&1 || true' EXIT
  mnt=$(bh mount "$ctr")
  tar -C "$mnt" --numeric-owner -xpf "$rootfs_tar"
  bh umount "$ctr" >/dev/null
  bh config --os linux --arch amd64 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash --label "org.opencontainers.image.description=Debian 12 (bookworm) minbase, made by scripts/image.sh" "$ctr"
  bh commit --rm "$ctr" "$BASE_IMAGE" >/dev/null
  trap - EXIT
fi

# 2. A small build context: the binary (debug info stripped: an image needs none) and the site.
ctx=$work/context
rm -rf "$ctx"
mkdir -p "$ctx"
log "packaging $bin and $DIST_DIR"
objcopy --strip-debug "$bin" "$ctx/wharf"
cp -a "$DIST_DIR" "$ctx/dist"
revision=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "building $IMAGE:$TAG (Dockerfile target 'prebuilt', base $BASE_IMAGE)"
bh build --isolation chroot --layers --pull=never --target prebuilt \
  --build-arg "RUNTIME_IMAGE=$BASE_IMAGE" --build-arg "BUILDER_IMAGE=$BASE_IMAGE" \
  --build-arg WHARF_BIN=wharf --build-arg WHARF_DIST=dist \
  --label "org.opencontainers.image.title=wharf" \
  --label "org.opencontainers.image.version=$TAG" \
  --label "org.opencontainers.image.revision=$revision" \
  -f "$repo/Dockerfile" -t "$IMAGE:$TAG" "$ctx"

# 3. The OCI archive.
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
log "writing $OUT"
bh push --quiet "$IMAGE:$TAG" "oci-archive:$OUT:$TAG"
# vfs keeps a full copy of the root filesystem per layer: drop what earlier builds left untagged.
bh rmi --prune >/dev/null 2>&1 || true
log "done: $OUT ($(du -h "$OUT" | cut -f1)), image $IMAGE:$TAG"
log "push it to your registry: buildah --storage-driver vfs push $IMAGE:$TAG docker://registry.example.com/wharf/wharf:$TAG"
log "  (or from the archive: skopeo copy oci-archive:$OUT:$TAG docker://registry.example.com/wharf/wharf:$TAG)"
