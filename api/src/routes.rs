//! The paths of every live socket, download and upload, written once: the server's router
//! registers [`ALL`], the pages build URLs with [`path`], and the authorization test walks
//! [`ALL`] to check each refuses strangers and other tenants. (Server functions are under
//! `/api/<name>`, registered by their own macro.)
//!
//! Patterns use axum's syntax: `{name}` is one path segment.

/// What kind of entry point a route is (the authorization test treats each its own way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET` upgraded to a WebSocket.
    Socket,
    /// `GET` answering a file.
    Download,
    /// `POST` with a raw body.
    Upload,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub kind: Kind,
    pub pattern: &'static str,
}

pub const WS_WORKLOADS: Route = Route {
    kind: Kind::Socket,
    pattern: "/ws/workloads/{tenant}",
};
pub const WS_LOGS: Route = Route {
    kind: Kind::Socket,
    pattern: "/ws/logs/{tenant}",
};
pub const WS_NGINX: Route = Route {
    kind: Kind::Socket,
    pattern: "/ws/nginx/{tenant}",
};
pub const WS_PIPELINES: Route = Route {
    kind: Kind::Socket,
    pattern: "/ws/pipelines/{tenant}",
};
pub const WS_TERMINAL: Route = Route {
    kind: Kind::Socket,
    pattern: "/ws/terminal/{tenant}",
};
pub const DOWNLOAD_LOGS: Route = Route {
    kind: Kind::Download,
    pattern: "/download/logs/{tenant}",
};
pub const DOWNLOAD_NGINX: Route = Route {
    kind: Kind::Download,
    pattern: "/download/nginx/{tenant}/{cluster}/{node}",
};
pub const DOWNLOAD_TERMINAL: Route = Route {
    kind: Kind::Download,
    pattern: "/download/terminal/{tenant}",
};
pub const UPLOAD_TERMINAL: Route = Route {
    kind: Kind::Upload,
    pattern: "/upload/terminal/{tenant}",
};
/// An artifact (jar, war, zip) for a pipeline's source stage: `?ns=NAMESPACE&name=FILE`.
pub const UPLOAD_ARTIFACT: Route = Route {
    kind: Kind::Upload,
    pattern: "/upload/pipelines/{tenant}",
};
pub const DOWNLOAD_RECORDING: Route = Route {
    kind: Kind::Download,
    pattern: "/recordings/terminal/{tenant}",
};

/// Every tenant entry point besides the server functions.
pub const ALL: &[Route] = &[
    WS_WORKLOADS,
    WS_LOGS,
    WS_NGINX,
    WS_PIPELINES,
    WS_TERMINAL,
    DOWNLOAD_LOGS,
    DOWNLOAD_NGINX,
    DOWNLOAD_TERMINAL,
    DOWNLOAD_RECORDING,
    UPLOAD_TERMINAL,
    UPLOAD_ARTIFACT,
];

/// Where a pipeline run's build pod fetches its uploaded artifact: no session, the token
/// (sealed by the console for one namespace's file, until the run's deadline) is the right.
pub const ARTIFACT_FOR_BUILD: &str = "/pipelines/artifacts/{token}";

/// Sign-in through an OpenID Connect provider: `start` sends the browser to the provider,
/// which sends it back to `callback`. Not tenant entry points (nobody is signed in yet); the
/// cross-site guard leaves them alone, as the provider's redirect comes from another site.
pub const OIDC_START: &str = "/auth/oidc/{provider}/start";
pub const OIDC_CALLBACK: &str = "/auth/oidc/{provider}/callback";

/// Where the login page's button for `provider` leads.
pub fn oidc_start(provider: &str) -> String {
    format!("/auth/oidc/{}/start", encode_segment(provider))
}

/// Where `provider` sends people back, below the console's URL (`https://wharf.example.com`).
pub fn oidc_callback(console_url: &str, provider: &str) -> String {
    let base = console_url.trim_end_matches('/');
    format!("{base}/auth/oidc/{}/callback", encode_segment(provider))
}

impl Route {
    /// The path with its `{…}` segments filled in order (each value percent-encoded), e.g.
    /// `WS_WORKLOADS.path(&["alpha"])` is `/ws/workloads/alpha`.
    ///
    /// # Panics
    /// If the number of values differs from the pattern's segments: a programming error.
    pub fn path(&self, values: &[&str]) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 16);
        let mut values = values.iter();
        for (i, segment) in self.pattern.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            if segment.starts_with('{') {
                let value = values
                    .next()
                    .unwrap_or_else(|| panic!("{}: too few values", self.pattern));
                out.push_str(&encode_segment(value));
            } else {
                out.push_str(segment);
            }
        }
        assert!(values.next().is_none(), "{}: too many values", self.pattern);
        out
    }

    /// [`Route::path`] followed by `?query` (already encoded), when the query is not empty.
    pub fn with_query(&self, values: &[&str], query: &str) -> String {
        let path = self.path(values);
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), so a value stays one segment.
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fill_their_segments_in_order() {
        assert_eq!(WS_WORKLOADS.path(&["alpha"]), "/ws/workloads/alpha");
        assert_eq!(
            DOWNLOAD_NGINX.path(&["alpha", "edge", "node-1"]),
            "/download/nginx/alpha/edge/node-1"
        );
        assert_eq!(
            WS_LOGS.with_query(&["alpha"], "ns=alpha&pod=web"),
            "/ws/logs/alpha?ns=alpha&pod=web"
        );
        assert_eq!(WS_LOGS.with_query(&["alpha"], ""), "/ws/logs/alpha");
    }

    #[test]
    fn a_value_cannot_leave_its_segment() {
        assert_eq!(
            WS_WORKLOADS.path(&["../admin?x=1"]),
            "/ws/workloads/..%2Fadmin%3Fx%3D1"
        );
    }

    #[test]
    #[should_panic(expected = "too few values")]
    fn a_missing_value_is_a_programming_error() {
        DOWNLOAD_NGINX.path(&["alpha"]);
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut patterns: Vec<_> = ALL.iter().map(|r| r.pattern).collect();
        patterns.sort();
        patterns.dedup();
        assert_eq!(patterns.len(), ALL.len());
    }
}
