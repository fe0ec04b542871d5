use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bucket's settings cannot work (a URL that is not `s3://…`, a bad name).
    #[error("log bucket: {0}")]
    Settings(String),

    /// The object store refused or failed a request (after its retries).
    #[error("log bucket: {operation} {path}: {source}")]
    Bucket {
        operation: &'static str,
        path: String,
        #[source]
        source: object_store::Error,
    },

    /// A file of the local store could not be read.
    #[error("reading {path}: {source}")]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Store(#[from] logstore::Error),
}

impl Error {
    pub(crate) fn bucket(
        operation: &'static str,
        path: &object_store::path::Path,
    ) -> impl FnOnce(object_store::Error) -> Error {
        let path = path.to_string();
        move |source| Error::Bucket {
            operation,
            path,
            source,
        }
    }
}
