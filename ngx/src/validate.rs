//! Validation without an agent: `nginx -t` on a candidate in a throw-away
//! prefix. The console server runs this before sending a change to any node.
//!
//! A candidate with certificates ([`crate::Tls::Certificate`]) is tested as a
//! node serves it, HTTPS listeners included: [`test_state`] writes the
//! certificate files into a throw-away folder of its own (mode 0700, files
//! 0600, like a node's `<conf_dir>/tls/`), points the render at it, and
//! removes it before returning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::layout::NginxPaths;
use crate::model::DesiredState;
use crate::render::{render, RenderOptions, RenderedConfig};
use crate::{nginx, tls, Error, Result};

/// A candidate as nginx tested it: the tree and nginx's verdict.
#[derive(Debug)]
pub struct Tested {
    /// What was tested. Its certificate paths name the throw-away folder,
    /// which is gone by the time the caller sees this.
    pub rendered: RenderedConfig,
    pub verdict: Result<()>,
}

/// Renders `desired` (certificates into a throw-away folder, whatever
/// `opts.tls_dir` says) and tests it. `Err` only when it cannot be rendered.
pub async fn test_state(
    desired: &DesiredState,
    opts: &RenderOptions,
    nginx_bin: &Path,
) -> Result<Tested> {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-ngx-validate-tls-")
        .tempdir()
        .map_err(Error::io("creating temp dir in", std::env::temp_dir()))?;
    let dir = tmp.path().join("tls");
    let opts = RenderOptions {
        tls_dir: Some(dir.clone()),
        ..opts.clone()
    };
    let rendered = render(desired, &opts)?;
    let verdict = match tls::install(&dir, &rendered.certificates) {
        Ok(()) => validate_files(&rendered.files, nginx_bin).await,
        Err(e) => Err(e),
    };
    // NB: explicit, so a failure to remove the keys' folder is at least logged.
    if let Err(e) = tmp.close() {
        tracing::warn!(error = %e, "removing the certificates of a validation");
    }
    Ok(Tested { rendered, verdict })
}

/// Renders `desired` and tests it; returns the rendered tree for display.
pub async fn validate_state(
    desired: &DesiredState,
    opts: &RenderOptions,
    nginx_bin: &Path,
) -> Result<RenderedConfig> {
    let tested = test_state(desired, opts, nginx_bin).await?;
    tested.verdict?;
    Ok(tested.rendered)
}

/// Tests a hand-edited single-file config.
pub async fn validate_text(nginx_conf: &str, nginx_bin: &Path) -> Result<()> {
    let mut files = BTreeMap::new();
    files.insert(PathBuf::from("nginx.conf"), nginx_conf.to_string());
    validate_files(&files, nginx_bin).await
}

/// Tests a whole tree (paths relative to the directory of `nginx.conf`).
/// Errors name files relative to that root.
pub async fn validate_files(files: &BTreeMap<PathBuf, String>, nginx_bin: &Path) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-ngx-validate-")
        .tempdir()
        .map_err(Error::io("creating temp dir in", std::env::temp_dir()))?;
    let paths = NginxPaths::new(
        nginx_bin,
        tmp.path().join("prefix"),
        tmp.path().join("conf"),
    );
    paths.prepare()?;
    let staging = crate::layout::write_staging(&paths, files)?;
    nginx::test_config(nginx_bin, &paths.prefix, &staging.join("nginx.conf")).await
}
