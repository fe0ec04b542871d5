//! `/admin/identity` (platform admins): the company directories and single sign-on providers
//! people sign in with. A list (how many users each has signed in), a form to add or edit an
//! LDAP / Active Directory directory or (`admin_identity_oidc`) an OpenID Connect provider,
//! "Test" that tries the settings step by step (and a user's sign-in when given), and delete.
//! Local accounts keep working whatever the providers do.

use crate::components::banner::{ErrorBanner, Outcome};
use crate::components::changes::Changes;
use crate::i18n::{t, t_now, tr};
use crate::identity::{
    check_ldap, delete_identity_provider, identity_providers, save_ldap_provider,
    save_oidc_provider, try_ldap_provider, LdapForm, LdapTrial, OidcForm, TrialReport,
};
use crate::pages::admin_identity_oidc::{OidcFields, OidcFormSection};
use leptos::prelude::*;

#[derive(Clone, Debug)]
pub enum Change {
    Save(Box<LdapForm>),
    SaveOidc(Box<OidcForm>),
    Delete(String),
}

/// A trial's steps, each passed or not, with what the other side said.
#[component]
pub fn TrialSteps(report: TrialReport) -> impl IntoView {
    view! {
        <ol class="trial-steps" data-testid="idp-trial">
            {report.steps.into_iter().map(|s| view! {
                <li data-testid="idp-trial-step" data-ok=if s.ok { "true" } else { "false" } class:bad=!s.ok>
                    {if s.ok { "✓ " } else { "✗ " }}{move || tr(&s.what)}
                    <div class="mono small muted">{s.detail.clone()}</div>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// A text field of the form bound to one of its strings.
#[component]
fn Field(
    label: (&'static str, &'static str),
    value: RwSignal<String>,
    testid: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] password: bool,
) -> impl IntoView {
    view! {
        <label>{t(label.0, label.1)}
            <input data-testid=testid placeholder=placeholder type=if password { "password" } else { "text" }
                autocomplete="off" bind:value=value/></label>
    }
}

#[component]
pub fn AdminIdentityPage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let list = Resource::new(move || tick.get(), |_| identity_providers());
    let blank = LdapForm::openldap();
    let name = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let disabled = RwSignal::new(false);
    let url = RwSignal::new(String::new());
    let start_tls = RwSignal::new(false);
    let ca_pem = RwSignal::new(String::new());
    let bind_dn = RwSignal::new(String::new());
    let bind_password = RwSignal::new(String::new());
    let user_base = RwSignal::new(String::new());
    let user_filter = RwSignal::new(blank.user_filter.clone());
    let group_base = RwSignal::new(String::new());
    let group_filter = RwSignal::new(blank.group_filter.clone());
    let display_attr = RwSignal::new(blank.display_name_attribute.clone());
    let email_attr = RwSignal::new(blank.email_attribute.clone());
    let group_attr = RwSignal::new(blank.group_name_attribute.clone());
    let editing = RwSignal::new(false);
    // which form shows: "ldap" or "oidc"
    let kind = RwSignal::new("ldap");
    let oidc = OidcFields::new();
    Effect::new(move |_| {
        if let Some(Ok(rows)) = list.get() {
            oidc.adopt_redirect(&rows);
        }
    });
    let load = move |f: LdapForm, is_edit: bool| {
        kind.set("ldap");
        name.set(f.name);
        display_name.set(f.display_name);
        disabled.set(f.disabled);
        url.set(f.url);
        start_tls.set(f.start_tls);
        ca_pem.set(f.ca_pem);
        bind_dn.set(f.bind_dn);
        bind_password.set(String::new());
        user_base.set(f.user_base);
        user_filter.set(f.user_filter);
        group_base.set(f.group_base);
        group_filter.set(f.group_filter);
        display_attr.set(f.display_name_attribute);
        email_attr.set(f.email_attribute);
        group_attr.set(f.group_name_attribute);
        editing.set(is_edit);
    };
    let form = move || LdapForm {
        name: name.get_untracked().trim().to_string(),
        display_name: display_name.get_untracked(),
        disabled: disabled.get_untracked(),
        url: url.get_untracked(),
        start_tls: start_tls.get_untracked(),
        ca_pem: ca_pem.get_untracked(),
        bind_dn: bind_dn.get_untracked(),
        bind_password: bind_password.get_untracked(),
        user_base: user_base.get_untracked(),
        user_filter: user_filter.get_untracked(),
        group_base: group_base.get_untracked(),
        group_filter: group_filter.get_untracked(),
        display_name_attribute: display_attr.get_untracked(),
        email_attribute: email_attr.get_untracked(),
        group_name_attribute: group_attr.get_untracked(),
    };
    let changes = Changes::new(
        tick,
        |change| async move {
            match change {
                Change::Save(form) => save_ldap_provider(*form).await,
                Change::SaveOidc(form) => save_oidc_provider(*form).await,
                Change::Delete(name) => delete_identity_provider(name).await,
            }
        },
        |change| match change {
            Change::Save(_) => ("Directory saved.", "已保存目录。"),
            Change::SaveOidc(_) => ("Provider saved.", "已保存身份源。"),
            Change::Delete(_) => (
                "Provider deleted; its people can no longer sign in.",
                "已删除身份源;其用户将无法登录。",
            ),
        },
        move |change| match change {
            Change::Save(_) => {
                bind_password.set(String::new());
                editing.set(true);
            }
            Change::SaveOidc(_) => oidc.saved(),
            Change::Delete(_) => {}
        },
    );
    let busy = changes.busy;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let f = form();
        if let Err(why) = check_ldap(&f, editing.get_untracked()) {
            changes.refuse(why);
            return;
        }
        changes.run(Change::Save(Box::new(f)));
    };
    let delete = move |name: String| {
        let question = format!(
            "{} {name}?",
            t_now("Delete identity provider", "删除身份源")
        );
        if window().confirm_with_message(&question).unwrap_or(false) {
            changes.run(Change::Delete(name));
        }
    };
    // the trial
    let trial_user = RwSignal::new(String::new());
    let trial_password = RwSignal::new(String::new());
    let trial = Action::new(move |t: &LdapTrial| try_ldap_provider(t.clone()));
    let run_trial = move |_| {
        let f = form();
        if let Err(why) = check_ldap(&f, editing.get_untracked()) {
            changes.refuse(why);
            return;
        }
        trial.dispatch(LdapTrial {
            form: f,
            username: trial_user.get_untracked().trim().to_string(),
            password: trial_password.get_untracked(),
        });
    };
    let trial_error = Signal::derive(move || trial.value().get().and_then(Result::err));
    view! {
        <div class="page admin-identity">
            <h1>{t("Sign-in providers", "登录身份源")}</h1>
            <p class="muted">{t(
                "People sign in with their company directory's user name and password (LDAP or Active Directory), or through your single sign-on (OpenID Connect: Keycloak, Dex, Entra ID, Okta…); Wharf never keeps those passwords. Tenants map the providers' groups to roles on their members page. Local accounts, the first admin's among them, keep working even when a provider is down.",
                "用户用公司目录(LDAP 或 Active Directory)的用户名和密码登录,或通过单点登录(OpenID Connect:Keycloak、Dex、Entra ID、Okta 等)登录;Wharf 从不保存这些密码。各租户在成员页把身份源的组映射为角色。本地账号(包括首个管理员)在身份源不可用时仍可登录。")}</p>
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="idp-load-error"/> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <p class="muted" data-testid="idp-empty">{t("No provider yet: only local accounts sign in.", "尚无身份源:只有本地账号可以登录。")}</p>
                    }.into_any(),
                    Ok(rows) => view! {
                        <table class="table" data-testid="idp-table">
                            <thead><tr>
                                <th>{t("Name", "名称")}</th><th>{t("Kind", "类型")}</th><th>{t("Address", "地址")}</th>
                                <th>{t("Users", "用户数")}</th><th>{t("State", "状态")}</th><th></th>
                            </tr></thead>
                            <tbody>{rows.into_iter().map(|p| {
                                let (edit_form, del_name) = (p.form.clone(), p.name.clone());
                                let (edit_oidc, redirect) = (p.oidc.clone(), p.redirect_uri.clone());
                                let is_oidc = edit_oidc.is_some();
                                let edit = move |_| match edit_oidc.clone() {
                                    Some(o) => {
                                        kind.set("oidc");
                                        oidc.load(o, redirect.clone());
                                    }
                                    None => load(edit_form.clone(), true),
                                };
                                view! {
                                    <tr data-testid="idp-row" data-name=p.name.clone() class:muted=p.disabled>
                                        <td class="mono">{p.name.clone()}<div class="muted">{p.display_name.clone()}</div></td>
                                        <td data-testid="idp-kind-cell">{if is_oidc { "OpenID Connect" } else { "LDAP" }}</td>
                                        <td class="mono">{p.url.clone()}</td>
                                        <td data-testid="idp-users">{p.users}</td>
                                        <td>{p.disabled.then(|| view! { <span class="badge warn">{t("disabled", "已禁用")}</span> })}</td>
                                        <td class="actions">
                                            <button class="small" data-testid="idp-edit" on:click=edit>{t("Edit", "编辑")}</button>
                                            <button class="small danger" data-testid="idp-delete" disabled=move || busy.get()
                                                on:click=move |_| delete(del_name.clone())>{t("Delete", "删除")}</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}</tbody>
                        </table>
                    }.into_any(),
                })}
            </Transition>
            <Outcome outcome=changes.message ok_testid="idp-ok" error_testid="idp-error"/>
            <div class="row">
                <label>{t("Add", "添加")}
                    <select data-testid="idp-kind" prop:value=move || kind.get()
                        on:change=move |ev| {
                            if event_target_value(&ev) == "oidc" {
                                kind.set("oidc");
                                oidc.load(OidcForm::usual(), None);
                            } else {
                                load(LdapForm::openldap(), false);
                            }
                        }>
                        <option value="ldap">{t("LDAP / Active Directory", "LDAP / Active Directory")}</option>
                        <option value="oidc">"OpenID Connect"</option>
                    </select></label>
            </div>
            <Show when=move || kind.get() == "oidc">
                <OidcFormSection fields=oidc changes/>
            </Show>
            <form class="form card" data-testid="idp-form" on:submit=save novalidate=true class:hidden=move || kind.get() != "ldap">
                <h2>{move || if editing.get() { t_now("Edit directory", "编辑目录") } else { t_now("Add an LDAP / Active Directory directory", "添加 LDAP / Active Directory 目录") }}
                    {move || editing.get().then(|| view! {
                        <button type="button" class="small" data-testid="idp-new" on:click=move |_| load(LdapForm::openldap(), false)>{t("New", "新建")}</button>
                    })}</h2>
                <div class="row">
                    <label>{t("Name", "名称")}<input data-testid="idp-name" placeholder="corp" bind:value=name prop:readonly=move || editing.get()/></label>
                    <Field label=("Shown as", "显示名") value=display_name testid="idp-display-name" placeholder="Example Corp"/>
                    <label class="check"><input type="checkbox" data-testid="idp-disabled" bind:checked=disabled/>{t("Disabled", "停用")}</label>
                </div>
                <div class="row">
                    <Field label=("URL", "URL") value=url testid="idp-url" placeholder="ldaps://ldap.example.com:636"/>
                    <label class="check"><input type="checkbox" data-testid="idp-starttls" bind:checked=start_tls/>"StartTLS"</label>
                </div>
                <label>{t("CA certificates (PEM, when the directory's certificate is not from a public CA)", "CA 证书(PEM;目录证书不是公共 CA 签发时填写)")}
                    <textarea class="mono" rows="3" data-testid="idp-ca" bind:value=ca_pem></textarea></label>
                <div class="row">
                    <Field label=("Bind DN", "绑定 DN") value=bind_dn testid="idp-bind-dn" placeholder="cn=wharf,ou=services,dc=example,dc=com"/>
                    <label>{move || if editing.get() { t_now("Bind password (empty: keep)", "绑定密码(留空:不变)") } else { t_now("Bind password", "绑定密码") }}
                        <input type="password" autocomplete="off" data-testid="idp-bind-password" bind:value=bind_password/></label>
                </div>
                <div class="row">
                    <Field label=("User search base", "用户搜索基准") value=user_base testid="idp-user-base" placeholder="ou=people,dc=example,dc=com"/>
                    <Field label=("User filter", "用户过滤器") value=user_filter testid="idp-user-filter"/>
                </div>
                <div class="row">
                    <Field label=("Group search base", "组搜索基准") value=group_base testid="idp-group-base" placeholder="ou=groups,dc=example,dc=com"/>
                    <Field label=("Group filter", "组过滤器") value=group_filter testid="idp-group-filter"/>
                </div>
                <div class="row">
                    <Field label=("Display name attribute", "显示名属性") value=display_attr testid="idp-attr-name"/>
                    <Field label=("E-mail attribute", "邮箱属性") value=email_attr testid="idp-attr-mail"/>
                    <Field label=("Group name attribute", "组名属性") value=group_attr testid="idp-attr-group"/>
                </div>
                <p class="muted small">{t(
                    "Active Directory: user filter (sAMAccountName={username}), group filter (&(objectClass=group)(member={dn})), display name attribute displayName.",
                    "Active Directory:用户过滤器 (sAMAccountName={username}),组过滤器 (&(objectClass=group)(member={dn})),显示名属性 displayName。")}</p>
                <div class="row trial">
                    <Field label=("Test with user (optional)", "测试用户(可选)") value=trial_user testid="idp-trial-user"/>
                    <Field label=("Their password (optional)", "其密码(可选)") value=trial_password testid="idp-trial-password" password=true/>
                    <button type="button" data-testid="idp-test" disabled=move || trial.pending().get() on:click=run_trial>{t("Test settings", "测试设置")}</button>
                </div>
                <ErrorBanner error=trial_error testid="idp-trial-error"/>
                {move || trial.value().get().and_then(Result::ok).map(|report: TrialReport| view! {
                    <TrialSteps report=report.clone()/>
                    {report.user.map(|u| view! {
                        <p data-testid="idp-trial-user-found">{u.display_name}" · "{u.email}" · "
                            {t("groups", "组")}": "<span data-testid="idp-trial-groups">{u.groups.join(", ")}</span></p>
                    })}
                })}
                <button type="submit" class="primary" data-testid="idp-save" disabled=move || busy.get()>{t("Save", "保存")}</button>
            </form>
        </div>
    }
}
