//! Validation without an agent: `nginx -t` on a candidate in a throw-away
//! prefix. The console server runs this before sending a change to any node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::layout::NginxPaths;
use crate::model::DesiredState;
use crate::render::{render, RenderOptions, RenderedConfig};
use crate::{nginx, Error, Result};

/// Renders `desired` and tests it; returns the rendered tree for display.
pub async fn validate_state(
    desired: &DesiredState,
    opts: &RenderOptions,
    nginx_bin: &Path,
) -> Result<RenderedConfig> {
    let rendered = render(desired, opts)?;
    validate_files(&rendered.files, nginx_bin).await?;
    Ok(rendered)
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
