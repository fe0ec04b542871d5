#!/usr/bin/env bash
# The image's test (`make image-test`):
#   1. builds the image with PROFILE=debug (scripts/image.sh) into an OCI archive;
#   2. unpacks the archive's layers with umoci into a root filesystem and checks the image's
#      configuration (entrypoint, default arguments, a non-root user) and contents;
#   3. runs the image's `wharf` FROM THAT ROOT FILESYSTEM (chroot, as the image's user, with the
#      image's environment and working folder, in a private mount namespace with /proc and /dev):
#      `wharf --help`, then `wharf serve` against the demo cluster (`wharf sim` on the host),
#      until `GET /` answers the site's index.html and `POST /api/whoami` answers 401;
#   4. deploy/ as a kustomization (kubectl 1.20's built-in kustomize): the image it sets, a
#      server-side dry run on the demo cluster (all but RBAC, which the demo cluster does not
#      serve), then `kubectl apply -k deploy/` (and a server dry run of it again) on a real
#      kube-apiserver 1.20.2 started for the test (scripts/kube-real/up.sh).
# A missing tool fails the test. Settings: TARGET_DIR, DIST_DIR (as for scripts/image.sh),
# KUBECTL (default /opt/kube-real/bin/kubectl-1.20), DEADLINE_SECS (default 180).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_DIR=${TARGET_DIR:-$repo/target}
DIST_DIR=${DIST_DIR:-$repo/dist}
KUBECTL=${KUBECTL:-/opt/kube-real/bin/kubectl-1.20}
DEADLINE_SECS=${DEADLINE_SECS:-180}
TAG=image-test

passed=0
step() { printf '\033[1;34m[image-test]\033[0m %s\n' "$*"; }
ok() { passed=$((passed + 1)); printf '\033[1;32m[image-test] ok\033[0m %s\n' "$*"; }
fail() {
  printf '\033[1;31m[image-test] FAILED\033[0m %s\n' "$*" >&2
  echo "image-test: $passed passed, 1 failed"
  exit 1
}

for tool in buildah mmdebstrap umoci objcopy jq curl python3 chroot unshare mount "$KUBECTL"; do
  command -v "$tool" >/dev/null || fail "$tool is missing (bash scripts/setup.sh --image; kubectl: --real-cluster)"
done
[ -x "$TARGET_DIR/debug/wharf" ] || fail "no $TARGET_DIR/debug/wharf (make server)"
[ -f "$DIST_DIR/index.html" ] || fail "no $DIST_DIR/index.html (make site)"

