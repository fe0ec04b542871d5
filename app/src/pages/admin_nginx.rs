//! `/admin/nginx` (platform admins): every nginx cluster with its nodes (state, nginx
//! version, mode, last reload); a form to create or change one (ports, tenants served,
//! defaults, server- and http-level settings, checked with `nginx -t` before saving); a join
//! command for a new node; removing a node (its token is revoked).

use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::error::AppError;
use crate::i18n::{t, t_now};
use crate::nginx::{
    admin_nginx_clusters, check_nginx_cluster, delete_nginx_cluster, join_nginx_node,
    remove_nginx_node, save_nginx_cluster, AdminClusterView, ClusterForm, JoinCommand, NodeView,
    Validation,
};
use crate::pages::nginx::{state_badge, ValidationView};
use leptos::prelude::*;
use wharf_api::Text;

/// One entry per line; blank lines dropped.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A number field: empty is `None`; anything else must parse.
fn number<T: std::str::FromStr>(what: (&str, &str), text: &str) -> Result<Option<T>, Text> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        Text::new(
            format!("{}: '{text}' is not a whole number", what.0),
            format!("{}:“{text}”不是整数", what.1),
        )
    })
}

#[derive(Clone, Debug)]
enum ClusterChange {
    Save(ClusterForm),
    Delete(String),
    RemoveNode(String, String),
}

#[derive(Clone, Copy)]
struct Fields {
    name: RwSignal<String>,
    display_name: RwSignal<String>,
    http_port: RwSignal<String>,
    https_port: RwSignal<String>,
    tenants: RwSignal<String>,
    body_size: RwSignal<String>,
    connect_timeout: RwSignal<String>,
    read_timeout: RwSignal<String>,
    send_timeout: RwSignal<String>,
    keepalive: RwSignal<String>,
    access_log: RwSignal<bool>,
    server_directives: RwSignal<String>,
    http_directives: RwSignal<String>,
    /// The version being edited; `None` for a new cluster.
    version: RwSignal<Option<String>>,
}

impl Fields {
    fn new() -> Self {
        let f = Fields {
            name: RwSignal::new(String::new()),
            display_name: RwSignal::new(String::new()),
            http_port: RwSignal::new(String::new()),
            https_port: RwSignal::new(String::new()),
            tenants: RwSignal::new(String::new()),
            body_size: RwSignal::new(String::new()),
            connect_timeout: RwSignal::new(String::new()),
            read_timeout: RwSignal::new(String::new()),
            send_timeout: RwSignal::new(String::new()),
            keepalive: RwSignal::new(String::new()),
            access_log: RwSignal::new(false),
            server_directives: RwSignal::new(String::new()),
            http_directives: RwSignal::new(String::new()),
            version: RwSignal::new(None),
        };
        f.clear();
        f
    }

    fn load(&self, f: &ClusterForm) {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        self.name.set(f.name.clone());
        self.display_name.set(f.display_name.clone());
        self.http_port.set(f.http_port.to_string());
        self.https_port
            .set(f.https_port.map(|p| p.to_string()).unwrap_or_default());
        self.tenants.set(f.tenants.join(", "));
        self.body_size.set(f.client_max_body_size.clone());
        self.connect_timeout.set(opt(f.proxy_connect_timeout_secs));
        self.read_timeout.set(opt(f.proxy_read_timeout_secs));
        self.send_timeout.set(opt(f.proxy_send_timeout_secs));
        self.keepalive.set(opt(f.upstream_keepalive));
        self.access_log.set(f.access_log);
        self.server_directives.set(f.server_directives.join("\n"));
        self.http_directives.set(f.http_directives.join("\n"));
        self.version.set(f.version.clone());
    }

    fn clear(&self) {
        self.load(&ClusterForm {
            http_port: 80,
            ..Default::default()
        });
    }

