//! Files in and out of a container through exec and `tar`, as `kubectl cp` does.
//!
//! * `POST /upload/terminal/{tenant}?ns=..&pod=..[&container=..]&path=/abs/file` with the
//!   file as the raw body. `Content-Length` is required and at most the configured limit
//!   (413 before anything reaches the container). The bytes go, as a one-file tar stream,
//!   into `tar xmf - -C <dir>` under a hidden temporary name, then `mv` gives the file its
//!   name: a broken or refused upload leaves nothing behind (the temporary file is removed).
//! * `GET /download/terminal/{tenant}?ns=..&pod=..[&container=..]&path=/abs/file`: runs
//!   `tar cf - -C <dir> ./<name>` and streams the file out of the tar stream, with its length.
//!
//! Developers and admins only (reading a container's files is as strong as a shell). A
//! container without `tar` gets 422 and a sentence saying so.

use super::{audit, tar};
use crate::live::{announced_length, refuse, scope_for_socket};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_api::auth::Role;
use wharf_api::terminal::{TransferLink, UploadDone};
use wharf_api::{text, Text};
use wharf_console::state::AppState;
use wharf_console::terminal::{target, Target};

fn no_tar() -> Text {
    text!(
        "This container has no tar: file transfer runs tar in the container, as kubectl cp does. Add tar to the image (or use a debug container).",
        "该容器中没有 tar:文件传输与 kubectl cp 一样在容器内运行 tar。请在镜像中加入 tar(或使用调试容器)。"
    )
}

/// `/dir/name` → (`/dir`, `name`), refusing what is not an absolute path to a file.
pub fn split_path(path: &str) -> Result<(String, String), Text> {
    let p = path.trim();
    if !p.starts_with('/') || p.ends_with('/') || p.contains('\0') {
        return Err(text!(
            "path: '{p}' is not an absolute path to a file (e.g. /tmp/app.jar)",
            "路径:“{p}”不是文件的绝对路径(例如 /tmp/app.jar)"
        ));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(text!(
            "path: '{p}' may not contain '..'",
            "路径:“{p}”不能包含“..”"
        ));
    }
    let (dir, name) = p.rsplit_once('/').expect("starts with /");
    if name.len() > 90 || name == "." {
        return Err(text!(
            "path: the file name '{name}' is too long (90 bytes at most)",
            "路径:文件名“{name}”太长(最多 90 字节)"
        ));
    }
    Ok((
        if dir.is_empty() {
            "/".into()
        } else {
            dir.to_string()
        },
        name.to_string(),
    ))
}

/// A refusal or failure: the sentence in both languages, as JSON (the page shows the
/// reader's language).
fn fail(code: StatusCode, message: Text) -> Response {
    (code, Json(message)).into_response()
}

/// Authorization, the link, the container: the common first steps of both directions.
#[allow(clippy::result_large_err)]
fn check(
    state: &AppState,
    headers: &HeaderMap,
    tenant: &str,
    link: Result<Query<TransferLink>, QueryRejection>,
) -> Result<(wharf_console::auth::TenantScope, Target, String, String), Response> {
    let scope = scope_for_socket(state, headers, tenant, Role::Developer)?;
    wharf_console::terminal::confined(state, &scope).map_err(refuse)?;
    let Ok(Query(link)) = link else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            Text::verbatim("expected ?ns=NAMESPACE&pod=POD&path=/ABSOLUTE/FILE[&container=..]"),
        ));
    };
    let target = target(
        &state.cache,
        &scope,
        &link.ns,
        &link.pod,
        link.container.as_deref(),
    )
    .map_err(refuse)?;
    let (dir, name) = split_path(&link.path).map_err(|m| fail(StatusCode::BAD_REQUEST, m))?;
    Ok((scope, target, dir, name))
}

/// Runs a command without a tty; stdin only when asked.
async fn exec(
    state: &AppState,
    target: &Target,
    argv: Vec<String>,
    stdin: bool,
) -> Result<AttachedProcess, Response> {
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), &target.namespace);
    let params = AttachParams::default()
        .container(target.container.as_str())
        .stdin(stdin)
        .stdout(true)
        .stderr(true);
    pods.exec(&target.pod, argv, &params).await.map_err(|e| {
        let (pod, container) = (&target.pod, &target.container);
        fail(
            StatusCode::BAD_GATEWAY,
            text!(
                "exec into {pod}/{container} failed: {e}",
                "进入 {pod}/{container} 执行命令失败:{e}"
            ),
        )
    })
}

