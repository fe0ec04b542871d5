//! "Expose through nginx" on an app's page: the app's routes (host, path, port, TLS, and what
//! the nginx nodes say about each), and for developers a form that creates or changes one —
//! cluster, host from the tenant's names, path, one of the app's Service ports, a TLS Secret
//! picked from the tenant's or uploaded as PEM — checked with `nginx -t` before it is stored
//! (the NgFront change path, `NginxChange::SetRoute`), and a remove button per route.

use crate::components::banner::{ErrorBanner, Outcome};
use crate::error::AppError;
use crate::i18n::t;
use crate::nginx::{add_tls_secret, apply_nginx_change, nginx_clusters, tls_secrets, NginxChange};
use crate::workloads::workloads;
use leptos::prelude::*;
use wharf_api::{text, Text};

/// The ports of a Service row's `80/TCP, 443/TCP`.
fn ports_of(row: &str) -> Vec<u16> {
    row.split(',')
        .filter_map(|p| p.trim().split('/').next()?.parse().ok())
        .collect()
}

#[component]
pub fn AppRoutes(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    can_change: Memo<bool>,
) -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let clusters = Resource::new(
        move || (tenant.get(), changed.get()),
        |(t, _)| nginx_clusters(t),
    );
    let ports = Resource::new(
        move || (tenant.get(), ns.get(), name.get()),
        |(t, n, a)| async move {
            workloads(t).await.map(|v| {
                v.services
                    .iter()
                    .find(|s| s.namespace == n && s.name == a)
                    .map(|s| ports_of(&s.ports))
                    .unwrap_or_default()
            })
        },
    );
    let secrets = Resource::new(
        move || (tenant.get(), changed.get()),
        |(t, _)| tls_secrets(t),
    );

    let cluster = RwSignal::new(String::new());
    let host = RwSignal::new(String::new());
    let path = RwSignal::new("/".to_string());
    let port = RwSignal::new(String::new());
    let tls = RwSignal::new(String::new());
    let (new_tls, cert, key) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let outcome = RwSignal::new(None::<Result<Text, AppError>>);

    let save = Action::new(move |_: &()| {
        let (t, n, a) = (
            tenant.get_untracked(),
            ns.get_untracked(),
            name.get_untracked(),
        );
        let chosen_cluster = cluster.get_untracked();
        let (h, p, pt, secret) = (
            host.get_untracked(),
            path.get_untracked(),
            port.get_untracked(),
            tls.get_untracked(),
        );
        let (upload_name, c, k) = (
            new_tls.get_untracked(),
            cert.get_untracked(),
            key.get_untracked(),
        );
        async move {
            let port: u16 = pt.trim().parse().map_err(|_| {
                AppError::Invalid(text!(
                    "port: '{pt}' is not one of the app's Service ports",
                    "端口:“{pt}”不是应用 Service 的端口"
                ))
            })?;
            // a certificate pasted here is stored first, then named by the route
            let secret = if !upload_name.trim().is_empty() {
                add_tls_secret(t.clone(), n.clone(), upload_name.trim().to_string(), c, k).await?;
                Some(upload_name.trim().to_string())
            } else {
                Some(secret).filter(|s| !s.is_empty())
            };
            let change = NginxChange::SetRoute {
                cluster: chosen_cluster,
                namespace: n.clone(),
                name: a.clone(),
                host: h.clone(),
                path: p,
                service: a,
                port,
                tls_secret: secret,
                directives: Vec::new(),
            };
            apply_nginx_change(t, change).await?;
            Ok(text!(
                "Saved: nginx serves {h} within seconds.",
                "已保存:nginx 将在数秒内开始服务 {h}。"
            ))
        }
    });
    let done = save.value();
    Effect::new(move |_| {
        if let Some(v) = done.get() {
            if v.is_ok() {
                new_tls.set(String::new());
                cert.set(String::new());
                key.set(String::new());
            }
            outcome.set(Some(v));
            changed.update(|n| *n += 1);
        }
    });
    let remove = Action::new(move |route: &String| {
        let (t, n, r) = (tenant.get_untracked(), ns.get_untracked(), route.clone());
        async move {
            apply_nginx_change(
                t,
                NginxChange::RemoveRoute {
                    namespace: n,
                    name: r.clone(),
                },
            )
            .await
            .map(|_| text!("Route {r} removed.", "已删除路由 {r}。"))
        }
    });
    let removed = remove.value();
    Effect::new(move |_| {
        if let Some(v) = removed.get() {
            outcome.set(Some(v));
            changed.update(|n| *n += 1);
        }
    });

    view! {
        <h2>{t("Expose through nginx", "通过 nginx 暴露")}</h2>
        <Outcome outcome ok_testid="expose-notice" error_testid="expose-error"/>
        <Transition fallback=|| view! { <p class="loading">"…"</p> }>
            {move || clusters.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="expose-error"/> }.into_any(),
                Ok(cs) => {
                    let (n, a) = (ns.get_untracked(), name.get_untracked());
                    let target = format!("service {a}:");
                    let mine: Vec<_> = cs.iter().flat_map(|c| {
                        let nodes = c.nodes.iter().map(|n| format!("{} {}", n.name, n.state.key())).collect::<Vec<_>>().join(", ");
                        let (cn, port) = (c.name.clone(), c.http_port);
                        c.routes.iter().filter(|r| r.namespace == n && !r.external && r.target.starts_with(&target))
                            .map(move |r| (cn.clone(), port, nodes.clone(), r.clone())).collect::<Vec<_>>()
                    }).collect();
                    let serving: Vec<(String, String)> = cs.iter()
                        .filter(|c| c.namespaces.contains(&n))
                        .map(|c| (c.name.clone(), format!("{} ({})", c.display_name, c.name)))
                        .collect();
                    if cluster.get_untracked().is_empty() {
                        if let Some((first, _)) = serving.first() {
                            cluster.set(first.clone());
                        }
                    }
                    view! {
                        <div class="card wide" data-testid="expose-card">
                            {if mine.is_empty() {
                                view! { <p class="muted" data-testid="expose-none">{t("Not exposed through nginx yet.", "尚未通过 nginx 暴露。")}</p> }.into_any()
                            } else {
                                view! {
                                    <table class="grid" data-testid="expose-routes">
                                        <thead><tr>
                                            <th>{t("Host", "域名")}</th><th>{t("Path", "路径")}</th><th>{t("Target", "目标")}</th>
                                            <th>"TLS"</th><th>{t("Cluster and nodes", "集群与节点")}</th><th>{t("Status", "状态")}</th><th></th>
                                        </tr></thead>
                                        <tbody>
                                            {mine.into_iter().map(|(cn, port, nodes, r)| {
                                                let rname = r.name.clone();
                                                let status = match &r.error {
                                                    Some(e) => view! { <span class="badge bad" data-testid="expose-route-error">{e.clone()}</span> }.into_any(),
                                                    None => view! { <span class="badge ok">{t("served", "已生效")}</span> }.into_any(),
                                                };
                                                view! {
                                                    <tr data-testid="expose-route" data-host=r.host.clone()>
                                                        <td>{r.host.clone()}</td><td>{r.path.clone()}</td><td>{r.target.clone()}</td>
                                                        <td>{r.tls_secret.clone().unwrap_or_else(|| "–".into())}</td>
                                                        <td>{format!("{cn} :{port} · {nodes}")}</td>
                                                        <td>{status}</td>
                                                        <td><Show when=move || can_change.get()>
                                                            <button class="danger" data-testid="expose-remove" on:click={let rname = rname.clone(); move |_| { outcome.set(None); remove.dispatch(rname.clone()); }}>{t("Remove", "删除")}</button>
                                                        </Show></td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                            <Show when=move || can_change.get()>
                                {let serving = serving.clone(); view! {
                                    <form class="form" data-testid="expose-form" on:submit=move |ev| { ev.prevent_default(); outcome.set(None); save.dispatch(()); }>
                                        <div class="row">
                                            <label>{t("nginx cluster", "nginx 集群")}
                                                <select data-testid="expose-cluster" on:change=move |ev| cluster.set(event_target_value(&ev)) prop:value=move || cluster.get()>
                                                    {serving.iter().map(|(v, label)| view! { <option value=v.clone()>{label.clone()}</option> }).collect_view()}
                                                </select>
                                            </label>
                                            <label>{t("Host", "域名")}<input data-testid="expose-host" placeholder="shop.example.com" bind:value=host/></label>
                                            <label>{t("Path", "路径")}<input data-testid="expose-path" bind:value=path/></label>
                                            <label>{t("Service port", "Service 端口")}
                                                <select data-testid="expose-port" on:change=move |ev| port.set(event_target_value(&ev)) prop:value=move || port.get()>
                                                    <option value="">"…"</option>
                                                    {move || ports.get().and_then(Result::ok).map(|ps| {
                                                        if port.get_untracked().is_empty() {
                                                            if let Some(p) = ps.first() { port.set(p.to_string()) }
                                                        }
                                                        ps.into_iter().map(|p| view! { <option value=p.to_string()>{p.to_string()}</option> }).collect_view()
                                                    })}
                                                </select>
                                            </label>
                                        </div>
                                        <div class="row">
                                            <label>{t("TLS Secret (HTTPS)", "TLS 密钥(HTTPS)")}
                                                <select data-testid="expose-tls" on:change=move |ev| tls.set(event_target_value(&ev)) prop:value=move || tls.get()>
                                                    <option value="">{t("none: HTTP only", "无:仅 HTTP")}</option>
                                                    {move || secrets.get().and_then(Result::ok).map(|ss| ss.into_iter()
                                                        .filter(|(sns, _)| *sns == ns.get_untracked())
                                                        .map(|(_, s)| view! { <option value=s.clone()>{s.clone()}</option> }).collect_view())}
                                                </select>
                                            </label>
                                            <label>{t("or add a new one named", "或新增,名称")}<input data-testid="expose-new-tls" placeholder="shop-tls" bind:value=new_tls/></label>
                                        </div>
                                        <Show when=move || !new_tls.get().trim().is_empty()>
                                            <div class="row">
                                                <label>{t("Certificate chain (PEM)", "证书链(PEM)")}<textarea data-testid="expose-cert" rows="4" bind:value=cert></textarea></label>
                                                <label>{t("Private key (PEM)", "私钥(PEM)")}<textarea data-testid="expose-key" rows="4" bind:value=key></textarea></label>
                                            </div>
                                        </Show>
                                        <button type="submit" class="primary" data-testid="expose-save" disabled=move || save.pending().get()>
                                            {t("Check with nginx and save", "经 nginx 校验后保存")}
                                        </button>
                                    </form>
                                }}
                            </Show>
                        </div>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::ports_of;

    #[test]
    fn ports_of_a_service_row() {
        assert_eq!(ports_of("80/TCP, 8443/TCP"), vec![80, 8443]);
        assert_eq!(ports_of(""), Vec::<u16>::new());
    }
}
