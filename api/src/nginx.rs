//! NgFront: nginx clusters as the console shows and changes them. What a cluster serves lives
//! in custom resources (`crds::nginx`); every node's agent (`wharf ng-agent`) reports into
//! the cluster's status and publishes its live files and drift diff in a ConfigMap.
//!
//! Ways in, all tenant-checked on the server:
//! * [`nginx_clusters`], [`nginx_config`], [`nginx_drift`]: reads;
//! * [`validate_nginx_change`] and [`apply_nginx_change`]: a change is rendered together with
//!   everything else the cluster serves, HTTPS listeners included (`tls`: the routes'
//!   certificates attached as the agents attach them), and checked with `nginx -t` before it
//!   is stored; an invalid one is never stored, so it never reaches a node;
//! * [`repair_nginx_node`]: asks a node's agent to re-apply the rendered config (an
//!   annotation on the cluster the agent carries out once);
//! * `GET /download/nginx/{tenant}/{cluster}/{node}`: a node's live files as one text file;
//! * `/ws/nginx/{tenant}`: the clusters as [`nginx_clusters`] returns them, pushed on every
//!   change (the page's live view).
//!
//! Tenants see the clusters that serve them and edit the routes and upstreams of their own
//! namespaces; a cluster's whole config (other tenants' hosts included) is shown to platform
//! admins, and to a tenant only for a cluster that serves nobody else.

use serde::{Deserialize, Serialize};

/// A node's state as the list shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// The live files are the rendered ones and the last apply worked.
    InSync,
    /// Someone changed the files on the node (on-disk sha ≠ rendered sha).
    Drifted,
    /// The last apply failed (nginx's message in `last_error`); the node serves the previous config.
    Failing,
    /// The agent has been silent for three heartbeats.
    Stale,
    /// The agent has not reported yet.
    Pending,
}

impl NodeState {
    pub fn key(self) -> &'static str {
        match self {
            NodeState::InSync => "in-sync",
            NodeState::Drifted => "drifted",
            NodeState::Failing => "failing",
            NodeState::Stale => "stale",
            NodeState::Pending => "pending",
        }
    }
}

/// nginx's complaint, pointing into the rendered tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxMessage {
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeError {
    pub at: String,
    pub message: String,
    pub nginx: Option<NginxMessage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    pub state: NodeState,
    pub mode: Option<String>,
    /// What `nginx -v` says on the node.
    pub nginx_version: Option<String>,
    pub generation: Option<i64>,
    pub rendered_sha: Option<String>,
    pub on_disk_sha: Option<String>,
    pub last_error: Option<NodeError>,
    pub last_reload: Option<String>,
    pub reload_count: u64,
    /// RFC 3339: the agent's last report.
    pub heartbeat: Option<String>,
    /// A repair was asked for and the agent has not carried it out yet.
    pub repair_pending: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub namespace: String,
    pub name: String,
    pub host: String,
    pub path: String,
    /// `service shop-web:80` or `upstream legacy-erp`.
    pub target: String,
    pub external: bool,
    pub directives: Vec<String>,
    /// The `kubernetes.io/tls` Secret the route asks for.
    pub tls_secret: Option<String>,
    /// What the nodes could not do for this route (e.g. a missing TLS secret), as reported.
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamView {
    pub namespace: String,
    pub name: String,
    pub servers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    pub name: String,
    pub display_name: String,
    pub tenants: Vec<String>,
    pub http_port: u16,
    pub nodes: Vec<NodeView>,
    /// Only the caller's (all of them for a platform admin).
    pub routes: Vec<RouteView>,
    pub upstreams: Vec<UpstreamView>,
    /// May the caller see the whole config, the downloads and the drift diffs?
    pub whole_config: bool,
    /// May the caller change routes here?
    pub can_edit: bool,
    /// The caller's namespaces this cluster serves (where new upstreams may go).
    pub namespaces: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    pub path: String,
    pub text: String,
}

/// A cluster's config as the console renders it: the routes' certificates attached as the
/// agents attach them, with the cluster's own ports (nodes may override ports and the control
/// port) and certificate files under [`ConfigView::tls_dir`] (each node keeps them under its
/// own `<conf_dir>/tls`, never in the files shown or downloaded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    pub sha: String,
    pub mode: String,
    pub files: Vec<ConfigFile>,
    /// Where the config says certificate files are: a stand-in for each node's folder.
    pub tls_dir: String,
    /// Routes served on HTTP only although they ask for TLS, and why (what the nodes report).
    pub route_errors: Vec<RouteError>,
}

/// A route a cluster serves without something it asks for (e.g. its TLS secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteError {
    /// `namespace/name`.
    pub route: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftView {
    pub node: String,
    pub rendered_sha: Option<String>,
    pub on_disk_sha: Option<String>,
    /// Unified diff, `a/` = rendered, `b/` = on the node; empty when in sync.
    pub diff: String,
}

