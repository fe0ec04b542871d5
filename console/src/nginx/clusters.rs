//! Nginx clusters as platform admins manage them: create, edit and delete `NginxCluster`s
//! (ports, tenants served, defaults, server- and http-level settings through
//! `ngx::directive`'s allow-lists), each change put through `nginx -t` with everything the
//! cluster serves before it is stored; and the nodes each agent reports.
//!
//! Nodes join with a command from [`crate::nginx::join`]; removing one here revokes its
//! token and forgets what it reported.

use super::{desired, inputs, node_views, refusal, verdict_with};
use crate::state::AppState;
use chrono::Utc;
use crds::nginx::{node_configmap, NginxCluster, NginxClusterSpec, NginxDefaults, NginxListen};
use crds::SYSTEM_NAMESPACE;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use ngx::directive::Level;
use std::collections::BTreeSet;
use wharf_api::error::AppError;
use wharf_api::nginx::{AdminClusterView, ClusterForm, Validation};
use wharf_api::{text, Text};

/// The form of a stored cluster.
pub fn form_of(c: &NginxCluster) -> ClusterForm {
    let d = &c.spec.defaults;
    ClusterForm {
        name: c.name_any(),
        display_name: c.spec.display_name.clone(),
        http_port: c.spec.listen.http,
        https_port: c.spec.listen.https,
        tenants: c.spec.tenants.clone(),
        client_max_body_size: d.client_max_body_size.clone().unwrap_or_default(),
        proxy_connect_timeout_secs: d.proxy_connect_timeout_secs,
        proxy_read_timeout_secs: d.proxy_read_timeout_secs,
        proxy_send_timeout_secs: d.proxy_send_timeout_secs,
        upstream_keepalive: d.upstream_keepalive,
        access_log: d.access_log.unwrap_or(false),
        server_directives: c.spec.server_directives.clone(),
        http_directives: c.spec.http_directives.clone(),
        version: c.resource_version(),
    }
}

fn invalid(en: String, zh: String) -> AppError {
    AppError::Invalid(Text::new(en, zh))
}

/// Each directive checked at its level; blank entries dropped, `;` at the end tolerated.
fn directives(level: Level, list: &[String]) -> Result<Vec<String>, AppError> {
    let (en, zh) = match level {
        Level::Http => ("http-level settings", "http 级设置"),
        _ => ("server-level settings", "server 级设置"),
    };
    super::clean_directives(list)
        .iter()
        .map(|d| {
            ngx::directive::check_at(level, d)
                .map_err(|e| invalid(format!("{en}: {e}"), format!("{zh}:{e}")))
        })
        .collect()
}

fn timeout(what: (&str, &str), v: Option<u32>) -> Result<Option<u32>, AppError> {
    match v {
        Some(0) | Some(86_401..) => Err(invalid(
            format!("{}: between 1 and 86400 seconds", what.0),
            format!("{}:须在 1 到 86400 秒之间", what.1),
        )),
        other => Ok(other),
    }
}

/// The spec a form asks for, every field checked (nothing is stored on a refusal).
fn spec_of(state: &AppState, form: &ClusterForm) -> Result<NginxClusterSpec, AppError> {
    super::check_name(text!("cluster name", "集群名称"), &form.name)?;
    let display_name = form.display_name.trim().to_string();
    if display_name.chars().count() > 100 || display_name.chars().any(char::is_control) {
        return Err(invalid(
            "display name: at most 100 characters on one line".into(),
            "显示名称:最多 100 个字符,且不能换行".into(),
        ));
    }
    if form.http_port == 0 || form.https_port == Some(0) {
        return Err(invalid(
            "ports: between 1 and 65535".into(),
            "端口:须在 1 到 65535 之间".into(),
        ));
    }
    if form.https_port == Some(form.http_port) {
        return Err(invalid(
            format!("HTTP and HTTPS both on port {}", form.http_port),
            format!("HTTP 与 HTTPS 不能使用同一端口 {}", form.http_port),
        ));
    }
    let known: BTreeSet<String> = state
        .cache
        .tenants
        .state()
        .iter()
        .map(|t| t.name_any())
        .collect();
    let mut tenants = Vec::new();
    for t in form
        .tenants
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        if !known.contains(t) {
            return Err(invalid(
                format!("tenant '{t}' does not exist"),
                format!("租户“{t}”不存在"),
            ));
        }
        if !tenants.iter().any(|x| x == t) {
            tenants.push(t.to_string());
        }
    }
    let size = form.client_max_body_size.trim();
    if !size.is_empty() {
        ngx::directive::check_size("client_max_body_size", size).map_err(|e| {
            invalid(
                format!("largest request body: {e}"),
                format!("请求体上限:{e}(例如 1m、20m、0 表示不限)"),
            )
        })?;
    }
    if form.upstream_keepalive.is_some_and(|k| k > 10_000) {
        return Err(invalid(
            "idle upstream connections: at most 10000".into(),
            "上游空闲连接数:最多 10000".into(),
        ));
    }
    Ok(NginxClusterSpec {
        display_name,
        tenants,
        // NB: kept as they are: namespaces beyond tenants' are set with kubectl (the
        // platform's own services), and the form does not show them.
        namespaces: state
            .cache
            .nginx_clusters
            .state()
            .iter()
            .find(|c| c.name_any() == form.name)
            .map(|c| c.spec.namespaces.clone())
            .unwrap_or_default(),
        listen: NginxListen {
            http: form.http_port,
            https: form.https_port,
        },
        defaults: NginxDefaults {
            client_max_body_size: (!size.is_empty()).then(|| size.to_string()),
            proxy_connect_timeout_secs: timeout(
                ("connect timeout", "连接超时"),
                form.proxy_connect_timeout_secs,
            )?,
            proxy_read_timeout_secs: timeout(
                ("read timeout", "读超时"),
                form.proxy_read_timeout_secs,
            )?,
            proxy_send_timeout_secs: timeout(
                ("send timeout", "发送超时"),
                form.proxy_send_timeout_secs,
            )?,
            upstream_keepalive: form.upstream_keepalive,
            access_log: form.access_log.then_some(true),
        },
        server_directives: directives(Level::Server, &form.server_directives)?,
        http_directives: directives(Level::Http, &form.http_directives)?,
    })
}

