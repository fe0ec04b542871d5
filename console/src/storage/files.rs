//! Files on a claim's volume, reached through a running pod that mounts it — the way a user
//! would with `kubectl exec`, and with the same rights as the web terminal (developers and
//! admins; never a read-only token; on an unconfined demo node, platform admins only).
//! Listing runs `stat` in the container; downloads and uploads are the terminal's transfer
//! routes with the pod, container and path this module reports. Every listing is audited
//! like any changing call (it reads the tenant's data).

use crate::auth::TenantScope;
use crate::state::{AppState, Cache};
use chrono::DateTime;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use wharf_api::error::AppError;
use wharf_api::storage::{
    in_container, volume_path, VolumeEntry, VolumeListing, MAX_VOLUME_ENTRIES,
};
use wharf_api::text;

/// Lists folder `$1`: one `type|size|mtime|name` line per entry, dot files included. A
/// missing folder exits 3. No entries: the unmatched patterns fail `stat` silently.
const LIST: &str = r#"cd -- "$1" 2>/dev/null || exit 3
stat -c '%F|%s|%Y|%n' -- .[!.]* ..?* * 2>/dev/null
exit 0"#;

/// The most output a listing reads (about 2000 long names).
const MAX_OUTPUT: usize = 1 << 20;

/// A running pod of `ns` that mounts `claim` whole (not a subPath), the container that does,
/// and where: the first by pod name, so the same pod is used while it runs.
fn mounter(cache: &Cache, ns: &str, claim: &str) -> Option<(String, String, String)> {
    let mut pods: Vec<_> = cache
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods.iter().find_map(|p| {
        let spec = p.spec.as_ref()?;
        let volume = spec.volumes.iter().flatten().find(|v| {
            v.persistent_volume_claim
                .as_ref()
                .is_some_and(|c| c.claim_name == claim)
        })?;
        spec.containers.iter().find_map(|c| {
            let mount = c.volume_mounts.iter().flatten().find(|m| {
                m.name == volume.name && m.sub_path.as_deref().unwrap_or_default().is_empty()
            })?;
            Some((
                p.metadata.name.clone()?,
                c.name.clone(),
                mount.mount_path.clone(),
            ))
        })
    })
}

/// Reads one `stat` line; `None` for a line that is not one.
fn entry(line: &str) -> Option<VolumeEntry> {
    let mut fields = line.splitn(4, '|');
    let (kind, size, modified, name) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(VolumeEntry {
        name: name.to_string(),
        dir: kind == "directory",
        size: size.parse().ok()?,
        modified: modified
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0)),
    })
}

/// The entries of a listing's output: folders first, then by name; at most
/// [`MAX_VOLUME_ENTRIES`] (and whether there were more).
fn entries(output: &str) -> (Vec<VolumeEntry>, bool) {
    let mut all: Vec<VolumeEntry> = output.lines().filter_map(entry).collect();
    all.sort_by(|a, b| b.dir.cmp(&a.dir).then_with(|| a.name.cmp(&b.name)));
    let truncated = all.len() > MAX_VOLUME_ENTRIES;
    all.truncate(MAX_VOLUME_ENTRIES);
    (all, truncated)
}

/// The folder `path` of claim `claim` in `namespace`.
pub async fn list(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    claim: &str,
    path: &str,
) -> Result<VolumeListing, AppError> {
    let ns = scope.namespace(namespace)?;
    let path = volume_path(path).map_err(AppError::Invalid)?;
    let (pod, container, mount_path) = mounter(&state.cache, ns, claim).ok_or_else(|| {
        AppError::Conflict(text!(
            "no running pod mounts claim '{claim}': its files are reached through a pod that mounts it; start an app that does",
            "没有运行中的 Pod 挂载存储卷声明“{claim}”:其文件需通过挂载它的 Pod 访问;请先启动一个挂载它的应用"
        ))
    })?;
    // the terminal's rights: a developer, not a read-only token, a confined node
    crate::terminal::check(state, scope, ns, &pod, Some(&container))?;
    let dir = in_container(&mount_path, &path);
    let argv = vec!["sh", "-c", LIST, "sh", dir.as_str()];
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), ns);
    let params = AttachParams::default()
        .container(container.as_str())
        .stdin(false)
        .stdout(true)
        .stderr(false);
    let exec_failed = |e: String| {
        AppError::Unavailable(text!(
            "reading the folder through {pod}/{container} failed: {e}",
            "通过 {pod}/{container} 读取文件夹失败:{e}"
        ))
    };
    let mut process = pods
        .exec(&pod, argv, &params)
        .await
        .map_err(|e| exec_failed(e.to_string()))?;
    let mut out = Vec::new();
    if let Some(stdout) = process.stdout() {
        let mut limited = stdout.take(MAX_OUTPUT as u64);
        tokio::time::timeout(Duration::from_secs(30), limited.read_to_end(&mut out))
            .await
            .map_err(|_| exec_failed("no answer in 30 s".into()))?
            .map_err(|e| exec_failed(e.to_string()))?;
    }
    let status = match process.take_status() {
        Some(s) => tokio::time::timeout(Duration::from_secs(30), s)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    if status
        .as_ref()
        .is_some_and(|s| s.status.as_deref() != Some("Success"))
    {
        return Err(AppError::NotFound(text!(
            "folder '{path}' on claim '{claim}'",
            "存储卷声明“{claim}”上的文件夹“{path}”"
        )));
    }
    let (entries, truncated) = entries(&String::from_utf8_lossy(&out));
    Ok(VolumeListing {
        pod,
        container,
        mount_path,
        path,
        entries,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_become_entries_folders_first() {
        let out = "regular file|12|1700000000|b.txt\n\
                   directory|4096|1700000001|a dir\n\
                   regular empty file|0|1700000002|.hidden\n\
                   symbolic link|7|1700000003|link|with|bars\n\
                   garbage\n\
                   directory|4096|1700000004|..\n";
        let (e, truncated) = entries(out);
        assert!(!truncated);
        let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a dir", ".hidden", "b.txt", "link|with|bars"]);
        assert!(e[0].dir && !e[3].dir);
        assert_eq!(e[2].size, 12);
        assert_eq!(e[1].modified.unwrap().timestamp(), 1_700_000_002);
    }

    #[test]
    fn a_huge_folder_is_cut_and_says_so() {
        let out: String = (0..MAX_VOLUME_ENTRIES + 5)
            .map(|i| format!("regular file|1|1|f{i:05}\n"))
            .collect();
        let (e, truncated) = entries(&out);
        assert_eq!(e.len(), MAX_VOLUME_ENTRIES);
        assert!(truncated);
    }
}
