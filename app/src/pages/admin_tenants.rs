//! `/admin/tenants` (platform admins): every tenant with its namespaces, quota use, pod
//! security and members; a form to create one or change one; deleting one shows what goes with
//! it and, when workloads would, asks for its name typed.

use crate::admin::{
    check_tenant, create_tenant, delete_tenant, tenant_deletion_plan, tenants, update_tenant,
    DeletionPlan, QuotaForm, TenantForm,
};
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::error::AppError;
use crate::i18n::{t, t_now};
use crate::pages::tenant::QuotaUse;
use leptos::prelude::*;

/// Words separated by commas, spaces or new lines.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Clone, Debug)]
enum TenantChange {
    Create(TenantForm),
    Update(TenantForm),
    Delete(String, String),
}

/// The form's fields, as typed.
#[derive(Clone, Copy)]
struct Fields {
    name: RwSignal<String>,
    display_name: RwSignal<String>,
    namespaces: RwSignal<String>,
    adopt: RwSignal<String>,
    cpu: RwSignal<String>,
    memory: RwSignal<String>,
    pods: RwSignal<String>,
    storage: RwSignal<String>,
    pod_security: RwSignal<String>,
    hosts: RwSignal<String>,
    image_prefix: RwSignal<String>,
    /// `Some(name)` while an existing tenant is being edited.
    editing: RwSignal<Option<String>>,
}

impl Fields {
    fn new() -> Self {
        Fields {
            name: RwSignal::new(String::new()),
            display_name: RwSignal::new(String::new()),
            namespaces: RwSignal::new(String::new()),
            adopt: RwSignal::new(String::new()),
            cpu: RwSignal::new(String::new()),
            memory: RwSignal::new(String::new()),
            pods: RwSignal::new(String::new()),
            storage: RwSignal::new(String::new()),
            pod_security: RwSignal::new("restricted".into()),
            hosts: RwSignal::new(String::new()),
            image_prefix: RwSignal::new(String::new()),
            editing: RwSignal::new(None),
        }
    }

    fn load(&self, f: &TenantForm) {
        self.name.set(f.name.clone());
        self.display_name.set(f.display_name.clone());
        self.namespaces.set(f.namespaces.join(", "));
        self.adopt.set(String::new());
        self.cpu.set(f.quota.cpu.clone());
        self.memory.set(f.quota.memory.clone());
        self.pods.set(f.quota.pods.clone());
        self.storage.set(f.quota.storage.clone());
        self.pod_security.set(f.pod_security.clone());
        self.hosts.set(f.hosts.join(", "));
        self.image_prefix.set(f.image_prefix.clone());
        self.editing.set(Some(f.name.clone()));
    }

    fn clear(&self) {
        self.load(&TenantForm {
            pod_security: "restricted".into(),
            ..Default::default()
        });
        self.editing.set(None);
    }

    fn form(&self) -> TenantForm {
        TenantForm {
            name: self.name.get_untracked().trim().to_string(),
            display_name: self.display_name.get_untracked().trim().to_string(),
            namespaces: words(&self.namespaces.get_untracked()),
            adopt: words(&self.adopt.get_untracked()),
            quota: QuotaForm {
                cpu: self.cpu.get_untracked().trim().to_string(),
                memory: self.memory.get_untracked().trim().to_string(),
                pods: self.pods.get_untracked().trim().to_string(),
                storage: self.storage.get_untracked().trim().to_string(),
            },
            pod_security: self.pod_security.get_untracked(),
            hosts: words(&self.hosts.get_untracked()),
            image_prefix: self.image_prefix.get_untracked().trim().to_string(),
        }
    }
}