/// Collects up to 4 KiB of stderr in the background.
fn stderr_of(p: &mut AttachedProcess) -> tokio::task::JoinHandle<String> {
    let stderr = p.stderr();
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else {
            return String::new();
        };
        let mut all = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if all.len() < 4096 {
                all.extend_from_slice(&buf[..n]);
            }
        }
        String::from_utf8_lossy(&all).trim().to_string()
    })
}

async fn status_of(p: &mut AttachedProcess) -> Option<Status> {
    let status = p.take_status()?;
    tokio::time::timeout(Duration::from_secs(120), status)
        .await
        .ok()
        .flatten()
}

fn succeeded(s: &Option<Status>) -> bool {
    s.as_ref()
        .is_some_and(|s| s.status.as_deref() == Some("Success"))
}

/// Why a tar run failed, as the answer to send.
fn tar_failure(status: &Option<Status>, stderr: &str) -> Response {
    let (code, why) = tar_failure_text(status, stderr);
    fail(code, why)
}

fn tar_failure_text(status: &Option<Status>, stderr: &str) -> (StatusCode, Text) {
    if status.as_ref().is_some_and(super::socket::not_found) {
        return (StatusCode::UNPROCESSABLE_ENTITY, no_tar());
    }
    if stderr.contains("No such file")
        || stderr.contains("Cannot stat")
        || stderr.contains("Cannot open")
    {
        return (
            StatusCode::NOT_FOUND,
            text!(
                "Not found in the container: {stderr}",
                "容器中不存在:{stderr}"
            ),
        );
    }
    let said = if stderr.is_empty() {
        match status.as_ref().and_then(|s| s.message.clone()) {
            Some(m) => Text::verbatim(m),
            None => text!("no exit status", "没有退出状态"),
        }
    } else {
        Text::verbatim(stderr)
    };
    (
        StatusCode::BAD_REQUEST,
        text!(
            "tar in the container failed: {said}",
            "容器中的 tar 执行失败:{said}"
        ),
    )
}

pub async fn upload(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<TransferLink>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (scope, target, dir, name) = match check(&state, &headers, &tenant, link) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let size = match announced_length(&headers) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let settings = &state.settings.terminal;
    if size > settings.max_upload {
        let (mb, limit) = (size.div_ceil(1 << 20), settings.max_upload >> 20);
        return fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            text!(
                "The file is {mb} MB; uploads are limited to {limit} MB. Nothing was written.",
                "文件大小为 {mb} MB,上传上限为 {limit} MB。未写入任何内容。"
            ),
        );
    }
    let path = format!("{}/{name}", dir.trim_end_matches('/'));
    let audit = match audit::start(&state, "upload", &scope, &target, &path).await {
        Ok(a) => a,
        Err(e) => return refuse(e),
    };
    // NB: the transfer runs in its own task: if the browser goes away, hyper drops this
    // handler, but the task still sees the body break and removes the temporary file.
    let task = tokio::spawn(async move {
        let result = upload_into(&state, &target, &dir, &name, size, body).await;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err((code, m)) => format!("error {}: {m}", code.as_u16()),
        };
        audit.finish(None, None, &outcome).await;
        result
    });
    match task.await {
        Ok(Ok(bytes)) => Json(UploadDone { path, bytes }).into_response(),
        Ok(Err((code, m))) => fail(code, m),
        Err(e) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            Text::verbatim(e.to_string()),
        ),
    }
}

