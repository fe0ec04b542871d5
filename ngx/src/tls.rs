//! Certificates on the node, and checking one pair with nginx.
//!
//! A route's certificate lives in `<conf_dir>/tls/` (see
//! [`crate::NginxPaths::tls_dir`]), outside the release trees, so the drift
//! view, the download and the node's published files never carry a key. The
//! files are named after a hash of their content ([`CertificateFiles::new`]):
//! a rotation writes new files and renders new paths, which changes the
//! tree's sha, so the converger's ordinary test-swap-reload applies it and a
//! rollback still finds the old files. Files are written with mode 0600 via
//! temp + fsync + rename in a 0700 directory, and removed once neither the
//! live nor the previous release names them.
//!
//! [`check`] runs `nginx -t` on a pair alone, so an agent can leave out one
//! route's bad certificate (and say why) instead of failing the whole config.
//! [`self_signed`] makes a throw-away pair (the demo's TLS route, and what
//! the console renders in place of a Secret it may not read).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::model::PrivateKey;
use crate::render::CertificateFiles;
use crate::{Error, Result};

/// sha256 (hex) of a pair: what names its files, and what an agent may key
/// a cache of [`check`] verdicts by.
pub fn fingerprint(cert_pem: &str, key_pem: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(cert_pem.as_bytes());
    h.update([0]);
    h.update(key_pem.as_bytes());
    hex::encode(h.finalize())
}

/// Writes the certificates that are not on disk yet (or differ).
pub fn install(dir: &Path, certificates: &[CertificateFiles]) -> Result<()> {
    if certificates.is_empty() {
        return Ok(());
    }
    prepare_dir(dir)?;
    let mut wrote = false;
    for c in certificates {
        wrote |= write_private(&c.cert_path, c.cert_pem.as_bytes())?;
        wrote |= write_private(&c.key_path, c.key_pem.0.as_bytes())?;
    }
    if wrote {
        crate::layout::sync_dir(dir)?;
    }
    Ok(())
}

/// Creates the directory (mode 0700) if needed.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(Error::io("setting the mode of", dir))
}

/// Temp file (0600) + fsync + rename; `false` when the file already holds `body`.
fn write_private(path: &Path, body: &[u8]) -> Result<bool> {
    if fs::read(path).is_ok_and(|b| b == body) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(Error::io("creating temp file in", dir))?;
    tmp.write_all(body).map_err(Error::io("writing", path))?;
    tmp.as_file()
        .sync_all()
        .map_err(Error::io("syncing", path))?;
    tmp.persist(path)
        .map_err(|e| Error::io("renaming to", path)(e.error))?;
    Ok(true)
}

/// Removes certificate files (`*.crt`, `*.key`, leftover temp files) that
/// are not in `keep`.
pub fn prune(dir: &Path, keep: &BTreeSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".crt") || name.ends_with(".key") || name.starts_with(".tmp-");
        if ours && !keep.contains(&path) {
            if let Err(err) = fs::remove_file(&path) {
                warn!(path = %path.display(), error = %err, "removing an old certificate file");
            }
        }
    }
}

/// Checks that nginx accepts `cert_pem` with `key_pem` (both parse, the key
/// matches the leaf): `nginx -t` on a server with only this pair, in a
/// throw-away prefix. The error is nginx's message, naming the files
/// `tls.crt` and `tls.key` (the keys of a `kubernetes.io/tls` Secret).
pub async fn check(cert_pem: &str, key_pem: &str, nginx_bin: &Path) -> Result<()> {
    // A quick look first: nginx's message for text that is not PEM at all is obscure.
    if !cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::invalid("tls.crt", "holds no PEM certificate"));
    }
    if !key_pem.contains("PRIVATE KEY-----") {
        return Err(Error::invalid("tls.key", "holds no PEM private key"));
    }
    let tmp = tempfile::Builder::new()
        .prefix("wharf-ngx-tls-")
        .tempdir()
        .map_err(Error::io("creating temp dir in", std::env::temp_dir()))?;
    let dir = tmp.path();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    write_private(&cert, cert_pem.as_bytes())?;
    write_private(&key, key_pem.as_bytes())?;
    let conf = format!(
        "pid logs/nginx.pid;\nerror_log logs/error.log notice;\nevents {{}}\nhttp {{\n    server {{\n        \
         listen unix:{}/check.sock ssl;\n        ssl_certificate {};\n        ssl_certificate_key {};\n    }}\n}}\n",
        dir.display(),
        cert.display(),
        key.display()
    );
    let files = [(PathBuf::from("nginx.conf"), conf)].into_iter().collect();
    let prefix = format!("{}/", dir.display());
    crate::validate::validate_files(&files, nginx_bin)
        .await
        .map_err(|e| match e {
            Error::Nginx(mut n) => {
                n.message = n.message.replace(&prefix, "");
                n.file = None;
                n.line = None;
                Error::Nginx(n)
            }
            other => other,
        })
}

/// A self-signed certificate for `hosts` (DNS names) and its key, PEM. For
/// demos and stand-ins only: no client trusts it.
pub fn self_signed(hosts: &[String]) -> Result<(String, PrivateKey)> {
    let failed = |e: rcgen::Error| Error::invalid("self-signed certificate", e.to_string());
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(failed)?;
    if let Some(first) = hosts.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok((cert.pem(), PrivateKey(key.serialize_pem())))
}
