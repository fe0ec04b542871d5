//! Request bodies: JSON, YAML or Kubernetes protobuf (by Content-Type);
//! malformed input → 400.

use axum::http::HeaderMap;
use serde_json::Value;

use crate::error::ApiError;

pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string()
}

/// Decodes a body as YAML when the content type says so (or for apply patches), else JSON.
pub fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type(headers);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if ct.starts_with(super::protobuf::CONTENT_TYPE) {
        return super::protobuf::decode(body);
    }
    if ct.contains("yaml") {
        let v: serde_yaml::Value = serde_yaml::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("error converting YAML to JSON: yaml: {e}"))
        })?;
        serde_json::to_value(v)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })
    }
}