    fn form(&self) -> Result<ClusterForm, Text> {
        let get = |s: RwSignal<String>| s.get_untracked();
        let http_port: Option<u16> = number(("HTTP port", "HTTP 端口"), &get(self.http_port))?;
        Ok(ClusterForm {
            name: get(self.name).trim().to_string(),
            display_name: get(self.display_name).trim().to_string(),
            http_port: http_port.unwrap_or(0),
            https_port: number(("HTTPS port", "HTTPS 端口"), &get(self.https_port))?,
            tenants: words(&get(self.tenants)),
            client_max_body_size: get(self.body_size).trim().to_string(),
            proxy_connect_timeout_secs: number(
                ("connect timeout", "连接超时"),
                &get(self.connect_timeout),
            )?,
            proxy_read_timeout_secs: number(("read timeout", "读超时"), &get(self.read_timeout))?,
            proxy_send_timeout_secs: number(("send timeout", "发送超时"), &get(self.send_timeout))?,
            upstream_keepalive: number(
                ("idle upstream connections", "上游空闲连接数"),
                &get(self.keepalive),
            )?,
            access_log: self.access_log.get_untracked(),
            server_directives: lines(&get(self.server_directives)),
            http_directives: lines(&get(self.http_directives)),
            version: self.version.get_untracked(),
        })
    }
}

fn node_row(
    cluster: String,
    n: NodeView,
    remove: impl Fn(String, String) + Copy + 'static,
) -> impl IntoView {
    let (class, label) = state_badge(n.state);
    let name = n.name.clone();
    let error = n.last_error.as_ref().map(|e| e.message.clone());
    view! {
        <tr data-testid=format!("admin-node-{}", n.name)>
            <td class="mono">{n.name.clone()}</td>
            <td><span class=class data-testid="admin-node-state">{label}</span>
                {error.map(|e| view! { <div class="muted small">{e}</div> })}</td>
            <td class="mono" data-testid="admin-node-version">{n.nginx_version.clone().unwrap_or_else(|| "—".into())}</td>
            <td>{n.mode.clone().unwrap_or_else(|| "—".into())}</td>
            <td class="mono">{n.last_reload.clone().unwrap_or_else(|| "—".into())}{format!(" ({})", n.reload_count)}</td>
            <td class="mono">{n.heartbeat.clone().unwrap_or_else(|| "—".into())}</td>
            <td><button class="danger small" data-testid="admin-node-remove"
                on:click=move |_| remove(cluster.clone(), name.clone())>{t("Remove", "移除")}</button></td>
        </tr>
    }
}

/// The join dialog of one cluster: a node name and where it runs, then the command.
#[component]
fn JoinDialog(cluster: String, close: Callback<()>) -> impl IntoView {
    let node = RwSignal::new(String::new());
    let foreground = RwSignal::new(false);
    let dir = RwSignal::new(String::new());
    let http_port = RwSignal::new(String::new());
    let control_port = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<JoinCommand, AppError>>);
    let busy = RwSignal::new(false);
    let cluster_name = cluster.clone();
    let make = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let (cluster, node) = (
            cluster_name.clone(),
            node.get_untracked().trim().to_string(),
        );
        leptos::task::spawn_local(async move {
            answer.set(Some(join_nginx_node(cluster, node).await));
            busy.set(false);
        });
    };
    let origin = move || window().location().origin().unwrap_or_default();
    let extra = move || {
        let mut parts = Vec::new();
        if foreground.get() {
            parts.push("--foreground".to_string());
            for (flag, v) in [
                ("--http-port", http_port.get()),
                ("--control-port", control_port.get()),
            ] {
                if !v.trim().is_empty() {
                    parts.push(format!("{flag} {}", v.trim()));
                }
            }
        }
        if !dir.get().trim().is_empty() {
            parts.push(format!("--dir '{}'", dir.get().trim().replace('\'', "")));
        }
        parts.join(" ")
    };
    view! {
        <section class="card" data-testid="join-dialog">
            <h2>{t("Add a node to", "添加节点到")}" "{cluster.clone()}</h2>
            <form class="form" on:submit=make novalidate=true>
                <div class="row">
                    <label>{t("Node name", "节点名称")}<input class="mono" data-testid="join-node" placeholder="nginx-3" bind:value=node/></label>
                    <label class="check"><input type="checkbox" data-testid="join-foreground" bind:checked=foreground/>
                        {t("Run in the foreground (no systemd: a container, a trial)", "前台运行(无 systemd:容器或试用)")}</label>
                </div>
                <div class="row">
                    <label class="grow">{t("Folder for its files (optional)", "文件目录(可选)")}<input class="mono" data-testid="join-dir" placeholder="/var/lib/wharf-ng-agent" bind:value=dir/></label>
                    <Show when=move || foreground.get()>
                        <label>{t("HTTP port on this node", "本节点 HTTP 端口")}<input class="mono" data-testid="join-http-port" bind:value=http_port/></label>
                        <label>{t("Agent control port", "代理控制端口")}<input class="mono" data-testid="join-control-port" placeholder="18080" bind:value=control_port/></label>
                    </Show>
                </div>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="join-make" disabled=move || busy.get()>{t("Make the command", "生成命令")}</button>
                    <button type="button" class="small" on:click=move |_| close.run(())>{t("Close", "关闭")}</button>
                </div>
            </form>
            {move || answer.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="join-error"/> }.into_any(),
                Ok(cmd) => {
                    let shown = cmd.clone();
                    view! {
                        <p>{t("Run this on the new server, as root (nginx installed). The command works for an hour; the node's own token stays until the node is removed.",
                            "请以 root 身份在新服务器上运行(需已安装 nginx)。该命令一小时内有效;节点自己的令牌在移除节点前一直有效。")}</p>
                        <pre class="mono" data-testid="join-command">{move || shown.line(&origin(), &extra())}</pre>
                        <p class="muted small">{t("API server in its kubeconfig:", "其 kubeconfig 中的 API server:")}" "<span class="mono">{cmd.api_server.clone()}</span>
                            " · "{t("code expires", "过期时间")}" "<span class="mono">{cmd.expires.clone()}</span></p>
                    }.into_any()
                }
            })}
        </section>
    }
}