work=$(mktemp -d "${TMPDIR:-/tmp}/wharf-image-test.XXXXXX")
# kubectl with a discovery cache of its own: the shared ~/.kube/cache is keyed by host:port, and
# another demo cluster once on the same port would answer for this one
kc() { "$KUBECTL" --cache-dir "$work/kube-cache" "$@"; }
pids=()
kube_up=0
cleanup() {
  if [ "$kube_up" = 1 ]; then KILL=1 bash "$repo/scripts/kube-real/down.sh" >/dev/null 2>&1 || true; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  buildah --storage-driver vfs rmi "localhost/wharf/wharf:$TAG" >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. The image.
step "building the image (PROFILE=debug)"
PROFILE=debug TAG=$TAG TARGET_DIR=$TARGET_DIR DIST_DIR=$DIST_DIR OUT=$work/wharf.oci.tar \
  bash "$repo/scripts/image.sh" || fail "scripts/image.sh"
[ -s "$work/wharf.oci.tar" ] || fail "no OCI archive"
ok "image built: $(du -h "$work/wharf.oci.tar" | cut -f1)"

# 2. Unpack it: the OCI layout inside the archive, then its layers in order into bundle/rootfs.
mkdir "$work/layout"
tar -C "$work/layout" -xf "$work/wharf.oci.tar"
blob() { echo "$work/layout/blobs/${1%%:*}/${1#*:}"; }
manifest=$(blob "$(jq -er --arg t "$TAG" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$work/layout/index.json")")
config=$(blob "$(jq -er .config.digest "$manifest")")
umoci unpack --image "$work/layout:$TAG" "$work/bundle" >/dev/null || fail "umoci unpack"
rootfs=$work/bundle/rootfs
ok "unpacked $(jq '.layers | length' "$manifest") layers with umoci"

[ "$(jq -c .config.Entrypoint "$config")" = '["wharf"]' ] || fail "entrypoint: $(jq -c .config.Entrypoint "$config")"
[ "$(jq -c .config.Cmd "$config")" = '["serve","--listen","0.0.0.0:3000","--site-dir","/srv/wharf/dist"]' ] \
  || fail "default arguments: $(jq -c .config.Cmd "$config")"
user=$(jq -er .config.User "$config") || fail "the image names no user"
case ${user%%:*} in '' | 0 | root) fail "the image runs as root ($user)" ;; esac
[[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "the image's user is not numeric ($user): runAsNonRoot cannot check it"
workdir=$(jq -r '.config.WorkingDir // "/"' "$config")
mapfile -t image_env < <(jq -r '.config.Env[]?' "$config")
ok "config: entrypoint wharf, default args serve on 0.0.0.0:3000 with /srv/wharf/dist, user $user, workdir $workdir"

[ -x "$rootfs/usr/local/bin/wharf" ] || fail "no /usr/local/bin/wharf in the image"
cmp -s "$rootfs/srv/wharf/dist/index.html" "$DIST_DIR/index.html" || fail "/srv/wharf/dist/index.html is not the site's"
for f in "$DIST_DIR"/*; do
  [ -e "$rootfs/srv/wharf/dist/$(basename "$f")" ] || fail "/srv/wharf/dist lacks $(basename "$f")"
done
[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA certificates in the image"
[ -d "$rootfs/$workdir" ] && [ "$(stat -c %u "$rootfs/$workdir")" = "${user%%:*}" ] || fail "$workdir is not the image user's"
ok "contents: /usr/local/bin/wharf, the site at /srv/wharf/dist, CA certificates, $workdir owned by $user"

# Runs the image's entrypoint with arguments, the way a container runtime would: chrooted into
# the unpacked root filesystem, as the image's user, with only the image's environment, from its
# working folder; /proc and /dev mounted in a private mount namespace (gone when it exits).
# It execs: call it in a subshell, whose pid is then the binary's.
in_image() {
  exec env -i "${image_env[@]}" unshare --mount --propagation private -- /bin/sh -c '
    root=$1; user=$2; dir=$3; shift 3
    mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" || exit 125
    exec chroot --userspec="$user" "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$dir" "$@"
  ' sh "$rootfs" "$user" "$workdir" "$(jq -r '.config.Entrypoint[0]' "$config")" "$@"
}

# 3. The binary, from the image's root filesystem.
(in_image --help) >"$work/help.txt" 2>&1 || { cat "$work/help.txt"; fail "wharf --help in the image"; }
grep -q 'serve' "$work/help.txt" || fail "wharf --help does not list serve"
ok "wharf --help runs in the image"

step "starting the demo cluster (wharf sim) on the host"
sim_port=$(free_port)
"$TARGET_DIR/debug/wharf" sim --listen "127.0.0.1:$sim_port" --data "$work/sim" \
  --kubeconfig-out "$work/kubeconfig" --ephemeral >"$work/sim.log" 2>&1 &
pids+=($!)
sim_pid=$!
deadline=$((SECONDS + DEADLINE_SECS))
until [ -s "$work/kubeconfig" ] && kc --kubeconfig "$work/kubeconfig" get namespaces >/dev/null 2>&1; do
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log"; fail "wharf sim exited"; }
  ((SECONDS < deadline)) || { cat "$work/sim.log"; fail "the demo cluster did not answer within ${DEADLINE_SECS}s"; }
  sleep 0.2
done
ok "demo cluster up on 127.0.0.1:$sim_port"

step "serving the console from the image"
cp "$work/kubeconfig" "$rootfs/tmp/kubeconfig"
chmod 0644 "$rootfs/tmp/kubeconfig"
port=$(free_port)
(in_image serve --kubeconfig /tmp/kubeconfig --listen "127.0.0.1:$port" --site-dir /srv/wharf/dist) \
  >"$work/serve.log" 2>&1 &
pids+=($!)
serve_pid=$!
deadline=$((SECONDS + DEADLINE_SECS))
until [ "$(curl -s -o "$work/index.html" -w '%{http_code}' "http://127.0.0.1:$port/" || true)" = 200 ]; do
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log"; fail "wharf serve (in the image) exited"; }
  ((SECONDS < deadline)) || { cat "$work/serve.log"; fail "GET / did not answer 200 within ${DEADLINE_SECS}s"; }
  sleep 0.2
done
cmp -s "$work/index.html" "$DIST_DIR/index.html" || fail "GET / did not answer the site's index.html"
ok "GET / answers 200 with the site's index.html"
status=$(curl -s -o "$work/whoami.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{}' "http://127.0.0.1:$port/api/whoami")
[ "$status" = 401 ] || { cat "$work/whoami.json"; fail "POST /api/whoami answered $status, not 401"; }
ok "POST /api/whoami answers 401 without a session"

# 4. deploy/ as a kustomization, with kubectl 1.20's kustomize, against the demo cluster.
kc kustomize "$repo/deploy" >"$work/rendered.yaml" || fail "kubectl kustomize deploy/"
want=$(python3 - "$repo/deploy/kustomization.yaml" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
name = re.search(r'^\s*newName:\s*"?([^"\s]+)', text, re.M).group(1)
tag = re.search(r'^\s*newTag:\s*"?([^"\s]+)', text, re.M).group(1)
print(f"{name}:{tag}")
EOF
)
grep -q "image: $want\$" "$work/rendered.yaml" || fail "the rendered Deployment does not use $want"
! grep -qE 'image: wharf$' "$work/rendered.yaml" || fail "an image was left unset by kustomization.yaml"
ok "kubectl kustomize deploy/ sets the image to $want"
# Every object of deploy/, RBAC included, as an installer applies it (the namespace exists:
# the console from the image made its bootstrap Secret there).
kc --kubeconfig "$work/kubeconfig" apply -k "$repo/deploy" --dry-run=server >"$work/apply.txt" 2>&1 \
  || { cat "$work/apply.txt"; fail "kubectl apply -k deploy/ --dry-run=server on the demo cluster"; }
grep -q 'deployment.apps/wharf created (server dry run)' "$work/apply.txt" || { cat "$work/apply.txt"; fail "no Deployment in the dry run"; }
grep -q 'clusterrole.rbac.authorization.k8s.io/wharf created (server dry run)' "$work/apply.txt" || { cat "$work/apply.txt"; fail "no ClusterRole in the dry run"; }
ok "kubectl apply -k deploy/ --dry-run=server on the demo cluster: $(grep -c 'server dry run' "$work/apply.txt") objects"

# A real kube-apiserver 1.20.2 with etcd (scripts/kube-real/up.sh, no controllers), of its own
# in $work: `kubectl apply -k deploy/` as an installer runs it.
step "starting a real kube-apiserver 1.20.2 (scripts/kube-real/up.sh)"
[ -x /opt/kube-real/bin/kube-apiserver ] || fail "no /opt/kube-real/bin/kube-apiserver (bash scripts/setup.sh --real-cluster)"
two_free_ports() { python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError: pass
'; }
export KA_DIR=$work/kube BIN_DIR=/opt/kube-real/bin CONTROLLERS=0 \
  API_PORT=$(free_port) ETCD_PORT=$(two_free_ports) SCHED_HTTP_PORT=0 KCM_HTTP_PORT=0
kube_up=1
bash "$repo/scripts/kube-real/up.sh" >"$work/kube-up.log" 2>&1 || { cat "$work/kube-up.log"; fail "scripts/kube-real/up.sh"; }
real=(--kubeconfig "$KA_DIR/kubeconfig")
kc "${real[@]}" apply -k "$repo/deploy" >"$work/apply-real.txt" 2>&1 \
  || { cat "$work/apply-real.txt"; fail "kubectl apply -k deploy/ on the real API server"; }
got=$(kc "${real[@]}" -n wharf-system get deployment wharf -o 'jsonpath={.spec.template.spec.containers[0].image}')
[ "$got" = "$want" ] || fail "the applied Deployment runs $got, not $want"
ok "kubectl apply -k deploy/ on kube-apiserver 1.20.2: $(wc -l <"$work/apply-real.txt") objects, the Deployment runs $want"
# A dry run needs the namespace to exist (kubectl does not create it in a dry run), so it
# comes second: re-applying the same deploy/, as an upgrade does.
kc "${real[@]}" apply -k "$repo/deploy" --dry-run=server >"$work/apply-real-dry.txt" 2>&1 \
  || { cat "$work/apply-real-dry.txt"; fail "kubectl apply -k deploy/ --dry-run=server on the real API server"; }
ok "kubectl apply -k deploy/ --dry-run=server again (as an upgrade would) on kube-apiserver 1.20.2: $(grep -c 'server dry run' "$work/apply-real-dry.txt") objects"

echo "image-test: $passed passed, 0 failed"
