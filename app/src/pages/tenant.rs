//! `/t/:tenant/tenant`: the tenant as its members see it — namespaces, quota use (a warning
//! from 80 %), pod security, host names and image prefix — and, for its admins, its members
//! (add an existing user, change a role, remove) and the directory groups that give roles,
//! with the members who have one through them shown apart.

use crate::admin::{add_member, members, remove_member, set_member_role, tenant_overview, Usage};
use crate::auth::Role;
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::components::shell::use_me;
use crate::i18n::t;
use crate::pages::param;
use leptos::prelude::*;

/// The words for a role.
pub fn role_words(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Viewer => ("viewer", "访客"),
        Role::Developer => ("developer", "开发者"),
        Role::Admin => ("admin", "管理员"),
    }
}

/// A role from its label (`viewer`, `developer`, `admin`).
pub fn role_of_label(label: &str) -> Role {
    match label {
        "admin" => Role::Admin,
        "developer" => Role::Developer,
        _ => Role::Viewer,
    }
}

/// A `<select>` of the three roles.
#[component]
pub fn RoleSelect(
    value: RwSignal<Role>,
    #[prop(optional)] testid: Option<&'static str>,
    #[prop(optional, into)] disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        <select data-testid=testid.unwrap_or("role-select") disabled=move || disabled.get()
            on:change=move |ev| value.set(role_of_label(&event_target_value(&ev)))>
            {[Role::Viewer, Role::Developer, Role::Admin].into_iter().map(|r| {
                let (en, zh) = role_words(r);
                view! { <option value=r.label() selected=move || value.get() == r>{t(en, zh)}</option> }
            }).collect_view()}
        </select>
    }
}

/// Quota use of each namespace, as bars.
#[component]
pub fn QuotaUse(usage: Vec<crate::admin::NamespaceUsage>) -> impl IntoView {
    if usage.is_empty() {
        return view! { <p class="muted" data-testid="quota-none">{t("No quota: the namespaces may use what the cluster has.", "未设配额:命名空间可使用集群的全部资源。")}</p> }.into_any();
    }
    view! {
        <table class="table quota" data-testid="quota-table">
            <thead><tr><th>{t("Namespace", "命名空间")}</th><th>{t("Resource", "资源")}</th><th>{t("Used / limit", "已用 / 上限")}</th><th></th></tr></thead>
            <tbody>{usage.into_iter().flat_map(|ns| {
                let namespace = ns.namespace.clone();
                ns.resources.into_iter().map(move |u: Usage| {
                    let warns = u.warns();
                    let pct = (u.fraction * 100.0).clamp(0.0, 100.0);
                    view! {
                        <tr data-testid="quota-row" data-namespace=namespace.clone() data-resource=u.resource.clone() class:warn=warns>
                            <td>{namespace.clone()}</td>
                            <td class="mono">{u.resource.clone()}</td>
                            <td class="mono" data-testid="quota-used">{format!("{} / {}", u.used, u.hard)}</td>
                            <td class="bar-cell">
                                <div class="bar"><div class="fill" style=format!("width:{pct:.0}%")></div></div>
                                {warns.then(|| view! { <span class="badge warn" data-testid="quota-warning">{t("80 % or more used", "已用 80% 以上")}</span> })}
                            </td>
                        </tr>
                    }
                }).collect::<Vec<_>>()
            }).collect_view()}</tbody>
        </table>
    }.into_any()
}

#[component]
pub fn TenantPage() -> impl IntoView {
    let tenant = param("tenant");
    let me = use_me();
    let is_admin = Memo::new(move |_| {
        me.with(|m| {
            m.as_ref()
                .and_then(|m| m.tenant(&tenant.get()))
                .is_some_and(|a| a.role == Role::Admin)
        })
    });
    let overview = Resource::new(move || tenant.get(), tenant_overview);
    view! {
        <div class="page tenant-page">
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || overview.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="tenant-load-error"/> }.into_any(),
                    Ok(s) => {
                        let f = s.form.clone();
                        let level = f.pod_security.clone();
                        view! {
                            <h1 data-testid="tenant-title">{if f.display_name.is_empty() { f.name.clone() } else { f.display_name.clone() }}</h1>
                            <dl class="facts">
                                <dt>{t("Namespaces", "命名空间")}</dt><dd class="mono" data-testid="tenant-namespaces">{f.namespaces.join(", ")}</dd>
                                <dt>{t("Pod security", "Pod 安全级别")}</dt><dd data-testid="tenant-pod-security">{level}</dd>
                                <dt>{t("Host names", "可用域名")}</dt><dd class="mono">{if f.hosts.is_empty() { "—".to_string() } else { f.hosts.join(", ") }}</dd>
                                <dt>{t("Image prefix", "镜像前缀")}</dt><dd class="mono">{if f.image_prefix.is_empty() { "—".to_string() } else { f.image_prefix.clone() }}</dd>
                                <dt>{t("Admins", "管理员")}</dt><dd>{s.admins.join(", ")}</dd>
                            </dl>
                            <h2>{t("Quota use", "配额使用")}</h2>
                            <QuotaUse usage=s.usage.clone()/>
                        }.into_any()
                    }
                })}
            </Transition>
            <Show when=move || is_admin.get()>
                <Members tenant/>
                <GroupMappings tenant/>
            </Show>
        </div>
    }
}