#[component]
pub fn AdminTenantsPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| tenants());
    let fields = Fields::new();
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                TenantChange::Create(form) => create_tenant(form).await,
                TenantChange::Update(form) => update_tenant(form).await,
                TenantChange::Delete(name, confirm) => {
                    delete_tenant(name, confirm).await.map(|_| ())
                }
            }
        },
        |change| match change {
            TenantChange::Create(_) => (
                "Tenant created with its namespaces, quota, pod security and isolation.",
                "已创建租户及其命名空间、配额、Pod 安全级别与网络隔离。",
            ),
            TenantChange::Update(_) => ("Tenant saved.", "已保存租户。"),
            TenantChange::Delete(..) => (
                "Tenant deleted with its namespaces.",
                "已删除租户及其命名空间。",
            ),
        },
        move |change| match change {
            TenantChange::Delete(..) => {}
            _ => fields.clear(),
        },
    );
    let busy = changes.busy;
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = fields.form();
        if let Err(why) = check_tenant(&form) {
            changes.refuse(why);
            return;
        }
        if fields.editing.get_untracked().is_some() {
            changes.run(TenantChange::Update(form));
        } else {
            changes.run(TenantChange::Create(form));
        }
    };
    // deletion: the plan first, then the confirmation
    let plan = RwSignal::new(None::<Result<DeletionPlan, AppError>>);
    let typed = RwSignal::new(String::new());
    let ask_delete = move |name: String| {
        typed.set(String::new());
        plan.set(None);
        leptos::task::spawn_local(async move {
            plan.set(Some(tenant_deletion_plan(name).await));
        });
    };
    Effect::new(move |_| {
        if changes.message.with(|m| matches!(m, Some(Ok(_)))) {
            plan.set(None);
        }
    });
    let text = |en: &'static str, zh: &'static str| t(en, zh);
    view! {
        <div class="page admin-tenants">
            <h1>{t("Tenants", "租户管理")}</h1>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="tenants-load-error"/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="no-tenants">{t(
                        "No tenants yet: create the first one below.", "还没有租户:请在下方创建第一个。")}</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="cards">{rows.into_iter().map(|s| {
                            let f = s.form.clone();
                            let (name, edit_form) = (f.name.clone(), f.clone());
                            let q = &f.quota;
                            let quota = [("CPU", &q.cpu), ("memory", &q.memory), ("pods", &q.pods), ("storage", &q.storage)]
                                .iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" · ");
                            view! {
                                <section class="card" data-testid="tenant-card" data-name=f.name.clone()>
                                    <h2>{f.name.clone()}{(!f.display_name.is_empty()).then(|| format!(" · {}", f.display_name))}</h2>
                                    <dl class="facts">
                                        <dt>{text("Namespaces", "命名空间")}</dt><dd class="mono">{f.namespaces.join(", ")}</dd>
                                        <dt>{text("Quota per namespace", "每个命名空间的配额")}</dt><dd data-testid="tenant-quota">{if quota.is_empty() { "—".to_string() } else { quota }}</dd>
                                        <dt>{text("Pod security", "Pod 安全级别")}</dt><dd>{f.pod_security.clone()}</dd>
                                        <dt>{text("Host names", "可用域名")}</dt><dd class="mono">{f.hosts.join(", ")}</dd>
                                        <dt>{text("Image prefix", "镜像前缀")}</dt><dd class="mono">{f.image_prefix.clone()}</dd>
                                        <dt>{text("Members", "成员")}</dt><dd data-testid="tenant-members">{s.members}{(!s.admins.is_empty()).then(|| format!(" ({})", s.admins.join(", ")))}</dd>
                                    </dl>
                                    <QuotaUse usage=s.usage.clone()/>
                                    <div class="actions">
                                        <button class="small" data-testid="tenant-edit" on:click=move |_| fields.load(&edit_form)>{text("Edit", "编辑")}</button>
                                        <button class="danger small" data-testid="tenant-delete" on:click=move |_| ask_delete(name.clone())>{text("Delete…", "删除…")}</button>
                                    </div>
                                </section>
                            }
                        }).collect_view()}</div>
                    }.into_any(),
                })}
            </Transition>

            {move || plan.get().map(|p| match p {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="tenant-plan-error"/> }.into_any(),
                Ok(p) => {
                    let name = p.tenant.clone();
                    let needs = p.needs_confirmation();
                    let confirm_name = name.clone();
                    view! {
                        <section class="card danger-zone" data-testid="tenant-deletion">
                            <h2>{t("Delete tenant", "删除租户")}" "{name.clone()}</h2>
                            <p>{t("These namespaces are deleted with everything in them:", "以下命名空间及其中的一切都将被删除:")}" "<span class="mono">{p.namespaces.join(", ")}</span></p>
                            {(!p.workloads.is_empty()).then(|| view! {
                                <p>{t("Workloads that stop and are deleted:", "将被停止并删除的工作负载:")}</p>
                                <ul data-testid="tenant-deletion-workloads">{p.workloads.iter().map(|w| view! { <li class="mono">{w.clone()}</li> }).collect_view()}</ul>
                            })}
                            {(!p.members.is_empty()).then(|| view! {
                                <p>{t("Users who lose their membership (the users stay):", "将失去成员身份的用户(用户本身保留):")}" "{p.members.join(", ")}</p>
                            })}
                            {needs.then(|| view! {
                                <label>{t("Type the tenant's name to confirm", "输入租户名称以确认")}
                                    <input data-testid="tenant-delete-confirm" bind:value=typed/></label>
                            })}
                            <div class="actions">
                                <button class="danger" data-testid="tenant-delete-go"
                                    disabled=move || busy.get() || (needs && typed.get() != confirm_name)
                                    on:click=move |_| changes.run(TenantChange::Delete(name.clone(), typed.get_untracked()))>
                                    {t("Delete", "删除")}</button>
                                <button class="small" on:click=move |_| plan.set(None)>{t("Cancel", "取消")}</button>
                            </div>
                        </section>
                    }.into_any()
                }
            })}

            <form class="form card" data-testid="tenant-form" on:submit=submit novalidate=true>
                <h2>{move || if fields.editing.get().is_some() { t_now("Change tenant", "修改租户") } else { t_now("New tenant", "新建租户") }}</h2>
                <div class="row">
                    <label>{t("Name", "名称")}<input data-testid="tenant-name" placeholder="gamma" bind:value=fields.name
                        readonly=move || fields.editing.get().is_some()/></label>
                    <label>{t("Display name", "显示名称")}<input data-testid="tenant-display-name" placeholder="Gamma Logistics" bind:value=fields.display_name/></label>
                </div>
                <div class="row">
                    <label class="grow">{t("Namespaces (created when missing)", "命名空间(不存在时创建)")}
                        <input class="mono" data-testid="tenant-namespaces" placeholder="gamma, gamma-test" bind:value=fields.namespaces/></label>
                    <label class="grow">{t("Adopt existing namespaces (with everything in them)", "接管已存在的命名空间(连同其中的一切)")}
                        <input class="mono" data-testid="tenant-adopt" placeholder="legacy-shop" bind:value=fields.adopt/></label>
                </div>
                <fieldset class="row">
                    <legend>{t("Quota per namespace (empty: no limit)", "每个命名空间的配额(留空:不限制)")}</legend>
                    <label>{t("CPU", "CPU")}<input class="mono" data-testid="tenant-cpu" placeholder="2" bind:value=fields.cpu/></label>
                    <label>{t("Memory", "内存")}<input class="mono" data-testid="tenant-memory" placeholder="4Gi" bind:value=fields.memory/></label>
                    <label>{t("Pods", "Pod 数")}<input class="mono" data-testid="tenant-pods" placeholder="10" bind:value=fields.pods/></label>
                    <label>{t("Storage", "存储")}<input class="mono" data-testid="tenant-storage" placeholder="100Gi" bind:value=fields.storage/></label>
                </fieldset>
                <div class="row">
                    <label>{t("Pod security", "Pod 安全级别")}
                        <select data-testid="tenant-pod-security" on:change=move |ev| fields.pod_security.set(event_target_value(&ev))>
                            {["restricted", "baseline", "privileged"].into_iter().map(|l| view! {
                                <option value=l selected=move || fields.pod_security.get() == l>{l}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="grow">{t("Host names on nginx clusters", "nginx 集群上可用的域名")}
                        <input class="mono" data-testid="tenant-hosts" placeholder="*.gamma.example.com" bind:value=fields.hosts/></label>
                    <label class="grow">{t("Image prefix for pipelines", "流水线可推送的镜像前缀")}
                        <input class="mono" data-testid="tenant-image-prefix" placeholder="registry.example.com/gamma/" bind:value=fields.image_prefix/></label>
                </div>
                <div class="actions">
                    <button type="submit" class="primary" data-testid="tenant-save" disabled=move || busy.get()>
                        {move || if fields.editing.get().is_some() { t_now("Save", "保存") } else { t_now("Create tenant", "创建租户") }}
                    </button>
                    <Show when=move || fields.editing.get().is_some()>
                        <button type="button" class="small" on:click=move |_| fields.clear()>{t("Cancel", "取消")}</button>
                    </Show>
                </div>
            </form>
            <Outcome outcome=changes.message ok_testid="tenants-ok" error_testid="tenants-error"/>
        </div>
    }
}
