//! Files on a claim's volume, reached through a running pod that mounts it — the way a user
//! would with `kubectl exec`, and with the same rights as the web terminal (developers and
//! admins; never a read-only token; on an unconfined demo node, platform admins only).
//! Listing runs `stat` in the container; downloads and uploads are the terminal's transfer
//! routes with the pod, container and path this module reports. Every listing is audited
//! like any changing call (it reads the tenant's data).
//!
//! A claim no running pod mounts (its app scaled to zero, a claim kept after its app went)
//! is reached through a *files pod* a developer starts from the browser ([`open`]): the
//! terminal's tools image, the claim mounted at [`FILES_MOUNT`], held to the tenant's Pod
//! Security level, sleeping for [`FILES_POD_SECS`] with the same `activeDeadlineSeconds`,
//! so Kubernetes stops it even if nobody closes it ([`close`] deletes it at once; deleting
//! the claim deletes it too). It is labelled [`FILES_POD`] and annotated with the claim.

use crate::auth::TenantScope;
use crate::state::{AppState, Cache};
use chrono::DateTime;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, AttachParams, DeleteParams, ListParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
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

/// The label of a files pod (`"true"`); which claim it serves is its volume's (a label
/// value could not hold every claim name: those run to 253 characters).
pub const FILES_POD: &str = "wharf.dev/files-pod";
/// Where a files pod mounts its claim.
pub const FILES_MOUNT: &str = "/data";
/// How long a files pod lives (its sleep and its `activeDeadlineSeconds`).
pub const FILES_POD_SECS: i64 = 3600;
/// The uid a files pod runs as where the tenant's level is restricted (which forbids root):
/// `nobody`, which reads only what the app made readable to all.
const RESTRICTED_UID: i64 = 65534;

/// Whether `pod` is a files pod (of any claim).
pub fn is_files_pod(pod: &Pod) -> bool {
    pod.labels().get(FILES_POD).is_some_and(|v| v == "true")
}

/// A running pod of `ns` that mounts `claim` whole (not a subPath), the container that does,
/// and where: the first by pod name, so the same pod is used while it runs.
fn mounter(cache: &Cache, ns: &str, claim: &str) -> Option<(String, String, String, bool)> {
    let mut pods: Vec<_> = cache
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    // an app's own pod first (it sees the files as the app does), then by name
    pods.sort_by(|a, b| {
        (is_files_pod(a), &a.metadata.name).cmp(&(is_files_pod(b), &b.metadata.name))
    });
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
                is_files_pod(p),
            ))
        })
    })
}

/// Why no pod reaches `claim`: its files pod is not running yet (and what it waits on), or
/// no pod mounts it.
fn not_reachable(cache: &Cache, ns: &str, claim: &str) -> wharf_api::Text {
    let starting = cache.pods.state().into_iter().find(|p| {
        p.metadata.namespace.as_deref() == Some(ns)
            && p.metadata.deletion_timestamp.is_none()
            && is_files_pod(p)
            && super::mounts(p, claim)
    });
    let Some(p) = starting else {
        return text!(
            "no running pod mounts claim '{claim}': its files are reached through a pod that mounts it; start a files pod for it, or an app that mounts it",
            "没有运行中的 Pod 挂载存储卷声明“{claim}”:其文件需通过挂载它的 Pod 访问;请为它启动文件 Pod,或启动一个挂载它的应用"
        );
    };
    let name = p.name_any();
    let status = p.status.clone().unwrap_or_default();
    let phase = status.phase.unwrap_or_else(|| "Pending".into());
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.clone())
        .map(|w| {
            let reason = w.reason.unwrap_or_default();
            match w.message.filter(|m| !m.is_empty()) {
                Some(m) => format!(" ({reason}: {m})"),
                None => format!(" ({reason})"),
            }
        })
        .unwrap_or_default();
    text!(
        "the files pod {name} of claim '{claim}' is {phase}{waiting}",
        "存储卷声明“{claim}”的文件 Pod {name} 状态为 {phase}{waiting}"
    )
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
    let (pod, container, mount_path, files_pod) = mounter(&state.cache, ns, claim)
        .ok_or_else(|| AppError::Conflict(not_reachable(&state.cache, ns, claim)))?;
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
        files_pod,
    })
}

