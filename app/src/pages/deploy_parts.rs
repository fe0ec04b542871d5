//! The deploy form's optional parts: volumes (a new or existing claim, a ConfigMap or Secret
//! as files or environment), the three health checks, a sidecar, and the ready-made Redis and
//! MySQL forms (`?preset=redis|mysql`). Each part keeps its inputs as signals and turns them
//! into the form's types when the form is sent.

use crate::i18n::{t, t_now};
use crate::workloads::pod::{MountForm, MountSource, ProbeAction, ProbeForm, SidecarForm};
use leptos::prelude::*;
use wharf_api::{text, Text};

/// One volume row of the form.
#[derive(Clone, Copy)]
pub struct MountRow {
    pub id: u64,
    /// `new-claim`, `claim`, `configmap`, `secret`, `configmap-env`, `secret-env`.
    pub source: RwSignal<String>,
    pub name: RwSignal<String>,
    pub size: RwSignal<String>,
    pub class: RwSignal<String>,
    pub path: RwSignal<String>,
}

impl MountRow {
    pub fn new(id: u64, source: &str, name: &str, size: &str, path: &str) -> MountRow {
        MountRow {
            id,
            source: RwSignal::new(source.into()),
            name: RwSignal::new(name.into()),
            size: RwSignal::new(size.into()),
            class: RwSignal::new(String::new()),
            path: RwSignal::new(path.into()),
        }
    }

    pub fn form(&self) -> MountForm {
        let name = self.name.get_untracked().trim().to_string();
        let source = match self.source.get_untracked().as_str() {
            "new-claim" => MountSource::NewClaim {
                name,
                size: self.size.get_untracked().trim().to_string(),
                class: self.class.get_untracked(),
            },
            "claim" => MountSource::Claim { name },
            "configmap" => MountSource::ConfigMap { name },
            "secret" => MountSource::Secret { name },
            "configmap-env" => MountSource::ConfigMapEnv { name },
            _ => MountSource::SecretEnv { name },
        };
        let path = if source.has_path() {
            self.path.get_untracked().trim().to_string()
        } else {
            String::new()
        };
        MountForm { source, path }
    }
}

/// One health check's inputs.
#[derive(Clone, Copy)]
pub struct ProbeRow {
    /// `off`, `http`, `tcp`, `command`.
    pub how: RwSignal<String>,
    pub path: RwSignal<String>,
    pub command: RwSignal<String>,
    pub delay: RwSignal<String>,
    pub period: RwSignal<String>,
    pub failures: RwSignal<String>,
}

impl ProbeRow {
    pub fn new(how: &str, path: &str) -> ProbeRow {
        ProbeRow {
            how: RwSignal::new(how.into()),
            path: RwSignal::new(path.into()),
            command: RwSignal::new(String::new()),
            delay: RwSignal::new("0".into()),
            period: RwSignal::new("10".into()),
            failures: RwSignal::new("3".into()),
        }
    }

    /// Shows `form` (off for `None`), as the app page does with an app's checks.
    pub fn show(&self, form: Option<&ProbeForm>) {
        let Some(f) = form else {
            self.how.set("off".into());
            return;
        };
        match &f.action {
            ProbeAction::Http { path } => {
                self.how.set("http".into());
                self.path.set(path.clone());
            }
            ProbeAction::Tcp => self.how.set("tcp".into()),
            ProbeAction::Command { command } => {
                self.how.set("command".into());
                self.command.set(command.clone());
            }
        }
        self.delay.set(f.initial_delay_seconds.to_string());
        self.period.set(f.period_seconds.to_string());
        self.failures.set(f.failure_threshold.to_string());
    }

    /// The check, or `None` when off; numbers that do not parse are named in `problems`.
    pub fn form(&self, label: &Text, problems: &mut Vec<Text>) -> Option<ProbeForm> {
        let action = match self.how.get_untracked().as_str() {
            "http" => ProbeAction::Http {
                path: self.path.get_untracked().trim().to_string(),
            },
            "tcp" => ProbeAction::Tcp,
            "command" => ProbeAction::Command {
                command: self.command.get_untracked(),
            },
            _ => return None,
        };
        let mut number = |v: RwSignal<String>| {
            let got = v.get_untracked();
            got.trim().parse::<i32>().unwrap_or_else(|_| {
                problems.push(text!(
                    "{label}: '{got}' is not a whole number",
                    "{label}:“{got}”不是整数"
                ));
                1
            })
        };
        Some(ProbeForm {
            action,
            port: None,
            initial_delay_seconds: number(self.delay),
            period_seconds: number(self.period),
            failure_threshold: number(self.failures),
        })
    }
}

