//! Artifacts uploaded for pipelines (a jar, war or zip instead of a git repository): where
//! the console keeps them, and how a run's build pod gets one.
//!
//! An upload is kept per namespace under its SHA-256: `artifacts/<namespace>/<sha256>` among
//! the log bucket's files when there is a bucket (so every replica serves it), else in the
//! artifacts folder on this replica's disk. A pipeline's source stage names the SHA-256, and
//! a run's snapshot keeps it, so a run and its retries build exactly that file. Files are
//! staged in `<folder>/.incoming/` while they arrive and checked there (size, zip header,
//! hash) before they are kept.
//!
//! A build pod has no session: the run's Job fetches the file from
//! `GET /pipelines/artifacts/<token>` (`--console-url-for-builds`), where the token is sealed
//! with the console's session key for that namespace's file until the run's deadline — what
//! any replica can check, what cannot be turned into another tenant's file, and what is worth
//! nothing once the run is over.

use crate::auth::SessionKey;
use crds::pipeline::PipelineRun;
use kube::ResourceExt;
use std::path::{Path, PathBuf};
use wharf_api::pipelines::validate::is_sha256;
use wharf_api::pipelines::BaseImageOption;

/// The folder of the bucket's files (and of the local folder) that holds artifacts.
pub const FOLDER: &str = "artifacts";

/// What a token is sealed for (see [`SessionKey::seal`]).
const PURPOSE: &str = "pipeline-artifact";

/// How uploads are taken and kept, and what they are built on.
#[derive(Clone, Debug)]
pub struct ArtifactSettings {
    /// Where files arrive, and where they are kept without a bucket.
    pub dir: PathBuf,
    /// The shared log bucket, where kept files go when there is one.
    pub bucket: Option<logship::Bucket>,
    /// The largest file taken, in bytes.
    pub max_bytes: u64,
    /// The base images an artifact may be built on.
    pub base_images: Vec<BaseImageOption>,
    /// The console's URL as the cluster's pods reach it; `None`: artifacts cannot be built.
    pub url_for_builds: Option<String>,
}

impl Default for ArtifactSettings {
    fn default() -> Self {
        ArtifactSettings {
            dir: PathBuf::from(".wharf/artifacts"),
            bucket: None,
            max_bytes: 200 << 20,
            base_images: default_base_images(),
            url_for_builds: None,
        }
    }
}

/// The list a console starts with: the Eclipse Temurin JREs of the current LTS releases, and
/// a Python for zips of scripts.
pub fn default_base_images() -> Vec<BaseImageOption> {
    [
        ("jre8", "eclipse-temurin:8-jre"),
        ("jre11", "eclipse-temurin:11-jre"),
        ("jre17", "eclipse-temurin:17-jre"),
        ("jre21", "eclipse-temurin:21-jre"),
        ("python3", "python:3.11-slim"),
    ]
    .into_iter()
    .map(|(name, image)| BaseImageOption {
        name: name.into(),
        image: image.into(),
    })
    .collect()
}

/// `name=image`, as `--artifact-base-image` takes it.
pub fn parse_base_image(s: &str) -> Result<BaseImageOption, String> {
    let (name, image) = s
        .split_once('=')
        .ok_or_else(|| format!("base image '{s}': expected name=image"))?;
    if !wharf_api::names::is_dns_label(name) {
        return Err(format!(
            "base image '{s}': '{name}' is not a name (lower-case letters, digits, '-')"
        ));
    }
    wharf_api::workloads::validate::image(image)
        .map_err(|e| format!("base image '{s}': {}", e.en))?;
    Ok(BaseImageOption {
        name: name.into(),
        image: image.into(),
    })
}

/// Where a kept file is, among the bucket's files or under the folder.
pub fn object(namespace: &str, sha256: &str) -> String {
    format!("{FOLDER}/{namespace}/{sha256}")
}

/// A kept artifact, to answer with.
pub enum Kept {
    /// On this replica's disk.
    File(PathBuf),
    /// Read from the bucket.
    Bytes(Vec<u8>),
}

impl ArtifactSettings {
    /// The folder files arrive in.
    pub fn incoming(&self) -> PathBuf {
        self.dir.join(".incoming")
    }

    fn local(&self, namespace: &str, sha256: &str) -> PathBuf {
        self.dir.join(namespace).join(sha256)
    }

