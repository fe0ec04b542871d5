//! `/t/:tenant/nginx`: NgFront. The nginx clusters that serve the tenant, each node with its
//! state (in sync, drifted, failing, stale), kept current by a live socket, with its last
//! heartbeat as "5s ago"; the routes and external upstreams of the tenant's namespaces, with
//! their extra directives editable and what the nodes could not do for them (a TLS secret
//! missing...); every change checked with `nginx -t` on the server before it is stored, HTTPS
//! listeners included; a cluster's generated config, highlighted, with the routes served on
//! HTTP only although they ask for TLS and why; a node's files to download, its drift against the
//! rendered config, unified or side by side, and a button that has its agent repair it.

use super::param;
use crate::components::banner::ErrorBanner;
use crate::components::live::{use_live, LinkDot, Live, LiveFeed};
use crate::error::AppError;
use crate::i18n::t;
use crate::nginx::{
    apply_nginx_change, highlight, nginx_clusters, side_by_side, validate_nginx_change,
    ClusterView, ConfigView, DriftView, NginxChange, NginxConfig, NginxDrift, NodeState, NodeView,
    RepairNginxNode, RouteView, Validation,
};
use crate::time::{ago, exact};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use wharf_api::routes;

/// The socket sends the clusters as they are now, whole.
impl LiveFeed for Vec<ClusterView> {
    type Value = Vec<ClusterView>;
    fn into_value(self) -> Result<Vec<ClusterView>, AppError> {
        Ok(self)
    }
}

/// Which form a validation or apply answers.
#[derive(Clone, Copy, Debug)]
enum Form {
    Edit,
    External,
}

pub(crate) fn state_badge(s: NodeState) -> (&'static str, &'static str) {
    match s {
        NodeState::InSync => ("badge ok", "in sync"),
        NodeState::Drifted => ("badge busy", "drifted"),
        NodeState::Failing => ("badge bad", "failing"),
        NodeState::Stale => ("badge idle", "stale"),
        NodeState::Pending => ("badge idle", "pending"),
    }
}

fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// What a validation or apply said, with nginx's message and the lines it points at.
#[component]
pub(crate) fn ValidationView(
    result: RwSignal<Option<Result<Validation, AppError>>>,
) -> impl IntoView {
    move || {
        result.get().map(|r| match r {
            Ok(v) if v.ok => view! { <div class="banner ok" data-testid="validation">{t("nginx -t: the configuration is valid.", "nginx -t：配置有效。")}</div> }.into_any(),
            Ok(v) => {
                let place = v.nginx.as_ref().and_then(|n| Some(format!("{}:{}", n.file.clone()?, n.line?))).unwrap_or_default();
                let line = v.nginx.as_ref().and_then(|n| n.line);
                view! {
                    <div class="banner error" data-testid="validation">
                        <div>{v.message.clone().unwrap_or_default()}</div>
                        <div class="mono" data-testid="validation-place">{place}</div>
                        <pre class="ng-excerpt">{v.excerpt.into_iter().map(|(n, text)| {
                            let class = if Some(n) == line { "ng-line ng-bad" } else { "ng-line" };
                            view! { <div class=class><span class="ng-num">{n}</span>{text}</div> }
                        }).collect_view()}</pre>
                    </div>
                }
                .into_any()
            }
            Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="validation"/> }.into_any(),
        })
    }
}

#[component]
fn ConfigText(text: String) -> impl IntoView {
    view! {
        <pre class="ng-config">{text.lines().enumerate().map(|(i, line)| view! {
            <div class="ng-line"><span class="ng-num">{i + 1}</span>{highlight(line).into_iter().map(|(tok, s)| view! { <span class=tok.class()>{s}</span> }).collect_view()}</div>
        }).collect_view()}</pre>
    }
}

