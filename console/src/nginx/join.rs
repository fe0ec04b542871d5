//! A new nginx server joins a cluster with one command from the console.
//!
//! A platform admin names the node; the console creates a token Secret of the
//! `wharf-system/wharf-ng-agent` ServiceAccount for that node alone
//! (`kubernetes.io/service-account-token`, filled by the cluster's token controller), and a
//! join code valid for [`CODE_LIFETIME`]: only its sha256 is kept, in the Secret's
//! annotations, so any replica can redeem it and none can show it again. The command fetches
//! an install script from `/ng-agent/join/<code>` (served by `server::nginx::join`) with the
//! node's kubeconfig inside; the script downloads the console's own `wharf` binary with the
//! same code and installs the agent beside nginx (systemd), or runs it in the foreground.
//!
//! The node's token outlives the code; removing the node (or deleting the cluster) deletes
//! the Secret, which revokes it.

use crate::state::AppState;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crds::SYSTEM_NAMESPACE;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use wharf_api::error::AppError;
use wharf_api::nginx::JoinCommand;
use wharf_api::text;

/// The ServiceAccount every agent authenticates as (`deploy/wharf.yaml` grants its rights).
pub const AGENT_ACCOUNT: &str = "wharf-ng-agent";
/// How long a join code works.
pub const CODE_LIFETIME: Duration = Duration::hours(1);
const CLUSTER_LABEL: &str = "wharf.dev/ng-agent-cluster";
const NODE_LABEL: &str = "wharf.dev/ng-agent-node";
const CODE_ANNOTATION: &str = "wharf.dev/join-code-sha256";
const EXPIRES_ANNOTATION: &str = "wharf.dev/join-expires";
/// When the code's script was fetched (a code gives its script once).
const USED_ANNOTATION: &str = "wharf.dev/join-used";
const ACCOUNT_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// The Secret holding a joined node's token.
pub fn token_secret(cluster: &str, node: &str) -> String {
    format!("{AGENT_ACCOUNT}-{cluster}-{node}")
}