/// The sidecar's inputs (off until asked for).
#[derive(Clone, Copy)]
pub struct SidecarRow {
    pub on: RwSignal<bool>,
    pub name: RwSignal<String>,
    pub image: RwSignal<String>,
    pub command: RwSignal<String>,
    pub share: RwSignal<bool>,
}

impl SidecarRow {
    pub fn new() -> SidecarRow {
        SidecarRow {
            on: RwSignal::new(false),
            name: RwSignal::new("sidecar".into()),
            image: RwSignal::new(String::new()),
            command: RwSignal::new(String::new()),
            share: RwSignal::new(true),
        }
    }

    pub fn form(&self) -> Vec<SidecarForm> {
        if !self.on.get_untracked() {
            return Vec::new();
        }
        vec![SidecarForm {
            name: self.name.get_untracked().trim().to_string(),
            image: self.image.get_untracked().trim().to_string(),
            command: self.command.get_untracked(),
            port: None,
            share_mounts: self.share.get_untracked(),
        }]
    }
}

impl Default for SidecarRow {
    fn default() -> Self {
        SidecarRow::new()
    }
}

/// The volume rows, with add and remove. `claims`, `configs`, `secrets`: names to pick from.
#[component]
pub fn Mounts(
    rows: RwSignal<Vec<MountRow>>,
    next_id: StoredValue<u64>,
    #[prop(into)] claims: Signal<Vec<String>>,
    #[prop(into)] configs: Signal<Vec<String>>,
    #[prop(into)] secrets: Signal<Vec<String>>,
    #[prop(into)] classes: Signal<Vec<String>>,
) -> impl IntoView {
    let add = move |_| {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        rows.update(|r| r.push(MountRow::new(id, "new-claim", "", "1Gi", "/data")));
    };
    view! {
        <fieldset class="mounts" data-testid="deploy-mounts">
            <legend>{t("Volumes and config", "存储卷与配置")}</legend>
            <datalist id="deploy-claims">{move || claims.get().into_iter().map(|n| view! { <option value=n/> }).collect_view()}</datalist>
            <datalist id="deploy-configs">{move || configs.get().into_iter().map(|n| view! { <option value=n/> }).collect_view()}</datalist>
            <datalist id="deploy-secrets">{move || secrets.get().into_iter().map(|n| view! { <option value=n/> }).collect_view()}</datalist>
            <For each=move || rows.get() key=|r| r.id let:r>
                <div class="row" data-testid="deploy-mount">
                    <label>{t("Source", "来源")}
                        <select data-testid="mount-source" prop:value=move || r.source.get() on:change=move |ev| r.source.set(event_target_value(&ev))>
                            <option value="new-claim">{t("new volume claim", "新建存储卷声明")}</option>
                            <option value="claim">{t("existing claim", "已有存储卷声明")}</option>
                            <option value="configmap">{t("ConfigMap as files", "ConfigMap(文件)")}</option>
                            <option value="secret">{t("Secret as files", "Secret(文件)")}</option>
                            <option value="configmap-env">{t("ConfigMap as environment", "ConfigMap(环境变量)")}</option>
                            <option value="secret-env">{t("Secret as environment", "Secret(环境变量)")}</option>
                        </select>
                    </label>
                    <label>{t("Name", "名称")}
                        <input data-testid="mount-name" bind:value=r.name
                            list=move || match r.source.get().as_str() {
                                "claim" => "deploy-claims",
                                "configmap" | "configmap-env" => "deploy-configs",
                                "secret" | "secret-env" => "deploy-secrets",
                                _ => "",
                            }/>
                    </label>
                    <Show when=move || r.source.get() == "new-claim">
                        <label>{t("Size", "容量")}<input data-testid="mount-size" bind:value=r.size/></label>
                        <label>{t("Class", "存储类")}
                            <select data-testid="mount-class" prop:value=move || r.class.get() on:change=move |ev| r.class.set(event_target_value(&ev))>
                                <option value="">{t("the cluster's default", "集群默认")}</option>
                                {move || classes.get().into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    </Show>
                    <Show when=move || !r.source.get().ends_with("-env")>
                        <label>{t("Mount path", "挂载路径")}<input data-testid="mount-path" bind:value=r.path/></label>
                    </Show>
                    <button type="button" class="small" data-testid="mount-remove" on:click=move |_| rows.update(|rs| rs.retain(|x| x.id != r.id))>{t("Remove", "移除")}</button>
                </div>
            </For>
            <button type="button" data-testid="mount-add" on:click=add>{t("Add a volume or config", "添加存储卷或配置")}</button>
        </fieldset>
    }
}

/// One health check's inputs.
#[component]
pub fn ProbeEditor(which: &'static str, label: Text, hint: Text, row: ProbeRow) -> impl IntoView {
    let lang_label = label.clone();
    view! {
        <div class="probe" data-testid=format!("probe-{which}")>
            <div class="row">
                <label>{move || crate::i18n::tr(&lang_label)}
                    <select data-testid="probe-how" prop:value=move || row.how.get() on:change=move |ev| row.how.set(event_target_value(&ev))>
                        <option value="off">{t("off", "关闭")}</option>
                        <option value="http">{t("HTTP GET on the app's port", "应用端口 HTTP GET")}</option>
                        <option value="tcp">{t("TCP connect to the app's port", "应用端口 TCP 连接")}</option>
                        <option value="command">{t("command in the container", "容器内命令")}</option>
                    </select>
                </label>
                <Show when=move || row.how.get() == "http">
                    <label>{t("Path", "路径")}<input data-testid="probe-path" bind:value=row.path/></label>
                </Show>
                <Show when=move || row.how.get() == "command">
                    <label>{t("Command", "命令")}<input data-testid="probe-command" placeholder="test -f /tmp/ready" bind:value=row.command/></label>
                </Show>
                <Show when=move || row.how.get() != "off">
                    <label>{t("First after (s)", "首次延迟(秒)")}<input data-testid="probe-delay" bind:value=row.delay/></label>
                    <label>{t("Every (s)", "间隔(秒)")}<input data-testid="probe-period" bind:value=row.period/></label>
                    <label>{t("Failures in a row", "连续失败次数")}<input data-testid="probe-failures" bind:value=row.failures/></label>
                </Show>
            </div>
            <p class="muted small">{move || crate::i18n::tr(&hint)}</p>
        </div>
    }
}

/// The three checks' labels and what each does.
pub fn probe_texts(which: &str) -> (Text, Text) {
    match which {
        "readiness" => (
            text!("Readiness check", "就绪检查"),
            text!(
                "While it fails the pod gets no traffic: it is out of the Service and of nginx's upstreams.",
                "检查失败期间 Pod 不接收流量:从 Service 与 nginx 上游中移除。"
            ),
        ),
        "liveness" => (
            text!("Liveness check", "存活检查"),
            text!(
                "When it fails the set number of times in a row the container is restarted.",
                "连续失败达到次数后重启容器。"
            ),
        ),
        _ => (
            text!("Startup check", "启动检查"),
            text!(
                "The other checks wait until it passes: for apps that start slowly (a big Java app).",
                "通过前其他检查暂停:适合启动较慢的应用(如大型 Java 应用)。"
            ),
        ),
    }
}

/// The sidecar's inputs.
#[component]
pub fn Sidecar(row: SidecarRow) -> impl IntoView {
    view! {
        <label class="check">
            <input type="checkbox" data-testid="sidecar-on" bind:checked=row.on/>
            {t("Add a sidecar container (a log shipper, a proxy) beside the app", "在应用旁添加边车容器(日志采集、代理等)")}
        </label>
        <Show when=move || row.on.get()>
            <div class="row">
                <label>{t("Name", "名称")}<input data-testid="sidecar-name" bind:value=row.name/></label>
                <label>{t("Image", "镜像")}<input data-testid="sidecar-image" placeholder="busybox:1.36" bind:value=row.image/></label>
                <label>{t("Command (empty: the image's)", "命令(留空使用镜像自带)")}<input data-testid="sidecar-command" bind:value=row.command/></label>
                <label class="check"><input type="checkbox" data-testid="sidecar-share" bind:checked=row.share/>{t("sees the app's volumes", "共享应用的存储卷")}</label>
            </div>
        </Show>
    }
}

/// A ready-made form: what it fills in.
pub struct Preset {
    pub name: &'static str,
    pub image: &'static str,
    pub port: u16,
    pub data_path: &'static str,
    pub size: &'static str,
    /// The environment variable holding the generated password.
    pub password_env: &'static str,
}

pub fn preset(which: &str) -> Option<Preset> {
    match which {
        "redis" => Some(Preset {
            name: "redis",
            image: "bitnami/redis:7.2",
            port: 6379,
            data_path: "/bitnami/redis/data",
            size: "1Gi",
            password_env: "REDIS_PASSWORD",
        }),
        "mysql" => Some(Preset {
            name: "mysql",
            image: "mysql:8.0",
            port: 3306,
            data_path: "/var/lib/mysql",
            size: "10Gi",
            password_env: "MYSQL_ROOT_PASSWORD",
        }),
        _ => None,
    }
}

/// What the presets say above the form.
pub fn preset_note() -> &'static str {
    t_now(
        "A StatefulSet: each replica keeps its own volume claim; its password is generated by the server and kept in a Secret made with it (reveal it on the Config page).",
        "以 StatefulSet 部署:每个副本有自己的存储卷声明;密码由服务器生成并保存在随应用创建的 Secret 中(可在“配置”页查看)。",
    )
}
