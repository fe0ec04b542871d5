//! The deploy form's volumes, health checks, sidecars, pull secret and secret environment
//! turned into the pod spec's JSON, the objects created with the app (claims, the `-env`
//! Secret), and the checks only the cluster can answer (does the claim, ConfigMap or Secret
//! exist; does the tenant's storage quota hold the new claims) — made before anything is
//! created, so a refused deploy leaves nothing behind.

use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, ResourceQuota, Secret};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams};
use kube::Client;
use serde_json::{json, Value};
use wharf_api::error::AppError;
use wharf_api::storage::size_bytes;
use wharf_api::text;
use wharf_api::workloads::pod::{MountSource, ProbeAction, ProbeForm};
use wharf_api::workloads::{AppKind, DeployForm};

/// The name of the Secret holding the form's secret environment.
pub fn env_secret_name(app: &str) -> String {
    format!("{app}-env")
}

/// A password for a secret environment variable left empty: 24 letters and digits.
pub fn password() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

/// The volume name of the form's `i`th mount.
fn volume_name(i: usize, source: &MountSource) -> String {
    match source {
        // a StatefulSet's template names its claims `<volume>-<app>-<ordinal>`: the claim's
        // name the user gave is the volume's
        MountSource::NewClaim { name, .. } => name.clone(),
        _ => format!("vol-{i}"),
    }
}

pub(super) fn probe_json(p: &ProbeForm, port: Option<u16>) -> Value {
    let mut v = match &p.action {
        ProbeAction::Http { path } => json!({"httpGet": {"path": path, "port": p.port.or(port)}}),
        ProbeAction::Tcp => json!({"tcpSocket": {"port": p.port.or(port)}}),
        ProbeAction::Command { command } => json!({"exec": {"command": ["sh", "-c", command]}}),
    };
    v["periodSeconds"] = json!(p.period_seconds);
    v["failureThreshold"] = json!(p.failure_threshold);
    if p.initial_delay_seconds > 0 {
        v["initialDelaySeconds"] = json!(p.initial_delay_seconds);
    }
    v
}

