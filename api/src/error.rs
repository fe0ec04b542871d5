//! `AppError`: what every server function returns on failure. The user sees the sentence in
//! their language ([`Text`]); `Display` is the English, for the log, which also keeps the
//! cause chain (see the conversions under the `server` feature).

use crate::{text, Text};
use serde::{Deserialize, Serialize};
use server_fn::{codec::JsonEncoding, error::FromServerFnError, error::ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please log in.")]
    Unauthenticated,
    #[error("Wrong user name or password.")]
    BadCredentials,
    /// Someone else chose the user's password; they must choose their own first.
    #[error("Please set a new password first.")]
    PasswordChangeRequired,
    #[error("Not allowed: {0}")]
    Forbidden(Text),
    /// Bad input: the message names the field and what is expected.
    #[error("{0}")]
    Invalid(Text),
    #[error("Not found: {0}")]
    NotFound(Text),
    #[error("Changed by someone else meanwhile: {0}")]
    Conflict(Text),
    /// The Kubernetes API refused the request; its own message follows, verbatim.
    #[error("The cluster refused: {0}")]
    Cluster(String),
    /// Something the console depends on (Prometheus, Alertmanager) is down or refused; the
    /// message names it and its URL. Answered as 503.
    #[error("{0}")]
    Unavailable(Text),
    #[error("Server error: {0}")]
    Internal(Text),
    /// Too many login attempts from this client or at this user name: the seconds until the
    /// next one is taken. Answered as 429 with `Retry-After`.
    #[error("Too many login attempts; try again in {0} s.")]
    TooManyAttempts(u64),
    /// Transport or encoding trouble between the browser and the server, in the transport's
    /// own words.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let unfit = |detail: String| {
            AppError::Invalid(text!(
                "The request's arguments do not fit this function: {detail}",
                "请求的参数与此函数不符:{detail}"
            ))
        };
        match value {
            // NB: only the server reads arguments; in the console (`server` feature) a
            // decoding failure is always the caller's arguments, never the server's answer.
            ServerFnErrorErr::Args(d) | ServerFnErrorErr::MissingArg(d) => unfit(d),
            #[cfg(feature = "server")]
            ServerFnErrorErr::Deserialization(d) => unfit(d),
            other => AppError::Transport(other.to_string()),
        }
    }
}

impl AppError {
    /// The error as a sentence in both languages; its English is exactly the `Display` (so
    /// the page and the log say the same). The console's own words lead; the detail follows.
    pub fn text(&self) -> Text {
        let (en, zh, detail) = match self {
            AppError::Unauthenticated => ("Please log in.", "请登录。", None),
            AppError::BadCredentials => {
                ("Wrong user name or password.", "用户名或密码错误。", None)
            }
            AppError::PasswordChangeRequired => {
                ("Please set a new password first.", "请先设置新密码。", None)
            }
            AppError::Forbidden(d) => ("Not allowed: ", "操作被拒绝:", Some(d.clone())),
            AppError::Invalid(d) | AppError::Unavailable(d) => ("", "", Some(d.clone())),
            AppError::NotFound(d) => ("Not found: ", "未找到:", Some(d.clone())),
            AppError::Conflict(d) => (
                "Changed by someone else meanwhile: ",
                "已被他人同时修改:",
                Some(d.clone()),
            ),
            AppError::Cluster(d) => (
                "The cluster refused: ",
                "集群拒绝了请求:",
                Some(Text::verbatim(d.as_str())),
            ),
            AppError::Internal(d) => ("Server error: ", "服务器错误:", Some(d.clone())),
            AppError::TooManyAttempts(secs) => {
                return Text::new(
                    format!("Too many login attempts; try again in {secs} s."),
                    format!("登录尝试次数过多,请 {secs} 秒后再试。"),
                )
            }
            AppError::Transport(d) => (
                "Could not reach the server: ",
                "无法连接服务器:",
                Some(Text::verbatim(d.as_str())),
            ),
        };
        let detail = detail.unwrap_or_default();
        Text::new(format!("{en}{}", detail.en), format!("{zh}{}", detail.zh))
    }

    /// The HTTP status a server function answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated | AppError::BadCredentials => 401,
            AppError::Forbidden(_) | AppError::PasswordChangeRequired => 403,
            AppError::Invalid(_) => 400,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::Cluster(_) => 422,
            AppError::Unavailable(_) => 503,
            AppError::TooManyAttempts(_) => 429,
            AppError::Internal(_) | AppError::Transport(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AppError;
    use crate::{text, Text};

    pub fn every_kind() -> Vec<AppError> {
        vec![
            AppError::Unauthenticated,
            AppError::BadCredentials,
            AppError::PasswordChangeRequired,
            AppError::Forbidden(text!("no access to tenant 'alpha'", "无权访问租户“alpha”")),
            AppError::Invalid(text!("name: required", "名称:必填")),
            AppError::NotFound(text!("pod 'x'", "Pod“x”")),
            AppError::Conflict(Text::verbatim("the object has been modified")),
            AppError::Cluster("replicas: must be a number".into()),
            AppError::Unavailable(text!("Prometheus is down", "Prometheus 不可用")),
            AppError::Internal(text!("oops", "出错了")),
            AppError::TooManyAttempts(42),
            AppError::Transport("connection refused".into()),
        ]
    }

    #[test]
    fn the_english_sentence_is_what_the_log_says() {
        for e in every_kind() {
            assert_eq!(e.text().en, e.to_string(), "{e:?}");
            assert_ne!(
                e.text().zh,
                e.text().en,
                "{e:?}: the console's own words are translated"
            );
        }
    }

    #[test]
    fn an_error_travels_as_json_with_both_languages() {
        let e = AppError::Invalid(text!("name: required", "名称:必填"));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"Invalid":{"en":"name: required","zh":"名称:必填"}}"#
        );
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), e);
    }
}

#[cfg(feature = "server")]
impl AppError {
    /// `Err(Invalid)` naming every problem found (`; `-joined), or `Ok` when there is none:
    /// how a form's checks become the server's answer.
    pub fn invalid_if_any(errors: Vec<Text>) -> Result<(), AppError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(Text::join(&errors, "; ", ";")))
        }
    }

    /// A failure of the console's own (a file it writes, a hash it computes): the user reads
    /// `context` and the error's own sentence; the log keeps the whole cause chain.
    /// The error's own text is appended verbatim to both languages.
    pub fn internal(context: Text, err: impl std::error::Error) -> AppError {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "{context}");
        AppError::Internal(Text::new(
            format!("{}: {err}", context.en),
            format!("{}:{err}", context.zh),
        ))
    }
}

#[cfg(feature = "server")]
mod from_kube {
    use super::AppError;
    use crate::Text;

    impl From<kube::Error> for AppError {
        fn from(err: kube::Error) -> Self {
            match &err {
                kube::Error::Api(status) => {
                    let message = status.message.clone();
                    match status.code {
                        404 => AppError::NotFound(Text::verbatim(message)),
                        409 => AppError::Conflict(Text::verbatim(message)),
                        403 => AppError::Forbidden(Text::verbatim(message)),
                        400 | 422 => AppError::Cluster(message),
                        _ => {
                            tracing::warn!(error = ?err, "kubernetes API error");
                            AppError::Cluster(message)
                        }
                    }
                }
                _ => {
                    tracing::error!(error = ?err, "kubernetes client error");
                    AppError::Internal(crate::text!(
                        "the cluster could not be reached",
                        "无法连接集群"
                    ))
                }
            }
        }
    }
}