async fn upload_into(
    state: &AppState,
    target: &Target,
    dir: &str,
    name: &str,
    size: u64,
    body: Body,
) -> Result<u64, (StatusCode, Text)> {
    let suffix: String = (0..8)
        .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
        .collect();
    let temp = format!(".wharf-upload-{suffix}");
    let temp_path = format!("{}/{temp}", dir.trim_end_matches('/'));
    let as_err = |r: Response| (r.status(), Text::default());
    let mut p = exec(
        state,
        target,
        vec![
            "tar".into(),
            "xmf".into(),
            "-".into(),
            "-C".into(),
            dir.into(),
        ],
        true,
    )
    .await
    .map_err(as_err)?;
    let stderr = stderr_of(&mut p);
    let mut stdin = p.stdin().ok_or((
        StatusCode::INTERNAL_SERVER_ERROR,
        Text::verbatim("no stdin"),
    ))?;
    let mut tar_ended = p
        .take_status()
        .ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            Text::verbatim("no exec status"),
        ))?
        .boxed()
        .fuse();
    // Set when tar ended while it was being fed (e.g. the container has no tar).
    let mut early_status: Option<Option<Status>> = None;
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;

    let mut sent: u64 = 0;
    let mut broken: Option<Text> = None;
    let mut write_failed = !feed(
        &mut stdin,
        &tar::file_header(&temp, size, mtime),
        &mut tar_ended,
        &mut early_status,
    )
    .await;
    let mut stream = body.into_data_stream();
    while !write_failed {
        match stream.next().await {
            None => break,
            Some(Err(e)) => {
                broken = Some(text!(
                    "the upload broke off after {sent} of {size} bytes ({e})",
                    "上传在 {size} 字节中的第 {sent} 字节处中断({e})"
                ));
                break;
            }
            Some(Ok(chunk)) => {
                sent += chunk.len() as u64;
                if sent > size {
                    broken = Some(text!(
                        "the body is longer than its Content-Length ({size} bytes)",
                        "请求体超过了其 Content-Length({size} 字节)"
                    ));
                    break;
                }
                write_failed = !feed(&mut stdin, &chunk, &mut tar_ended, &mut early_status).await;
            }
        }
    }
    if broken.is_none() && !write_failed && sent < size {
        broken = Some(text!(
            "the upload broke off after {sent} of {size} bytes",
            "上传在 {size} 字节中的第 {sent} 字节处中断"
        ));
    }
    if let Some(why) = broken {
        // Stop tar mid-file, then remove whatever it wrote under the temporary name.
        p.abort();
        remove(state, target, &temp_path).await;
        return Err((
            StatusCode::BAD_REQUEST,
            text!("{why}; nothing was written", "{why};未写入任何内容"),
        ));
    }
    if !write_failed {
        let mut tail = vec![0u8; tar::padding(size)];
        tail.extend_from_slice(&[0u8; 2 * tar::BLOCK]);
        write_failed = !feed(&mut stdin, &tail, &mut tar_ended, &mut early_status).await;
        let _ = stdin.shutdown().await;
    }
    drop(stdin);
    // NB: tar may end (successfully) on the end-of-archive blocks before the last write is
    // taken; only a write that failed while tar still ran is a failure of its own.
    let write_failed = write_failed && early_status.is_none();
    let status = match early_status {
        Some(s) => s,
        None => tokio::time::timeout(Duration::from_secs(120), tar_ended)
            .await
            .ok()
            .flatten(),
    };
    let said = stderr.await.unwrap_or_default();
    if write_failed || !succeeded(&status) {
        remove(state, target, &temp_path).await;
        return Err(tar_failure_text(&status, &said));
    }
    // The whole file is there under its temporary name: give it its name in one step.
    let final_path = format!("{}/{name}", dir.trim_end_matches('/'));
    let mut mv = exec(
        state,
        target,
        vec![
            "mv".into(),
            "-f".into(),
            temp_path.clone(),
            final_path.clone(),
        ],
        false,
    )
    .await
    .map_err(as_err)?;
    let mv_err = stderr_of(&mut mv);
    let mv_status = status_of(&mut mv).await;
    if !succeeded(&mv_status) {
        remove(state, target, &temp_path).await;
        let said = mv_err.await.unwrap_or_default();
        return Err((
            StatusCode::BAD_REQUEST,
            text!(
                "could not move the file into place at {final_path}: {said}",
                "无法将文件移动到 {final_path}:{said}"
            ),
        ));
    }
    Ok(size)
}