/// Adds the form's mounts, probes, sidecars, pull secret and secret env to `pod` (the pod
/// spec's JSON with the app's container first).
pub fn extend_pod(pod: &mut Value, form: &DeployForm) {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let mut env_from = Vec::new();
    for (i, m) in form.mounts.iter().enumerate() {
        let volume = volume_name(i, &m.source);
        let source = match &m.source {
            MountSource::NewClaim { .. } if form.kind == AppKind::StatefulSet => None,
            MountSource::NewClaim { name, .. } | MountSource::Claim { name } => {
                Some(json!({"persistentVolumeClaim": {"claimName": name}}))
            }
            MountSource::ConfigMap { name } => Some(json!({"configMap": {"name": name}})),
            MountSource::Secret { name } => Some(json!({"secret": {"secretName": name}})),
            MountSource::ConfigMapEnv { name } => {
                env_from.push(json!({"configMapRef": {"name": name}}));
                continue;
            }
            MountSource::SecretEnv { name } => {
                env_from.push(json!({"secretRef": {"name": name}}));
                continue;
            }
        };
        if let Some(mut s) = source {
            s["name"] = json!(volume);
            volumes.push(s);
        }
        let read_only = matches!(
            m.source,
            MountSource::ConfigMap { .. } | MountSource::Secret { .. }
        );
        let mut mount = json!({"name": volume, "mountPath": m.path});
        if read_only {
            mount["readOnly"] = json!(true);
        }
        mounts.push(mount);
    }
    let app = &mut pod["containers"][0];
    if !mounts.is_empty() {
        app["volumeMounts"] = json!(mounts);
    }
    if !env_from.is_empty() {
        app["envFrom"] = json!(env_from);
    }
    if !form.secret_env.is_empty() {
        let secret = env_secret_name(&form.name);
        let env = app["env"].as_array_mut().expect("the app's env is a list");
        for (k, _) in &form.secret_env {
            env.push(json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": k}}}));
        }
    }
    for (which, probe) in form.probes.each() {
        if let Some(p) = probe {
            app[format!("{which}Probe")] = probe_json(p, form.port);
        }
    }
    let containers = pod["containers"]
        .as_array_mut()
        .expect("containers is a list");
    for s in &form.sidecars {
        let mut c = json!({"name": s.name, "image": s.image});
        if !s.command.trim().is_empty() {
            c["command"] = json!(["sh", "-c", s.command]);
        }
        if let Some(p) = s.port {
            c["ports"] = json!([{"containerPort": p}]);
        }
        if s.share_mounts && !mounts.is_empty() {
            c["volumeMounts"] = json!(mounts);
        }
        containers.push(c);
    }
    if !volumes.is_empty() {
        pod["volumes"] = json!(volumes);
    }
    if !form.image_pull_secret.is_empty() {
        pod["imagePullSecrets"] = json!([{"name": form.image_pull_secret}]);
    }
}

/// The claims the form asks for, as PVCs (a Deployment's, created with it) or as a
/// StatefulSet's `volumeClaimTemplates`.
pub fn claims(form: &DeployForm) -> Vec<Value> {
    form.mounts
        .iter()
        .filter_map(|m| match &m.source {
            MountSource::NewClaim { name, size, class } => {
                let mut spec = json!({"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}}});
                if !class.is_empty() {
                    spec["storageClassName"] = json!(class);
                }
                Some(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": name, "labels": {"app": form.name}}, "spec": spec}))
            }
            _ => None,
        })
        .collect()
}

/// The cluster's answers the form needs, asked before anything is created: every named
/// claim, ConfigMap and Secret exists; new names are free; the class exists; the storage
/// quota holds the new claims. Each problem a sentence in both languages.
pub async fn check_in_cluster(client: &Client, form: &DeployForm) -> Result<(), AppError> {
    let ns = form.namespace.as_str();
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut errors = Vec::new();
    let mut new_bytes: u128 = 0;
    for m in &form.mounts {
        match &m.source {
            MountSource::NewClaim { name, size, class } => {
                let copies = if form.kind == AppKind::StatefulSet {
                    form.replicas.max(0) as u128
                } else {
                    1
                };
                new_bytes += size_bytes(size).unwrap_or(0) * copies;
                if form.kind == AppKind::Deployment && pvcs.get_opt(name).await?.is_some() {
                    errors.push(text!(
                        "claim '{name}' already exists in {ns}: choose it as an existing claim, or another name",
                        "存储卷声明“{name}”已存在于 {ns}:请作为已有声明选择,或换一个名称"
                    ));
                }
                if !class.is_empty()
                    && Api::<StorageClass>::all(client.clone())
                        .get_opt(class)
                        .await?
                        .is_none()
                {
                    errors.push(text!(
                        "'{class}' is not a storage class of this cluster",
                        "“{class}”不是本集群的存储类"
                    ));
                }
            }
            MountSource::Claim { name } => {
                if pvcs.get_opt(name).await?.is_none() {
                    errors.push(text!(
                        "there is no claim '{name}' in {ns}",
                        "{ns} 中没有存储卷声明“{name}”"
                    ));
                }
            }
            MountSource::ConfigMap { name } | MountSource::ConfigMapEnv { name } => {
                if config_maps.get_opt(name).await?.is_none() {
                    errors.push(text!(
                        "there is no ConfigMap '{name}' in {ns}",
                        "{ns} 中没有 ConfigMap“{name}”"
                    ));
                }
            }
            MountSource::Secret { name } | MountSource::SecretEnv { name } => {
                if secrets.get_opt(name).await?.is_none() {
                    errors.push(text!(
                        "there is no Secret '{name}' in {ns}",
                        "{ns} 中没有 Secret“{name}”"
                    ));
                }
            }
        }
    }
    if !form.image_pull_secret.is_empty() {
        let name = &form.image_pull_secret;
        match secrets.get_opt(name).await? {
            None => errors.push(text!(
                "there is no image pull secret '{name}' in {ns}",
                "{ns} 中没有镜像拉取凭据“{name}”"
            )),
            Some(s) if s.type_.as_deref() != Some("kubernetes.io/dockerconfigjson") => {
                errors.push(text!(
                    "'{name}' is not a registry credential (type kubernetes.io/dockerconfigjson)",
                    "“{name}”不是镜像仓库凭据(类型应为 kubernetes.io/dockerconfigjson)"
                ))
            }
            Some(_) => {}
        }
    }
    if !form.secret_env.is_empty() {
        let name = env_secret_name(&form.name);
        if secrets.get_opt(&name).await?.is_some() {
            errors.push(text!(
                "a Secret '{name}' already exists in {ns}: the app's secret environment would overwrite it",
                "{ns} 中已有 Secret“{name}”:应用的密文环境变量会覆盖它"
            ));
        }
    }
    if new_bytes > 0 {
        if let Some(left) = storage_left(client, ns).await? {
            if new_bytes > left {
                let (asked, left) = (gib(new_bytes), gib(left));
                errors.push(text!(
                    "the new claims need {asked} of storage but the tenant's quota has {left} left",
                    "新的存储卷声明需要 {asked},但租户存储配额只剩 {left}"
                ));
            }
        }
    }
    AppError::invalid_if_any(errors)
}

fn gib(bytes: u128) -> String {
    let g = bytes as f64 / (1u128 << 30) as f64;
    if g >= 0.1 {
        format!("{g:.1} GiB")
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

/// What the namespace's quotas leave of `requests.storage`; `None` without such a quota.
async fn storage_left(client: &Client, ns: &str) -> Result<Option<u128>, AppError> {
    let quotas: Api<ResourceQuota> = Api::namespaced(client.clone(), ns);
    let mut left: Option<u128> = None;
    for q in quotas.list(&ListParams::default()).await? {
        let hard = q
            .spec
            .as_ref()
            .and_then(|s| s.hard.as_ref())
            .and_then(|h| h.get("requests.storage"))
            .and_then(|v| size_bytes(&v.0));
        let Some(hard) = hard else { continue };
        let used = q
            .status
            .as_ref()
            .and_then(|s| s.used.as_ref())
            .and_then(|u| u.get("requests.storage"))
            .and_then(|v| size_bytes(&v.0))
            .unwrap_or(0);
        let this = hard.saturating_sub(used);
        left = Some(left.map_or(this, |l| l.min(this)));
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_api::workloads::pod::{MountForm, ProbesForm, SidecarForm};

    fn form(kind: AppKind) -> DeployForm {
        DeployForm {
            namespace: "alpha".into(),
            name: "orders".into(),
            image: "nginx:1.25".into(),
            kind,
            mounts: vec![
                MountForm {
                    source: MountSource::NewClaim {
                        name: "data".into(),
                        size: "1Gi".into(),
                        class: "rook-ceph-block".into(),
                    },
                    path: "/data".into(),
                },
                MountForm {
                    source: MountSource::ConfigMap {
                        name: "orders-config".into(),
                    },
                    path: "/etc/orders".into(),
                },
                MountForm {
                    source: MountSource::SecretEnv {
                        name: "orders-db".into(),
                    },
                    path: String::new(),
                },
            ],
            probes: ProbesForm {
                readiness: Some(ProbeForm::http("/healthz")),
                ..Default::default()
            },
            sidecars: vec![SidecarForm {
                name: "shipper".into(),
                image: "busybox".into(),
                command: "tail -F /data/app.log".into(),
                port: None,
                share_mounts: true,
            }],
            secret_env: vec![("DB_PASSWORD".into(), "x".into())],
            ..DeployForm::default()
        }
    }

    #[test]
    fn the_pod_gets_every_part_of_the_form() {
        let mut pod = json!({"containers": [{"name": "orders", "image": "nginx:1.25", "env": []}]});
        extend_pod(&mut pod, &form(AppKind::Deployment));
        let app = &pod["containers"][0];
        assert_eq!(
            app["volumeMounts"],
            json!([
            {"name": "data", "mountPath": "/data"},
            {"name": "vol-1", "mountPath": "/etc/orders", "readOnly": true}])
        );
        assert_eq!(
            app["envFrom"],
            json!([{"secretRef": {"name": "orders-db"}}])
        );
        assert_eq!(
            app["env"][0]["valueFrom"]["secretKeyRef"],
            json!({"name": "orders-env", "key": "DB_PASSWORD"})
        );
        assert_eq!(
            app["readinessProbe"],
            json!({"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10, "failureThreshold": 3})
        );
        assert_eq!(
            pod["volumes"],
            json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "vol-1", "configMap": {"name": "orders-config"}}])
        );
        assert_eq!(
            pod["containers"][1]["command"],
            json!(["sh", "-c", "tail -F /data/app.log"])
        );
        assert_eq!(pod["containers"][1]["volumeMounts"], app["volumeMounts"]);
    }

    #[test]
    fn a_stateful_set_gets_its_claims_from_templates() {
        let mut pod = json!({"containers": [{"name": "orders", "image": "nginx:1.25", "env": []}]});
        let f = form(AppKind::StatefulSet);
        extend_pod(&mut pod, &f);
        // the claim is not a pod volume: the template makes one per replica
        assert_eq!(
            pod["volumes"],
            json!([{"name": "vol-1", "configMap": {"name": "orders-config"}}])
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"][0],
            json!({"name": "data", "mountPath": "/data"})
        );
        let c = claims(&f);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["spec"]["storageClassName"], "rook-ceph-block");
        assert_eq!(c[0]["spec"]["resources"]["requests"]["storage"], "1Gi");
    }

    #[test]
    fn sizes_read_in_gib() {
        assert_eq!(gib(1 << 30), "1.0 GiB");
        assert_eq!(gib(3 << 29), "1.5 GiB");
        assert_eq!(gib(50 << 20), "50 MiB");
    }
}
