//! `GET /ng-agent/join/{code}`: the install script of a node joining an nginx cluster, and
//! `GET /ng-agent/join/{code}/{file}` what it downloads (`wharf`, this console's own binary;
//! `install.sh` and the systemd unit from `deploy/ng-agent/`). No session: the join code is
//! the credential (made by a platform admin, valid an hour, only its hash stored, its script
//! served once; see `wharf_console::nginx::join`). An unknown or expired code answers 404 and
//! nothing else; a used one 409 for the script.

use crate::live::refuse;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_console::nginx::join;
use wharf_console::state::AppState;

const INSTALL_SH: &str = include_str!("../../../deploy/ng-agent/install.sh");
const UNIT: &str = include_str!("../../../deploy/ng-agent/wharf-ng-agent.service");

/// The console as the caller reached it: `--public-url`, else the request's Host (checked
/// to be a plain host[:port]); `https` with `--secure-cookies` or a proxy's
/// `X-Forwarded-Proto: https`.
fn console_url(state: &AppState, headers: &HeaderMap) -> Result<String, AppError> {
    if let Some(url) = &state.settings.public_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !plain {
        return Err(AppError::Invalid(text!(
            "the request names no usable Host: start the console with --public-url",
            "请求中没有可用的 Host:请用 --public-url 启动控制台"
        )));
    }
    let https = state.settings.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    Ok(format!("{}://{host}", if https { "https" } else { "http" }))
}

pub async fn script(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let joining = match join::redeem(&state, &code).await {
        Ok(j) => j,
        Err(e) => return refuse(e),
    };
    let console = match console_url(&state, &headers) {
        Ok(u) => u,
        Err(e) => return refuse(e),
    };
    tracing::info!(cluster = %joining.cluster, node = %joining.node, "nginx node join script fetched");
    (
        [
            (header::CONTENT_TYPE, "text/x-shellscript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        join::script(&console, &code, &joining),
    )
        .into_response()
}

pub async fn file(
    State(state): State<AppState>,
    Path((code, file)): Path<(String, String)>,
) -> Response {
    // what is downloaded carries no credential: the code need not be unused
    if let Err(e) = join::check(&state, &code).await {
        return refuse(e);
    }
    let text = |body: &'static str| {
        (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    };
    match file.as_str() {
        "install.sh" => text(INSTALL_SH),
        "wharf-ng-agent.service" => text(UNIT),
        "wharf" => match own_binary().await {
            Ok((f, len)) => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_LENGTH, len.to_string()),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                crate::terminal::recording::file_body(f, len),
            )
                .into_response(),
            Err(e) => refuse(AppError::Internal(text!(
                "cannot read the console's own binary: {e}",
                "无法读取控制台自身的程序文件:{e}"
            ))),
        },
        other => refuse(AppError::NotFound(text!(
            "join file '{other}'",
            "加入文件“{other}”"
        ))),
    }
}

/// NB: `/proc/self/exe` first: it still opens when the file was replaced on disk (a rebuild
/// under a running demo), where the path `current_exe` gives no longer holds this binary.
async fn own_binary() -> std::io::Result<(tokio::fs::File, u64)> {
    let f = match tokio::fs::File::open("/proc/self/exe").await {
        Ok(f) => f,
        Err(_) => tokio::fs::File::open(std::env::current_exe()?).await?,
    };
    let len = f.metadata().await?.len();
    Ok((f, len))
}