#[component]
fn DriftPanel(drift: DriftView) -> impl IntoView {
    let side = RwSignal::new(true);
    let rows = side_by_side(&drift.diff);
    let unified = drift.diff.clone();
    let empty = drift.diff.is_empty();
    view! {
        <div class="card wide ng-drift" data-testid="drift">
            <div class="page-head">
                <h3>{t("Drift of ", "漂移：")}{drift.node.clone()}</h3>
                <span class="mono muted">{format!("rendered {} · on disk {}", short(&drift.rendered_sha), short(&drift.on_disk_sha))}</span>
                <div class="spacer"></div>
                <button class:active=move || side.get() on:click=move |_| side.set(true)>{t("Side by side", "并排")}</button>
                <button class:active=move || !side.get() on:click=move |_| side.set(false)>{t("Unified", "统一")}</button>
            </div>
            {empty.then(|| view! { <p class="muted">{t("No drift: the node's files are the rendered ones.", "无漂移：节点文件与生成的配置一致。")}</p> })}
            <Show when=move || side.get() fallback={
                let unified = unified.clone();
                move || view! { <pre class="ng-config" data-testid="drift-unified">{unified.lines().map(|l| {
                    let class = if l.starts_with('+') { "ng-line ng-add" } else if l.starts_with('-') { "ng-line ng-del" } else { "ng-line" };
                    view! { <div class=class>{l.to_string()}</div> }
                }).collect_view()}</pre> }
            }>
                <table class="ng-side" data-testid="drift-side">
                    <tr><th colspan="2">{t("rendered", "生成的")}</th><th colspan="2">{t("on the node", "节点上")}</th></tr>
                    {rows.clone().into_iter().map(|r| {
                        let cell = |c: Option<(u32, String)>| match c {
                            Some((n, text)) => view! { <td class="ng-num">{(n > 0).then_some(n)}</td><td class="mono">{text}</td> }.into_any(),
                            None => view! { <td class="ng-num"></td><td></td> }.into_any(),
                        };
                        view! { <tr class=format!("ng-{}", r.kind)>{cell(r.left)}{cell(r.right)}</tr> }
                    }).collect_view()}
                </table>
            </Show>
        </div>
    }
}

fn short(sha: &Option<String>) -> String {
    sha.as_deref()
        .map(|s| s.chars().take(12).collect())
        .unwrap_or_else(|| "—".into())
}

