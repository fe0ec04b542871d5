//! `GET /download/logs/{tenant}?ns=..&app=..&pod=..&container=..&from=..&to=..&q=..&regex=true`:
//! the range the viewer shows, as a text file in the CLI's format
//! (`<RFC3339Nano> <namespace>/<pod>/<container> <text>`), streamed a page at a time so a
//! day of logs never sits in memory. Checked first: 401 for strangers, 403 for another
//! tenant's namespace, 400 (with the reason) for a bad time or regex.

use crate::live::{refuse, scope_for_socket};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use logstore::{write_line, Page};
use wharf_api::auth::Role;
use wharf_api::logs::{LogLink, LogQuery, MAX_PAGE};
use wharf_console::logs::{store_error, store_query};
use wharf_console::state::AppState;

pub async fn download(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    link: Result<Query<LogLink>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let scope = match scope_for_socket(&state, &headers, &tenant, Role::Viewer) {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let Ok(Query(link)) = link else {
        return (StatusCode::BAD_REQUEST, "expected ?ns=NAMESPACE&from=RFC3339&to=RFC3339[&app=..&pod=..&container=..&q=..&regex=true]").into_response();
    };
    let q = LogQuery {
        selection: link.selection(),
        from: link.from.clone().unwrap_or_default(),
        to: link.to.clone().unwrap_or_default(),
        search: link.search(),
        limit: MAX_PAGE,
        ..Default::default()
    };
    // NB: every page within the search budget (a partial page goes on from its cursor), and
    // the whole download counts as one of the user's searches while it streams
    let limits = state.settings.log_search;
    let query = match store_query(&scope, &q) {
        Ok(query) => query.budget(limits.budget),
        Err(e) => return refuse(e),
    };
    let running = match state.log_searches.start(scope.user(), limits.per_user) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %link.ns, "log download");
    // The first page is read before answering, so a store error still gets its status.
    let store = state.log_reader.clone();
    let first = {
        let (store, query) = (store.clone(), query.clone());
        match tokio::task::spawn_blocking(move || store.query(&query)).await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return refuse(store_error(e)),
            Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let _running = running;
        let mut page: Page = first;
        loop {
            let mut buf = Vec::with_capacity(page.lines.len() * 160);
            for line in &page.lines {
                let _ = write_line(&mut buf, line);
            }
            if tx.blocking_send(Ok(buf.into())).is_err() {
                return; // the browser went away
            }
            let Some(cursor) = page.next_cursor.take() else {
                return;
            };
            page = match store.query(&query.clone().cursor(cursor)) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "log download cut short");
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
        }
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", filename(&link)),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// `alpha_shop-web_app_20240501T100200Z_20240501T100500Z.log`: what, where, when — and only
/// characters every file system takes.
pub fn filename(link: &LogLink) -> String {
    let compact = |t: &Option<String>| {
        t.as_deref()
            .map(|t| t.replace(['-', ':'], ""))
            .unwrap_or_else(|| "all".into())
    };
    let what: Vec<&str> = [
        Some(link.ns.as_str()),
        link.app.as_deref(),
        link.pod.as_deref(),
        link.container.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect();
    let name = format!(
        "{}_{}_{}.log",
        what.join("_"),
        compact(&link.from),
        compact(&link.to)
    );
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_says_what_and_when() {
        let link = LogLink {
            ns: "alpha".into(),
            app: Some("shop-web".into()),
            from: Some("2024-05-01T10:02:00Z".into()),
            to: Some("2024-05-01T10:05:00.5Z".into()),
            ..Default::default()
        };
        assert_eq!(
            filename(&link),
            "alpha_shop-web_20240501T100200Z_20240501T100500.5Z.log"
        );
        let odd = LogLink {
            ns: "a\"b/c".into(),
            ..Default::default()
        };
        assert_eq!(filename(&odd), "a-b-c_all_all.log");
    }
}
