//! `POST /hooks/pipelines/{namespace}/{name}`: a git server's push webhook starts a run.
//!
//! The request proves it knows the pipeline's webhook secret (the Secret
//! `wharf-pipeline-<name>`, shown to the tenant's developers on the pipeline page) in one of
//! the ways git servers sign: GitHub's and Gitea's `X-Hub-Signature-256` (HMAC-SHA256 of the
//! body), GitLab's `X-Gitlab-Token`, or `X-Wharf-Token` for scripts. An unknown pipeline and
//! a wrong secret answer alike, so the hook does not reveal which pipelines exist. Only a
//! push to the branch or tag the pipeline builds starts a run; others are acknowledged and
//! ignored, with the reason.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use crds::pipeline::Pipeline;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::json;
use sha2::Sha256;
use wharf_console::pipelines::{create_run_for_delivery, webhook_secret_name};
use wharf_console::state::AppState;

/// Push payloads are small; anything bigger is not one.
pub const MAX_BODY: usize = 1024 * 1024;

fn answer(code: StatusCode, body: serde_json::Value) -> Response {
    (code, Json(body)).into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the request carries proof of `secret`.
pub fn signed(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(sig) = header("x-hub-signature-256").and_then(|v| v.strip_prefix("sha256=")) {
        let Ok(given) = hex::decode(sig) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(body);
        return mac.verify_slice(&given).is_ok();
    }
    match header("x-gitlab-token").or_else(|| header("x-wharf-token")) {
        Some(token) => !secret.is_empty() && constant_time_eq(token.as_bytes(), secret),
        None => false,
    }
}

async fn secret_of(state: &AppState, namespace: &str, name: &str) -> Option<(Pipeline, Vec<u8>)> {
    let pipeline = Api::<Pipeline>::namespaced(state.client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()??;
    let secret = Api::<Secret>::namespaced(state.client.clone(), namespace)
        .get_opt(&webhook_secret_name(name))
        .await
        .ok()??;
    let value = secret.data?.get("webhook-secret")?.0.clone();
    Some((pipeline, value))
}

pub async fn push(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refused = || {
        answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "unknown pipeline or wrong secret"}),
        )
    };
    let Some((pipeline, secret)) = secret_of(&state, &namespace, &name).await else {
        return refused();
    };
    if !signed(&headers, &body, &secret) {
        tracing::warn!(ns = %namespace, pipeline = %name, "pipeline webhook with a wrong or missing signature");
        return refused();
    }
    if headers.get("x-github-event").and_then(|v| v.to_str().ok()) == Some("ping") {
        return answer(StatusCode::OK, json!({"ok": "pong"}));
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "the body is not JSON"}),
        );
    };
    let Some(pushed) = payload["ref"].as_str() else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "not a push event: no \"ref\""}),
        );
    };
    let builds = pipeline
        .spec
        .stages
        .iter()
        .find_map(|s| s.source.as_ref())
        .map(|s| s.git_ref.clone())
        .unwrap_or_default();
    let after = payload["after"]
        .as_str()
        .or_else(|| payload["checkout_sha"].as_str())
        .unwrap_or("");
    if pushed != format!("refs/heads/{builds}") && pushed != format!("refs/tags/{builds}") {
        return answer(
            StatusCode::ACCEPTED,
            json!({"ignored": format!("push to {pushed}; this pipeline builds {builds}")}),
        );
    }
    if !after.is_empty() && after.bytes().all(|b| b == b'0') {
        return answer(
            StatusCode::ACCEPTED,
            json!({"ignored": format!("{pushed} was deleted")}),
        );
    }
    let reason = if after.is_empty() {
        "push".to_string()
    } else {
        format!("push {}", &after[..after.len().min(12)])
    };
    if let Err(e) = wharf_console::pipelines::check_reach(
        &state,
        &kube::ResourceExt::namespace(&pipeline).unwrap_or_default(),
        &pipeline.spec,
    )
    .await
    {
        return answer(StatusCode::FORBIDDEN, json!({"error": e.to_string()}));
    }
    if let Some(stale) = stale(&payload, chrono::Utc::now().timestamp()) {
        return answer(StatusCode::BAD_REQUEST, json!({ "error": stale }));
    }
    match create_run_for_delivery(&state.client, &pipeline, &reason, &delivery_of(&body)).await {
        Ok(run) => answer(
            StatusCode::CREATED,
            json!({"run": kube::ResourceExt::name_any(&run), "number": run.spec.number}),
        ),
        Err(e) => answer(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({"error": e.to_string()}),
        ),
    }
}

