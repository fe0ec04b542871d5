//! `/t/:tenant/storage`: the cluster's storage classes (what each gives: Ceph RBD block, CephFS
//! shared, a local folder) and the tenant's volume claims — size, class, access mode, status,
//! the pods that mount each — with create, expand (where the class allows) and delete (never
//! while mounted; the claim's name typed to confirm). Viewers see it all and change nothing.

use super::param;
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::components::shell::use_tenant_access;
use crate::i18n::{t, t_now, tr};
use crate::storage::{
    check_form, create_claim, delete_claim, expand_claim, human_bytes, storage, ClaimForm,
    ClassKind, ACCESS_MODES,
};
use leptos::prelude::*;

/// A change to the tenant's claims.
#[derive(Clone, Debug)]
enum ClaimChange {
    Create(String, ClaimForm),
    Expand(String, String, String, String),
    Delete(String, String, String, String),
}

#[component]
pub fn StoragePage() -> impl IntoView {
    let tenant = param("tenant");
    let tick = RwSignal::new(0u64);
    // claims bind and pods come and go by themselves: read again every 5 s
    let every = crate::components::ticker::ticker(std::time::Duration::from_secs(5), None);
    let view_res = Resource::new(
        move || (tenant.get(), tick.get(), every.get()),
        |(tn, _, _)| storage(tn),
    );
    let can_change = use_tenant_access(tenant).can_change;
    // the claim whose files are open (namespace, name)
    let browsing = RwSignal::new(None::<(String, String)>);
    let namespaces = use_tenant_access(tenant).namespaces;
    let namespace = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let class = RwSignal::new(String::new());
    let size = RwSignal::new("1Gi".to_string());
    let access_mode = RwSignal::new("ReadWriteOnce".to_string());
    Effect::new(move |_| {
        if namespace.get_untracked().is_empty() {
            if let Some(first) = namespaces.get().first() {
                namespace.set(first.clone());
            }
        }
    });
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                ClaimChange::Create(tn, form) => create_claim(tn, form).await,
                ClaimChange::Expand(tn, ns, n, s) => expand_claim(tn, ns, n, s).await,
                ClaimChange::Delete(tn, ns, n, c) => delete_claim(tn, ns, n, c).await,
            }
        },
        |change| match change {
            ClaimChange::Create(..) => (
                "Claim created: it is bound to a volume as its class says.",
                "已创建存储卷声明:将按存储类的方式绑定存储卷。",
            ),
            ClaimChange::Expand(..) => ("Claim expanded.", "已扩容存储卷声明。"),
            ClaimChange::Delete(..) => (
                "Claim deleted, with its data where the class deletes volumes.",
                "已删除存储卷声明(按存储类策略一并删除数据)。",
            ),
        },
        move |change| {
            if matches!(change, ClaimChange::Create(..)) {
                name.set(String::new());
            }
        },
    );
    let busy = changes.busy;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = ClaimForm {
            namespace: namespace.get_untracked(),
            name: name.get_untracked().trim().to_string(),
            class: class.get_untracked(),
            size: size.get_untracked().trim().to_string(),
            access_mode: access_mode.get_untracked(),
        };
        let errors = check_form(&form);
        if !errors.is_empty() {
            changes.refuse(wharf_api::Text::join(&errors, "; ", ";"));
            return;
        }
        changes.run(ClaimChange::Create(tenant.get_untracked(), form));
    };
    let ask_expand = move |(ns, n, current): (String, String, String)| {
        let question = format!("{} {n} ({current}):", t_now("New size of", "新的容量:"));
        if let Ok(Some(to)) = window().prompt_with_message_and_default(&question, &current) {
            changes.run(ClaimChange::Expand(
                tenant.get_untracked(),
                ns,
                n,
                to.trim().to_string(),
            ));
        }
    };
    let ask_delete = move |(ns, n): (String, String)| {
        let question = format!(
            "{} “{n}”",
            t_now(
                "This deletes the claim and, where its class deletes volumes, its data. Type its name to confirm:",
                "这将删除该存储卷声明,并按存储类策略删除其数据。请输入名称确认:"
            )
        );
        if let Ok(Some(typed)) = window().prompt_with_message(&question) {
            changes.run(ClaimChange::Delete(
                tenant.get_untracked(),
                ns,
                n,
                typed.trim().to_string(),
            ));
        }
    };
    let loaded = move || view_res.get().and_then(Result::ok);
    let error = Signal::derive(move || view_res.get().and_then(Result::err));
    view! {
        <div class="page storage">
            <h1>{t("Storage", "存储")}</h1>
            <ErrorBanner error/>
            <h2>{t("Storage classes", "存储类")}</h2>
            <table class="grid" data-testid="classes">
                <thead><tr>
                    <th>{t("Class", "存储类")}</th><th>{t("What it gives", "类型")}</th><th>{t("Provisioner", "供应者")}</th>
                    <th>{t("Binding", "绑定时机")}</th><th>{t("Expandable", "可扩容")}</th><th>{t("On delete", "删除时")}</th>
                </tr></thead>
                <tbody>
                    {move || loaded().map(|v| v.classes.into_iter().map(|c| {
                        let kind = c.kind.label();
                        view! {
                            <tr data-testid="class-row" data-class=c.name.clone()>
                                <td class="mono">{c.name.clone()}{c.default.then(|| view! { " " <span class="badge ok">{t("default", "默认")}</span> })}</td>
                                <td>{move || tr(&kind)}</td>
                                <td class="mono small">{c.provisioner.clone()}</td>
                                <td>{c.binding_mode.clone()}</td>
                                <td>{if c.allow_expansion { "✓" } else { "–" }}</td>
                                <td>{c.reclaim_policy.clone()}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>

            <h2>{t("Volume claims", "存储卷声明")}</h2>
            <Outcome outcome=changes.message/>
            {move || loaded().map(|v| if v.claims.is_empty() {
                view! { <p class="empty" data-testid="no-claims">{t("No volume claims yet.", "还没有存储卷声明。")}</p> }.into_any()
            } else {
                view! {
                    <table class="grid" data-testid="claims">
                        <thead><tr>
                            <th>{t("Claim", "声明")}</th><th>{t("Size", "容量")}</th><th>{t("Class", "存储类")}</th>
                            <th>{t("Access", "访问模式")}</th><th>{t("Status", "状态")}</th><th>{t("Mounted by", "挂载者")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {v.claims.into_iter().map(|c| {
                                let (ns, n) = (c.namespace.clone(), c.name.clone());
                                let current = c.capacity.clone().unwrap_or_else(|| c.requested.clone());
                                let expand_args = (ns.clone(), n.clone(), current.clone());
                                let delete_args = (ns.clone(), n.clone());
                                let used = c.used_by.join(", ");
                                view! {
                                    <tr data-testid="claim-row" data-claim=c.name.clone() data-phase=c.phase.clone()>
                                        <td class="mono">{format!("{}/{}", c.namespace, c.name)}</td>
                                        <td>
                                            <span data-testid="claim-size">{current}</span>
                                            <div class="muted small" data-testid="claim-used">{let used = c.used_bytes; move || match used {
                                                Some(b) => format!("{} {}", human_bytes(b), t_now("used", "已用")),
                                                None => "—".to_string(),
                                            }}</div>
                                        </td>
                                        <td class="mono">{c.class.clone()}</td>
                                        <td>{c.access_modes.join(", ")}</td>
                                        <td data-testid="claim-phase">{c.phase.clone()}{c.message.clone().map(|m| view! { <div class="muted small">{m}</div> })}</td>
                                        <td class="mono small" data-testid="claim-users">{used}</td>
                                        <td>
                                            <Show when=move || can_change.get()>
                                                <button class="small" data-testid="claim-expand" disabled=move || busy.get()
                                                    on:click={let a = expand_args.clone(); move |_| ask_expand(a.clone())}>{t("Expand…", "扩容…")}</button>
                                                <button class="small" data-testid="claim-files-open"
                                                    on:click={let a = delete_args.clone(); move |_| browsing.set(Some(a.clone()))}>{t("Files", "文件")}</button>
                                                <button class="small danger" data-testid="claim-delete" disabled=move || busy.get()
                                                    on:click={let a = delete_args.clone(); move |_| ask_delete(a.clone())}>{t("Delete…", "删除…")}</button>
                                            </Show>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}

            {move || browsing.get().map(|(namespace, claim)| view! {
                <crate::pages::storage_files::ClaimFiles tenant namespace claim on_close=Callback::new(move |()| browsing.set(None))/>
            })}
            <Show when=move || can_change.get()>
                <h2>{t("New volume claim", "新建存储卷声明")}</h2>
                <form class="form" data-testid="claim-form" on:submit=submit>
                    <div class="row">
                        <label>{t("Namespace", "命名空间")}
                            <select data-testid="claim-namespace" prop:value=move || namespace.get() on:change=move |ev| namespace.set(event_target_value(&ev))>
                                {move || namespaces.get().into_iter().map(|ns| view! { <option value=ns.clone()>{ns.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                        <label>{t("Name", "名称")}<input data-testid="claim-name" placeholder="redis-data" bind:value=name/></label>
                        <label>{t("Size", "容量")}<input data-testid="claim-size-input" bind:value=size/></label>
                    </div>
                    <div class="row">
                        <label>{t("Class", "存储类")}
                            <select data-testid="claim-class" prop:value=move || class.get() on:change=move |ev| {
                                let v = event_target_value(&ev);
                                // the kind's usual access mode comes with it
                                let kind = loaded().and_then(|l| l.classes.into_iter().find(|c| c.name == v)).map(|c| c.kind).unwrap_or(ClassKind::Other);
                                access_mode.set(kind.access_modes()[0].to_string());
                                class.set(v);
                            }>
                                <option value="">{t("the cluster's default", "集群默认")}</option>
                                {move || loaded().map(|l| l.classes.into_iter().map(|c| view! { <option value=c.name.clone()>{c.name.clone()}</option> }).collect_view())}
                            </select>
                        </label>
                        <label>{t("Access mode", "访问模式")}
                            <select data-testid="claim-access" prop:value=move || access_mode.get() on:change=move |ev| access_mode.set(event_target_value(&ev))>
                                {ACCESS_MODES.iter().map(|m| view! { <option value=*m>{*m}</option> }).collect_view()}
                            </select>
                        </label>
                    </div>
                    <button class="primary" type="submit" data-testid="claim-create" disabled=move || busy.get()>{t("Create", "创建")}</button>
                </form>
            </Show>
        </div>
    }
}
