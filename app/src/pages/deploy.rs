//! `/t/:tenant/deploy`: the deploy form. Checked as you submit (the same checks the server
//! makes), then the Deployment and its Service are created and the app's page opens.

use super::deploy_parts::{
    preset, preset_note, probe_texts, MountRow, Mounts, ProbeEditor, ProbeRow, Sidecar, SidecarRow,
};
use super::param;
use crate::components::banner::ErrorBanner;
use crate::components::shell::use_tenant_access;
use crate::i18n::{t, tr};
use crate::monitoring::TRACED_THRESHOLDS_HINT;
use crate::workloads::pod::ProbesForm;
use crate::workloads::{validate, AppKind, DeployApp, DeployForm};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use wharf_api::{text, Text};

/// `KEY=value` lines into pairs; a line without `=` is an error naming the line.
pub fn parse_env(text: &str) -> Result<Vec<(String, String)>, Text> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let n = i + 1;
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    text!(
                        "environment line {n}: write KEY=value",
                        "环境变量第 {n} 行:请写成 KEY=value"
                    )
                })
        })
        .collect()
}

#[component]
pub fn DeployPage() -> impl IntoView {
    let tenant = param("tenant");
    let namespaces = use_tenant_access(tenant).namespaces;
    let defaults = DeployForm::default();
    // prefilled from a pipeline run's "deploy as a new app" (`?ns=&name=&image=&run=[&port=]`)
    let query = leptos_router::hooks::use_query_map();
    let given = move |k: &str| query.with_untracked(|q| q.get(k).unwrap_or_default());
    let from_run = given("run");
    let namespace = RwSignal::new(given("ns"));
    let name = RwSignal::new(given("name"));
    let image = RwSignal::new(given("image"));
    let replicas = RwSignal::new(defaults.replicas.to_string());
    let port = RwSignal::new(
        Some(given("port"))
            .filter(|p| !p.is_empty())
            .or_else(|| defaults.port.map(|p| p.to_string()))
            .unwrap_or_default(),
    );
    let env = RwSignal::new(String::new());
    let cpu_request = RwSignal::new(defaults.cpu_request.clone());
    let cpu_limit = RwSignal::new(defaults.cpu_limit.clone());
    let memory_request = RwSignal::new(defaults.memory_request.clone());
    let memory_limit = RwSignal::new(defaults.memory_limit.clone());
    let alerts = RwSignal::new(crate::monitoring::AlertThresholds::default());
    let apm = RwSignal::new(false);
    let expose = RwSignal::new(false);
    let expose_cluster = RwSignal::new(String::new());
    let expose_host = RwSignal::new(String::new());
    let expose_path = RwSignal::new("/".to_string());
    let clusters = Resource::new(move || tenant.get(), crate::nginx::nginx_clusters);
    // volumes, config, checks, sidecar, StatefulSet (and the Redis/MySQL forms that fill them)
    let kind = RwSignal::new(AppKind::Deployment);
    let mounts = RwSignal::new(Vec::<MountRow>::new());
    let next_mount = StoredValue::new(0u64);
    let readiness = ProbeRow::new("off", "/");
    let liveness = ProbeRow::new("off", "/");
    let startup = ProbeRow::new("off", "/");
    let sidecar = SidecarRow::new();
    let secret_env = RwSignal::new(String::new());
    let pull_secret = RwSignal::new(String::new());
    let which_preset = given("preset");
    let preset_on = preset(&which_preset).is_some();
    if let Some(p) = preset(&which_preset) {
        kind.set(AppKind::StatefulSet);
        if name.get_untracked().is_empty() {
            name.set(p.name.into());
        }
        image.set(p.image.into());
        port.set(p.port.to_string());
        mounts.set(vec![MountRow::new(
            0,
            "new-claim",
            "data",
            p.size,
            p.data_path,
        )]);
        next_mount.set_value(1);
        readiness.how.set("tcp".into());
        secret_env.set(format!("{}=", p.password_env));
    }
    let storage = Resource::new(move || tenant.get(), crate::storage::storage);
    let configs = Resource::new(move || tenant.get(), crate::config::config_objects);
    let in_ns = move |ns: &str, row_ns: &str| ns == row_ns;
    let claim_names = Signal::derive(move || {
        let ns = namespace.get();
        storage
            .get()
            .and_then(Result::ok)
            .map(|v| {
                v.claims
                    .into_iter()
                    .filter(|c| in_ns(&ns, &c.namespace))
                    .map(|c| c.name)
                    .collect()
            })
            .unwrap_or_default()
    });
    let class_names = Signal::derive(move || {
        storage
            .get()
            .and_then(Result::ok)
            .map(|v| v.classes.into_iter().map(|c| c.name).collect())
            .unwrap_or_default()
    });
    let config_names = move |secret: bool| {
        Signal::derive(move || {
            let ns = namespace.get();
            configs
                .get()
                .and_then(Result::ok)
                .map(|rows| {
                    rows.into_iter()
                        .filter(|r| {
                            in_ns(&ns, &r.namespace)
                                && (r.kind == crate::config::ConfigKind::Secret) == secret
                        })
                        .map(|r| r.name)
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    let errors = RwSignal::new(Vec::<Text>::new());
    let deploy = ServerAction::<DeployApp>::new();
    let (busy, answer) = (deploy.pending(), deploy.value());
    let navigate = use_navigate();
    // The new app's page, opened once the server made it.
    let opens = StoredValue::new(String::new());
    // NB: a deploy from a run records the run as deployed (its image is the app's now) before
    // the app's page opens
    let marked = Action::new(move |(tn, ns, run): &(String, String, String)| {
        crate::pipelines::deploy_run(tn.clone(), ns.clone(), run.clone())
    });
    let marked_done = marked.value();
    Effect::new(move |_| {
        if marked_done.get().is_some() {
            navigate(&opens.get_value(), Default::default());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = answer.get() {
            if from_run.is_empty() {
                marked_done.set(Some(Ok(String::new())));
            } else {
                marked.dispatch((
                    tenant.get_untracked(),
                    namespace.get_untracked(),
                    from_run.clone(),
                ));
            }
        }
    });

    Effect::new(move |_| {
        if namespace.get_untracked().is_empty() {
            if let Some(first) = namespaces.get().first() {
                namespace.set(first.clone());
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut problems = Vec::new();
        let replicas_n = replicas.get().trim().parse::<i32>().unwrap_or_else(|_| {
            let got = replicas.get();
            problems.push(text!(
                "replicas: '{got}' is not a whole number",
                "副本数:“{got}”不是整数"
            ));
            0
        });
        let port_n = match port.get().trim() {
            "" => None,
            p => match p.parse::<u16>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(text!(
                        "port: '{p}' is not a port number (1-65535)",
                        "端口:“{p}”不是有效的端口号(1-65535)"
                    ));
                    None
                }
            },
        };
        let env_pairs = parse_env(&env.get()).unwrap_or_else(|e| {
            problems.push(e);
            Vec::new()
        });
        let form = DeployForm {
            namespace: namespace.get(),
            name: name.get().trim().to_string(),
            image: image.get().trim().to_string(),
            replicas: replicas_n,
            port: port_n,
            env: env_pairs,
            cpu_request: cpu_request.get().trim().to_string(),
            cpu_limit: cpu_limit.get().trim().to_string(),
            memory_request: memory_request.get().trim().to_string(),
            memory_limit: memory_limit.get().trim().to_string(),
            alerts: alerts.get(),
            apm: apm.get(),
            expose: expose.get().then(|| wharf_api::workloads::ExposeForm {
                cluster: expose_cluster.get(),
                host: expose_host.get().trim().to_string(),
                path: expose_path.get().trim().to_string(),
                tls_secret: String::new(),
            }),
            kind: kind.get_untracked(),
            mounts: mounts.get_untracked().iter().map(MountRow::form).collect(),
            probes: ProbesForm {
                readiness: readiness.form(&probe_texts("readiness").0, &mut problems),
                liveness: liveness.form(&probe_texts("liveness").0, &mut problems),
                startup: startup.form(&probe_texts("startup").0, &mut problems),
            },
            sidecars: sidecar.form(),
            image_pull_secret: pull_secret.get().trim().to_string(),
            secret_env: parse_env(&secret_env.get()).unwrap_or_else(|e| {
                problems.push(e);
                Vec::new()
            }),
        };
        problems.extend(validate::deploy_form(&form));
        errors.set(problems.clone());
        deploy.clear();
        if !problems.is_empty() {
            return;
        }
        opens.set_value(format!(
            "/t/{}/apps/{}/{}",
            tenant.get(),
            form.namespace,
            form.name
        ));
        deploy.dispatch(DeployApp {
            tenant: tenant.get(),
            form,
        });
    };

    view! {
        <div class="page narrow">
            <h1>{t("Deploy an app", "部署应用")}</h1>
            <p class="muted">
                {t("Ready-made: ", "快速部署:")}
                <a href=move || format!("/t/{}/deploy?preset=redis", tenant.get()) data-testid="preset-redis" rel="external">"Redis"</a>" · "
                <a href=move || format!("/t/{}/deploy?preset=mysql", tenant.get()) data-testid="preset-mysql" rel="external">"MySQL"</a>
            </p>
            {preset_on.then(|| view! { <p class="banner info" data-testid="preset-note">{preset_note()}</p> })}
            <form class="form" on:submit=submit data-testid="deploy-form" novalidate=true>
                <label>{t("Kind", "类型")}
                    <select data-testid="deploy-kind" prop:value=move || kind.get().as_str()
                        on:change=move |ev| kind.set(if event_target_value(&ev) == "StatefulSet" { AppKind::StatefulSet } else { AppKind::Deployment })>
                        <option value="Deployment">{t("Deployment: replicas alike (web apps, services)", "Deployment:副本相同(Web 应用、服务)")}</option>
                        <option value="StatefulSet">{t("StatefulSet: stable names, a volume per replica (databases, caches)", "StatefulSet:名称固定,每个副本一个存储卷(数据库、缓存)")}</option>
                    </select>
                </label>
                <label>{t("Namespace", "命名空间")}
                    <select data-testid="deploy-namespace" on:change=move |ev| namespace.set(event_target_value(&ev)) prop:value=move || namespace.get()>
                        {move || namespaces.get().into_iter().map(|ns| view! { <option value=ns.clone()>{ns.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>{t("Name", "名称")}
                    <input data-testid="deploy-name" placeholder="shop-web" bind:value=name/>
                </label>
                <label>{t("Image", "镜像")}
                    <input data-testid="deploy-image" placeholder="registry.example.com/team/app:1.0" bind:value=image/>
                </label>
                <div class="row">
                    <label>{t("Replicas", "副本数")}<input data-testid="deploy-replicas" bind:value=replicas/></label>
                    <label>{t("Container port", "容器端口")}<input data-testid="deploy-port" bind:value=port/></label>
                </div>
                <div class="row">
                    <label>{t("CPU request", "CPU 请求")}<input data-testid="deploy-cpu-request" bind:value=cpu_request/></label>
                    <label>{t("CPU limit", "CPU 上限")}<input data-testid="deploy-cpu-limit" bind:value=cpu_limit/></label>
                    <label>{t("Memory request", "内存请求")}<input data-testid="deploy-memory-request" bind:value=memory_request/></label>
                    <label>{t("Memory limit", "内存上限")}<input data-testid="deploy-memory-limit" bind:value=memory_limit/></label>
                </div>
                <label>{t("Environment (KEY=value, one per line)", "环境变量(每行 KEY=value)")}
                    <textarea data-testid="deploy-env" rows="4" bind:value=env></textarea>
                </label>
                <label>{t("Secret environment (KEY=value; kept in a Secret; an empty value is a generated password)", "密文环境变量(KEY=value,保存在 Secret 中;留空则自动生成密码)")}
                    <textarea data-testid="deploy-secret-env" rows="2" bind:value=secret_env></textarea>
                </label>
                <Mounts rows=mounts next_id=next_mount claims=claim_names configs=config_names(false) secrets=config_names(true) classes=class_names/>
                <fieldset class="probes" data-testid="deploy-probes">
                    <legend>{t("Health checks", "健康检查")}</legend>
                    {[("readiness", readiness), ("liveness", liveness), ("startup", startup)].into_iter().map(|(which, row)| {
                        let (label, hint) = probe_texts(which);
                        view! { <ProbeEditor which label hint row/> }
                    }).collect_view()}
                </fieldset>
                <Sidecar row=sidecar/>
                <label>{t("Image pull secret (a registry credential of the namespace; empty: none)", "镜像拉取凭据(命名空间中的仓库凭据;留空则不使用)")}
                    <input data-testid="deploy-pull-secret" bind:value=pull_secret/>
                </label>
                <label class="check">
                    <input type="checkbox" data-testid="deploy-apm" bind:checked=apm/>
                    {t(
                        "Trace with APM from the start (Java apps: the platform's tracing agent is attached, no rebuild)",
                        "部署即开启 APM(Java 应用:自动挂载平台的调用链探针,无需重新构建)",
                    )}
                </label>
                <label class="check">
                    <input type="checkbox" data-testid="deploy-expose" bind:checked=expose/>
                    {t("Expose through nginx (a route to the container port, checked with nginx -t first)", "通过 nginx 暴露(指向容器端口的路由,先经 nginx -t 校验)")}
                </label>
                <Show when=move || expose.get()>
                    <div class="row">
                        <label>{t("nginx cluster", "nginx 集群")}
                            <select data-testid="deploy-expose-cluster" on:change=move |ev| expose_cluster.set(event_target_value(&ev)) prop:value=move || expose_cluster.get()>
                                <option value="">"…"</option>
                                {move || clusters.get().and_then(Result::ok).map(|cs| {
                                    let ns = namespace.get();
                                    let serving: Vec<_> = cs.into_iter().filter(|c| c.namespaces.contains(&ns)).collect();
                                    if expose_cluster.get_untracked().is_empty() {
                                        if let Some(c) = serving.first() { expose_cluster.set(c.name.clone()) }
                                    }
                                    serving.into_iter().map(|c| view! { <option value=c.name.clone()>{format!("{} ({})", c.display_name, c.name)}</option> }).collect_view()
                                })}
                            </select>
                        </label>
                        <label>{t("Host", "域名")}<input data-testid="deploy-expose-host" placeholder="shop.example.com" bind:value=expose_host/></label>
                        <label>{t("Path", "路径")}<input data-testid="deploy-expose-path" bind:value=expose_path/></label>
                    </div>
                    <p class="muted small">{t("HTTPS: add a certificate on the app's page once it is deployed.", "HTTPS:部署后可在应用页面添加证书。")}</p>
                </Show>
                <fieldset class="thresholds">
                    <legend>{t("Alert when (empty: no alert)", "告警阈值(留空则不告警)")}</legend>
                    <div class="row">
                        <label>{t("CPU % of limit", "CPU 占上限 %")}<input data-testid="deploy-alert-cpu" placeholder="80"
                            on:input=move |ev| alerts.update(|a| a.cpu_percent = event_target_value(&ev))/></label>
                        <label>{t("Memory % of limit", "内存占上限 %")}<input data-testid="deploy-alert-memory" placeholder="90"
                            on:input=move |ev| alerts.update(|a| a.memory_percent = event_target_value(&ev))/></label>
                        <label>{t("Threads", "线程数")}<input data-testid="deploy-alert-threads" placeholder="500"
                            on:input=move |ev| alerts.update(|a| a.threads = event_target_value(&ev))/></label>
                        <label>{t("Sockets", "套接字数")}<input data-testid="deploy-alert-sockets" placeholder="1000"
                            on:input=move |ev| alerts.update(|a| a.sockets = event_target_value(&ev))/></label>
                        <label>{t("For", "持续")}<input data-testid="deploy-alert-duration" placeholder="1m"
                            on:input=move |ev| alerts.update(|a| a.duration = event_target_value(&ev))/></label>
                    </div>
                    <div class="row">
                        <label>{t("Failed calls %", "失败调用 %")}<input data-testid="deploy-alert-errors" placeholder="5"
                            on:input=move |ev| alerts.update(|a| a.error_percent = event_target_value(&ev))/></label>
                        <label>{t("p95 latency (ms)", "p95 延迟(毫秒)")}<input data-testid="deploy-alert-p95" placeholder="500"
                            on:input=move |ev| alerts.update(|a| a.p95_ms = event_target_value(&ev))/></label>
                    </div>
                    <p class="muted small" data-testid="deploy-alert-apm-hint">{t(TRACED_THRESHOLDS_HINT.0, TRACED_THRESHOLDS_HINT.1)}</p>
                </fieldset>
                <Show when=move || !errors.with(Vec::is_empty)>
                    <ul class="banner error" data-testid="deploy-errors">
                        {move || errors.get().into_iter().map(|e| view! { <li>{move || tr(&e)}</li> }).collect_view()}
                    </ul>
                </Show>
                <ErrorBanner error=Signal::derive(move || answer.get().and_then(Result::err)) testid="deploy-errors"/>
                <button type="submit" class="primary" data-testid="deploy-submit" disabled=move || busy.get()>
                    {t("Deploy", "部署")}
                </button>
            </form>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::parse_env;

    #[test]
    fn env_lines_become_pairs_and_bad_lines_are_named() {
        assert_eq!(
            parse_env("A=1\n\nB = two=2\n").unwrap(),
            vec![("A".into(), "1".into()), ("B".into(), " two=2".into())]
        );
        assert_eq!(
            parse_env("A=1\nnope").unwrap_err().en,
            "environment line 2: write KEY=value"
        );
    }
}
