//! Errors: the crate's own [`Error`] for start-up and I/O, and [`ApiError`],
//! which is what the Kubernetes API answers — it renders as a real `Status` body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Errors from starting, persisting or shutting down the demo cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("corrupt state in {path}: {message}")]
    Corrupt { path: String, message: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl Error {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed API request, as the real API server reports it: HTTP code, `reason`,
/// a message, and optional `details` (name, kind, causes).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    pub fn not_found(resource: &str, name: &str) -> Self {
        let group_res = resource.to_string();
        Self::new(404, "NotFound", format!("{group_res} \"{name}\" not found"))
            .with_details(details(resource, name))
    }
    pub fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
        .with_details(details(resource, name))
    }
    pub fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(details(resource, name))
    }
    /// The 403 an admission plugin answers: `{resource} "{name}" is forbidden: {message}`,
    /// with the name and the resource (as `kind`, as `NewForbidden` puts it) in the details.
    pub fn forbidden(resource: &str, name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{resource} \"{name}\" is forbidden: {message}"),
        )
        .with_details(details(resource, name))
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }
    /// The 422 `Invalid` kube-apiserver answers with `causes` (one per field error, in
    /// `details.causes`); the only place such an answer is built. The message names the
    /// kind as `Kind.group` and lists the causes as Go's `field.ErrorList` aggregate does:
    /// one plainly, several bracketed, a repeated one once. `kind` is what the real server
    /// puts there, which is not always a kind (a resource for a PUT without a
    /// resourceVersion, `PatchOptions` for bad patch options); an empty `group` or `name`
    /// is left out of the details.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut summary: Vec<String> = Vec::new();
        for c in &causes {
            let line = format!("{}: {}", c.field, c.message);
            if !summary.contains(&line) {
                summary.push(line);
            }
        }
        let message = match summary.as_slice() {
            [one] => format!("{qualified} \"{name}\" is invalid: {one}"),
            many => format!("{qualified} \"{name}\" is invalid: [{}]", many.join(", ")),
        };
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        let mut details = json!({"kind": kind, "causes": causes});
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(422, "Invalid", message).with_details(details)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The `Status` object the real API server sends for this error.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut d = d.clone();
            // NB: the real server omits empty fields of the details (the core group's "").
            if let Some(map) = d.as_object_mut() {
                map.retain(|_, v| !matches!(v, Value::String(s) if s.is_empty()));
            }
            s["details"] = d;
        }
        s
    }
}

/// One `details.causes` entry of a 422: the field, the reason (`FieldValueInvalid`,
/// `FieldValueRequired`...) and the message (which starts with the reason's wording).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn new(reason: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Cause {
            reason,
            field: field.into(),
            message: message.into(),
        }
    }
    /// A `FieldValueInvalid` cause (`message` starts `Invalid value: ...`).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Cause::new("FieldValueInvalid", field, message)
    }
}

/// A Status's `details` for one object; `group` is left out for the core group, as Go's
/// `omitempty` does.
fn details(resource: &str, name: &str) -> Value {
    let mut d = json!({"name": name, "kind": resource_plural(resource)});
    let group = resource_group(resource);
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

fn resource_plural(resource: &str) -> &str {
    resource.split('.').next().unwrap_or(resource)
}
fn resource_group(resource: &str) -> &str {
    resource.split_once('.').map(|(_, g)| g).unwrap_or("")
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Api(a) => a,
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        (
            code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
