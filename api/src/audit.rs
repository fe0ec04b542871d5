//! The audit log as the page sees it: one record per change made through the console, and the
//! filters of the audit page.

use serde::{Deserialize, Serialize};

/// How an action ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// Not allowed or not acceptable (authorization, validation, a conflict): the reason.
    Refused(String),
    /// Allowed but it failed (the cluster, a dependency, the console): the error.
    Failed(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused(_) => "refused",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339, to the millisecond.
    pub at: String,
    /// Who (empty: not signed in).
    pub user: String,
    /// The API token they came with (its id); empty for a signed-in session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// The tenant the action was aimed at (empty: the platform's, e.g. creating a user).
    pub tenant: String,
    /// What: the server function, or `terminal.session`, `terminal.upload`, `terminal.download`.
    pub action: String,
    /// On what, as `key=value` pairs (`namespace=alpha name=shop`).
    pub target: String,
    pub outcome: Outcome,
    /// The client's address as the console saw it.
    pub client: String,
}

/// The audit page's filters; empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub user: String,
    /// Needed for a tenant admin (their tenant); a platform admin may leave it empty.
    pub tenant: String,
    pub action: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    /// RFC 3339 bounds.
    pub from: String,
    pub to: String,
    /// Most records returned, newest first (at most 1,000).
    pub limit: usize,
}
