#!/bin/sh
# Installs `wharf ng-agent` beside an nginx server outside the cluster (a systemd machine):
#
#   install.sh --binary PATH --kubeconfig PATH --cluster NAME --node NAME
#              [--conf-dir DIR] [--root DIR]
#
#   --binary      the `wharf` binary             -> <root>/usr/local/bin/wharf (0755)
#   --kubeconfig  the API server and a token of wharf-system/wharf-ng-agent
#                                                -> <root>/etc/wharf/ng-agent.kubeconfig (0600)
#   --cluster     the NginxCluster this server serves  \ -> <root>/etc/wharf/ng-agent.env
#   --node        this server's name in its status      /
#   --conf-dir    where the agent keeps releases (default /etc/nginx/wharf)
#   --root        a prefix for everything written (default /; tests install into a temp dir)
#
# Also the unit (<root>/etc/systemd/system/wharf-ng-agent.service) and a drop-in that runs
# Debian's nginx.service on the agent's releases (nginx.service.d/wharf.conf). Everything is
# checked before anything is written. Only with --root / on a machine running systemd does it
# then run `systemctl daemon-reload && systemctl enable --now wharf-ng-agent`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
unit_src="$here/wharf-ng-agent.service"
default_conf_dir=/etc/nginx/wharf

die() {
    echo "install.sh: $*" >&2
    exit 2
}

binary= kubeconfig= cluster= node= conf_dir=$default_conf_dir root=/
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
        --binary) binary=$2 ;;
        --kubeconfig) kubeconfig=$2 ;;
        --cluster) cluster=$2 ;;
        --node) node=$2 ;;
        --conf-dir) conf_dir=$2 ;;
        --root) root=$2 ;;
        *) die "unknown option $1 (see the top of this script)" ;;
    esac
    shift 2
done

