//! The OpenID Connect form of `/admin/identity`: issuer, client, claims; the redirect URI to
//! register at the provider; "Test" (discovery, keys, the client's credentials) and save.

use super::admin_identity::{Change, TrialSteps};
use crate::components::banner::ErrorBanner;
use crate::components::changes::Changes;
use crate::i18n::{t, t_now};
use crate::identity::{check_oidc, try_oidc_provider, OidcForm, ProviderSummary};
use leptos::prelude::*;

/// The form's fields, shared with the page (its list's Edit fills them).
#[derive(Clone, Copy)]
pub struct OidcFields {
    name: RwSignal<String>,
    display_name: RwSignal<String>,
    disabled: RwSignal<bool>,
    issuer: RwSignal<String>,
    client_id: RwSignal<String>,
    client_secret: RwSignal<String>,
    scopes: RwSignal<String>,
    username_claim: RwSignal<String>,
    groups_claim: RwSignal<String>,
    /// Editing a saved provider (an empty secret keeps the stored one; the name is fixed).
    pub editing: RwSignal<bool>,
    /// The redirect URI the console reported for a saved provider.
    redirect_uri: RwSignal<Option<String>>,
}

impl OidcFields {
    pub fn new() -> OidcFields {
        let f = OidcForm::usual();
        OidcFields {
            name: RwSignal::new(String::new()),
            display_name: RwSignal::new(String::new()),
            disabled: RwSignal::new(false),
            issuer: RwSignal::new(String::new()),
            client_id: RwSignal::new(String::new()),
            client_secret: RwSignal::new(String::new()),
            scopes: RwSignal::new(f.scopes),
            username_claim: RwSignal::new(f.username_claim),
            groups_claim: RwSignal::new(f.groups_claim),
            editing: RwSignal::new(false),
            redirect_uri: RwSignal::new(None),
        }
    }

    /// Shows `f` (a saved provider when `redirect_uri` is known, else a new one).
    pub fn load(self, f: OidcForm, redirect_uri: Option<String>) {
        self.name.set(f.name);
        self.display_name.set(f.display_name);
        self.disabled.set(f.disabled);
        self.issuer.set(f.issuer);
        self.client_id.set(f.client_id);
        self.client_secret.set(String::new());
        self.scopes.set(f.scopes);
        self.username_claim.set(f.username_claim);
        self.groups_claim.set(f.groups_claim);
        self.editing.set(redirect_uri.is_some());
        self.redirect_uri.set(redirect_uri);
    }

    fn form(self) -> OidcForm {
        OidcForm {
            name: self.name.get_untracked().trim().to_string(),
            display_name: self.display_name.get_untracked(),
            disabled: self.disabled.get_untracked(),
            issuer: self.issuer.get_untracked(),
            client_id: self.client_id.get_untracked(),
            client_secret: self.client_secret.get_untracked(),
            scopes: self.scopes.get_untracked(),
            username_claim: self.username_claim.get_untracked(),
            groups_claim: self.groups_claim.get_untracked(),
        }
    }

    /// After a save: the secret is stored, the provider is being edited.
    pub fn saved(self) {
        self.client_secret.set(String::new());
        self.editing.set(true);
    }

    /// A provider just added: once the list is read again, its redirect URI as the console
    /// reports it (which may differ from this page's origin behind a proxy).
    pub fn adopt_redirect(self, rows: &[ProviderSummary]) {
        if !self.editing.get_untracked() || self.redirect_uri.with_untracked(Option::is_some) {
            return;
        }
        let name = self.name.get_untracked();
        let reported = rows
            .iter()
            .find(|p| p.oidc.is_some() && p.name == name.trim())
            .and_then(|p| p.redirect_uri.clone());
        if reported.is_some() {
            self.redirect_uri.set(reported);
        }
    }

    /// Where the provider sends people back: as the console reported it, or (not saved yet)
    /// below this page's own origin.
    fn redirect(self) -> String {
        self.redirect_uri.get().unwrap_or_else(|| {
            let origin = window().location().origin().unwrap_or_default();
            wharf_api::routes::oidc_callback(&origin, self.name.get().trim())
        })
    }
}

impl Default for OidcFields {
    fn default() -> Self {
        Self::new()
    }
}

