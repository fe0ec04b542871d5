//! Artifacts for pipelines over HTTP: the designer's upload (`POST /upload/pipelines/{tenant}`,
//! developers of the namespace's tenant) and the build pod's fetch
//! (`GET /pipelines/artifacts/{token}`, the token being the right). What is kept where, and
//! the tokens, are in `wharf_console::pipelines::artifacts`.
//!
//! An upload streams to a staged file while its SHA-256 is computed; it is refused, and
//! nothing kept, when it is larger than the limit (by its `Content-Length` before a byte is
//! read, and by what arrives), when it does not start as a zip does (a jar and a war are zips),
//! or when its length is not what was announced.

use crate::live::{announced_length, refuse, scope_for_socket};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use wharf_api::audit::{AuditRecord, Outcome};
use wharf_api::auth::Role;
use wharf_api::pipelines::{validate, ArtifactLink, UploadedArtifact};
use wharf_api::{text, Text};
use wharf_console::pipelines::artifacts::{open_token, Kept};
use wharf_console::state::AppState;

/// How every zip (and so every jar and war) with content starts: a local file header.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

fn fail(code: StatusCode, message: Text) -> Response {
    (code, Json(message)).into_response()
}

pub async fn upload(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<ArtifactLink>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Developer) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Query(link)) = link else {
        return fail(
            StatusCode::BAD_REQUEST,
            Text::verbatim("expected ?ns=NAMESPACE&name=FILE.jar|.war|.zip"),
        );
    };
    let namespace = match scope.namespace(&link.ns) {
        Ok(ns) => ns.to_string(),
        Err(e) => return refuse(e),
    };
    if let Err(why) = validate::artifact_file_name(&link.name) {
        return fail(StatusCode::BAD_REQUEST, why);
    }
    let settings = &state.settings.pipelines.artifacts;
    let size = match announced_length(&headers) {
        Ok(n) => n,
        Err(r) => return r,
    };
    if size > settings.max_bytes {
        return too_large(size, settings.max_bytes);
    }
    // NB: in its own task: if the browser goes away, hyper drops this handler, but the task
    // still sees the body break and removes the staged file
    let task = {
        let state = state.clone();
        tokio::spawn(async move { stage_and_keep(&state, &namespace, size, body).await })
    };
    let result = match task.await {
        Ok(r) => r,
        Err(e) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            Text::verbatim(e.to_string()),
        )),
    };
    let outcome = match &result {
        Ok(_) => Outcome::Ok,
        Err((code, m)) => Outcome::Refused(format!("{}: {}", code.as_u16(), m.en)),
    };
    let record = AuditRecord {
        at: wharf_console::audit::now(),
        user: scope.user().to_string(),
        token: scope.token().unwrap_or_default().to_string(),
        tenant: scope.tenant().to_string(),
        action: "pipelines.upload".into(),
        target: format!(
            "namespace={} name={} sha256={}",
            link.ns,
            link.name,
            result.as_deref().unwrap_or("-")
        ),
        outcome,
        client: String::new(),
    };
    if let Err(e) = wharf_console::audit::write(&state, record).await {
        return refuse(e);
    }
    match result {
        Ok(sha256) => {
            tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %link.ns, name = %link.name, %sha256, size, "artifact uploaded");
            Json(UploadedArtifact {
                sha256,
                file_name: link.name,
                size,
            })
            .into_response()
        }
        Err((code, m)) => fail(code, m),
    }
}

fn too_large(size: u64, max: u64) -> Response {
    let (mb, limit) = (size.div_ceil(1 << 20), max >> 20);
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        text!(
            "The file is {mb} MB; artifacts are limited to {limit} MB. Nothing was kept.",
            "文件大小为 {mb} MB,制品上限为 {limit} MB。未保存任何内容。"
        ),
    )
}

