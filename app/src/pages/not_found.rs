//! The page for a path that matches nothing.

use crate::i18n::t;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <div class="center-card">
            <h1>{t("Page not found", "页面不存在")}</h1>
            <A href="/">{t("Back to the console", "返回控制台")}</A>
        </div>
    }
}