/// A text field bound to one of the form's strings.
#[component]
fn OidcField(
    label: (&'static str, &'static str),
    value: RwSignal<String>,
    testid: &'static str,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    view! {
        <label>{t(label.0, label.1)}
            <input data-testid=testid placeholder=placeholder autocomplete="off" bind:value=value/></label>
    }
}

#[component]
pub fn OidcFormSection(fields: OidcFields, changes: Changes<Change>) -> impl IntoView {
    let f = fields;
    let busy = changes.busy;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = f.form();
        if let Err(why) = check_oidc(&form, f.editing.get_untracked()) {
            changes.refuse(why);
            return;
        }
        changes.run(Change::SaveOidc(Box::new(form)));
    };
    let trial = Action::new(move |form: &OidcForm| try_oidc_provider(form.clone()));
    let run_trial = move |_| {
        let form = f.form();
        if let Err(why) = check_oidc(&form, f.editing.get_untracked()) {
            changes.refuse(why);
            return;
        }
        trial.dispatch(form);
    };
    let trial_error = Signal::derive(move || trial.value().get().and_then(Result::err));
    view! {
        <form class="form card" data-testid="oidc-form" on:submit=save novalidate=true>
            <h2>{move || if f.editing.get() { t_now("Edit OpenID Connect provider", "编辑 OpenID Connect 身份源") } else { t_now("Add an OpenID Connect provider", "添加 OpenID Connect 身份源") }}
                {move || f.editing.get().then(|| view! {
                    <button type="button" class="small" data-testid="oidc-new" on:click=move |_| f.load(OidcForm::usual(), None)>{t("New", "新建")}</button>
                })}</h2>
            <div class="row">
                <label>{t("Name", "名称")}<input data-testid="oidc-name" placeholder="sso" bind:value=f.name prop:readonly=move || f.editing.get()/></label>
                <OidcField label=("Shown as", "显示名") value=f.display_name testid="oidc-display-name" placeholder="Company SSO"/>
                <label class="check"><input type="checkbox" data-testid="oidc-disabled" bind:checked=f.disabled/>{t("Disabled", "停用")}</label>
            </div>
            <div class="row">
                <OidcField label=("Issuer", "Issuer") value=f.issuer testid="oidc-issuer" placeholder="https://keycloak.example.com/realms/corp"/>
            </div>
            <div class="row">
                <OidcField label=("Client ID", "客户端 ID") value=f.client_id testid="oidc-client-id" placeholder="wharf"/>
                <label>{move || if f.editing.get() { t_now("Client secret (empty: keep)", "客户端密钥(留空:不变)") } else { t_now("Client secret", "客户端密钥") }}
                    <input type="password" autocomplete="off" data-testid="oidc-client-secret" bind:value=f.client_secret
                        placeholder=move || if f.editing.get() { t_now("empty: keep the stored secret", "留空:保留已存的密钥") } else { "" }/></label>
            </div>
            <div class="row">
                <OidcField label=("Scopes", "Scopes") value=f.scopes testid="oidc-scopes"/>
                <OidcField label=("User name claim", "用户名声明") value=f.username_claim testid="oidc-username-claim"/>
                <OidcField label=("Groups claim", "组声明") value=f.groups_claim testid="oidc-groups-claim"/>
            </div>
            <label>{t("Register this redirect URI at the provider", "请在身份提供方处登记此回调地址")}
                <input class="mono" readonly=true data-testid="oidc-redirect-uri" prop:value=move || f.redirect()/></label>
            <p class="muted small">{t(
                "Register the console's /login page as the post-logout redirect URI too: logout ends the provider's session and comes back there.",
                "同时把控制台的 /login 页登记为退出后的回调地址:退出会结束身份提供方的会话并回到那里。")}</p>
            <div class="row trial">
                <button type="button" data-testid="oidc-try" disabled=move || trial.pending().get() on:click=run_trial>{t("Test settings", "测试设置")}</button>
            </div>
            <ErrorBanner error=trial_error testid="oidc-trial-error"/>
            {move || trial.value().get().and_then(Result::ok).map(|report| view! { <TrialSteps report/> })}
            <button type="submit" class="primary" data-testid="oidc-save" disabled=move || busy.get()>{t("Save", "保存")}</button>
        </form>
    }
}