/// A change from the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum NginxChange {
    /// Replace a route's extra directives.
    SetDirectives {
        namespace: String,
        route: String,
        directives: Vec<String>,
    },
    /// Add (or change) a reverse proxy to servers outside Kubernetes: an `NginxUpstream` and
    /// an `NginxRoute` of the same name.
    AddExternal {
        cluster: String,
        namespace: String,
        name: String,
        host: String,
        path: String,
        servers: Vec<String>,
        directives: Vec<String>,
    },
    /// Remove such a proxy (route and upstream).
    RemoveExternal { namespace: String, name: String },
    /// Expose a Service of the tenant through nginx: an `NginxRoute` to one of its ports,
    /// created, or changed when it exists ("expose through nginx" on an app's page).
    SetRoute {
        cluster: String,
        namespace: String,
        name: String,
        host: String,
        path: String,
        service: String,
        /// One of the Service's ports (not the pod's).
        port: u16,
        /// A `kubernetes.io/tls` Secret of the namespace: the host is served over HTTPS too.
        tls_secret: Option<String>,
        directives: Vec<String>,
    },
    /// Remove a route to a Service.
    RemoveRoute { namespace: String, name: String },
}

/// An nginx cluster as a platform admin edits it (the page's form; `NginxCluster`'s spec).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterForm {
    /// A DNS label; fixed once created.
    pub name: String,
    pub display_name: String,
    pub http_port: u16,
    pub https_port: Option<u16>,
    /// Tenants whose routes it serves.
    pub tenants: Vec<String>,
    /// nginx size syntax (`1m`, `20m`); empty: nginx's default (1m).
    pub client_max_body_size: String,
    pub proxy_connect_timeout_secs: Option<u32>,
    pub proxy_read_timeout_secs: Option<u32>,
    pub proxy_send_timeout_secs: Option<u32>,
    pub upstream_keepalive: Option<u32>,
    pub access_log: bool,
    /// For every host's `server {}` block, one directive per entry, without `;`.
    pub server_directives: Vec<String>,
    /// For the `http {}` block.
    pub http_directives: Vec<String>,
    /// The version edited (`metadata.resourceVersion`); `None` when creating. A save over a
    /// newer version is refused rather than undoing someone else's change.
    pub version: Option<String>,
}

/// One nginx cluster on the platform admins' page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClusterView {
    pub form: ClusterForm,
    pub nodes: Vec<NodeView>,
    /// Routes and upstreams that point at it, `namespace/name` (a cluster is deleted only
    /// when none is left).
    pub routes: Vec<String>,
    /// Nodes joined with a command from the console (each has a token of its own).
    pub joined: Vec<String>,
}

/// What to run on a new nginx server so that it joins a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinCommand {
    /// The path of the install script on the console, with the join code
    /// (`/ng-agent/join/<code>`): the page prefixes the console's address.
    pub script_path: String,
    /// The console's address when configured (`--public-url`); else the page uses its own.
    pub public_url: Option<String>,
    /// RFC 3339: the code stops working then (the node's token does not).
    pub expires: String,
    /// The API server the node's kubeconfig names.
    pub api_server: String,
}

impl JoinCommand {
    /// The line to run on the new server: the script installs the agent beside nginx
    /// (systemd), or with `--foreground` runs it (and nginx) in the foreground.
    pub fn line(&self, console: &str, extra: &str) -> String {
        let base = self.public_url.as_deref().unwrap_or(console);
        let mut line = format!(
            "curl -fsSL '{}{}' | sh -s --",
            base.trim_end_matches('/'),
            self.script_path
        );
        if !extra.trim().is_empty() {
            line.push(' ');
            line.push_str(extra.trim());
        }
        line
    }
}

/// The answer of `nginx -t` on the candidate config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub ok: bool,
    /// A sentence when not ok.
    pub message: Option<String>,
    pub nginx: Option<NginxMessage>,
    /// The lines around the one nginx names, `(number, text)`.
    pub excerpt: Vec<(u32, String)>,
}

/// One piece of a highlighted config line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    Directive,
    Value,
    Variable,
    String,
    Comment,
    Punct,
    Space,
}

impl Token {
    pub fn class(self) -> &'static str {
        match self {
            Token::Directive => "ng-dir",
            Token::Value => "ng-val",
            Token::Variable => "ng-var",
            Token::String => "ng-str",
            Token::Comment => "ng-com",
            Token::Punct => "ng-punct",
            Token::Space => "",
        }
    }
}

