//! The one banner for what went wrong: an [`AppError`] as a sentence in the reader's
//! language. The console's own words and the server's sentences come in English and Chinese
//! ([`AppError::text`]); what is not language (a name, the cluster's own message) is shown as
//! it came. In English the sentence is exactly the error's `Display`, so what the page says
//! and what the log says match.
//!
//! Pages keep their outcome in an `Action`'s value (or a signal next to it) and hand it here;
//! [`Outcome`] is the same banner for an action that can also succeed with a sentence.

use crate::error::AppError;
use crate::i18n::{lang, pick, tr, Lang};
use leptos::prelude::*;
use wharf_api::Text;

/// The error as the reader of `lang` reads it.
pub fn wording(e: &AppError, lang: Lang) -> String {
    pick(&e.text(), lang).to_string()
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
        AppError::TooManyAttempts(_) => "too-many-attempts",
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
            let kind = kind(&e);
            let sentence = move || wording(&e, lang());
            view! { <div class="banner error" role="alert" data-testid=testid data-kind=kind>{sentence}</div> }
        })
    }
}

/// An action's outcome: its sentence on success (`ok_testid`, default `notice`), else the
/// error banner (`error_testid`, default `action-error`).
#[component]
pub fn Outcome(
    #[prop(into)] outcome: Signal<Option<Result<Text, AppError>>>,
    #[prop(optional)] ok_testid: Option<&'static str>,
    #[prop(optional)] error_testid: Option<&'static str>,
) -> impl IntoView {
    let ok_testid = ok_testid.unwrap_or("notice");
    let error = Signal::derive(move || outcome.with(|o| o.clone().and_then(Result::err)));
    view! {
        {move || outcome.with(|o| o.as_ref().and_then(|o| o.as_ref().ok().cloned())).map(|m| view! { <div class="banner ok" data-testid=ok_testid>{move || tr(&m)}</div> })}
        <ErrorBanner error testid=error_testid.unwrap_or("action-error")/>
    }
}

#[cfg(test)]
mod tests {
    use super::wording;
    use crate::error::AppError;
    use crate::i18n::Lang;
    use wharf_api::{text, Text};

    fn every_kind() -> Vec<AppError> {
        vec![
            AppError::Unauthenticated,
            AppError::BadCredentials,
            AppError::PasswordChangeRequired,
            AppError::Forbidden(text!("no access to tenant 'alpha'", "无权访问租户“alpha”")),
            AppError::Invalid(text!("name: must be lower case", "名称:必须是小写")),
            AppError::NotFound(text!("pod 'x'", "Pod“x”")),
            AppError::Conflict(Text::verbatim("the object has been modified")),
            AppError::Cluster("replicas: must be a number".into()),
            AppError::Unavailable(text!(
                "Prometheus at http://127.0.0.1:9090 is down",
                "Prometheus(http://127.0.0.1:9090)不可用"
            )),
            AppError::Internal(text!("oops", "出错了")),
            AppError::Transport("connection refused".into()),
        ]
    }

    #[test]
    fn in_english_the_banner_says_what_the_error_displays() {
        for e in every_kind() {
            assert_eq!(wording(&e, Lang::En), e.to_string());
        }
    }

    #[test]
    fn in_chinese_the_banner_says_the_chinese_and_never_the_english() {
        for e in every_kind() {
            let zh = wording(&e, Lang::Zh);
            let en = e.to_string();
            assert_ne!(zh, en, "{e:?}");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{zh}"
            );
            match &e {
                AppError::Forbidden(t)
                | AppError::Invalid(t)
                | AppError::NotFound(t)
                | AppError::Unavailable(t)
                | AppError::Internal(t) => {
                    assert!(zh.contains(&t.zh), "{zh}");
                    if t.en != t.zh {
                        assert!(!zh.contains(&t.en), "{zh}");
                    }
                }
                // the cluster's and the transport's own words, as they came
                AppError::Cluster(d) | AppError::Transport(d) => assert!(zh.contains(d.as_str())),
                _ => {}
            }
        }
    }
}