#[component]
pub fn NginxPage() -> impl IntoView {
    let tenant = param("tenant");
    let refresh = RwSignal::new(0u32);
    // First paint (and after an apply) from a server function; the live socket keeps it current.
    let Live {
        data: clusters,
        error,
        link,
    } = use_live::<Vec<ClusterView>, _>(
        move || {
            refresh.track();
            nginx_clusters(tenant.get())
        },
        move || routes::WS_NGINX.path(&[&tenant.get()]),
    );
    // What a button asked for went wrong (the config, a drift, a repair).
    let action_error = RwSignal::new(None::<AppError>);
    // Ticks the "5s ago" of heartbeats between snapshots.
    let now = RwSignal::new(Utc::now());
    let selected = RwSignal::new(String::new());
    let config = RwSignal::new(None::<ConfigView>);
    let drift = RwSignal::new(None::<DriftView>);
    // The route editor.
    let editing = RwSignal::new(None::<RouteView>);
    let directives = RwSignal::new(String::new());
    let edit_result = RwSignal::new(None::<Result<Validation, AppError>>);
    // The external upstream form.
    let ext_ns = RwSignal::new(String::new());
    let ext_name = RwSignal::new(String::new());
    let ext_host = RwSignal::new(String::new());
    let ext_path = RwSignal::new("/".to_string());
    let ext_servers = RwSignal::new(String::new());
    let ext_directives = RwSignal::new(String::new());
    let ext_result = RwSignal::new(None::<Result<Validation, AppError>>);

    // The first cluster is shown until the user picks one (or when the picked one is gone).
    Effect::new(move |_| {
        clusters.with(|cs| {
            let Some(cs) = cs else { return };
            let picked = selected.get_untracked();
            if picked.is_empty() || !cs.iter().any(|c| c.name == picked) {
                if let Some(first) = cs.first() {
                    selected.set(first.name.clone());
                }
            }
        })
    });
    if let Ok(handle) = set_interval_with_handle(
        move || now.set(Utc::now()),
        std::time::Duration::from_secs(1),
    ) {
        on_cleanup(move || handle.clear());
    }
    let current = Memo::new(move |_| {
        clusters.with(|cs| {
            cs.as_ref()
                .and_then(|cs| cs.iter().find(|c| c.name == selected.get()).cloned())
        })
    });
    Effect::new(move |_| {
        if let Some(c) = current.get() {
            if ext_ns.get_untracked().is_empty() || !c.namespaces.contains(&ext_ns.get_untracked())
            {
                ext_ns.set(c.namespaces.first().cloned().unwrap_or_default());
            }
        }
    });

    let get_config = ServerAction::<NginxConfig>::new();
    let get_drift = ServerAction::<NginxDrift>::new();
    let repair_node = ServerAction::<RepairNginxNode>::new();
    let (config_answer, drift_answer, repair_answer) =
        (get_config.value(), get_drift.value(), repair_node.value());
    Effect::new(move |_| match config_answer.get() {
        Some(Ok(v)) => config.set(Some(v)),
        Some(Err(e)) => action_error.set(Some(e)),
        None => {}
    });
    Effect::new(move |_| match drift_answer.get() {
        Some(Ok(v)) => drift.set(Some(v)),
        Some(Err(e)) => action_error.set(Some(e)),
        None => {}
    });
    Effect::new(move |_| {
        if let Some(Err(e)) = repair_answer.get() {
            action_error.set(Some(e));
        }
    });
    let show_config = move |_| {
        action_error.set(None);
        get_config.dispatch(NginxConfig {
            tenant: tenant.get_untracked(),
            cluster: selected.get_untracked(),
        });
    };
    let show_drift = move |cluster: String, node: String| {
        action_error.set(None);
        get_drift.dispatch(NginxDrift {
            tenant: tenant.get_untracked(),
            cluster,
            node,
        });
    };
    // Validate (apply = false) or validate-and-store (apply = true); the answer goes to the form that asked.
    let change = Action::new(move |(change, apply, _): &(NginxChange, bool, Form)| {
        let (tn, change, apply) = (tenant.get_untracked(), change.clone(), *apply);
        async move {
            if apply {
                apply_nginx_change(tn, change).await
            } else {
                validate_nginx_change(tn, change).await
            }
        }
    });
    let (busy, change_answer, change_input) = (
        change.pending(),
        change.value(),
        StoredValue::new(None::<(bool, Form)>),
    );
    Effect::new(move |_| {
        let Some(answer) = change_answer.get() else {
            return;
        };
        let Some((apply, form)) = change_input.get_value() else {
            return;
        };
        let ok = matches!(&answer, Ok(v) if v.ok);
        match form {
            Form::Edit => edit_result.set(Some(answer)),
            Form::External => ext_result.set(Some(answer)),
        }
        if apply && ok {
            refresh.update(|n| *n += 1);
        }
    });
    let run = move |c: NginxChange, apply: bool, form: Form| {
        change_input.set_value(Some((apply, form)));
        change.dispatch((c, apply, form));
    };
    let edit_change = move || {
        editing.get_untracked().map(|r| NginxChange::SetDirectives {
            namespace: r.namespace,
            route: r.name,
            directives: lines_of(&directives.get_untracked()),
        })
    };
    let ext_change = move || NginxChange::AddExternal {
        cluster: selected.get_untracked(),
        namespace: ext_ns.get_untracked(),
        name: ext_name.get_untracked().trim().to_string(),
        host: ext_host.get_untracked(),
        path: ext_path.get_untracked(),
        servers: ext_servers
            .get_untracked()
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        directives: lines_of(&ext_directives.get_untracked()),
    };

    let repair = move |cluster: String, node: String| {
        action_error.set(None);
        repair_node.dispatch(RepairNginxNode {
            tenant: tenant.get_untracked(),
            cluster,
            node,
        });
    };

    let node_row = move |cluster: String, n: NodeView, whole: bool, can_edit: bool| {
        let (class, label) = state_badge(n.state);
        let tn = tenant.get_untracked();
        let href = routes::DOWNLOAD_NGINX.path(&[&tn, &cluster, &n.name]);
        let name = n.name.clone();
        let err = n.last_error.clone().map(|e| {
            let place = e
                .nginx
                .as_ref()
                .and_then(|m| Some(format!(" ({}:{})", m.file.clone()?, m.line?)))
                .unwrap_or_default();
            format!("{}{place}", e.message)
        });
        let beat = n
            .heartbeat
            .as_deref()
            .and_then(|h| DateTime::parse_from_rfc3339(h).ok())
            .map(|t| t.with_timezone(&Utc));
        let repairable = whole && can_edit && n.state == NodeState::Drifted;
        let pending = n.repair_pending;
        let repair_cluster = cluster.clone();
        view! {
            <tr data-testid=format!("node-{}", n.name)>
                <td class="mono">{n.name.clone()}</td>
                <td><span class=class data-testid=format!("node-state-{}", n.name)>{label}</span></td>
                <td>{n.mode.clone().unwrap_or_default()}</td>
                <td class="mono">{short(&n.rendered_sha)}</td>
                <td class="mono">{short(&n.on_disk_sha)}</td>
                <td>{n.reload_count}</td>
                <td class="muted ago" data-testid=format!("heartbeat-{}", n.name) title=beat.map(exact).unwrap_or_default()>{move || beat.map(|b| ago(b, now.get())).unwrap_or_else(|| "—".into())}</td>
                <td class="ng-err">{err}</td>
                <td>{whole.then(|| view! {
                    <a class="button" href=href.clone() download="" data-testid=format!("download-{name}")>{t("Download", "下载")}</a>
                    " "
                    <button data-testid=format!("diff-{name}") on:click={let name = name.clone(); move |_| show_drift(cluster.clone(), name.clone())}>{t("Drift", "漂移")}</button>
                })}
                {(repairable || pending).then(|| view! {
                    " "
                    <button class="danger" data-testid=format!("repair-{name}") disabled=pending
                        title=t("Have the node's agent write the rendered config again and reload nginx, discarding hand edits", "让节点代理重新写入生成的配置并重载 nginx，丢弃手工修改")
                        on:click={let name = name.clone(); move |_| repair(repair_cluster.clone(), name.clone())}>
                        {if pending { t("Repairing…", "修复中…") } else { t("Repair", "修复") }}
                    </button>
                })}</td>
            </tr>
        }
    };

    view! {
        <div class="page ng-page">
            <div class="page-head">
                <h1>{t("Nginx clusters", "Nginx 集群")} <LinkDot link/></h1>
            </div>
            <ErrorBanner error testid="ng-error"/>
            <ErrorBanner error=action_error testid="ng-error"/>
            {move || clusters.get().map(|cs| if cs.is_empty() {
                view! { <div class="empty">{t("No nginx cluster serves this tenant.", "没有为此租户服务的 Nginx 集群。")}</div> }.into_any()
            } else {
                view! {
                    <div class="cards" data-testid="ng-clusters">
                        {cs.into_iter().map(|c| {
                            let name = c.name.clone();
                            let (whole, can_edit) = (c.whole_config, c.can_edit);
                            view! {
                                <div class="card wide" class:ng-selected={let n = name.clone(); move || selected.get() == n} data-testid=format!("cluster-{}", c.name)>
                                    <div class="page-head">
                                        <h2><a href="#" on:click={let n = name.clone(); move |ev: leptos::ev::MouseEvent| { ev.prevent_default(); selected.set(n.clone()); config.set(None); drift.set(None); }}>{c.display_name.clone()}</a></h2>
                                        <span class="muted mono">{format!("{} · :{} · {}", c.name, c.http_port, c.tenants.join(", "))}</span>
                                    </div>
                                    <table class="grid">
                                        <tr><th>{t("Node", "节点")}</th><th>{t("State", "状态")}</th><th>{t("Mode", "模式")}</th><th>{t("Rendered", "生成")}</th><th>{t("On disk", "磁盘")}</th><th>{t("Reloads", "重载")}</th><th>{t("Heartbeat", "心跳")}</th><th>{t("Last error", "最近错误")}</th><th></th></tr>
                                        {c.nodes.into_iter().map(|n| node_row(c.name.clone(), n, whole, can_edit)).collect_view()}
                                    </table>
                                </div>
                            }
                        }).collect_view()}
                    </div>
                }.into_any()
            })}
            {move || drift.get().map(|d| view! { <DriftPanel drift=d/> })}
            {move || current.get().map(|c| {
                let can_edit = c.can_edit;
                view! {
                    <h2>{t("Routes", "路由")}</h2>
                    <table class="grid" data-testid="ng-routes">
                        <tr><th>{t("Host", "主机")}</th><th>{t("Path", "路径")}</th><th>{t("Target", "目标")}</th><th>{t("Namespace", "命名空间")}</th><th>{t("TLS secret", "TLS 密钥")}</th><th>{t("Extra directives", "额外指令")}</th><th></th></tr>
                        {c.routes.into_iter().map(|r| {
                            let edit_r = r.clone();
                            let (ns, name) = (r.namespace.clone(), r.name.clone());
                            view! {
                                <tr data-testid=format!("route-{}", r.name)>
                                    <td class="mono">{r.host.clone()}</td>
                                    <td class="mono">{r.path.clone()}</td>
                                    <td>{r.target.clone()}</td>
                                    <td>{r.namespace.clone()}</td>
                                    <td>
                                        <span class="mono">{r.tls_secret.clone().unwrap_or_else(|| "—".into())}</span>
                                        {r.error.clone().map(|e| view! { <div class="ng-err" data-testid=format!("route-error-{}", r.name)>{e}</div> })}
                                    </td>
                                    <td class="mono">{r.directives.join("; ")}</td>
                                    <td>{can_edit.then(|| view! {
                                        <button data-testid=format!("edit-{}", r.name) on:click=move |_| {
                                            directives.set(edit_r.directives.join("\n"));
                                            edit_result.set(None);
                                            editing.set(Some(edit_r.clone()));
                                        }>{t("Edit", "编辑")}</button>
                                        {r.external.then(|| view! {
                                            " "
                                            <button class="danger" data-testid=format!("remove-{}", name) on:click={let (ns, name) = (ns.clone(), name.clone()); move |_| run(NginxChange::RemoveExternal { namespace: ns.clone(), name: name.clone() }, true, Form::External)}>{t("Remove", "删除")}</button>
                                        })}
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </table>
                    {(!c.upstreams.is_empty()).then(|| view! {
                        <h3 class="ng-sub">{t("External upstreams", "外部上游")}</h3>
                        <ul class="mono">{c.upstreams.into_iter().map(|u| view! { <li>{format!("{}/{} → {}", u.namespace, u.name, u.servers.join(", "))}</li> }).collect_view()}</ul>
                    })}
                    {c.whole_config.then(|| view! { <p><button data-testid="show-config" on:click=show_config>{t("Show the generated config", "查看生成的配置")}</button></p> })}
                    {can_edit.then(|| view! {
                        <div class="card wide ng-form" data-testid="ng-external">
                            <h3>{t("Add a reverse proxy to servers outside Kubernetes", "添加到 Kubernetes 外部服务的反向代理")}</h3>
                            <div class="ng-fields">
                                <label>{t("Namespace", "命名空间")}<select data-testid="ext-ns" prop:value=move || ext_ns.get() on:change=move |ev| ext_ns.set(event_target_value(&ev))>
                                    {c.namespaces.iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                                </select></label>
                                <label>{t("Name", "名称")}<input data-testid="ext-name" prop:value=move || ext_name.get() on:input=move |ev| ext_name.set(event_target_value(&ev))/></label>
                                <label>{t("Host", "主机")}<input data-testid="ext-host" prop:value=move || ext_host.get() on:input=move |ev| ext_host.set(event_target_value(&ev))/></label>
                                <label>{t("Path", "路径")}<input data-testid="ext-path" prop:value=move || ext_path.get() on:input=move |ev| ext_path.set(event_target_value(&ev))/></label>
                                <label>{t("Servers (ip:port, comma separated)", "服务器（ip:端口，逗号分隔）")}<input data-testid="ext-servers" prop:value=move || ext_servers.get() on:input=move |ev| ext_servers.set(event_target_value(&ev))/></label>
                            </div>
                            <label>{t("Extra directives, one per line", "额外指令，每行一条")}<textarea data-testid="ext-directives" rows="3" prop:value=move || ext_directives.get() on:input=move |ev| ext_directives.set(event_target_value(&ev))></textarea></label>
                            <div class="ng-actions">
                                <button data-testid="ext-validate" disabled=move || busy.get() on:click=move |_| run(ext_change(), false, Form::External)>{t("Validate", "校验")}</button>
                                <button class="primary" data-testid="ext-apply" disabled=move || busy.get() on:click=move |_| run(ext_change(), true, Form::External)>{t("Apply", "应用")}</button>
                            </div>
                            <ValidationView result=ext_result/>
                        </div>
                    })}
                }
            })}
            {move || editing.get().map(|r| view! {
                <div class="card wide ng-form" data-testid="ng-editor">
                    <h3>{t("Extra directives of ", "额外指令：")}{format!("{} {}{}", r.namespace, r.host, r.path)}</h3>
                    <textarea data-testid="directives" rows="5" prop:value=move || directives.get() on:input=move |ev| directives.set(event_target_value(&ev))
                        placeholder="client_max_body_size 20m"></textarea>
                    <div class="ng-actions">
                        <button data-testid="validate" disabled=move || busy.get() on:click=move |_| if let Some(ch) = edit_change() { run(ch, false, Form::Edit) }>{t("Validate", "校验")}</button>
                        <button class="primary" data-testid="apply" disabled=move || busy.get() on:click=move |_| if let Some(ch) = edit_change() { run(ch, true, Form::Edit) }>{t("Apply", "应用")}</button>
                        <button on:click=move |_| editing.set(None)>{t("Close", "关闭")}</button>
                    </div>
                    <ValidationView result=edit_result/>
                </div>
            })}
            {move || config.get().map(|cfg| view! {
                <div class="card wide" data-testid="ng-config">
                    <h3>{format!("sha256 {} · {}", cfg.sha, cfg.mode)}</h3>
                    {(!cfg.route_errors.is_empty()).then(|| view! {
                        <div class="banner warn" data-testid="ng-config-route-errors">
                            {t("Served on HTTP only:", "仅以 HTTP 提供：")}
                            <ul>{cfg.route_errors.clone().into_iter().map(|e| view! { <li><span class="mono">{e.route}</span>{" — "}{e.message}</li> }).collect_view()}</ul>
                        </div>
                    })}
                    <p class="muted">{t("Certificate files are named as on the nodes; each node keeps them in its own folder, shown here as ", "证书文件名与节点上相同；每个节点把它们放在自己的目录中，这里显示为 ")}<span class="mono">{cfg.tls_dir.clone()}</span></p>
                    {cfg.files.into_iter().map(|f| view! {
                        <details open=f.path.starts_with("servers/")>
                            <summary class="mono">{f.path.clone()}</summary>
                            <ConfigText text=f.text/>
                        </details>
                    }).collect_view()}
                </div>
            })}
        </div>
    }
}
