//! Volumes whose files the node writes: `configMap`, `secret`, `downwardAPI` and
//! `projected` (with `configMap`, `secret` and `downwardAPI` sources; a
//! `serviceAccountToken` or `clusterTrustBundle` source writes nothing).
//!
//! Before any container of a pod starts, each such volume is rendered — `items` (key →
//! `path`, with its `mode`) or every key, `defaultMode` (`0644` unless set), `optional` —
//! from the [`ObjectSource`] (Secrets' data already decoded) and written into
//! `<pod dir>/volume-files/<volume>/` ([`dir_of`]) the way the kubelet's `AtomicWriter`
//! does: the files go in a timestamped folder `..<time>/`, a link `..data` points at it
//! and every top-level entry is a link through `..data`, so an update (a new folder, then
//! `..data` renamed over in one step) is seen whole or not at all. A container mounts the
//! volume read-only (see [`crate::process::prepare_dirs`] and [`crate::sandbox`]).
//!
//! A ConfigMap or Secret that is missing and not `optional`, or a missing key an item
//! names, keeps the pod's containers in `ContainerCreating` (`PodInitializing` with init
//! containers) with the kubelet's `FailedMount` event, `MountVolume.SetUp failed for volume
//! "cfg" : configmap "x" not found`, tried again every back-off base until it exists. So
//! does a `persistentVolumeClaim` volume whose claim the node cannot find bound (a pod
//! placed past the scheduler, which holds such pods), with `Unable to attach or mount
//! volumes: unmounted volumes=[data], …: error processing PVC ns/x: PVC is not bound`.
//!
//! While the pod runs, its volumes are rendered again every
//! [`crate::NodeConfig::volume_sync_period`] and rewritten when their content changed: an
//! edited ConfigMap reaches the files (a kubelet does so within about a minute). A
//! `subPath` mount is a copy taken when the container first starts and is never updated,
//! as in Kubernetes. An object that disappears while the pod runs leaves the files as
//! they were.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, DownwardAPIVolumeFile, DownwardAPIVolumeSource, KeyToPath,
    ProjectedVolumeSource, SecretVolumeSource, Volume,
};

use crate::env::{field_value, resource_value, ObjectSource};
use crate::plan::PodPlan;
use crate::runtime::PodShared;
use crate::sandbox::Sandbox;

/// The kubelet's default file mode (`defaultMode: 420`).
pub const DEFAULT_MODE: u32 = 0o644;

/// A volume whose files the node writes, as the pod spec gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum FileVolume {
    ConfigMap(ConfigMapVolumeSource),
    Secret(SecretVolumeSource),
    DownwardApi(DownwardAPIVolumeSource),
    Projected(ProjectedVolumeSource),
}

impl FileVolume {
    /// The file volume a pod's volume is, if it is one.
    pub fn of(v: &Volume) -> Option<FileVolume> {
        if let Some(s) = &v.config_map {
            Some(FileVolume::ConfigMap(s.clone()))
        } else if let Some(s) = &v.secret {
            Some(FileVolume::Secret(s.clone()))
        } else if let Some(s) = &v.downward_api {
            Some(FileVolume::DownwardApi(s.clone()))
        } else {
            v.projected.clone().map(FileVolume::Projected)
        }
    }
}

/// One file of a rendered volume: its path in the volume, content and mode.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct File {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// The folder a file volume's files are written in.
pub fn dir_of(pod_dir: &Path, volume: &str) -> PathBuf {
    pod_dir.join("volume-files").join(volume)
}

/// The folder every file volume of a pod is in (read-only in the sandbox).
pub fn root_of(pod_dir: &Path) -> PathBuf {
    pod_dir.join("volume-files")
}

fn mode_of(mode: Option<i32>, default: u32) -> u32 {
    mode.and_then(|m| u32::try_from(m).ok())
        .map_or(default, |m| m & 0o777)
}

/// A path an item may name: relative, without `..`, not starting with `..`.
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.starts_with("..")
        && !p.split('/').any(|s| s == ".." || s.is_empty())
}

/// Which object kind, for the kubelet's messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Secret,
}

