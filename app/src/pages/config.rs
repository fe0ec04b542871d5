//! `/t/:tenant/config`: the tenant's ConfigMaps and Secrets — which apps use each and when it
//! last changed — with an editor: keys and values (a Secret's hidden until a developer
//! reveals them; viewers never see them), save (refused when someone changed it meanwhile),
//! "apply to the apps that use it" (rolls them), delete (never while used; the name typed),
//! and the object's history: who, when, and a diff (for Secrets only which keys changed).

use super::param;
use crate::components::badges::Ago;
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::components::shell::use_tenant_access;
use crate::config::{
    apply_config, check_form, config_object, config_objects, delete_config, reveal_secret,
    save_config, ConfigDetail, ConfigForm, ConfigKind, Editable,
};
use crate::error::AppError;
use crate::i18n::{t, t_now, tr};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wharf_api::Text;

/// The object open in the editor.
#[derive(Clone, Debug, PartialEq)]
struct Opened {
    namespace: String,
    kind: ConfigKind,
    name: String,
}

/// One key in the editor. `kept`: the value is not sent (a hidden Secret value, a binary
/// one): the server keeps the current one.
#[derive(Clone, Copy)]
struct Row {
    id: u64,
    key: RwSignal<String>,
    value: RwSignal<String>,
    kept: RwSignal<bool>,
    binary: bool,
}

#[derive(Clone, Debug)]
enum ConfigChange {
    Save(String, ConfigForm),
    Apply(String, String, ConfigKind, String),
    Delete(String, String, ConfigKind, String, String),
}

fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::ConfigMap => "configmap",
        ConfigKind::Secret => "secret",
    }
}