/// Writes `data` to tar's stdin unless tar ends first: a tar that is gone (or never
/// started) reads nothing, and the write would wait forever. `false`: not written; the
/// status, if that is why, is in `ended_with`.
async fn feed<W, F>(
    stdin: &mut W,
    data: &[u8],
    ended: &mut F,
    ended_with: &mut Option<Option<Status>>,
) -> bool
where
    W: tokio::io::AsyncWrite + Unpin,
    F: std::future::Future<Output = Option<Status>> + futures::future::FusedFuture + Unpin,
{
    if ended_with.is_some() {
        return false;
    }
    tokio::select! {
        written = stdin.write_all(data) => written.is_ok(),
        status = ended => {
            *ended_with = Some(status);
            false
        }
    }
}

async fn remove(state: &AppState, target: &Target, path: &str) {
    if let Ok(mut p) = exec(
        state,
        target,
        vec!["rm".into(), "-f".into(), path.into()],
        false,
    )
    .await
    {
        if !succeeded(&status_of(&mut p).await) {
            tracing::warn!(%path, pod = %target.pod, "a temporary upload file could not be removed");
        }
    }
}

pub async fn download(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<TransferLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let (scope, target, dir, name) = match check(&state, &headers, &tenant, link) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let path = format!("{}/{name}", dir.trim_end_matches('/'));
    let audit = match audit::start(&state, "download", &scope, &target, &path).await {
        Ok(a) => a,
        Err(e) => return refuse(e),
    };
    let mut p = match exec(
        &state,
        &target,
        vec![
            "tar".into(),
            "cf".into(),
            "-".into(),
            "-C".into(),
            dir.clone(),
            format!("./{name}"),
        ],
        false,
    )
    .await
    {
        Ok(p) => p,
        Err(r) => {
            audit.finish(None, None, "error: exec").await;
            return r;
        }
    };
    let stderr = stderr_of(&mut p);
    let Some(mut stdout) = p.stdout() else {
        return fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            Text::verbatim("no stdout"),
        );
    };
    let entry = tar::next_entry(&mut stdout).await;
    let entry = match entry {
        Ok(Some(e)) if e.kind == b'0' || e.kind == 0 || e.kind == b'7' => e,
        Ok(Some(e)) => {
            let what = match e.kind {
                b'5' => text!("a directory", "目录"),
                b'2' => text!("a symbolic link", "符号链接"),
                _ => text!("not a regular file", "不是普通文件"),
            };
            audit.finish(None, None, "error: not a file").await;
            return fail(
                StatusCode::BAD_REQUEST,
                text!(
                    "{path} is {what}; download a file",
                    "{path} 是{what};请下载文件"
                ),
            );
        }
        Ok(None) | Err(_) => {
            // NB: the rest of stdout (tar's end-of-archive record) must be read, or the exec
            // session stalls before it delivers the status.
            let drain = tokio::spawn(async move {
                while matches!(stdout.read(&mut [0u8; 8192]).await, Ok(n) if n > 0) {}
            });
            let status = status_of(&mut p).await;
            drain.abort();
            let said = stderr.await.unwrap_or_default();
            let r = tar_failure(&status, &said);
            audit
                .finish(None, None, &format!("error {}", r.status().as_u16()))
                .await;
            return r;
        }
    };
    let size = entry.size;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::spawn(async move {
        let mut left = size;
        let mut buf = vec![0u8; 64 * 1024];
        let mut outcome = "ok";
        while left > 0 {
            let want = buf.len().min(left as usize);
            match stdout.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => {
                    // NB: the length was promised; an error makes the browser see a broken download, not a short file.
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            "the container's tar stream ended early",
                        )))
                        .await;
                    outcome = "error: cut short";
                    break;
                }
                Ok(n) => {
                    left -= n as u64;
                    if tx
                        .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                    {
                        outcome = "closed";
                        break;
                    }
                }
            }
        }
        p.abort();
        audit.finish(None, None, outcome).await;
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths_are_absolute_files() {
        assert_eq!(
            split_path("/tmp/app.jar").unwrap(),
            ("/tmp".to_string(), "app.jar".to_string())
        );
        assert_eq!(
            split_path("/hosts").unwrap(),
            ("/".to_string(), "hosts".to_string())
        );
        assert!(split_path("tmp/a").is_err());
        assert!(split_path("/tmp/").is_err());
        assert!(split_path("/tmp/../etc/passwd").is_err());
    }
}