/// Splits one line of nginx config for highlighting: the first word of a statement is the
/// directive, `#` starts a comment, quotes make strings, `$name` is a variable. Not a
/// parser: good enough for reading, never used to decide anything.
pub fn highlight(line: &str) -> Vec<(Token, String)> {
    let mut out: Vec<(Token, String)> = Vec::new();
    let mut first = true;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = if c == '#' {
            i = chars.len();
            Token::Comment
        } else if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            Token::Space
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i = (i + 1).min(chars.len());
            Token::String
        } else if matches!(c, '{' | '}' | ';') {
            i += 1;
            first = true;
            Token::Punct
        } else {
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '{' | '}' | ';' | '"' | '\'')
            {
                i += 1;
            }
            let kind = if first {
                Token::Directive
            } else if c == '$' {
                Token::Variable
            } else {
                Token::Value
            };
            first = false;
            kind
        };
        out.push((kind, chars[start..i].iter().collect()));
    }
    out
}

/// One row of a side-by-side diff: rendered on the left, on the node on the right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideRow {
    pub left: Option<(u32, String)>,
    pub right: Option<(u32, String)>,
    /// `same`, `changed`, `removed` (left only), `added` (right only), `file` (a header).
    pub kind: &'static str,
}

/// Turns a unified diff into side-by-side rows; removed and added runs are paired line by line.
pub fn side_by_side(unified: &str) -> Vec<SideRow> {
    let mut rows = Vec::new();
    let (mut l, mut r) = (0u32, 0u32);
    let mut minus: Vec<(u32, String)> = Vec::new();
    let mut plus: Vec<(u32, String)> = Vec::new();
    let flush =
        |rows: &mut Vec<SideRow>, minus: &mut Vec<(u32, String)>, plus: &mut Vec<(u32, String)>| {
            let n = minus.len().max(plus.len());
            let (mut m, mut p) = (minus.drain(..), plus.drain(..));
            for _ in 0..n {
                let (left, right) = (m.next(), p.next());
                let kind = match (&left, &right) {
                    (Some(_), Some(_)) => "changed",
                    (Some(_), None) => "removed",
                    _ => "added",
                };
                rows.push(SideRow { left, right, kind });
            }
        };
    for line in unified.lines() {
        if let Some(rest) = line.strip_prefix("+++ ") {
            flush(&mut rows, &mut minus, &mut plus);
            rows.push(SideRow {
                left: None,
                right: Some((0, rest.to_string())),
                kind: "file",
            });
        } else if line.starts_with("--- ") {
            flush(&mut rows, &mut minus, &mut plus);
        } else if let Some(h) = line.strip_prefix("@@ ") {
            flush(&mut rows, &mut minus, &mut plus);
            // @@ -l,n +r,m @@
            let mut parts = h.split_whitespace();
            let num = |s: Option<&str>| {
                s.and_then(|s| s[1..].split(',').next().and_then(|n| n.parse::<u32>().ok()))
                    .unwrap_or(1)
            };
            l = num(parts.next());
            r = num(parts.next());
        } else if let Some(t) = line.strip_prefix('-') {
            minus.push((l, t.to_string()));
            l += 1;
        } else if let Some(t) = line.strip_prefix('+') {
            plus.push((r, t.to_string()));
            r += 1;
        } else if let Some(t) = line.strip_prefix(' ') {
            flush(&mut rows, &mut minus, &mut plus);
            rows.push(SideRow {
                left: Some((l, t.to_string())),
                right: Some((r, t.to_string())),
                kind: "same",
            });
            l += 1;
            r += 1;
        }
    }
    flush(&mut rows, &mut minus, &mut plus);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_marks_directives_values_strings_and_comments() {
        let toks = highlight("    proxy_set_header Host $host; # keep it");
        let kinds: Vec<Token> = toks
            .iter()
            .filter(|(k, _)| *k != Token::Space)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(
            kinds,
            vec![
                Token::Directive,
                Token::Value,
                Token::Variable,
                Token::Punct,
                Token::Comment
            ]
        );
        let joined: String = toks.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(joined, "    proxy_set_header Host $host; # keep it");
        let toks = highlight("return 200 \"a b\";");
        assert_eq!(toks[4], (Token::String, "\"a b\"".to_string()));
    }

    #[test]
    fn a_unified_diff_becomes_paired_rows() {
        let d = "--- a/x.conf\n+++ b/x.conf\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n+extra\n c\n";
        let rows = side_by_side(d);
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, vec!["file", "same", "changed", "added", "same"]);
        assert_eq!(rows[2].left, Some((2, "b".into())));
        assert_eq!(rows[2].right, Some((2, "B".into())));
        assert_eq!(rows[3].right, Some((3, "extra".into())));
        assert_eq!(rows[4].left, Some((3, "c".into())));
        assert_eq!(rows[4].right, Some((4, "c".into())));
    }
}