#[component]
pub fn ConfigPage() -> impl IntoView {
    let tenant = param("tenant");
    let access = use_tenant_access(tenant);
    let (can_change, namespaces) = (access.can_change, access.namespaces);
    let tick = RwSignal::new(0u64);
    let list = Resource::new(
        move || (tenant.get(), tick.get()),
        |(tn, _)| config_objects(tn),
    );
    let opened = RwSignal::new(None::<Opened>);
    let detail = Resource::new(
        move || (tenant.get(), opened.get(), tick.get()),
        |(tn, o, _)| async move {
            match o {
                Some(o) => config_object(tn, o.namespace, o.kind, o.name)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        },
    );
    // the editor's rows, filled from the opened object (or empty for a new one)
    let rows = RwSignal::new(Vec::<Row>::new());
    let next_id = StoredValue::new(0u64);
    let new_row = move |key: String, value: String, kept: bool, binary: bool| {
        let id = next_id.get_value();
        next_id.set_value(id + 1);
        Row {
            id,
            key: RwSignal::new(key),
            value: RwSignal::new(value),
            kept: RwSignal::new(kept),
            binary,
        }
    };
    let version = RwSignal::new(None::<String>);
    let creating = RwSignal::new(None::<ConfigKind>);
    let new_namespace = RwSignal::new(String::new());
    let new_name = RwSignal::new(String::new());
    Effect::new(move |_| {
        if new_namespace.get_untracked().is_empty() {
            if let Some(first) = namespaces.get().first() {
                new_namespace.set(first.clone());
            }
        }
    });
    let fill = move |d: &ConfigDetail| {
        let filled = d
            .entries
            .iter()
            .map(|e| {
                new_row(
                    e.key.clone(),
                    e.value.clone().unwrap_or_default(),
                    e.value.is_none(),
                    e.binary,
                )
            })
            .collect();
        rows.set(filled);
        version.set(Some(d.resource_version.clone()));
    };
    Effect::new(move |_| {
        if let Some(Ok(Some(d))) = detail.get() {
            fill(&d);
        }
    });
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                ConfigChange::Save(tn, form) => save_config(tn, form).await.map(drop),
                ConfigChange::Apply(tn, ns, k, n) => apply_config(tn, ns, k, n).await.map(drop),
                ConfigChange::Delete(tn, ns, k, n, c) => delete_config(tn, ns, k, n, c).await,
            }
        },
        |change| match change {
            ConfigChange::Save(..) => (
                "Saved; the history records the change.",
                "已保存,历史记录了本次修改。",
            ),
            ConfigChange::Apply(..) => (
                "Applied: the apps that use it are rolling out with the new content.",
                "已应用:使用它的应用正在滚动更新以加载新内容。",
            ),
            ConfigChange::Delete(..) => ("Deleted.", "已删除。"),
        },
        move |change| match change {
            ConfigChange::Save(_, form) => {
                creating.set(None);
                new_name.set(String::new());
                opened.set(Some(Opened {
                    namespace: form.namespace.clone(),
                    kind: form.kind,
                    name: form.name.clone(),
                }));
            }
            ConfigChange::Delete(..) => {
                opened.set(None);
                rows.set(Vec::new());
            }
            ConfigChange::Apply(..) => {}
        },
    );
    let busy = changes.busy;
    let revealed = RwSignal::new(None::<AppError>);
    let reveal = move |o: Opened| {
        spawn_local(async move {
            match reveal_secret(tenant.get_untracked(), o.namespace, o.name).await {
                Ok(entries) => {
                    revealed.set(None);
                    rows.update(|rs| {
                        for r in rs.iter() {
                            if let Some(e) = entries.iter().find(|e| e.key == r.key.get_untracked())
                            {
                                if let Some(v) = &e.value {
                                    r.value.set(v.clone());
                                    r.kept.set(false);
                                }
                            }
                        }
                    });
                }
                Err(e) => revealed.set(Some(e)),
            }
        });
    };
    // the form the editor would send
    let form_of = move || -> Option<ConfigForm> {
        let entries = rows
            .get_untracked()
            .iter()
            .map(|r| {
                let value = (!r.kept.get_untracked()).then(|| r.value.get_untracked());
                (r.key.get_untracked().trim().to_string(), value)
            })
            .collect();
        if let Some(kind) = creating.get_untracked() {
            return Some(ConfigForm {
                namespace: new_namespace.get_untracked(),
                name: new_name.get_untracked().trim().to_string(),
                kind,
                entries,
                resource_version: None,
            });
        }
        let o = opened.get_untracked()?;
        Some(ConfigForm {
            namespace: o.namespace,
            name: o.name,
            kind: o.kind,
            entries,
            resource_version: version.get_untracked(),
        })
    };
    let save = move |_| {
        let Some(form) = form_of() else { return };
        let errors = check_form(&form);
        if !errors.is_empty() {
            changes.refuse(Text::join(&errors, "; ", ";"));
            return;
        }
        changes.run(ConfigChange::Save(tenant.get_untracked(), form));
    };
    let start_new = move |kind: ConfigKind| {
        opened.set(None);
        creating.set(Some(kind));
        rows.set(vec![new_row(String::new(), String::new(), false, false)]);
    };
    let open = move |o: Opened| {
        creating.set(None);
        revealed.set(None);
        opened.set(Some(o));
    };
    let ask_delete = move |o: Opened| {
        let question = format!(
            "{} “{}”",
            t_now(
                "This deletes it for good. Type its name to confirm:",
                "将永久删除。请输入名称确认:"
            ),
            o.name
        );
        if let Ok(Some(typed)) = window().prompt_with_message(&question) {
            changes.run(ConfigChange::Delete(
                tenant.get_untracked(),
                o.namespace,
                o.kind,
                o.name,
                typed.trim().to_string(),
            ));
        }
    };
    let list_error = Signal::derive(move || list.get().and_then(Result::err));
    let detail_error = Signal::derive(move || detail.get().and_then(Result::err));
    let open_detail = move || detail.get().and_then(Result::ok).flatten();
    view! {
        <div class="page config">
            <h1>{t("Config and secrets", "配置与密文")}</h1>
            <p class="muted">{t(
                "ConfigMaps and Secrets of your namespaces: mount them as files or environment in the deploy form; change them here, then apply to roll the apps that use them.",
                "命名空间中的 ConfigMap 与 Secret:在部署表单中以文件或环境变量挂载;在此修改后点击“应用”,使用它的应用将滚动更新。",
            )}</p>
            <ErrorBanner error=list_error/>
            <Outcome outcome=changes.message/>
            <table class="grid" data-testid="config-list">
                <thead><tr>
                    <th>{t("Name", "名称")}</th><th>{t("Kind", "类型")}</th><th>{t("Keys", "键")}</th>
                    <th>{t("Used by", "使用者")}</th><th>{t("Changed", "修改时间")}</th><th></th>
                </tr></thead>
                <tbody>
                    {move || list.get().and_then(Result::ok).map(|objects| objects.into_iter().map(|o| {
                        let target = Opened { namespace: o.namespace.clone(), kind: o.kind, name: o.name.clone() };
                        let label = o.kind.label();
                        let kind = kind_name(o.kind);
                        let keys = o.keys.join(", ");
                        let note = match o.editable {
                            Editable::Yes => None,
                            Editable::Managed => Some(t("kept by Kubernetes or Wharf", "由 Kubernetes 或 Wharf 维护")),
                            Editable::OtherType => Some(t("not an Opaque secret: shown only", "非 Opaque 类型:仅展示")),
                        };
                        view! {
                            <tr data-testid="config-row" data-name=o.name.clone() data-kind=kind>
                                <td class="mono">{format!("{}/{}", o.namespace, o.name)}</td>
                                <td>{move || tr(&label)}{(!o.secret_type.is_empty() && o.secret_type != "Opaque").then(|| view! { <div class="muted small">{o.secret_type.clone()}</div> })}</td>
                                <td class="mono small">{keys}</td>
                                <td class="mono small" data-testid="config-users">{o.used_by.join(", ")}</td>
                                <td><Ago at=o.changed/></td>
                                <td>
                                    <button class="small" data-testid="config-open" on:click={let tg = target.clone(); move |_| open(tg.clone())}>{t("Open", "打开")}</button>
                                    {note.map(|n| view! { <div class="muted small">{n}</div> })}
                                </td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
            <Show when=move || can_change.get()>
                <div class="row">
                    <button data-testid="config-new-configmap" on:click=move |_| start_new(ConfigKind::ConfigMap)>{t("New ConfigMap", "新建 ConfigMap")}</button>
                    <button data-testid="config-new-secret" on:click=move |_| start_new(ConfigKind::Secret)>{t("New Secret", "新建 Secret")}</button>
                </div>
            </Show>

            <ErrorBanner error=detail_error testid="detail-error"/>
            {move || {
                let editing = creating.get().is_some() || open_detail().is_some();
                editing.then(|| {
                    let d = open_detail().filter(|_| creating.get().is_none());
                    let kind = creating.get().or(d.as_ref().map(|d| d.row.kind)).unwrap_or(ConfigKind::ConfigMap);
                    let is_secret = kind == ConfigKind::Secret;
                    let editable = d.as_ref().is_none_or(|d| d.row.editable == Editable::Yes);
                    let target = opened.get();
                    let used_by = d.as_ref().map(|d| d.row.used_by.clone()).unwrap_or_default();
                    let history = d.as_ref().map(|d| d.history.clone()).unwrap_or_default();
                    let title = match &d {
                        Some(d) => format!("{} {}/{}", kind.as_str(), d.row.namespace, d.row.name),
                        None => format!("{} ({})", kind.as_str(), t_now("new", "新建")),
                    };
                    let may_edit = move || can_change.get() && editable;
                    view! {
                        <section class="card" data-testid="config-editor" data-kind=kind_name(kind)>
                            <h2>{title}</h2>
                            {creating.get().is_some().then(|| view! {
                                <div class="row">
                                    <label>{t("Namespace", "命名空间")}
                                        <select data-testid="config-namespace" prop:value=move || new_namespace.get() on:change=move |ev| new_namespace.set(event_target_value(&ev))>
                                            {move || namespaces.get().into_iter().map(|ns| view! { <option value=ns.clone()>{ns.clone()}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    <label>{t("Name", "名称")}<input data-testid="config-name" placeholder="orders-config" bind:value=new_name/></label>
                                </div>
                            })}
                            <table class="grid" data-testid="config-entries">
                                <thead><tr><th>{t("Key (file name)", "键(文件名)")}</th><th>{t("Value (file content)", "值(文件内容)")}</th><th></th></tr></thead>
                                <tbody>
                                    <For each=move || rows.get() key=|r| r.id let:r>
                                        <tr data-testid="config-entry">
                                            <td><input class="mono" data-testid="entry-key" prop:disabled=move || !may_edit() bind:value=r.key/></td>
                                            <td>
                                                {if r.binary {
                                                    view! { <span class="muted">{t("binary: kept as it is", "二进制内容:保持不变")}</span> }.into_any()
                                                } else {
                                                    view! {
                                                        <textarea class="mono" rows="4" data-testid="entry-value"
                                                            prop:disabled=move || !may_edit()
                                                            placeholder=move || if r.kept.get() { t_now("hidden — kept unless you type a new value", "已隐藏——除非输入新值,否则保持不变") } else { "" }
                                                            prop:value=move || r.value.get()
                                                            on:input=move |ev| { r.value.set(event_target_value(&ev)); r.kept.set(false); }></textarea>
                                                    }.into_any()
                                                }}
                                            </td>
                                            <td><Show when=may_edit>
                                                <button class="small" data-testid="entry-remove" on:click=move |_| rows.update(|rs| rs.retain(|x| x.id != r.id))>{t("Remove", "移除")}</button>
                                            </Show></td>
                                        </tr>
                                    </For>
                                </tbody>
                            </table>
                            <ErrorBanner error=Signal::derive(move || revealed.get()) testid="reveal-error"/>
                            <div class="row">
                                <Show when=may_edit>
                                    <button data-testid="entry-add" on:click=move |_| rows.update(|rs| rs.push(new_row(String::new(), String::new(), false, false)))>{t("Add key", "添加键")}</button>
                                    <button class="primary" data-testid="config-save" disabled=move || busy.get() on:click=save>{t("Save", "保存")}</button>
                                </Show>
                                {(is_secret && target.is_some()).then(|| {
                                    let tg = target.clone().unwrap();
                                    view! { <Show when=move || can_change.get()>
                                        <button data-testid="config-reveal" on:click={let tg = tg.clone(); move |_| reveal(tg.clone())}>{t("Reveal values", "显示值")}</button>
                                    </Show> }
                                })}
                                {target.clone().filter(|_| !used_by.is_empty()).map(|tg| {
                                    let apps = used_by.join(", ");
                                    view! { <Show when=move || can_change.get()>
                                        <button data-testid="config-apply" disabled=move || busy.get()
                                            on:click={let tg = tg.clone(); move |_| changes.run(ConfigChange::Apply(tenant.get_untracked(), tg.namespace.clone(), tg.kind, tg.name.clone()))}>
                                            {t("Apply to apps", "应用到应用")}" ("{apps.clone()}")"
                                        </button>
                                    </Show> }
                                })}
                                {target.clone().filter(|_| editable).map(|tg| view! { <Show when=move || can_change.get()>
                                    <button class="danger" data-testid="config-delete" disabled=move || busy.get() on:click={let tg = tg.clone(); move |_| ask_delete(tg.clone())}>{t("Delete…", "删除…")}</button>
                                </Show> })}
                            </div>
                            {(!history.is_empty()).then(|| view! {
                                <h3>{t("History", "历史")}</h3>
                                <ol class="history" data-testid="config-history">
                                    {history.into_iter().map(|h| {
                                        let who = if h.by.is_empty() { t_now("someone outside Wharf", "Wharf 之外的修改") .to_string() } else { h.by.clone() };
                                        let action = match h.action.as_str() {
                                            "created" => t("created", "创建"),
                                            "changed" => t("changed", "修改"),
                                            "applied" => t("applied to", "应用到"),
                                            _ => t("changed (outside Wharf)", "修改(Wharf 之外)"),
                                        };
                                        view! {
                                            <li data-testid="history-entry" data-action=h.action.clone()>
                                                <div><span class="mono" data-testid="history-by">{who}</span>" · "{action}" "{h.apps.join(", ")}" · "<span class="muted">{h.at.format("%Y-%m-%d %H:%M:%S").to_string()}</span></div>
                                                {h.changes.into_iter().map(|c| view! {
                                                    <div class="small"><span class="mono">{c.key.clone()}</span>" "{c.what.clone()}</div>
                                                    {(!c.diff.is_empty()).then(|| view! {
                                                        <pre class="diff" data-testid="history-diff">{c.diff.into_iter().map(|l| {
                                                            let class = match l.sign { '+' => "add", '-' => "del", _ => "ctx" };
                                                            view! { <span class=class>{format!("{}{}\n", l.sign, l.text)}</span> }
                                                        }).collect_view()}</pre>
                                                    })}
                                                }).collect_view()}
                                            </li>
                                        }
                                    }).collect_view()}
                                </ol>
                            })}
                        </section>
                    }
                })
            }}
        </div>
    }
}

/// The app page's section: the config objects the app's pods read, how, and a warning for
/// each that changed after the app's oldest pod started (its pods still have the old
/// environment; files follow within a minute) — with a link to the editor.
#[component]
pub fn AppConfig(
    tenant: Memo<String>,
    ns: Memo<String>,
    name: Memo<String>,
    version: Signal<u64>,
) -> impl IntoView {
    let uses = Resource::new(
        move || (tenant.get(), ns.get(), name.get(), version.get()),
        |(t, n, a, _)| crate::config::app_config(t, n, a),
    );
    view! {
        {move || uses.get().and_then(Result::ok).filter(|u| !u.is_empty()).map(|u| view! {
            <h2>{t("Config", "配置")}</h2>
            <table class="grid" data-testid="app-config">
                <tbody>
                    {u.into_iter().map(|c| {
                        let label = c.kind.label();
                        let how = c.how.clone();
                        view! {
                            <tr data-testid="app-config-row" data-name=c.name.clone() data-stale=c.changed_after_start.to_string()>
                                <td class="mono"><a href=format!("/t/{}/config", tenant.get_untracked())>{c.name.clone()}</a></td>
                                <td>{move || tr(&label)}</td>
                                <td class="small">{move || how.iter().map(tr).collect::<Vec<_>>().join("; ")}</td>
                                <td><Ago at=c.changed/></td>
                                <td>{c.changed_after_start.then(|| view! {
                                    <span class="badge warn" data-testid="app-config-stale">{t(
                                        "changed after the pods started: apply it to roll them",
                                        "在 Pod 启动后被修改:点击“应用”以滚动更新",
                                    )}</span>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        })}
    }
}