/// The files pod of `claim` in `ns` for the tenant's Pod Security `level`: the terminal's
/// tools `image`, the claim at [`FILES_MOUNT`], no service account token, small resources,
/// stopped by Kubernetes after [`FILES_POD_SECS`].
pub fn files_pod(ns: &str, claim: &str, image: &str, level: crds::PodSecurity, by: &str) -> Pod {
    // a pod name is at most 253 characters, its host name 63: a short prefix of the claim's
    let short: String = claim.chars().take(40).collect();
    let short = short.trim_end_matches(['-', '.']);
    let mut spec = json!({
        "restartPolicy": "Never",
        "activeDeadlineSeconds": FILES_POD_SECS,
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "files",
            "image": image,
            "command": ["sleep", FILES_POD_SECS.to_string()],
            "volumeMounts": [{"name": "data", "mountPath": FILES_MOUNT}],
            "resources": {
                "requests": {"cpu": "10m", "memory": "16Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"}
            }
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    });
    if level == crds::PodSecurity::Restricted {
        spec["securityContext"] =
            json!({"runAsUser": RESTRICTED_UID, "runAsGroup": RESTRICTED_UID});
    }
    crate::workloads::security::harden(&mut spec, level);
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("files-{short}-"),
            "namespace": ns,
            "labels": {FILES_POD: "true", "app.kubernetes.io/managed-by": "wharf"},
            "annotations": {"wharf.dev/files-of": claim, "wharf.dev/opened-by": by}
        },
        "spec": spec
    }))
    .expect("a files pod is a Pod")
}

/// Starts a files pod for `claim` unless a pod can already reach it: an app's running pod, or
/// a files pod of the claim still starting or running (whose name is returned). Finished
/// files pods of the claim are deleted first.
pub async fn open(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    claim: &str,
) -> Result<String, AppError> {
    let ns = scope.namespace(namespace)?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(state.client.clone(), ns);
    if claims.get_opt(claim).await?.is_none() {
        return Err(AppError::NotFound(text!(
            "claim '{claim}' in namespace {ns}",
            "命名空间 {ns} 中的存储卷声明“{claim}”"
        )));
    }
    if let Some((pod, ..)) = mounter(&state.cache, ns, claim) {
        return Ok(pod);
    }
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), ns);
    for p in files_pods(&pods, claim).await? {
        let phase = p.status.as_ref().and_then(|s| s.phase.clone());
        match phase.as_deref() {
            Some("Succeeded" | "Failed") => {
                pods.delete(&p.name_any(), &DeleteParams::default())
                    .await
                    .map(|_| ())
                    .or_else(gone_is_fine)?;
            }
            _ if p.metadata.deletion_timestamp.is_none() => return Ok(p.name_any()),
            _ => {}
        }
    }
    let level = crate::workloads::security::level_of(&state.cache, scope.tenant());
    let pod = files_pod(
        ns,
        claim,
        &state.settings.terminal.debug_image,
        level,
        scope.user(),
    );
    let candidate = serde_json::to_value(&pod).unwrap_or_default();
    AppError::invalid_if_any(crate::workloads::security::policy_errors(
        "Pod", &candidate, level,
    ))?;
    let made = pods.create(&PostParams::default(), &pod).await?;
    tracing::info!(
        user = scope.user(),
        tenant = scope.tenant(),
        ns,
        claim,
        pod = made.name_any(),
        "files pod started"
    );
    Ok(made.name_any())
}

/// Deletes the files pods of `claim` (nothing when there are none).
pub async fn close(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    claim: &str,
) -> Result<(), AppError> {
    let ns = scope.namespace(namespace)?;
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), ns);
    for p in files_pods(&pods, claim).await? {
        pods.delete(&p.name_any(), &DeleteParams::default())
            .await
            .map(|_| ())
            .or_else(gone_is_fine)?;
        tracing::info!(
            user = scope.user(),
            ns,
            claim,
            pod = p.name_any(),
            "files pod closed"
        );
    }
    Ok(())
}

/// The files pods (of a namespace's `pods`) that mount `claim`.
async fn files_pods(pods: &Api<Pod>, claim: &str) -> Result<Vec<Pod>, AppError> {
    let all = pods
        .list(&ListParams::default().labels(&format!("{FILES_POD}=true")))
        .await?;
    Ok(all
        .into_iter()
        .filter(|p| super::mounts(p, claim))
        .collect())
}

fn gone_is_fine(e: kube::Error) -> Result<(), AppError> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e.into()),
    }
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
    fn a_files_pod_passes_every_pod_security_level() {
        use crds::PodSecurity;
        for level in [
            PodSecurity::Privileged,
            PodSecurity::Baseline,
            PodSecurity::Restricted,
        ] {
            let pod = files_pod("alpha", "data", "tools:1", level, "alice");
            let json = serde_json::to_value(&pod).unwrap();
            let errors = crate::workloads::security::policy_errors("Pod", &json, level);
            assert!(errors.is_empty(), "{level:?}: {errors:?}");
            let uid = &json["spec"]["securityContext"]["runAsUser"];
            match level {
                // restricted forbids root, which the tools image is by default
                PodSecurity::Restricted => assert_eq!(uid, RESTRICTED_UID),
                _ => assert!(uid.is_null(), "{level:?}"),
            }
        }
        // a long claim name makes a name within a host name's 63 characters
        let long = "a".repeat(200);
        let pod = files_pod("alpha", &long, "tools:1", PodSecurity::Baseline, "alice");
        let prefix = pod.metadata.generate_name.unwrap();
        assert!(prefix.len() + 5 <= 63, "{prefix}");
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