    /// Keeps the checked file `staged` (in [`Self::incoming`]) as `namespace`'s `sha256`; the
    /// staged file is gone afterwards, kept or not.
    pub async fn keep(&self, staged: &Path, namespace: &str, sha256: &str) -> Result<(), String> {
        let result = match &self.bucket {
            None => {
                let to = self.local(namespace, sha256);
                let dir = to.parent().expect("a file in a folder").to_path_buf();
                async {
                    tokio::fs::create_dir_all(&dir).await?;
                    tokio::fs::rename(staged, &to).await
                }
                .await
                .map_err(|e| format!("keeping the artifact in {}: {e}", dir.display()))
            }
            Some(bucket) => match tokio::fs::read(staged).await {
                Err(e) => Err(format!("reading the staged artifact: {e}")),
                Ok(bytes) => {
                    let (bucket, name) = (bucket.clone(), object(namespace, sha256));
                    tokio::task::spawn_blocking(move || bucket.put_file(&name, bytes))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                }
            },
        };
        if let Err(e) = tokio::fs::remove_file(staged).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, path = %staged.display(), "a staged artifact stays on disk");
            }
        }
        result
    }

    /// Whether `namespace` has the file `sha256`.
    pub async fn holds(&self, namespace: &str, sha256: &str) -> Result<bool, String> {
        if !is_sha256(sha256) {
            return Ok(false);
        }
        match &self.bucket {
            None => Ok(tokio::fs::try_exists(self.local(namespace, sha256))
                .await
                .unwrap_or(false)),
            Some(bucket) => {
                let (bucket, name) = (bucket.clone(), object(namespace, sha256));
                tokio::task::spawn_blocking(move || bucket.file_info(&name))
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|info| info.is_some())
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// `namespace`'s file `sha256`, if it is kept.
    pub async fn read(&self, namespace: &str, sha256: &str) -> Result<Option<Kept>, String> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        match &self.bucket {
            None => {
                let path = self.local(namespace, sha256);
                Ok(tokio::fs::try_exists(&path)
                    .await
                    .unwrap_or(false)
                    .then_some(Kept::File(path)))
            }
            Some(bucket) => {
                let (bucket, name) = (bucket.clone(), object(namespace, sha256));
                tokio::task::spawn_blocking(move || bucket.get_file(&name))
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|got| got.map(Kept::Bytes))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The token a build pod presents for `namespace`'s file `sha256`, good until `expires_unix`.
pub fn token(key: &SessionKey, namespace: &str, sha256: &str, expires_unix: i64) -> String {
    key.seal(PURPOSE, &format!("{namespace}/{sha256}"), expires_unix)
}

/// The namespace and file a token is good for, if it is authentic and not expired.
pub fn open_token(key: &SessionKey, token: &str, now_unix: i64) -> Option<(String, String)> {
    let payload = key.open(PURPOSE, token, now_unix)?;
    let (namespace, sha256) = payload.split_once('/')?;
    is_sha256(sha256).then(|| (namespace.to_string(), sha256.to_string()))
}

/// Where `run`'s build pod fetches its artifact: `Ok(None)` when its source is git, `Err` when
/// the console does not know its own address for builds. The token lasts until the run's
/// deadline (the Job's `activeDeadlineSeconds` from now) and ten minutes more for the pod to
/// be scheduled.
pub fn url_for_run(
    settings: &ArtifactSettings,
    key: &SessionKey,
    run: &PipelineRun,
    timeout_secs: i64,
    now_unix: i64,
) -> Result<Option<String>, String> {
    let Some(artifact) = run.spec.snapshot.artifact() else {
        return Ok(None);
    };
    let base = settings
        .url_for_builds
        .as_deref()
        .ok_or_else(not_configured_en)?;
    let namespace = run.namespace().unwrap_or_default();
    let token = token(
        key,
        &namespace,
        &artifact.sha256,
        now_unix + timeout_secs + 600,
    );
    let path = wharf_api::routes::ARTIFACT_FOR_BUILD.replace("{token}", &token);
    Ok(Some(format!("{}{path}", base.trim_end_matches('/'))))
}

fn not_configured_en() -> String {
    not_configured().en
}

/// Why artifacts cannot be built without `--console-url-for-builds`.
pub fn not_configured() -> wharf_api::Text {
    wharf_api::text!(
        "uploaded artifacts cannot be built here: the platform admin has not told the console the address its build pods reach it at (--console-url-for-builds)",
        "此处无法构建上传的制品:平台管理员尚未配置构建 Pod 访问控制台的地址(--console-url-for-builds)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey::new(b"k".repeat(32))
    }

    #[test]
    fn a_token_is_good_for_one_namespaces_file_until_it_expires() {
        let sha = "ab".repeat(32);
        let t = token(&key(), "alpha", &sha, 1000);
        assert_eq!(
            open_token(&key(), &t, 999),
            Some(("alpha".to_string(), sha.clone()))
        );
        assert_eq!(open_token(&key(), &t, 1000), None, "expired");
        assert_eq!(
            open_token(&SessionKey::new(b"other".to_vec()), &t, 0),
            None,
            "another console's key"
        );
        // a session cookie or another sealed value is no token
        let sealed = key().seal("oidc-login", &format!("alpha/{sha}"), 1000);
        assert_eq!(open_token(&key(), &sealed, 0), None);
        let not_a_file = key().seal(PURPOSE, "alpha/../beta", 1000);
        assert_eq!(open_token(&key(), &not_a_file, 0), None);
    }

    #[test]
    fn base_images_are_name_equals_image() {
        assert_eq!(
            parse_base_image("jre17=eclipse-temurin:17-jre").unwrap(),
            BaseImageOption {
                name: "jre17".into(),
                image: "eclipse-temurin:17-jre".into()
            }
        );
        for bad in ["jre17", "JRE=x:1", "jre=", "a=bad image"] {
            assert!(parse_base_image(bad).is_err(), "{bad}");
        }
        assert!(default_base_images()
            .iter()
            .all(|b| parse_base_image(&format!("{}={}", b.name, b.image)).is_ok()));
    }

    #[tokio::test]
    async fn a_kept_file_is_found_in_its_namespace_only() {
        let dir = tempfile::tempdir().unwrap();
        let settings = ArtifactSettings {
            dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let sha = "cd".repeat(32);
        tokio::fs::create_dir_all(settings.incoming())
            .await
            .unwrap();
        let staged = settings.incoming().join("x");
        tokio::fs::write(&staged, b"PK\x03\x04").await.unwrap();
        settings.keep(&staged, "alpha", &sha).await.unwrap();
        assert!(!staged.exists());
        assert!(settings.holds("alpha", &sha).await.unwrap());
        assert!(!settings.holds("beta", &sha).await.unwrap());
        assert!(!settings.holds("alpha", "../alpha").await.unwrap());
        match settings.read("alpha", &sha).await.unwrap() {
            Some(Kept::File(p)) => assert_eq!(std::fs::read(p).unwrap(), b"PK\x03\x04"),
            _ => panic!("kept on disk"),
        }
        assert!(settings.read("beta", &sha).await.unwrap().is_none());
    }
}