#[derive(Clone, Debug)]
enum MemberChange {
    Add(String, Role),
    Role(String, Role),
    Remove(String),
}

#[component]
fn Members(tenant: Memo<String>) -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || (tenant.get(), tick.get()), |(tn, _)| members(tn));
    let new_user = RwSignal::new(String::new());
    let new_role = RwSignal::new(Role::Developer);
    let changes = Changes::new(
        tick,
        move |change| {
            let tn = tenant.get_untracked();
            async move {
                match change {
                    MemberChange::Add(user, role) => add_member(tn, user, role).await,
                    MemberChange::Role(user, role) => set_member_role(tn, user, role).await,
                    MemberChange::Remove(user) => remove_member(tn, user).await,
                }
            }
        },
        |change| match change {
            MemberChange::Add(..) => ("Member added.", "已添加成员。"),
            MemberChange::Role(..) => (
                "Role changed; the member's sessions have ended.",
                "已修改角色;该成员需重新登录。",
            ),
            MemberChange::Remove(_) => (
                "Member removed; their sessions have ended.",
                "已移除成员;其登录会话已失效。",
            ),
        },
        move |change| {
            if let MemberChange::Add(..) = change {
                new_user.set(String::new());
            }
        },
    );
    let busy = changes.busy;
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let user = new_user.get_untracked().trim().to_string();
        if user.is_empty() {
            changes.refuse(wharf_api::text!("Type a user name.", "请输入用户名。"));
            return;
        }
        changes.run(MemberChange::Add(user, new_role.get_untracked()));
    };
    view! {
        <section class="members" data-testid="members">
            <h2>{t("Members", "成员")}</h2>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="members-load-error"/> }.into_any(),
                    Ok(rows) => view! {
                        <table class="table" data-testid="members-table">
                            <thead><tr><th>{t("User", "用户")}</th><th>{t("Name", "姓名")}</th><th>{t("Role", "角色")}</th><th></th></tr></thead>
                            <tbody>{rows.into_iter().map(|m| {
                                let role = RwSignal::new(m.role);
                                let (u1, u2) = (m.user.clone(), m.user.clone());
                                Effect::new(move |prev: Option<Role>| {
                                    let now = role.get();
                                    if prev.is_some_and(|p| p != now) {
                                        changes.run(MemberChange::Role(u1.clone(), now));
                                    }
                                    now
                                });
                                view! {
                                    <tr data-testid="member-row" data-user=m.user.clone()>
                                        <td class="mono">{m.user.clone()}</td>
                                        <td>{m.display_name.clone()}</td>
                                        <td><RoleSelect value=role testid="member-role" disabled=busy/></td>
                                        <td><button class="danger small" data-testid="member-remove" disabled=move || busy.get()
                                            on:click=move |_| changes.run(MemberChange::Remove(u2.clone()))>{t("Remove", "移除")}</button></td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            <form class="form row" data-testid="member-form" on:submit=add novalidate=true>
                <label>{t("User name", "用户名")}<input data-testid="member-user" placeholder="carol" bind:value=new_user/></label>
                <label>{t("Role", "角色")}<RoleSelect value=new_role testid="member-new-role"/></label>
                <button type="submit" data-testid="member-add" disabled=move || busy.get()>{t("Add member", "添加成员")}</button>
            </form>
            <Outcome outcome=changes.message ok_testid="members-ok" error_testid="members-error"/>
        </section>
    }
}

/// The tenant's directory groups → roles, and who has a role through them.
#[component]
fn GroupMappings(tenant: Memo<String>) -> impl IntoView {
    use crate::identity::{group_roles, set_group_roles, GroupRoleRow};
    let tick = RwSignal::new(0u64);
    let loaded = Resource::new(
        move || (tenant.get(), tick.get()),
        |(tn, _)| group_roles(tn),
    );
    let rows = RwSignal::new(Vec::<GroupRoleRow>::new());
    Effect::new(move |_| {
        if let Some(Ok(g)) = loaded.get() {
            rows.set(g.rows);
        }
    });
    let provider = RwSignal::new(String::new());
    let group = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Developer);
    let changes = Changes::new(
        tick,
        move |rows: Vec<GroupRoleRow>| {
            let tn = tenant.get_untracked();
            async move { set_group_roles(tn, rows).await }
        },
        |_| {
            (
                "Group mappings saved; members' roles follow at once.",
                "已保存组映射;成员角色立即生效。",
            )
        },
        move |_| group.set(String::new()),
    );
    let busy = changes.busy;
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut next = rows.get_untracked();
        next.push(GroupRoleRow {
            provider: provider.get_untracked(),
            group: group.get_untracked().trim().to_string(),
            role: role.get_untracked(),
        });
        if let Err(why) = wharf_api::identity::check_group_roles(&next) {
            changes.refuse(why);
            return;
        }
        changes.run(next);
    };
    let remove = move |i: usize| {
        let mut next = rows.get_untracked();
        next.remove(i);
        changes.run(next);
    };
    view! {
        <section class="group-mappings" data-testid="group-mappings">
            <h2>{t("Directory groups", "目录组")}</h2>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || loaded.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="groups-load-error"/> }.into_any(),
                    Ok(g) if g.providers.is_empty() => view! {
                        <p class="muted" data-testid="groups-no-directory">{t(
                            "No sign-in directory is set up: a platform admin adds one under Sign-in.",
                            "尚未配置登录目录:请平台管理员在“登录目录”中添加。")}</p>
                    }.into_any(),
                    Ok(g) => {
                        if provider.get_untracked().is_empty() {
                            provider.set(g.providers[0].clone());
                        }
                        let providers = g.providers.clone();
                        view! {
                            <table class="table" data-testid="groups-table">
                                <thead><tr><th>{t("Directory", "目录")}</th><th>{t("Group", "组")}</th><th>{t("Role", "角色")}</th><th></th></tr></thead>
                                <tbody>{g.rows.into_iter().enumerate().map(|(i, r)| {
                                    let (en, zh) = role_words(r.role);
                                    view! {
                                        <tr data-testid="group-row" data-group=r.group.clone()>
                                            <td class="mono">{r.provider.clone()}</td>
                                            <td class="mono">{r.group.clone()}</td>
                                            <td>{t(en, zh)}</td>
                                            <td><button class="danger small" data-testid="group-remove" disabled=move || busy.get()
                                                on:click=move |_| remove(i)>{t("Remove", "移除")}</button></td>
                                        </tr>
                                    }
                                }).collect_view()}</tbody>
                            </table>
                            <form class="form row" data-testid="group-form" on:submit=add novalidate=true>
                                <label>{t("Directory", "目录")}
                                    <select data-testid="group-provider" on:change=move |ev| provider.set(event_target_value(&ev))>
                                        {providers.into_iter().map(|p| {
                                            let v = p.clone();
                                            view! { <option value=p.clone() selected=move || provider.get() == v>{p.clone()}</option> }
                                        }).collect_view()}
                                    </select></label>
                                <label>{t("Group", "组")}<input data-testid="group-name" placeholder="alpha-devs" bind:value=group/></label>
                                <label>{t("Role", "角色")}<RoleSelect value=role testid="group-role"/></label>
                                <button type="submit" data-testid="group-add" disabled=move || busy.get()>{t("Map group", "添加映射")}</button>
                            </form>
                            <h3>{t("Members through groups", "通过组获得角色的成员")}</h3>
                            {if g.mapped.is_empty() {
                                view! { <p class="muted" data-testid="groups-mapped-none">{t("Nobody yet: people appear here after they sign in.", "暂无:用户登录后显示在此。")}</p> }.into_any()
                            } else {
                                view! {
                                    <table class="table" data-testid="groups-mapped">
                                        <thead><tr><th>{t("User", "用户")}</th><th>{t("Name", "姓名")}</th><th>{t("Role", "角色")}</th><th>{t("Through", "来自组")}</th></tr></thead>
                                        <tbody>{g.mapped.into_iter().map(|m| {
                                            let (en, zh) = role_words(m.role);
                                            view! {
                                                <tr data-testid="mapped-row" data-user=m.user.clone()>
                                                    <td class="mono">{m.user.clone()}</td>
                                                    <td>{m.display_name.clone()}</td>
                                                    <td data-testid="mapped-role">{t(en, zh)}</td>
                                                    <td class="mono">{m.through.join(", ")}</td>
                                                </tr>
                                            }
                                        }).collect_view()}</tbody>
                                    </table>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                })}
            </Transition>
            <Outcome outcome=changes.message ok_testid="groups-ok" error_testid="groups-error"/>
        </section>
    }
}