#[component]
pub fn AdminNginxPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    // nodes join, reload and drift by themselves: the list is read again every 5 s
    let every = crate::components::ticker::ticker(std::time::Duration::from_secs(5), None);
    let list = Resource::new(
        move || (tick.get(), every.get()),
        |_| admin_nginx_clusters(),
    );
    let fields = Fields::new();
    let checked = RwSignal::new(None::<Result<Validation, AppError>>);
    let joining = RwSignal::new(None::<String>);
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                ClusterChange::Save(form) => save_nginx_cluster(form).await.map(|_| ()),
                ClusterChange::Delete(name) => delete_nginx_cluster(name).await,
                ClusterChange::RemoveNode(c, n) => remove_nginx_node(c, n).await,
            }
        },
        |change| match change {
            ClusterChange::Save(f) if f.version.is_none() => (
                "Nginx cluster created: add its nodes with a join command.",
                "已创建 nginx 集群:请用加入命令添加节点。",
            ),
            ClusterChange::Save(_) => (
                "Nginx cluster saved: its nodes apply it now.",
                "已保存 nginx 集群:节点正在应用。",
            ),
            ClusterChange::Delete(_) => ("Nginx cluster deleted.", "已删除 nginx 集群。"),
            ClusterChange::RemoveNode(..) => (
                "Node removed; its token no longer works.",
                "已移除节点;其令牌已失效。",
            ),
        },
        move |change| {
            if matches!(change, ClusterChange::Save(_)) {
                fields.clear();
                checked.set(None);
            }
        },
    );
    let busy = changes.busy;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match fields.form() {
            Ok(form) => changes.run(ClusterChange::Save(form)),
            Err(why) => changes.refuse(why),
        }
    };
    let check = move |_| match fields.form() {
        Ok(form) => {
            checked.set(None);
            leptos::task::spawn_local(async move {
                checked.set(Some(check_nginx_cluster(form).await));
            });
        }
        Err(why) => checked.set(Some(Err(AppError::Invalid(why)))),
    };
    let remove =
        move |cluster: String, node: String| changes.run(ClusterChange::RemoveNode(cluster, node));
    let text = |en: &'static str, zh: &'static str| t(en, zh);
    view! {
        <div class="page admin-nginx">
            <h1>{t("Nginx clusters", "Nginx 集群")}</h1>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="ngc-load-error"/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="no-ngc">{t(
                        "No nginx clusters yet: create the first one below.", "还没有 nginx 集群:请在下方创建。")}</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="cards">{rows.into_iter().map(|c: AdminClusterView| {
                            let f = c.form.clone();
                            let (name, edit_form, join_name) = (f.name.clone(), f.clone(), f.name.clone());
                            let ports = match f.https_port { Some(s) => format!("HTTP {} · HTTPS {s}", f.http_port), None => format!("HTTP {}", f.http_port) };
                            let defaults = [
                                ("body", (!f.client_max_body_size.is_empty()).then(|| f.client_max_body_size.clone())),
                                ("connect", f.proxy_connect_timeout_secs.map(|v| format!("{v}s"))),
                                ("read", f.proxy_read_timeout_secs.map(|v| format!("{v}s"))),
                                ("send", f.proxy_send_timeout_secs.map(|v| format!("{v}s"))),
                                ("keepalive", f.upstream_keepalive.map(|v| v.to_string())),
                            ].into_iter().filter_map(|(k, v)| Some(format!("{k} {}", v?))).collect::<Vec<_>>().join(" · ");
                            let cluster = f.name.clone();
                            let waiting: Vec<String> = c.joined.iter().filter(|j| !c.nodes.iter().any(|n| &n.name == *j)).cloned().collect();
                            view! {
                                <section class="card" data-testid="ngc-card" data-name=f.name.clone()>
                                    <h2>{f.name.clone()}{(!f.display_name.is_empty()).then(|| format!(" · {}", f.display_name))}</h2>
                                    <dl class="facts">
                                        <dt>{text("Ports", "端口")}</dt><dd class="mono" data-testid="ngc-ports">{ports}</dd>
                                        <dt>{text("Tenants served", "服务的租户")}</dt><dd data-testid="ngc-tenants">{if f.tenants.is_empty() { "—".to_string() } else { f.tenants.join(", ") }}</dd>
                                        <dt>{text("Defaults", "默认值")}</dt><dd class="mono">{if defaults.is_empty() { "—".to_string() } else { defaults }}</dd>
                                        <dt>{text("Server settings", "server 级设置")}</dt><dd class="mono" data-testid="ngc-server-directives">{f.server_directives.join("; ")}</dd>
                                        <dt>{text("Http settings", "http 级设置")}</dt><dd class="mono" data-testid="ngc-http-directives">{f.http_directives.join("; ")}</dd>
                                        <dt>{text("Routes", "路由")}</dt><dd data-testid="ngc-routes">{c.routes.len()}</dd>
                                    </dl>
                                    <table class="grid" data-testid="ngc-nodes">
                                        <tr><th>{text("Node", "节点")}</th><th>{text("State", "状态")}</th><th>{text("nginx", "nginx 版本")}</th>
                                            <th>{text("Mode", "模式")}</th><th>{text("Last reload", "最近重载")}</th><th>{text("Last report", "最近上报")}</th><th></th></tr>
                                        {c.nodes.into_iter().map(|n| node_row(cluster.clone(), n, remove)).collect_view()}
                                        {waiting.into_iter().map(|n| {
                                            let (cl, nn) = (cluster.clone(), n.clone());
                                            view! {
                                                <tr data-testid=format!("admin-node-{n}")>
                                                    <td class="mono">{n.clone()}</td>
                                                    <td colspan="5" class="muted">{text("joining: has not reported yet", "加入中:尚未上报")}</td>
                                                    <td><button class="danger small" data-testid="admin-node-remove" on:click=move |_| remove(cl.clone(), nn.clone())>{text("Remove", "移除")}</button></td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </table>
                                    <div class="actions">
                                        <button class="small" data-testid="ngc-edit" on:click=move |_| { checked.set(None); fields.load(&edit_form) }>{text("Edit", "编辑")}</button>
                                        <button class="small" data-testid="ngc-join" on:click=move |_| joining.set(Some(join_name.clone()))>{text("Add a node…", "添加节点…")}</button>
                                        <button class="danger small" data-testid="ngc-delete" on:click=move |_| changes.run(ClusterChange::Delete(name.clone()))>{text("Delete", "删除")}</button>
                                    </div>
                                </section>
                            }
                        }).collect_view()}</div>
                    }.into_any(),
                })}
            </Transition>

            {move || joining.get().map(|c| view! { <JoinDialog cluster=c close=Callback::new(move |_| joining.set(None))/> })}

            <form class="form card" data-testid="ngc-form" on:submit=submit novalidate=true>
                <h2>{move || if fields.version.get().is_some() { t_now("Change nginx cluster", "修改 nginx 集群") } else { t_now("New nginx cluster", "新建 nginx 集群") }}</h2>
                <div class="row">
                    <label>{t("Name", "名称")}<input class="mono" data-testid="ngc-name" placeholder="edge-beta" bind:value=fields.name
                        readonly=move || fields.version.get().is_some()/></label>
                    <label class="grow">{t("Display name", "显示名称")}<input data-testid="ngc-display-name" placeholder="Edge for beta" bind:value=fields.display_name/></label>
                </div>
                <div class="row">
                    <label>{t("HTTP port", "HTTP 端口")}<input class="mono" data-testid="ngc-http-port" bind:value=fields.http_port/></label>
                    <label>{t("HTTPS port (empty: none)", "HTTPS 端口(留空:无)")}<input class="mono" data-testid="ngc-https-port" bind:value=fields.https_port/></label>
                    <label class="grow">{t("Tenants served", "服务的租户")}<input class="mono" data-testid="ngc-tenants-input" placeholder="beta" bind:value=fields.tenants/></label>
                </div>
                <fieldset class="row">
                    <legend>{t("Defaults for every route (empty: nginx's)", "所有路由的默认值(留空:nginx 默认)")}</legend>
                    <label>{t("Largest request body", "请求体上限")}<input class="mono" data-testid="ngc-body-size" placeholder="1m" bind:value=fields.body_size/></label>
                    <label>{t("Connect timeout (s)", "连接超时(秒)")}<input class="mono" data-testid="ngc-connect" placeholder="5" bind:value=fields.connect_timeout/></label>
                    <label>{t("Read timeout (s)", "读超时(秒)")}<input class="mono" data-testid="ngc-read" placeholder="60" bind:value=fields.read_timeout/></label>
                    <label>{t("Send timeout (s)", "发送超时(秒)")}<input class="mono" data-testid="ngc-send" placeholder="60" bind:value=fields.send_timeout/></label>
                    <label>{t("Idle upstream connections", "上游空闲连接数")}<input class="mono" data-testid="ngc-keepalive" placeholder="32" bind:value=fields.keepalive/></label>
                    <label class="check"><input type="checkbox" data-testid="ngc-access-log" bind:checked=fields.access_log/>{t("Access log", "访问日志")}</label>
                </fieldset>
                <div class="row">
                    <label class="grow">{t("Server-level settings, one per line (every host)", "server 级设置,每行一条(所有域名)")}
                        <textarea class="mono" rows="3" data-testid="ngc-server" placeholder="add_header X-Served-By wharf" bind:value=fields.server_directives></textarea></label>
                    <label class="grow">{t("Http-level settings, one per line", "http 级设置,每行一条")}
                        <textarea class="mono" rows="3" data-testid="ngc-http" placeholder="gzip on" bind:value=fields.http_directives></textarea></label>
                </div>
                <div class="actions">
                    <button type="button" class="small" data-testid="ngc-check" on:click=check>{t("Check with nginx -t", "用 nginx -t 检查")}</button>
                    <button type="submit" class="primary" data-testid="ngc-save" disabled=move || busy.get()>
                        {move || if fields.version.get().is_some() { t_now("Save", "保存") } else { t_now("Create cluster", "创建集群") }}
                    </button>
                    <Show when=move || fields.version.get().is_some()>
                        <button type="button" class="small" on:click=move |_| { checked.set(None); fields.clear() }>{t("Cancel", "取消")}</button>
                    </Show>
                </div>
                <ValidationView result=checked/>
            </form>
            <Outcome outcome=changes.message ok_testid="ngc-ok" error_testid="ngc-error"/>
        </div>
    }
}