/// The files of a ConfigMap or Secret source: all keys, or `items`.
fn object_files(
    kind: Kind,
    data: Option<BTreeMap<String, Vec<u8>>>,
    name: &str,
    items: Option<&Vec<KeyToPath>>,
    optional: bool,
    default_mode: u32,
) -> Result<Vec<File>, String> {
    let data = match data {
        Some(d) => d,
        None if optional => return Ok(Vec::new()),
        None => {
            return Err(match kind {
                Kind::ConfigMap => format!("configmap \"{name}\" not found"),
                Kind::Secret => format!("secret \"{name}\" not found"),
            })
        }
    };
    let Some(items) = items.filter(|i| !i.is_empty()) else {
        return Ok(data
            .into_iter()
            .filter(|(k, _)| valid_path(k))
            .map(|(path, data)| File {
                path,
                data,
                mode: default_mode,
            })
            .collect());
    };
    let mut files = Vec::new();
    for item in items {
        match data.get(&item.key) {
            Some(v) if valid_path(&item.path) => files.push(File {
                path: item.path.clone(),
                data: v.clone(),
                mode: mode_of(item.mode, default_mode),
            }),
            Some(_) => {}
            None if optional => {}
            None => {
                return Err(match kind {
                    Kind::ConfigMap => {
                        format!("configmap references non-existent config key: {}", item.key)
                    }
                    Kind::Secret => format!("references non-existent secret key: {}", item.key),
                })
            }
        }
    }
    Ok(files)
}

/// `key="value"` lines, sorted, as the kubelet formats whole label and annotation maps.
fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect::<Vec<_>>()
        .join("\n")
}

fn downward_files(
    pod: &PodPlan,
    ip: Ipv4Addr,
    items: &[DownwardAPIVolumeFile],
    default_mode: u32,
) -> Result<Vec<File>, String> {
    let mut files = Vec::new();
    for item in items.iter().filter(|i| valid_path(&i.path)) {
        let value = if let Some(f) = &item.field_ref {
            match f.field_path.as_str() {
                "metadata.labels" => format_map(&pod.labels),
                "metadata.annotations" => format_map(&pod.annotations),
                path => field_value(path, pod, ip)?,
            }
        } else if let Some(r) = &item.resource_field_ref {
            let name = r.container_name.as_deref().unwrap_or_default();
            let c = pod
                .all_containers()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("container {name:?} not found"))?;
            resource_value(r, c)?
        } else {
            continue;
        };
        files.push(File {
            path: item.path.clone(),
            data: value.into_bytes(),
            mode: mode_of(item.mode, default_mode),
        });
    }
    Ok(files)
}

/// The files of one volume, or the kubelet's reason it cannot be set up.
pub fn render(
    pod: &PodPlan,
    ip: Ipv4Addr,
    volume: &FileVolume,
    source: Option<&dyn ObjectSource>,
) -> Result<Vec<File>, String> {
    let ns = &pod.namespace;
    let config_map = |name: &str| {
        source
            .and_then(|s| s.config_map(ns, name))
            .map(|m| m.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
    };
    let secret = |name: &str| source.and_then(|s| s.secret(ns, name));
    let mut files = match volume {
        FileVolume::ConfigMap(s) => object_files(
            Kind::ConfigMap,
            config_map(&s.name),
            &s.name,
            s.items.as_ref(),
            s.optional == Some(true),
            mode_of(s.default_mode, DEFAULT_MODE),
        )?,
        FileVolume::Secret(s) => {
            let name = s.secret_name.as_deref().unwrap_or_default();
            object_files(
                Kind::Secret,
                secret(name),
                name,
                s.items.as_ref(),
                s.optional == Some(true),
                mode_of(s.default_mode, DEFAULT_MODE),
            )?
        }
        FileVolume::DownwardApi(s) => downward_files(
            pod,
            ip,
            s.items.as_deref().unwrap_or_default(),
            mode_of(s.default_mode, DEFAULT_MODE),
        )?,
        FileVolume::Projected(p) => {
            let default = mode_of(p.default_mode, DEFAULT_MODE);
            let mut files = Vec::new();
            for src in p.sources.iter().flatten() {
                if let Some(s) = &src.config_map {
                    files.extend(object_files(
                        Kind::ConfigMap,
                        config_map(&s.name),
                        &s.name,
                        s.items.as_ref(),
                        s.optional == Some(true),
                        default,
                    )?);
                } else if let Some(s) = &src.secret {
                    files.extend(object_files(
                        Kind::Secret,
                        secret(&s.name),
                        &s.name,
                        s.items.as_ref(),
                        s.optional == Some(true),
                        default,
                    )?);
                } else if let Some(s) = &src.downward_api {
                    files.extend(downward_files(
                        pod,
                        ip,
                        s.items.as_deref().unwrap_or_default(),
                        default,
                    )?);
                }
            }
            files
        }
    };
    // A later source's file of the same path wins, as in the kubelet's projection.
    let by_path: BTreeMap<String, File> = files.drain(..).map(|f| (f.path.clone(), f)).collect();
    Ok(by_path.into_values().collect())
}

/// The files under `dir/..data` now, as [`render`] gives them (empty if none yet).
fn current(dir: &Path) -> Vec<File> {
    fn walk(base: &Path, rel: &str, out: &mut Vec<File>) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(base.join(rel)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                walk(base, &path, out);
            } else if let Ok(data) = std::fs::read(e.path()) {
                out.push(File {
                    path,
                    data,
                    mode: meta.permissions().mode() & 0o777,
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("..data"), "", &mut out);
    out.sort();
    out
}

/// Writes `files` into `dir` as the kubelet's `AtomicWriter` does (see the module docs),
/// handing them to the sandbox's user; returns whether anything changed.
pub fn write(dir: &Path, files: &[File], sandbox: &Sandbox) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let give = |p: &Path| sandbox.give(p);
    std::fs::create_dir_all(dir)?;
    let data_link = dir.join("..data");
    let had_data = std::fs::symlink_metadata(&data_link).is_ok();
    if had_data && current(dir) == files {
        return Ok(false);
    }
    give(dir)?;
    let stamp = chrono::Utc::now()
        .format("..%Y_%m_%d_%H_%M_%S.%f")
        .to_string();
    let ts_dir = dir.join(&stamp);
    std::fs::create_dir(&ts_dir)?;
    std::fs::set_permissions(&ts_dir, std::fs::Permissions::from_mode(0o755))?;
    give(&ts_dir)?;
    for f in files {
        let path = ts_dir.join(&f.path);
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                std::fs::create_dir_all(parent)?;
                let mut p = parent;
                while p != ts_dir {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
                    give(p)?;
                    p = p.parent().unwrap_or(&ts_dir);
                }
            }
        }
        std::fs::write(&path, &f.data)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
        give(&path)?;
    }
    let old_target = std::fs::read_link(&data_link).ok();
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    std::os::unix::fs::symlink(&stamp, &tmp_link)?;
    std::fs::rename(&tmp_link, &data_link)?;
    // Top-level entries: links through `..data`; those no longer there go.
    let mut tops: Vec<String> = files
        .iter()
        .filter_map(|f| f.path.split('/').next().map(str::to_string))
        .collect();
    tops.dedup();
    for top in &tops {
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(top), &link)?;
        }
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !tops.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if let Some(old) = old_target.filter(|o| o.as_os_str() != stamp.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}

