//! `GET /download/nginx/{tenant}/{cluster}/{node}`: a node's live files as one text file
//! (each under a `# ==> path <==` header), as its agent last published them. Checked first:
//! 401 for strangers, 403 for another tenant and for a shared cluster's non-admins, 404 for
//! a node that has not reported.

use crate::live::refuse;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use wharf_console::nginx::{node_configmap_of, node_of};
use wharf_console::state::AppState;

pub async fn download(
    State(state): State<AppState>,
    Path((tenant, cluster, node)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let access = match super::access_for(&state, &headers, &tenant) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    if let Err(e) = node_of(&state, &access, &cluster, &node) {
        return refuse(e);
    }
    let cm = match node_configmap_of(&state, &cluster, &node).await {
        Ok(cm) => cm,
        Err(e) => return refuse(e),
    };
    tracing::info!(user = access.scope.user(), %cluster, %node, "nginx config download");
    let text = cm
        .data
        .and_then(|mut d| d.remove("config"))
        .unwrap_or_default();
    let safe = |s: &str| {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
    };
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}_{}_nginx.conf.txt\"",
                    safe(&cluster),
                    safe(&node)
                ),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        text,
    )
        .into_response()
}