# A DNS label (RFC 1123), as Kubernetes names are: the ConfigMap this node publishes is named
# wharf-ngx-<cluster>-<node>, and both values land in a file systemd reads.
is_dns_label() {
    [ ${#1} -ge 1 ] && [ ${#1} -le 63 ] || return 1
    case $1 in
        -* | *- | *[!a-z0-9-]*) return 1 ;;
    esac
}

[ -n "$binary" ] || die "--binary is required"
[ -n "$kubeconfig" ] || die "--kubeconfig is required"
[ -n "$cluster" ] || die "--cluster is required"
[ -n "$node" ] || die "--node is required"
[ -f "$binary" ] || die "--binary $binary: no such file"
[ -x "$binary" ] || die "--binary $binary: not executable"
[ -f "$kubeconfig" ] || die "--kubeconfig $kubeconfig: no such file"
[ -r "$kubeconfig" ] || die "--kubeconfig $kubeconfig: not readable"
is_dns_label "$cluster" ||
    die "--cluster '$cluster' is not a DNS label (a-z, 0-9 and '-', at most 63, no '-' at either end)"
is_dns_label "$node" ||
    die "--node '$node' is not a DNS label (a-z, 0-9 and '-', at most 63, no '-' at either end)"
case $conf_dir in
    /*) ;;
    *) die "--conf-dir '$conf_dir' is not an absolute path" ;;
esac
case $conf_dir in
    *[!A-Za-z0-9._/-]* | */../* | */.. | //*)
        die "--conf-dir '$conf_dir': only letters, digits, '.', '_', '-' and '/' (it goes into unit files)" ;;
esac
[ -d "$root" ] || die "--root $root: no such directory"
[ -f "$unit_src" ] || die "$unit_src is missing (run the script from its deploy/ng-agent folder)"

root=$(cd "$root" && pwd)
at() { # <root> + an absolute path
    if [ "$root" = / ]; then printf '%s' "$1"; else printf '%s%s' "$root" "$1"; fi
}

umask 022
mkdir -p "$(at /usr/local/bin)" "$(at /etc/wharf)" "$(at /etc/systemd/system/nginx.service.d)" \
    "$(at "$conf_dir")"

# Each file written beside its place, then renamed: a half-copied binary never runs.
cp "$binary" "$(at /usr/local/bin/wharf.new)"
chmod 0755 "$(at /usr/local/bin/wharf.new)"
mv -f "$(at /usr/local/bin/wharf.new)" "$(at /usr/local/bin/wharf)"

(umask 077 && cp "$kubeconfig" "$(at /etc/wharf/ng-agent.kubeconfig.new)")
chmod 0600 "$(at /etc/wharf/ng-agent.kubeconfig.new)"
mv -f "$(at /etc/wharf/ng-agent.kubeconfig.new)" "$(at /etc/wharf/ng-agent.kubeconfig)"

cat >"$(at /etc/wharf/ng-agent.env.new)" <<ENV
# wharf ng-agent (written by deploy/ng-agent/install.sh; read by wharf-ng-agent.service)
WHARF_NG_CLUSTER=$cluster
WHARF_NG_NODE=$node
WHARF_NG_CONF_DIR=$conf_dir
# The cluster's pod and Service ranges, and ranges external upstreams may use anyway:
#WHARF_CLUSTER_CIDRS=10.244.0.0/16,10.96.0.0/12
#WHARF_EGRESS_ALLOW=
ENV
chmod 0644 "$(at /etc/wharf/ng-agent.env.new)"
mv -f "$(at /etc/wharf/ng-agent.env.new)" "$(at /etc/wharf/ng-agent.env)"

cp "$unit_src" "$(at /etc/systemd/system/wharf-ng-agent.service)"
chmod 0644 "$(at /etc/systemd/system/wharf-ng-agent.service)"

dropin_dir=$(at /etc/systemd/system/wharf-ng-agent.service.d)
if [ "$conf_dir" != "$default_conf_dir" ]; then
    mkdir -p "$dropin_dir"
    printf '[Service]\nReadWritePaths=\nReadWritePaths=%s\n' "$conf_dir" >"$dropin_dir/conf-dir.conf"
    chmod 0644 "$dropin_dir/conf-dir.conf"
else
    rm -f "$dropin_dir/conf-dir.conf"
fi

# nginx runs on the agent's live release; its pid file is where the agent's reload looks.
nginx_args="-p $conf_dir/runtime/ -c $conf_dir/current/nginx.conf"
cat >"$(at /etc/systemd/system/nginx.service.d/wharf.conf)" <<UNIT
# Written by deploy/ng-agent/install.sh: nginx serves what wharf ng-agent installs.
[Service]
PIDFile=$conf_dir/runtime/logs/nginx.pid
ExecStartPre=
ExecStartPre=/usr/sbin/nginx -t -q $nginx_args -g 'daemon on; master_process on;'
ExecStart=
ExecStart=/usr/sbin/nginx $nginx_args -g 'daemon on; master_process on;'
ExecReload=
ExecReload=/usr/sbin/nginx $nginx_args -s reload
ExecStop=
ExecStop=-/sbin/start-stop-daemon --quiet --stop --retry QUIT/5 --pidfile $conf_dir/runtime/logs/nginx.pid
UNIT
chmod 0644 "$(at /etc/systemd/system/nginx.service.d/wharf.conf)"

echo "installed wharf ng-agent under $root (cluster $cluster, node $node, conf dir $conf_dir)"
if [ "$root" != / ]; then
    echo "not starting it: --root is $root, not /"
elif ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
    echo "not starting it: systemd is not running here; start it with"
    echo "  systemctl daemon-reload && systemctl enable --now wharf-ng-agent"
else
    systemctl daemon-reload
    systemctl enable --now wharf-ng-agent
    echo "started: systemctl daemon-reload && systemctl enable --now wharf-ng-agent"
    echo "once $conf_dir/current/nginx.conf exists, move nginx onto it: systemctl restart nginx"
fi