/// Renders and writes every file volume of `pod`; `Err` is the first failure, as the
/// kubelet's `FailedMount` event words it. A volume that fails keeps its files as they are.
pub(crate) async fn sync(pod: &PodShared) -> Result<(), String> {
    let source = pod.object_source();
    let mut first_error = None;
    for (name, volume) in &pod.plan.file_volumes {
        let failed = |e: String| format!("MountVolume.SetUp failed for volume \"{name}\" : {e}");
        let files = match render(&pod.plan, pod.ip, volume, source.as_deref()) {
            Ok(f) => f,
            Err(e) => {
                first_error.get_or_insert(failed(e));
                continue;
            }
        };
        let dir = dir_of(&pod.dir, name);
        let sandbox = pod.cfg.sandbox.clone();
        let written = tokio::task::spawn_blocking(move || write(&dir, &files, &sandbox)).await;
        match written {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(failed(e.to_string()));
            }
            Err(e) => {
                first_error.get_or_insert(failed(e.to_string()));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Sets up a pod's volumes before its containers start: until every claim is bound (see
/// [`PodShared::claim_folders`]) and every file volume can be written, records
/// `FailedMount` and tries again every back-off base.
pub(crate) async fn mount_all(pod: &PodShared) {
    if pod.plan.file_volumes.is_empty() && pod.plan.claims.is_empty() {
        return;
    }
    loop {
        let failed = match pod.claim_folders() {
            Ok(_) => sync(pod).await.err(),
            Err(msg) => Some(msg),
        };
        let Some(msg) = failed else { return };
        pod.pod_event("Warning", "FailedMount", msg);
        tokio::time::sleep(pod.cfg.backoff_base).await;
    }
}

/// Keeps a running pod's file volumes up to date with their objects; never returns.
pub(crate) async fn keep_synced(pod: &PodShared) {
    if pod.plan.file_volumes.is_empty() {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(pod.cfg.volume_sync_period).await;
        if let Err(msg) = sync(pod).await {
            tracing::debug!(pod = %pod.full_name(), "{msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    struct Objects;

    impl ObjectSource for Objects {
        fn secret(&self, _: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
            (name == "creds").then(|| BTreeMap::from([("token".to_string(), vec![0, 1, 255])]))
        }
        fn config_map(&self, _: &str, name: &str) -> Option<BTreeMap<String, String>> {
            (name == "app").then(|| {
                BTreeMap::from([
                    ("app.properties".to_string(), "level=debug\n".to_string()),
                    ("other".to_string(), "x".to_string()),
                ])
            })
        }
    }

    fn pod() -> PodPlan {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"b": "2", "a": "1"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"limits": {"memory": "64Mi"}}}]}
        }))
        .unwrap();
        PodPlan::from_pod(&pod).unwrap()
    }

    fn volume(v: serde_json::Value) -> FileVolume {
        FileVolume::of(&serde_json::from_value(v).unwrap()).unwrap()
    }

    fn render_it(v: serde_json::Value) -> Result<Vec<File>, String> {
        render(
            &pod(),
            Ipv4Addr::new(127, 0, 0, 9),
            &volume(v),
            Some(&Objects),
        )
    }

    #[test]
    fn items_modes_and_defaults() {
        let all =
            render_it(serde_json::json!({"name": "v", "configMap": {"name": "app"}})).unwrap();
        let paths: Vec<_> = all.iter().map(|f| (f.path.as_str(), f.mode)).collect();
        assert_eq!(paths, [("app.properties", 0o644), ("other", 0o644)]);
        let some = render_it(serde_json::json!({"name": "v", "configMap": {"name": "app", "defaultMode": 0o440,
            "items": [{"key": "other", "path": "sub/o.txt", "mode": 0o600}, {"key": "app.properties", "path": "a"}]}}))
        .unwrap();
        let got: Vec<_> = some.iter().map(|f| (f.path.as_str(), f.mode)).collect();
        assert_eq!(got, [("a", 0o440), ("sub/o.txt", 0o600)]);
        let secret =
            render_it(serde_json::json!({"name": "v", "secret": {"secretName": "creds"}})).unwrap();
        assert_eq!(secret[0].data, vec![0, 1, 255], "bytes, decoded");
    }

    #[test]
    fn missing_objects_and_keys_fail_with_kubelet_words_unless_optional() {
        let err = |v| render_it(v).unwrap_err();
        assert_eq!(
            err(serde_json::json!({"name": "v", "configMap": {"name": "x"}})),
            "configmap \"x\" not found"
        );
        assert_eq!(
            err(serde_json::json!({"name": "v", "secret": {"secretName": "x"}})),
            "secret \"x\" not found"
        );
        assert_eq!(
            err(
                serde_json::json!({"name": "v", "configMap": {"name": "app", "items": [{"key": "k", "path": "k"}]}})
            ),
            "configmap references non-existent config key: k"
        );
        let none = render_it(
            serde_json::json!({"name": "v", "configMap": {"name": "x", "optional": true}}),
        );
        assert_eq!(none, Ok(vec![]));
    }

    #[test]
    fn projected_sources_and_the_downward_api() {
        let files = render_it(serde_json::json!({"name": "v", "projected": {"defaultMode": 0o400, "sources": [
            {"configMap": {"name": "app", "items": [{"key": "other", "path": "other"}]}},
            {"secret": {"name": "creds"}},
            {"serviceAccountToken": {"path": "token-sa"}},
            {"downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}}]}}))
        .unwrap();
        let get = |p: &str| {
            files
                .iter()
                .find(|f| f.path == p)
                .map(|f| (String::from_utf8_lossy(&f.data).into_owned(), f.mode))
        };
        assert_eq!(get("labels"), Some(("a=\"1\"\nb=\"2\"".into(), 0o400)));
        assert_eq!(get("name"), Some(("p".into(), 0o400)));
        assert_eq!(get("mem"), Some(("64".into(), 0o400)));
        assert_eq!(get("other"), Some(("x".into(), 0o400)));
        assert!(get("token").is_some());
        assert!(get("token-sa").is_none());
    }

    #[test]
    fn writes_are_atomic_swaps_through_data_links() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::off("test");
        let file = |p: &str, d: &str| File {
            path: p.into(),
            data: d.into(),
            mode: 0o644,
        };
        let v = dir.path().join("cfg");
        assert!(write(&v, &[file("a", "1"), file("d/b", "2")], &sandbox).unwrap());
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(v.join("d/b")).unwrap(), "2");
        assert!(std::fs::symlink_metadata(v.join("a")).unwrap().is_symlink());
        assert!(
            !write(&v, &[file("a", "1"), file("d/b", "2")], &sandbox).unwrap(),
            "unchanged"
        );
        assert!(write(&v, &[file("a", "3")], &sandbox).unwrap());
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "3");
        assert!(!v.join("d").exists(), "gone with its key");
        let stamped = std::fs::read_dir(&v)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("..2"))
            .count();
        assert_eq!(stamped, 1, "the old folder is removed");
    }
}
