//! `/`: opens the first tenant the user belongs to; a platform admin of a cluster without
//! tenants gets the tenants page; anyone else is told there is none.

use crate::components::shell::use_me;
use crate::i18n::t;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

#[component]
pub fn Home() -> impl IntoView {
    let me = use_me();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let Some(m) = me.get() else { return };
        if let Some(first) = m.tenants.first() {
            navigate(&format!("/t/{}", first.name), Default::default());
        } else if m.platform_admin {
            navigate("/admin/tenants", Default::default());
        }
    });
    view! {
        <Show when=move || me.with(|m| m.as_ref().is_some_and(|m| m.tenants.is_empty() && !m.platform_admin))>
            <div class="empty">{t("You are not a member of any tenant yet. Ask a platform admin to add you.", "您还不属于任何租户,请联系平台管理员。")}</div>
        </Show>
    }
}
