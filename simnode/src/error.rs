//! The crate's error type, with the HTTP status the API server should answer for each.

/// What can go wrong on the node side.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pod object lacks something this crate needs (uid, name, spec).
    #[error("invalid pod: {0}")]
    InvalidPod(String),
    /// No pod with that namespace/name (or uid) runs on this node.
    #[error("pods \"{name}\" not found")]
    PodNotFound { namespace: String, name: String },
    /// The pod has several containers and none was named.
    #[error("a container name must be specified for pod {pod}, choose one of: [{}]", choices.join(" "))]
    ContainerRequired { pod: String, choices: Vec<String> },
    /// The named container is not in the pod.
    #[error("container {container} is not valid for pod {pod}")]
    ContainerNotFound { pod: String, container: String },
    /// The container has not started yet, so it has no logs and cannot run commands.
    #[error("container \"{container}\" in pod \"{pod}\" is waiting to start: {reason}")]
    ContainerWaiting {
        pod: String,
        container: String,
        reason: String,
    },
    /// `previous=true` but the container never terminated.
    #[error("previous terminated container \"{container}\" in pod \"{pod}\" not found")]
    PreviousNotFound { pod: String, container: String },
    /// Exec/attach asked for while the node does not allow it.
    #[error("exec is not allowed on this demo cluster (it only allows exec while listening on loopback)")]
    ExecForbidden,
    /// Exec/attach against a container that is not running.
    #[error("container not found (\"{container}\")")]
    ContainerNotRunning { container: String },
    /// An exec/attach request that makes no sense (no command, no stream, unknown protocol).
    #[error("{0}")]
    BadRequest(String),
    /// Local I/O (scratch directories, processes, sockets).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP status code a Kubernetes API server answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Error::PodNotFound { .. } => 404,
            Error::ExecForbidden => 403,
            Error::InvalidPod(_)
            | Error::ContainerRequired { .. }
            | Error::ContainerNotFound { .. }
            | Error::ContainerWaiting { .. }
            | Error::PreviousNotFound { .. }
            | Error::ContainerNotRunning { .. }
            | Error::BadRequest(_) => 400,
            Error::Io { .. } => 500,
        }
    }

    /// The `reason` field of the `Status` body that goes with [`Error::status_code`].
    pub fn status_reason(&self) -> &'static str {
        match self.status_code() {
            404 => "NotFound",
            403 => "Forbidden",
            400 => "BadRequest",
            _ => "InternalError",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