/// Streams `body` into a staged file, checks it, keeps it; answers its SHA-256.
async fn stage_and_keep(
    state: &AppState,
    namespace: &str,
    size: u64,
    body: Body,
) -> Result<String, (StatusCode, Text)> {
    let settings = &state.settings.pipelines.artifacts;
    let staging = |e: std::io::Error| {
        tracing::error!(error = %e, "staging an artifact");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            text!(
                "the console could not stage the file: {e}",
                "控制台无法暂存该文件:{e}"
            ),
        )
    };
    let incoming = settings.incoming();
    tokio::fs::create_dir_all(&incoming)
        .await
        .map_err(staging)?;
    let suffix: String = (0..12)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    let staged = incoming.join(format!("{namespace}.{suffix}"));
    let result = receive(&staged, settings.max_bytes, size, body)
        .await
        .map_err(|e| match e {
            Received::Io(e) => staging(e),
            Received::Refused(code, why) => (code, why),
        });
    let sha256 = match result {
        Ok(sha) => sha,
        Err(e) => {
            let _ = tokio::fs::remove_file(&staged).await;
            return Err(e);
        }
    };
    settings
        .keep(&staged, namespace, &sha256)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "keeping an artifact");
            (
                StatusCode::BAD_GATEWAY,
                text!(
                    "the console could not keep the file: {e}",
                    "控制台无法保存该文件:{e}"
                ),
            )
        })?;
    Ok(sha256)
}

enum Received {
    Io(std::io::Error),
    Refused(StatusCode, Text),
}

impl From<std::io::Error> for Received {
    fn from(e: std::io::Error) -> Self {
        Received::Io(e)
    }
}

async fn receive(
    staged: &std::path::Path,
    max: u64,
    announced: u64,
    body: Body,
) -> Result<String, Received> {
    let mut file = tokio::fs::File::create(staged).await?;
    let mut hasher = Sha256::new();
    let mut got: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(ZIP_MAGIC.len());
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Received::Refused(
                StatusCode::BAD_REQUEST,
                text!(
                    "the upload broke off: {e}. Nothing was kept.",
                    "上传中断:{e}。未保存任何内容。"
                ),
            )
        })?;
        got += chunk.len() as u64;
        if got > max || got > announced {
            let code = if got > max {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Err(Received::Refused(code, more_than(announced, max)));
        }
        if head.len() < ZIP_MAGIC.len() {
            let take = (ZIP_MAGIC.len() - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if !ZIP_MAGIC.starts_with(&head) {
                return Err(not_a_zip());
            }
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    if head.len() < ZIP_MAGIC.len() {
        return Err(not_a_zip());
    }
    if got != announced {
        return Err(Received::Refused(
            StatusCode::BAD_REQUEST,
            text!(
                "the upload ended after {got} of {announced} bytes. Nothing was kept.",
                "上传在 {announced} 字节中的第 {got} 字节处结束。未保存任何内容。"
            ),
        ));
    }
    file.sync_all().await?;
    Ok(hex::encode(hasher.finalize()))
}

fn more_than(announced: u64, max: u64) -> Text {
    let limit = max >> 20;
    text!(
        "more arrived than announced ({announced} bytes) or than artifacts may have ({limit} MB). Nothing was kept.",
        "收到的数据多于声明的长度({announced} 字节)或制品上限({limit} MB)。未保存任何内容。"
    )
}

fn not_a_zip() -> Received {
    Received::Refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        text!(
            "This is not a jar, war or zip: the file does not start as a zip archive does. Nothing was kept.",
            "这不是 jar、war 或 zip 文件:文件开头不是 zip 压缩包的格式。未保存任何内容。"
        ),
    )
}

/// A build pod's fetch: the token names the namespace and the file.
pub async fn for_build(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    let Some((namespace, sha256)) = open_token(&state.session_key, &token, now) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state
        .settings
        .pipelines
        .artifacts
        .read(&namespace, &sha256)
        .await
    {
        Ok(Some(Kept::File(path))) => match tokio::fs::File::open(&path).await {
            Ok(file) => {
                let length = file.metadata().await.map(|m| m.len()).ok();
                let mut res =
                    Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
                set_headers(&mut res, length);
                res
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "reading a kept artifact");
                StatusCode::NOT_FOUND.into_response()
            }
        },
        Ok(Some(Kept::Bytes(bytes))) => {
            let length = Some(bytes.len() as u64);
            let mut res = Body::from(bytes).into_response();
            set_headers(&mut res, length);
            res
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "reading an artifact from the log bucket");
            StatusCode::BAD_GATEWAY.into_response()
        }
    }
}

fn set_headers(res: &mut Response, length: Option<u64>) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Some(n) = length {
        h.insert(header::CONTENT_LENGTH, n.into());
    }
}
