//! The one banner for what went wrong: an [`AppError`] as a sentence in the reader's
//! language. The console's own words come in English and Chinese; the detail a server
//! function sent (a field name, the cluster's message) is shown as it came. In English the
//! sentence is exactly the error's `Display`, so what the page says and what the log says match.
//!
//! Pages keep their outcome in an `Action`'s value (or a signal next to it) and hand it here;
//! [`Outcome`] is the same banner for an action that can also succeed with a sentence.

use crate::error::AppError;
use crate::i18n::t;
use leptos::prelude::*;

/// The console's words for an error (English, Chinese) and the detail that follows them.
pub fn wording(e: &AppError) -> (&'static str, &'static str, &str) {
    match e {
        AppError::Unauthenticated => ("Please log in.", "请登录。", ""),
        AppError::BadCredentials => ("Wrong user name or password.", "用户名或密码错误。", ""),
        AppError::PasswordChangeRequired => {
            ("Please set a new password first.", "请先设置新密码。", "")
        }
        AppError::Forbidden(d) => ("Not allowed: ", "无权操作:", d),
        AppError::Invalid(d) => ("", "", d),
        AppError::NotFound(d) => ("Not found: ", "未找到:", d),
        AppError::Conflict(d) => (
            "Changed by someone else meanwhile: ",
            "已被他人同时修改:",
            d,
        ),
        AppError::Cluster(d) => ("The cluster refused: ", "集群拒绝了请求:", d),
        AppError::Unavailable(d) => ("", "", d),
        AppError::Internal(d) => ("Server error: ", "服务器错误:", d),
        AppError::Transport(d) => ("Could not reach the server: ", "无法连接服务器:", d),
    }
}

/// A short name of the error's kind, for `data-kind` (tests and styles).
pub fn kind(e: &AppError) -> &'static str {
    match e {
        AppError::Unauthenticated => "unauthenticated",
        AppError::BadCredentials => "bad-credentials",
        AppError::PasswordChangeRequired => "password-change-required",
        AppError::Forbidden(_) => "forbidden",
        AppError::Invalid(_) => "invalid",
        AppError::NotFound(_) => "not-found",
        AppError::Conflict(_) => "conflict",
        AppError::Cluster(_) => "cluster",
        AppError::Unavailable(_) => "unavailable",
        AppError::Internal(_) => "internal",
        AppError::Transport(_) => "transport",
    }
}

/// Shows `error` while there is one. `testid` defaults to `error`.
#[component]
pub fn ErrorBanner(
    #[prop(into)] error: Signal<Option<AppError>>,
    #[prop(optional)] testid: Option<&'static str>,
) -> impl IntoView {
    let testid = testid.unwrap_or("error");
    move || {
        error.get().map(|e| {
            let (en, zh, detail) = wording(&e);
            let detail = detail.to_string();
            view! { <div class="banner error" role="alert" data-testid=testid data-kind=kind(&e)>{t(en, zh)}{detail}</div> }
        })
    }
}

/// An action's outcome: its sentence on success (`ok_testid`, default `notice`), else the
/// error banner (`error_testid`, default `action-error`).
#[component]
pub fn Outcome(
    #[prop(into)] outcome: Signal<Option<Result<String, AppError>>>,
    #[prop(optional)] ok_testid: Option<&'static str>,
    #[prop(optional)] error_testid: Option<&'static str>,
) -> impl IntoView {
    let ok_testid = ok_testid.unwrap_or("notice");
    let error = Signal::derive(move || outcome.with(|o| o.clone().and_then(Result::err)));
    view! {
        {move || outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().ok().cloned())).map(|m| view! { <div class="banner ok" data-testid=ok_testid>{m}</div> })}
        <ErrorBanner error testid=error_testid.unwrap_or("action-error")/>
    }
}

#[cfg(test)]
mod tests {
    use super::wording;
    use crate::error::AppError;

    #[test]
    fn in_english_the_banner_says_what_the_error_displays() {
        let all = [
            AppError::Unauthenticated,
            AppError::BadCredentials,
            AppError::PasswordChangeRequired,
            AppError::Forbidden("no access to tenant 'alpha'".into()),
            AppError::Invalid("name: must be lower case".into()),
            AppError::NotFound("pod 'x'".into()),
            AppError::Conflict("the app changed".into()),
            AppError::Cluster("replicas: must be a number".into()),
            AppError::Unavailable("Prometheus at http://127.0.0.1:9090 is down".into()),
            AppError::Internal("oops".into()),
            AppError::Transport("connection refused".into()),
        ];
        for e in all {
            let (en, zh, detail) = wording(&e);
            assert_eq!(format!("{en}{detail}"), e.to_string());
            assert_eq!(
                en.is_empty(),
                zh.is_empty(),
                "{e:?}: both languages or neither"
            );
        }
    }
}