/// Every cluster, with its nodes and what points at it.
pub fn list(state: &AppState) -> Vec<AdminClusterView> {
    let now = Utc::now();
    let routes = state.cache.nginx_routes.state();
    let upstreams = state.cache.nginx_upstreams.state();
    let mut out: Vec<AdminClusterView> = state
        .cache
        .nginx_clusters
        .state()
        .iter()
        .map(|c| {
            let name = c.name_any();
            let mut pointing: Vec<String> = routes
                .iter()
                .filter(|r| r.spec.cluster == name)
                .map(|r| desired::route_id(&r.namespace().unwrap_or_default(), &r.name_any()))
                .chain(
                    upstreams
                        .iter()
                        .filter(|u| u.spec.cluster == name)
                        .map(|u| {
                            format!(
                                "upstream {}",
                                desired::route_id(
                                    &u.namespace().unwrap_or_default(),
                                    &u.name_any()
                                )
                            )
                        }),
                )
                .collect();
            pointing.sort();
            AdminClusterView {
                form: form_of(c),
                nodes: node_views(c, now),
                routes: pointing,
                joined: Vec::new(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.form.name.cmp(&b.form.name));
    out
}

/// [`list`], with the nodes joined from the console (their token Secrets: one list call).
pub async fn list_with_joined(state: &AppState) -> Result<Vec<AdminClusterView>, AppError> {
    let mut out = list(state);
    let joined = super::join::joined(state).await?;
    for c in &mut out {
        c.joined = joined
            .iter()
            .filter(|(cluster, _)| *cluster == c.form.name)
            .map(|(_, node)| node.clone())
            .collect();
    }
    Ok(out)
}

/// The cluster the form describes, as it would be stored (status and annotations kept).
fn candidate(state: &AppState, form: &ClusterForm) -> Result<NginxCluster, AppError> {
    let spec = spec_of(state, form)?;
    match (&form.version, super::any_cluster(state, &form.name).ok()) {
        (None, Some(_)) => Err(invalid(
            format!("nginx cluster '{}' already exists", form.name),
            format!("nginx 集群“{}”已存在", form.name),
        )),
        (Some(_), None) => Err(AppError::NotFound(text!(
            "nginx cluster '{}'",
            "nginx 集群“{}”",
            form.name
        ))),
        (None, None) => Ok(NginxCluster::new(&form.name, spec)),
        (Some(_), Some(c)) => {
            let mut c = (*c).clone();
            c.spec = spec;
            Ok(c)
        }
    }
}

/// A route only validation adds: server-level settings land in every host's `server {}`, so
/// a cluster with no route yet still has one block that shows nginx what they do.
fn probe_route() -> ngx::Route {
    ngx::Route {
        name: "wharf/settings-check".into(),
        host: "settings-check.wharf.invalid".into(),
        path: "/".into(),
        target: ngx::Target::External {
            name: "wharf_settings_check".into(),
        },
        directives: Vec::new(),
        tls: None,
    }
}

/// `nginx -t` on what the cluster would serve with the form's settings and every route it
/// serves today (a platform admin reads every route's TLS Secret), plus [`probe_route`].
async fn verdict_of(state: &AppState, c: &NginxCluster) -> Result<Validation, AppError> {
    verdict_with(state, &|_| true, c, &inputs(state), vec![probe_route()]).await
}

/// [`verdict_of`] the cluster a form describes.
pub async fn check(state: &AppState, form: &ClusterForm) -> Result<Validation, AppError> {
    let c = candidate(state, form)?;
    verdict_of(state, &c).await
}

/// Checks, then creates or replaces the cluster; a save over a version other than the one
/// edited is refused (someone else changed it meanwhile).
pub async fn save(state: &AppState, form: &ClusterForm, who: &str) -> Result<Validation, AppError> {
    let mut c = candidate(state, form)?;
    let v = verdict_of(state, &c).await?;
    if !v.ok {
        return Err(refusal(&v));
    }
    let api: Api<NginxCluster> = Api::all(state.client.clone());
    let conflict = |e: kube::Error| {
        match e {
        kube::Error::Api(s) if s.code == 409 => AppError::Conflict(Text::new(
            format!(
                "nginx cluster '{}' was changed by someone else since you opened it: reload and edit again",
                form.name
            ),
            format!("nginx 集群“{}”在您打开后已被他人修改:请刷新后重新编辑", form.name),
        )),
        e => e.into(),
    }
    };
    let saved = match &form.version {
        None => api
            .create(&PostParams::default(), &c)
            .await
            .map_err(conflict)?,
        Some(version) => {
            c.metadata.resource_version = Some(version.clone());
            c.status = None;
            api.replace(&form.name, &PostParams::default(), &c)
                .await
                .map_err(conflict)?
        }
    };
    let version = saved.resource_version();
    state
        .cache
        .wait_for_nginx_cluster(&form.name, |c| {
            c.is_some_and(|c| c.resource_version() == version)
        })
        .await;
    tracing::info!(user = who, cluster = %form.name, created = form.version.is_none(), "nginx cluster saved");
    Ok(v)
}

/// Deletes a cluster no route or upstream points at, with its nodes' tokens and files.
pub async fn delete(state: &AppState, name: &str, who: &str) -> Result<(), AppError> {
    let view = list(state)
        .into_iter()
        .find(|c| c.form.name == name)
        .ok_or_else(|| super::not_found(name))?;
    if !view.routes.is_empty() {
        let shown: Vec<&str> = view.routes.iter().take(10).map(String::as_str).collect();
        let more = view.routes.len().saturating_sub(shown.len());
        let list = if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        };
        return Err(invalid(
            format!("nginx cluster '{name}' still serves {list}: move or delete them first"),
            format!("nginx 集群“{name}”仍在服务 {list}:请先迁移或删除它们"),
        ));
    }
    Api::<NginxCluster>::all(state.client.clone())
        .delete(name, &DeleteParams::default())
        .await?;
    // NB: a set: a joined node that reports is in both lists
    let nodes: BTreeSet<String> = view
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .chain(view_joined(state, name).await?)
        .collect();
    for node in nodes {
        forget_node_files(state, name, &node).await?;
    }
    state
        .cache
        .wait_for_nginx_cluster(name, |c| c.is_none())
        .await;
    tracing::info!(user = who, cluster = %name, "nginx cluster deleted");
    Ok(())
}

async fn view_joined(state: &AppState, cluster: &str) -> Result<Vec<String>, AppError> {
    Ok(super::join::joined(state)
        .await?
        .into_iter()
        .filter(|(c, _)| c == cluster)
        .map(|(_, n)| n)
        .collect())
}

/// The node's token (revoked by deleting it) and its published files.
async fn forget_node_files(state: &AppState, cluster: &str, node: &str) -> Result<(), AppError> {
    let secrets: Api<Secret> = Api::namespaced(state.client.clone(), SYSTEM_NAMESPACE);
    super::ignore_missing(
        secrets
            .delete(
                &super::join::token_secret(cluster, node),
                &DeleteParams::default(),
            )
            .await
            .map(|_| ()),
    )?;
    let maps: Api<ConfigMap> = Api::namespaced(state.client.clone(), SYSTEM_NAMESPACE);
    super::ignore_missing(
        maps.delete(&node_configmap(cluster, node), &DeleteParams::default())
            .await
            .map(|_| ()),
    )
}

/// Removes a node: revokes its token (when it joined from the console), deletes its files'
/// ConfigMap and its entry of the cluster's status. An agent still running with another
/// credential writes its entry again at its next heartbeat.
pub async fn remove_node(
    state: &AppState,
    cluster: &str,
    node: &str,
    who: &str,
) -> Result<(), AppError> {
    let c = super::any_cluster(state, cluster)?;
    let reported = c
        .status
        .as_ref()
        .is_some_and(|s| s.nodes.contains_key(node));
    let joined = view_joined(state, cluster).await?.iter().any(|n| n == node);
    if !reported && !joined {
        return Err(AppError::NotFound(text!(
            "node '{node}' of nginx cluster '{cluster}'",
            "nginx 集群“{cluster}”的节点“{node}”"
        )));
    }
    forget_node_files(state, cluster, node).await?;
    if reported {
        let patch = serde_json::json!({"status": {"nodes": {node: null}}});
        Api::<NginxCluster>::all(state.client.clone())
            .patch_status(cluster, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        state
            .cache
            .wait_for_nginx_cluster(cluster, |c| {
                c.is_none_or(|c| {
                    c.status
                        .as_ref()
                        .is_none_or(|s| !s.nodes.contains_key(node))
                })
            })
            .await;
    }
    tracing::info!(user = who, %cluster, %node, "nginx node removed");
    Ok(())
}