fn code_hash(code: &str) -> String {
    hex(&Sha256::digest(code.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secrets(state: &AppState) -> Api<Secret> {
    Api::namespaced(state.client.clone(), SYSTEM_NAMESPACE)
}

/// `(cluster, node)` of every node joined from the console (one list call).
pub async fn joined(state: &AppState) -> Result<Vec<(String, String)>, AppError> {
    let list = secrets(state)
        .list(&ListParams::default().labels(CLUSTER_LABEL))
        .await?;
    let mut out: Vec<(String, String)> = list
        .items
        .iter()
        .filter_map(|s| {
            let labels = s.metadata.labels.as_ref()?;
            Some((
                labels.get(CLUSTER_LABEL)?.clone(),
                labels.get(NODE_LABEL)?.clone(),
            ))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Makes (or reuses) the node's token and a new join code; answers the command's parts.
/// Refused for a node name the cluster's status already has (an agent reports under it:
/// remove that node first).
pub async fn create(
    state: &AppState,
    cluster: &str,
    node: &str,
    who: &str,
) -> Result<JoinCommand, AppError> {
    super::check_name(text!("node name", "节点名称"), node)?;
    let c = super::any_cluster(state, cluster)?;
    if c.status
        .as_ref()
        .is_some_and(|s| s.nodes.contains_key(node))
    {
        return Err(AppError::Invalid(text!(
            "a node named '{node}' already reports to nginx cluster '{cluster}': remove it first or choose another name",
            "nginx 集群“{cluster}”已有名为“{node}”的节点在上报:请先移除它或换一个名称"
        )));
    }
    let api_server = state.settings.api_server_for_nodes.clone().ok_or_else(|| {
        AppError::Invalid(text!(
            "the console does not know the API server's address as nginx servers reach it: start it with --ng-agent-api-server",
            "控制台不知道 nginx 服务器访问 API server 的地址:请用 --ng-agent-api-server 启动控制台"
        ))
    })?;
    let accounts: Api<ServiceAccount> = Api::namespaced(state.client.clone(), SYSTEM_NAMESPACE);
    if accounts.get_opt(AGENT_ACCOUNT).await?.is_none() {
        return Err(AppError::Invalid(text!(
            "ServiceAccount {SYSTEM_NAMESPACE}/{AGENT_ACCOUNT} is missing: apply deploy/wharf.yaml",
            "缺少 ServiceAccount {SYSTEM_NAMESPACE}/{AGENT_ACCOUNT}:请应用 deploy/wharf.yaml"
        )));
    }
    let name = token_secret(cluster, node);
    let api = secrets(state);
    if api.get_opt(&name).await?.is_none() {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(SYSTEM_NAMESPACE.into()),
                labels: Some(BTreeMap::from([
                    (CLUSTER_LABEL.to_string(), cluster.to_string()),
                    (NODE_LABEL.to_string(), node.to_string()),
                ])),
                annotations: Some(BTreeMap::from([(
                    ACCOUNT_ANNOTATION.to_string(),
                    AGENT_ACCOUNT.to_string(),
                )])),
                ..Default::default()
            },
            type_: Some("kubernetes.io/service-account-token".into()),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    token_of(&api, &name).await?;
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires = Utc::now() + CODE_LIFETIME;
    let patch = serde_json::json!({"metadata": {"annotations": {
        CODE_ANNOTATION: code_hash(&code),
        EXPIRES_ANNOTATION: expires.to_rfc3339(),
        USED_ANNOTATION: null,
    }}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tracing::info!(user = who, %cluster, %node, "nginx node join code made");
    Ok(JoinCommand {
        script_path: format!("/ng-agent/join/{code}"),
        public_url: state.settings.public_url.clone(),
        expires: expires.to_rfc3339(),
        api_server,
    })
}

/// Waits (20 s at most) for the token controller to fill the Secret's token.
async fn token_of(api: &Api<Secret>, name: &str) -> Result<(String, Vec<u8>), AppError> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        if let Some(s) = api.get_opt(name).await? {
            let data = s.data.unwrap_or_default();
            if let Some(token) = data.get("token").filter(|t| !t.0.is_empty()) {
                let ca = data.get("ca.crt").map(|c| c.0.clone()).unwrap_or_default();
                return Ok((String::from_utf8_lossy(&token.0).into_owned(), ca));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(AppError::Unavailable(text!(
                "the API server did not fill the token of Secret {SYSTEM_NAMESPACE}/{name} (is kube-controller-manager running with --service-account-private-key-file?)",
                "API server 未为 Secret {SYSTEM_NAMESPACE}/{name} 生成令牌(kube-controller-manager 是否以 --service-account-private-key-file 运行?)"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// A code redeemed: who joins, and the kubeconfig they get.
#[derive(Clone, Debug)]
pub struct Joining {
    pub cluster: String,
    pub node: String,
    pub kubeconfig: String,
}

fn unknown_code() -> AppError {
    AppError::NotFound(text!(
        "join code (unknown, or older than an hour: ask for a new command)",
        "加入码(未知或已超过一小时:请重新生成命令)"
    ))
}

fn used_code() -> AppError {
    AppError::Conflict(text!(
        "this join code's script was already fetched (a code gives its script once): ask for a new command",
        "该加入码的脚本已被获取过(每个加入码只能获取一次脚本):请重新生成命令"
    ))
}

/// The Secret a code (well formed, not expired) was made for.
async fn secret_of(state: &AppState, code: &str) -> Result<Secret, AppError> {
    if code.len() != 43
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(unknown_code());
    }
    let hash = code_hash(code);
    let list = secrets(state)
        .list(&ListParams::default().labels(CLUSTER_LABEL))
        .await?;
    let now = Utc::now();
    list.items
        .into_iter()
        .find(|s| {
            let a = s.annotations();
            a.get(CODE_ANNOTATION) == Some(&hash)
                && a.get(EXPIRES_ANNOTATION)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t > now)
        })
        .ok_or_else(unknown_code)
}

/// Whether a code is good for the downloads without a credential (used or not, within its
/// hour).
pub async fn check(state: &AppState, code: &str) -> Result<(), AppError> {
    secret_of(state, code).await.map(|_| ())
}

/// The node a code (not expired, its script not fetched yet) was made for, with its
/// kubeconfig; the code is marked used.
pub async fn redeem(state: &AppState, code: &str) -> Result<Joining, AppError> {
    let server = state
        .settings
        .api_server_for_nodes
        .clone()
        .ok_or_else(unknown_code)?;
    let api = secrets(state);
    // NB: the resourceVersion read makes the mark a compare-and-swap: of two fetches at once
    // one gets 409, reads again and finds the code used; a 409 from another write (the
    // token controller's) finds it unused and tries again
    for _ in 0..3 {
        let secret = secret_of(state, code).await?;
        if secret.annotations().contains_key(USED_ANNOTATION) {
            return Err(used_code());
        }
        let labels = secret.labels();
        let (Some(cluster), Some(node)) = (labels.get(CLUSTER_LABEL), labels.get(NODE_LABEL))
        else {
            return Err(unknown_code());
        };
        let name = secret.name_any();
        let mark = serde_json::json!({"metadata": {
            "resourceVersion": secret.resource_version(),
            "annotations": {USED_ANNOTATION: Utc::now().to_rfc3339()},
        }});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&mark))
            .await
        {
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            other => other?,
        };
        let (token, ca) = token_of(&api, &name).await?;
        return Ok(Joining {
            kubeconfig: kubeconfig(&server, &ca, &token, node),
            cluster: cluster.clone(),
            node: node.clone(),
        });
    }
    Err(used_code())
}

/// A kubeconfig for the agent's token (the cluster's CA when the Secret carries one).
pub fn kubeconfig(server: &str, ca: &[u8], token: &str, node: &str) -> String {
    let mut cluster = serde_json::json!({ "server": server });
    if !ca.is_empty() {
        cluster["certificate-authority-data"] =
            base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    let user = format!("{AGENT_ACCOUNT}-{node}");
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "wharf", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "wharf", "context": {"cluster": "wharf", "user": user, "namespace": SYSTEM_NAMESPACE}}],
        "current-context": "wharf",
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// `'…'` for sh: every `'` closed, escaped and reopened.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The install script for `joining`, fetching the rest from `console` with `code`.
pub fn script(console: &str, code: &str, joining: &Joining) -> String {
    SCRIPT
        .replace("@CONSOLE@", &quoted(console.trim_end_matches('/')))
        .replace("@CODE@", &quoted(code))
        .replace("@CLUSTER@", &quoted(&joining.cluster))
        .replace("@NODE@", &quoted(&joining.node))
        .replace("@KUBECONFIG@", joining.kubeconfig.trim_end())
}

const SCRIPT: &str = r#"#!/bin/sh
# Joins this server to a Wharf nginx cluster (made by the console for this node only).
#
#   curl -fsSL <console>/ng-agent/join/<code> | sh -s -- [options]
#
# Without --foreground: installs `wharf ng-agent` beside this machine's nginx with systemd
# (files in /usr/local/bin, /etc/wharf and /etc/systemd/system; see install.sh).
# With --foreground: runs the agent and an nginx master of its own here until stopped
# (machines without systemd: containers, a trial); everything under --dir.
#
#   --foreground          run here instead of installing a service
#   --dir DIR             where the downloaded files go (default /var/lib/wharf-ng-agent)
#   --conf-dir DIR        the agent's releases (default /etc/nginx/wharf; <dir>/conf with --foreground)
#   --http-port N         this node's HTTP port instead of the cluster's (--foreground)
#   --control-port N      the agent's local control port (--foreground; default 18080)
#   --nginx PATH          the nginx binary (default /usr/sbin/nginx)
set -eu
console=@CONSOLE@
code=@CODE@
cluster=@CLUSTER@
node=@NODE@

die() {
    echo "wharf join: $*" >&2
    exit 2
}

foreground= dir=/var/lib/wharf-ng-agent conf_dir= http_port= control_port= nginx=/usr/sbin/nginx
while [ $# -gt 0 ]; do
    case $1 in
        --foreground) foreground=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || die "$1 needs a value"
    case $1 in
        --dir) dir=$2 ;;
        --conf-dir) conf_dir=$2 ;;
        --http-port) http_port=$2 ;;
        --control-port) control_port=$2 ;;
        --nginx) nginx=$2 ;;
        *) die "unknown option $1 (see the top of this script)" ;;
    esac
    shift 2
done
for port in "$http_port" "$control_port"; do
    case $port in
        '') ;;
        *[!0-9]*) die "port '$port' is not a number" ;;
    esac
done
if [ -z "$foreground" ] && { [ -n "$http_port" ] || [ -n "$control_port" ]; }; then
    die "--http-port and --control-port go with --foreground (a service uses the cluster's ports)"
fi
command -v curl >/dev/null 2>&1 || die "curl is not installed"
[ -x "$nginx" ] || die "nginx is not installed at $nginx (Debian: apt-get install nginx)"

umask 022
mkdir -p "$dir"
fetch() { # <path under the join URL> <file>
    curl -fsS "$console/ng-agent/join/$code/$1" -o "$2.part" || die "could not download $1 from $console"
    mv -f "$2.part" "$2"
}
fetch wharf "$dir/wharf"
chmod 0755 "$dir/wharf"
(umask 077 && cat >"$dir/ng-agent.kubeconfig" <<'KUBECONFIG'
@KUBECONFIG@
KUBECONFIG
)
echo "wharf join: node '$node' of nginx cluster '$cluster'" >&2

if [ -n "$foreground" ]; then
    conf_dir=${conf_dir:-$dir/conf}
    mkdir -p "$conf_dir"
    set -- --kubeconfig "$dir/ng-agent.kubeconfig" --cluster "$cluster" --node "$node" \
        --conf-dir "$conf_dir" --nginx "$nginx" --start-nginx
    [ -z "$http_port" ] || set -- "$@" --http-port "$http_port"
    [ -z "$control_port" ] || set -- "$@" --control-port "$control_port"
    exec "$dir/wharf" ng-agent "$@"
fi

fetch install.sh "$dir/install.sh"
fetch wharf-ng-agent.service "$dir/wharf-ng-agent.service"
set -- --binary "$dir/wharf" --kubeconfig "$dir/ng-agent.kubeconfig" --cluster "$cluster" --node "$node"
[ -z "$conf_dir" ] || set -- "$@" --conf-dir "$conf_dir"
exec sh "$dir/install.sh" "$@"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(quoted("a'b"), r"'a'\''b'");
    }

    #[test]
    fn kubeconfig_names_the_token_and_ca() {
        let k = kubeconfig("https://api.example:6443", b"PEM", "tok", "n3");
        let parsed: kube::config::Kubeconfig = serde_yaml::from_str(&k).unwrap();
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://api.example:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("UEVN"));
        let raw: serde_yaml::Value = serde_yaml::from_str(&k).unwrap();
        assert_eq!(raw["users"][0]["user"]["token"].as_str(), Some("tok"));
        assert_eq!(parsed.current_context.as_deref(), Some("wharf"));
    }

    #[test]
    fn script_has_no_placeholder_left() {
        let s = script(
            "http://h:3000/",
            "c0de",
            &Joining {
                cluster: "edge-beta".into(),
                node: "n3".into(),
                kubeconfig: "apiVersion: v1\n".into(),
            },
        );
        for placeholder in ["@CONSOLE@", "@CODE@", "@CLUSTER@", "@NODE@", "@KUBECONFIG@"] {
            assert!(!s.contains(placeholder), "{s}");
        }
        assert!(s.contains("console='http://h:3000'\n"));
        assert!(s.contains("node='n3'\n"));
    }
}
