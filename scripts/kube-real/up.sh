#!/usr/bin/env bash
# Start a local, real Kubernetes control plane (no kubelet):
#   etcd (Debian etcd-server 3.4) + kube-apiserver v1.20.2
#   [+ kube-controller-manager + kube-scheduler] built by build.sh.
# Everything listens on 127.0.0.1 only. Writes $KA_DIR/kubeconfig and
# $KA_DIR/run/pids ("name pid" per line, used by down.sh).
#
# Env knobs:
#   KA_DIR      (default /opt/kube-real)   state: bin/ pki/ etcd/ logs/ run/
#   API_PORT    (default 6443)   kube-apiserver secure port
#   ETCD_PORT   (default 2379)   etcd client port (peer port = ETCD_PORT+1)
#   CONTROLLERS (default 1)      1: also run kube-controller-manager + kube-scheduler
#   FAKE_NODE   (default 0)      1: also run fake-kubelet.py (a Ready node; pods
#                                 bound to it are marked Running; canned logs)
#   FRESH       (default 0)      1: wipe etcd data before start (clean cluster)
#   AUTHZ       (default RBAC)   kube-apiserver --authorization-mode
#   BIN_DIR     (default $KA_DIR/bin)  where build.sh put the binaries (tests share one)
#   SCHED_PORT / SCHED_HTTP_PORT (10259 / 10251), KCM_PORT / KCM_HTTP_PORT (10257 / 10252),
#   KUBELET_PORT (10250): the other ports; an *_HTTP_PORT of 0 turns that plain-HTTP
#                 port off (the test suites do, so several clusters can run side by side)
# Ports used on 127.0.0.1: API_PORT, ETCD_PORT(+1), 10251/10259 (scheduler; the
# plain-HTTP ones make `kubectl get componentstatuses` healthy), 10252/10257
# (controller-manager), 10250 (fake-kubelet).
set -euo pipefail

KA_DIR=${KA_DIR:-/opt/kube-real}
BIN=${BIN_DIR:-$KA_DIR/bin}
PKI=$KA_DIR/pki
LOGS=$KA_DIR/logs
RUN=$KA_DIR/run
API_PORT=${API_PORT:-6443}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=$((ETCD_PORT + 1))
CONTROLLERS=${CONTROLLERS:-1}
FAKE_NODE=${FAKE_NODE:-0}
FRESH=${FRESH:-0}
AUTHZ=${AUTHZ:-RBAC}
SCHED_PORT=${SCHED_PORT:-10259}
SCHED_HTTP_PORT=${SCHED_HTTP_PORT:-10251}
KCM_PORT=${KCM_PORT:-10257}
KCM_HTTP_PORT=${KCM_HTTP_PORT:-10252}
KUBELET_PORT=${KUBELET_PORT:-10250}
HERE=$(cd "$(dirname "$0")" && pwd)
ETCD_BIN=${ETCD_BIN:-$(command -v etcd || echo /usr/bin/etcd)}

log() { echo "[up.sh $(date +%H:%M:%S)] $*"; }
die() { echo "[up.sh] ERROR: $*" >&2; exit 1; }

for b in kube-apiserver; do [ -x "$BIN/$b" ] || die "$BIN/$b missing: run build.sh first"; done
[ -x "$ETCD_BIN" ] || die "etcd not found (apt-get install etcd-server)"
if [ -s "$RUN/pids" ]; then
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then die "$name (pid $pid) from $RUN/pids still running: run down.sh first"; fi
  done < "$RUN/pids"
fi
mkdir -p "$PKI" "$LOGS" "$RUN"
: > "$RUN/pids"

