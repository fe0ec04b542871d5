//! PATCH bodies by content type: JSON patch (RFC 6902), JSON merge patch
//! (RFC 7386), strategic merge patch (built-in kinds only; custom resources get
//! 415 as from the real server); server-side apply is [`apply`](mod@apply)'s.

pub mod apply;
pub mod strategic;

use serde_json::Value;

use crate::error::ApiError;

/// The kinds of PATCH the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Result<PatchType, ApiError> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            other => Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
            ))),
        }
    }
}

/// Applies a parsed patch body to `current`.
pub fn apply(
    kind: PatchType,
    current: Value,
    patch: &Value,
    custom: bool,
) -> Result<Value, ApiError> {
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut doc = current;
            json_patch::patch(&mut doc, &ops.0).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
            Ok(doc)
        }
        // NB: server-side apply goes through `apply::apply`; as a plain patch it merges.
        PatchType::Merge | PatchType::Apply => {
            let mut doc = current;
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic => {
            if custom {
                return Err(ApiError::unsupported_media(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            strategic::apply(&current, patch)
        }
    }
}
