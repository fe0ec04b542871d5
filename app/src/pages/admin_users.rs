//! `/admin/users` (platform admins): every user with their tenants, state and last login; a
//! form to create one with a one-time password; per user: a new one-time password, disable or
//! enable, platform admin or not, delete. Each of these ends the user's sessions.

use crate::admin::{
    check_name, check_password, create_user, delete_user, reset_password, set_platform_admin,
    set_user_disabled, users, NewUserForm,
};
use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::i18n::{t, t_now};
use crate::pages::tenant::role_words;
use leptos::prelude::*;

#[derive(Clone, Debug)]
enum UserChange {
    Create(NewUserForm),
    Reset(String, String),
    Disabled(String, bool),
    PlatformAdmin(String, bool),
    Delete(String),
}

/// "2026-12-04T15:30:00.123+00:00" as "2026-12-04 15:30".
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| users());
    let name = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let platform_admin = RwSignal::new(false);
    let resetting = RwSignal::new(None::<String>);
    let reset_to = RwSignal::new(String::new());
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                UserChange::Create(form) => create_user(form).await,
                UserChange::Reset(user, pw) => reset_password(user, pw).await,
                UserChange::Disabled(user, d) => set_user_disabled(user, d).await,
                UserChange::PlatformAdmin(user, a) => set_platform_admin(user, a).await,
                UserChange::Delete(user) => delete_user(user).await,
            }
        },
        |change| {
            match change {
            UserChange::Create(_) => (
                "User created. Give them the one-time password; they choose their own at first login.",
                "已创建用户。请把一次性密码告诉对方,首次登录时需设置自己的密码。",
            ),
            UserChange::Reset(..) => (
                "New one-time password set; the user's sessions have ended.",
                "已设置新的一次性密码;该用户的登录会话已失效。",
            ),
            UserChange::Disabled(_, true) => ("User disabled; their sessions have ended.", "已禁用用户;其登录会话已失效。"),
            UserChange::Disabled(_, false) => ("User enabled.", "已启用用户。"),
            UserChange::PlatformAdmin(..) => ("Platform-admin right changed.", "已修改平台管理员权限。"),
            UserChange::Delete(_) => ("User deleted.", "已删除用户。"),
        }
        },
        move |change| match change {
            UserChange::Create(_) => {
                name.set(String::new());
                display_name.set(String::new());
                password.set(String::new());
                platform_admin.set(false);
            }
            UserChange::Reset(..) => {
                resetting.set(None);
                reset_to.set(String::new());
            }
            _ => {}
        },
    );
    let busy = changes.busy;
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = NewUserForm {
            name: name.get_untracked().trim().to_string(),
            display_name: display_name.get_untracked().trim().to_string(),
            password: password.get_untracked(),
            platform_admin: platform_admin.get_untracked(),
        };
        if let Err(why) = check_name(&wharf_api::text!("user", "用户"), &form.name)
            .and_then(|()| check_password(&form.password))
        {
            changes.refuse(why);
            return;
        }
        changes.run(UserChange::Create(form));
    };
    let reset = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(user) = resetting.get_untracked() else {
            return;
        };
        let pw = reset_to.get_untracked();
        if let Err(why) = check_password(&pw) {
            changes.refuse(why);
            return;
        }
        changes.run(UserChange::Reset(user, pw));
    };
    let delete = move |user: String| {
        let question = format!("{} {user}?", t_now("Delete user", "删除用户"));
        if window().confirm_with_message(&question).unwrap_or(false) {
            changes.run(UserChange::Delete(user));
        }
    };
    view! {
        <div class="page admin-users">
            <h1>{t("Users", "用户管理")}</h1>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="users-load-error"/> }.into_any(),
                    Ok(rows) => view! {
                        <table class="table" data-testid="users-table">
                            <thead><tr>
                                <th>{t("User", "用户")}</th><th>{t("Name", "姓名")}</th><th>{t("Tenants", "租户")}</th>
                                <th>{t("Last login", "上次登录")}</th><th>{t("Failed logins", "登录失败")}</th><th>{t("State", "状态")}</th><th></th>
                            </tr></thead>
                            <tbody>{rows.into_iter().map(|u| {
                                let (n1, n2, n3, n4) = (u.name.clone(), u.name.clone(), u.name.clone(), u.name.clone());
                                let (disabled, admin) = (u.disabled, u.platform_admin);
                                let tenants = u.memberships.iter().map(|(tn, role)| {
                                    let (en, zh) = role_words(*role);
                                    let tn = tn.clone();
                                    view! { <span class="chip">{tn}" · "{t(en, zh)}</span> }
                                }).collect_view();
                                view! {
                                    <tr data-testid="user-row" data-name=u.name.clone() class:muted=disabled>
                                        <td class="mono">{u.name.clone()}</td>
                                        <td>{u.display_name.clone()}</td>
                                        <td>{tenants}</td>
                                        <td data-testid="user-last-login">{u.last_login.as_deref().map(short_time).unwrap_or_else(|| "—".into())}</td>
                                        <td data-testid="user-failed-logins" class:warn={u.failed_logins >= 5}
                                            title=u.last_failed_login.as_deref().map(short_time).unwrap_or_default()>
                                            {if u.failed_logins == 0 { "—".to_string() } else {
                                                format!("{} ({})", u.failed_logins, u.last_failed_login.as_deref().map(short_time).unwrap_or_default())
                                            }}</td>
                                        <td>
                                            {admin.then(|| view! { <span class="badge" data-testid="user-admin">{t("platform admin", "平台管理员")}</span> })}
                                            {disabled.then(|| view! { <span class="badge warn" data-testid="user-disabled">{t("disabled", "已禁用")}</span> })}
                                            {u.must_change_password.then(|| view! { <span class="badge" data-testid="user-must-change">{t("one-time password", "一次性密码")}</span> })}
                                        </td>
                                        <td class="actions">
                                            <button class="small" data-testid="user-reset" on:click=move |_| { reset_to.set(String::new()); resetting.set(Some(n1.clone())) }>{t("New password", "重置密码")}</button>
                                            <button class="small" data-testid="user-toggle-disabled" disabled=move || busy.get()
                                                on:click=move |_| changes.run(UserChange::Disabled(n2.clone(), !disabled))>
                                                {if disabled { t("Enable", "启用") } else { t("Disable", "禁用") }}</button>
                                            <button class="small" data-testid="user-toggle-admin" disabled=move || busy.get()
                                                on:click=move |_| changes.run(UserChange::PlatformAdmin(n3.clone(), !admin))>
                                                {if admin { t("Not platform admin", "取消平台管理员") } else { t("Make platform admin", "设为平台管理员") }}</button>
                                            <button class="danger small" data-testid="user-delete" disabled=move || busy.get()
                                                on:click=move |_| delete(n4.clone())>{t("Delete", "删除")}</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            {move || resetting.get().map(|user| view! {
                <form class="form row card" data-testid="reset-form" on:submit=reset novalidate=true>
                    <span>{t("New one-time password for", "新的一次性密码,用户")}" "<b class="mono">{user}</b></span>
                    <label class="grow"><input type="text" class="mono" data-testid="reset-password" autocomplete="off" bind:value=reset_to/></label>
                    <button type="submit" data-testid="reset-go" disabled=move || busy.get()>{t("Set", "设置")}</button>
                    <button type="button" class="small" on:click=move |_| resetting.set(None)>{t("Cancel", "取消")}</button>
                </form>
            })}
            <form class="form card" data-testid="user-form" on:submit=create novalidate=true>
                <h2>{t("New user", "新建用户")}</h2>
                <div class="row">
                    <label>{t("User name", "用户名")}<input class="mono" data-testid="user-name-input" placeholder="carol" bind:value=name/></label>
                    <label>{t("Display name", "显示名称")}<input data-testid="user-display-name" placeholder="Carol Chen" bind:value=display_name/></label>
                    <label>{t("One-time password", "一次性密码")}<input type="text" class="mono" data-testid="user-password" autocomplete="off" bind:value=password/></label>
                    <label class="check"><input type="checkbox" data-testid="user-platform-admin" bind:checked=platform_admin/>{t("Platform admin", "平台管理员")}</label>
                </div>
                <p class="muted">{t(
                    "The user must choose their own password at first login. Add them to tenants on each tenant's page.",
                    "用户首次登录时必须设置自己的密码。请在各租户页面把用户加入租户。")}</p>
                <button type="submit" class="primary" data-testid="user-create" disabled=move || busy.get()>{t("Create user", "创建用户")}</button>
            </form>
            <Outcome outcome=changes.message ok_testid="users-ok" error_testid="users-error"/>
        </div>
    }
}