# ---------------------------------------------------------------- PKI (once)
if [ ! -f "$PKI/apiserver.crt" ]; then
  log "generating PKI in $PKI (openssl)"
  ( cd "$PKI"
    openssl genrsa -out ca.key 2048 2>/dev/null
    openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 \
      -subj "/CN=kube-real-ca" -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    cat > apiserver.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl genrsa -out apiserver.key 2048 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    # client cert the apiserver presents to "kubelets" (fake-kubelet.py)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > client.ext
    openssl genrsa -out apiserver-kubelet-client.key 2048 2>/dev/null
    openssl req -new -key apiserver-kubelet-client.key -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -out apiserver-kubelet-client.csr
    openssl x509 -req -in apiserver-kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile client.ext -out apiserver-kubelet-client.crt 2>/dev/null
    # serving cert for fake-kubelet.py (127.0.0.1)
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' > kubelet.ext
    openssl genrsa -out kubelet.key 2048 2>/dev/null
    openssl req -new -key kubelet.key -subj "/CN=fake-kubelet" -out kubelet.csr
    openssl x509 -req -in kubelet.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -days 3650 -sha256 -extfile kubelet.ext -out kubelet.crt 2>/dev/null
    # service-account signing key pair
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # static bearer tokens: token,user,uid,"group1,group2"
    {
      echo "$(openssl rand -hex 24),admin,admin-uid,\"system:masters\""
      echo "$(openssl rand -hex 24),system:kube-controller-manager,kcm-uid,\"system:masters\""
      echo "$(openssl rand -hex 24),system:kube-scheduler,sched-uid,\"system:masters\""
      echo "$(openssl rand -hex 24),viewer,viewer-uid,\"kube-real:viewers\""
      echo "$(openssl rand -hex 24),fake-kubelet,kubelet-uid,\"system:masters\""
    } > tokens.csv
    chmod 600 ./*.key tokens.csv
  )
fi
tok() { awk -F, -v u="$1" '$2==u {print $1}' "$PKI/tokens.csv"; }
ADMIN_TOKEN=$(tok admin)
CA_DATA=$(base64 -w0 < "$PKI/ca.crt")
SERVER=https://127.0.0.1:$API_PORT

write_kubeconfig() { # file user token
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-real
  cluster:
    server: $SERVER
    certificate-authority-data: $CA_DATA
users:
- name: $2
  user:
    token: $3
contexts:
- name: $2@kube-real
  context:
    cluster: kube-real
    user: $2
    namespace: default
current-context: $2@kube-real
EOF
  chmod 600 "$1"
}
write_kubeconfig "$KA_DIR/kubeconfig" admin "$ADMIN_TOKEN"
write_kubeconfig "$KA_DIR/kubeconfig-viewer" viewer "$(tok viewer)"
write_kubeconfig "$RUN/kcm.kubeconfig" system:kube-controller-manager "$(tok system:kube-controller-manager)"
write_kubeconfig "$RUN/sched.kubeconfig" system:kube-scheduler "$(tok system:kube-scheduler)"
write_kubeconfig "$RUN/kubelet.kubeconfig" fake-kubelet "$(tok fake-kubelet)"

# ---------------------------------------------------------------- helpers
start() { # name logfile cmd...
  local name=$1 logf=$2; shift 2
  setsid "$@" >"$logf" 2>&1 < /dev/null &
  local pid=$!
  echo "$name $pid" >> "$RUN/pids"
  log "started $name pid=$pid (log $logf)"
}
wait_for() { # desc timeout_s cmd...
  local desc=$1 t=$2; shift 2
  local i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt $((t * 2)) ]; then die "timed out after ${t}s waiting for $desc (see $LOGS)"; fi
    sleep 0.5
  done
  log "$desc ready after ~$((i / 2))s"
}
api() { curl -sf --cacert "$PKI/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" "$@"; }

# ---------------------------------------------------------------- etcd
if [ "$FRESH" = 1 ]; then log "FRESH=1: wiping $KA_DIR/etcd"; rm -rf "$KA_DIR/etcd"; fi
mkdir -p "$KA_DIR/etcd"; chmod 700 "$KA_DIR/etcd"
T0=$(date +%s)
start etcd "$LOGS/etcd.log" "$ETCD_BIN" --name kube-real \
  --data-dir "$KA_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "kube-real=http://127.0.0.1:$ETCD_PEER_PORT"
wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

# ---------------------------------------------------------------- apiserver
# --endpoint-reconciler-type none: the advertise address is 127.0.0.1, which the
#   Endpoints validation rejects (loopback), so default/kubernetes gets no
#   Endpoints object instead of an error every 10s. Nothing is advertised off-host.
# --requestheader-*: only so controllers stop logging "missing content for CA
#   bundle requestheader-client-ca-file"; no front proxy is run.
start kube-apiserver "$LOGS/kube-apiserver.log" "$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
  --secure-port "$API_PORT" --insecure-port 0 \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --requestheader-client-ca-file "$PKI/ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User \
  --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --endpoint-reconciler-type none \
  --token-auth-file "$PKI/tokens.csv" \
  --authorization-mode "$AUTHZ" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --allow-privileged=true \
  --kubelet-preferred-address-types InternalIP \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --profiling=false \
  --v=1
wait_for "kube-apiserver /readyz" 90 api "$SERVER/readyz"

# let the "viewer" user (group kube-real:viewers) read everything (read-only)
api -X POST -H 'Content-Type: application/json' "$SERVER/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" -d '{
  "apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding",
  "metadata":{"name":"kube-real-viewers"},
  "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},
  "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"kube-real:viewers"}]}' \
  >/dev/null 2>&1 || true   # already exists on a reused data dir

# ---------------------------------------------------------------- controllers
if [ "$CONTROLLERS" = 1 ]; then
  [ -x "$BIN/kube-controller-manager" ] || die "$BIN/kube-controller-manager missing (build.sh)"
  start kube-controller-manager "$LOGS/kube-controller-manager.log" "$BIN/kube-controller-manager" \
    --kubeconfig "$RUN/kcm.kubeconfig" \
    --authentication-kubeconfig "$RUN/kcm.kubeconfig" \
    --authorization-kubeconfig "$RUN/kcm.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
    --address 127.0.0.1 --port "$KCM_HTTP_PORT" \
    --service-account-private-key-file "$PKI/sa.key" \
    --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range 10.0.0.0/24 \
    --leader-elect=false \
    --v=1
  if [ -x "$BIN/kube-scheduler" ]; then
    start kube-scheduler "$LOGS/kube-scheduler.log" "$BIN/kube-scheduler" \
      --kubeconfig "$RUN/sched.kubeconfig" \
      --authentication-kubeconfig "$RUN/sched.kubeconfig" \
      --authorization-kubeconfig "$RUN/sched.kubeconfig" \
      --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
      --address 127.0.0.1 --port "$SCHED_HTTP_PORT" \
      --leader-elect=false \
      --v=1
  fi
  # the ServiceAccount admission plugin rejects pods until the namespace's
  # "default" ServiceAccount and its token Secret exist: wait for them.
  wait_for "default/default ServiceAccount token" 60 \
    bash -c "curl -sf --cacert '$PKI/ca.crt' -H 'Authorization: Bearer $ADMIN_TOKEN' '$SERVER/api/v1/namespaces/default/serviceaccounts/default' | grep -q '\"secrets\"'"
fi

if [ "$FAKE_NODE" = 1 ]; then
  start fake-kubelet "$LOGS/fake-kubelet.log" python3 -u "$HERE/fake-kubelet.py" \
    --server "$SERVER" --ca "$PKI/ca.crt" --token "$(tok fake-kubelet)" \
    --cert "$PKI/kubelet.crt" --key "$PKI/kubelet.key" --client-ca "$PKI/ca.crt" \
    --port "$KUBELET_PORT"
  wait_for "node fake-node Ready" 30 \
    bash -c "curl -sf --cacert '$PKI/ca.crt' -H 'Authorization: Bearer $ADMIN_TOKEN' '$SERVER/api/v1/nodes/fake-node' | grep -q '\"Ready\"'"
fi

log "control plane up in $(( $(date +%s) - T0 ))s"
log "kubeconfig: $KA_DIR/kubeconfig (admin, system:masters); $KA_DIR/kubeconfig-viewer (read-only)"
log "pids ($RUN/pids):"; sed 's/^/    /' "$RUN/pids"
echo "export KUBECONFIG=$KA_DIR/kubeconfig"