/// A delivery's identity: the digest of its body (40 hex digits, a label value). Git servers
/// sign the body, not their delivery-id header, so a replay that changes only the id is the
/// same delivery; two different pushes never have the same body (`before`, `after`, and on
/// GitHub `pushed_at` differ).
pub fn delivery_of(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(body))[..40].to_string()
}

/// How old a push may be when it arrives (GitHub's `repository.pushed_at`), and how far ahead.
pub const WINDOW_SECS: i64 = 24 * 3600;
pub const SKEW_SECS: i64 = 300;

/// Why a delivery is too old or from the future, when its payload says when it was pushed
/// (GitHub's `repository.pushed_at`, seconds since the epoch); deliveries without that pass.
pub fn stale(payload: &serde_json::Value, now: i64) -> Option<String> {
    let at = payload["repository"]["pushed_at"].as_i64()?;
    if at < now - WINDOW_SECS {
        return Some(format!(
            "the push is {} h old (pushed_at {at}); deliveries older than {} h are refused as replays",
            (now - at) / 3600,
            WINDOW_SECS / 3600
        ));
    }
    if at > now + SKEW_SECS {
        return Some(format!(
            "the push is dated {} s in the future (pushed_at {at}); check the git server's clock",
            at - now
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_its_body_and_old_pushes_are_stale() {
        assert_eq!(delivery_of(b"{}"), delivery_of(b"{}"));
        assert_ne!(
            delivery_of(b"{\"after\":\"a\"}"),
            delivery_of(b"{\"after\":\"b\"}")
        );
        assert_eq!(delivery_of(b"x").len(), 40);
        let now = 1_800_000_000;
        let at = |t: i64| serde_json::json!({"repository": {"pushed_at": t}});
        assert_eq!(stale(&at(now - 60), now), None);
        assert_eq!(
            stale(&serde_json::json!({"ref": "refs/heads/main"}), now),
            None
        );
        assert!(stale(&at(now - WINDOW_SECS - 1), now)
            .unwrap()
            .contains("refused as replays"));
        assert!(stale(&at(now + SKEW_SECS + 1), now)
            .unwrap()
            .contains("in the future"));
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn github_signatures_are_checked_over_the_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"{\"ref\":\"refs/heads/main\"}");
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(signed(
            &headers(&[("x-hub-signature-256", &sig)]),
            b"{\"ref\":\"refs/heads/main\"}",
            b"s3cret"
        ));
        assert!(!signed(
            &headers(&[("x-hub-signature-256", &sig)]),
            b"{\"ref\":\"refs/heads/evil\"}",
            b"s3cret"
        ));
        assert!(!signed(
            &headers(&[("x-hub-signature-256", "sha256=zz")]),
            b"{}",
            b"s3cret"
        ));
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(signed(
            &headers(&[("x-gitlab-token", "s3cret")]),
            b"",
            b"s3cret"
        ));
        assert!(signed(
            &headers(&[("x-wharf-token", "s3cret")]),
            b"",
            b"s3cret"
        ));
        assert!(!signed(
            &headers(&[("x-wharf-token", "s3cre")]),
            b"",
            b"s3cret"
        ));
        assert!(!signed(&headers(&[]), b"", b"s3cret"));
        assert!(!signed(&headers(&[("x-wharf-token", "")]), b"", b""));
    }
}
