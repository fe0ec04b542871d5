//! Storage per tenant: the cluster's StorageClasses and the tenant's PersistentVolumeClaims,
//! read through `kube::Api` when the page asks (the console caches neither), and the changes
//! — create, expand, delete — made in the namespaces of a [`TenantScope`].
//!
//! The API server is the last word: a claim over the tenant's storage quota, an expansion the
//! class does not allow, or a shrink are refused by it, with its words; the checks here come
//! first so that the usual mistakes read as sentences in both languages and nothing is sent.

pub mod endpoints;
pub mod files;

use crate::auth::TenantScope;
use crate::state::AppState;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::json;
use wharf_api::error::AppError;
use wharf_api::storage::{
    check_form, check_size, size_bytes, ClaimForm, ClaimRow, ClassKind, ClassRow, StorageView,
};
use wharf_api::text;

/// The annotation that makes a class the cluster's default.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

fn claims(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
) -> Result<Api<PersistentVolumeClaim>, AppError> {
    Ok(Api::namespaced(
        state.client.clone(),
        scope.namespace(namespace)?,
    ))
}

pub fn class_row(class: &StorageClass) -> ClassRow {
    ClassRow {
        name: class.name_any(),
        provisioner: class.provisioner.clone(),
        kind: ClassKind::of(&class.provisioner),
        default: class
            .annotations()
            .get(DEFAULT_CLASS)
            .is_some_and(|v| v == "true"),
        allow_expansion: class.allow_volume_expansion.unwrap_or(false),
        binding_mode: class
            .volume_binding_mode
            .clone()
            .unwrap_or_else(|| "Immediate".into()),
        reclaim_policy: class
            .reclaim_policy
            .clone()
            .unwrap_or_else(|| "Delete".into()),
    }
}

/// The pods (not finished) of the cache that mount `claim` of `namespace`.
fn users_of(state: &AppState, namespace: &str, claim: &str) -> Vec<String> {
    let mut pods: Vec<String> = state
        .cache
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .filter(|p| mounts(p, claim))
        .map(|p| p.name_any())
        .collect();
    pods.sort();
    pods
}

fn mounts(pod: &Pod, claim: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .is_some_and(|vs| {
            vs.iter().any(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name == claim)
            })
        })
}

fn claim_row(state: &AppState, claim: &PersistentVolumeClaim, events: &[Event]) -> ClaimRow {
    let namespace = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let spec = claim.spec.clone().unwrap_or_default();
    let status = claim.status.clone().unwrap_or_default();
    let requested = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default();
    let phase = if claim.metadata.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        status.phase.clone().unwrap_or_else(|| "Pending".into())
    };
    // the newest event about the claim says why it waits
    let message = (phase == "Pending")
        .then(|| {
            events
                .iter()
                .filter(|e| {
                    e.involved_object.kind.as_deref() == Some("PersistentVolumeClaim")
                        && e.involved_object.name.as_deref() == Some(name.as_str())
                })
                .max_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0))
                .and_then(|e| e.message.clone())
        })
        .flatten();
    ClaimRow {
        used_by: users_of(state, &namespace, &name),
        used_bytes: None,
        namespace,
        name,
        class: spec.storage_class_name.unwrap_or_default(),
        requested,
        capacity: status
            .capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.clone()),
        access_modes: spec.access_modes.unwrap_or_default(),
        phase,
        message,
        volume: spec.volume_name,
        created: claim
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| crate::workloads::to_chrono(&t.0)),
    }
}

/// The cluster's classes and the tenant's claims, newest first.
pub async fn view(state: &AppState, scope: &TenantScope) -> Result<StorageView, AppError> {
    let classes: Api<StorageClass> = Api::all(state.client.clone());
    let mut class_rows: Vec<ClassRow> = classes
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(class_row)
        .collect();
    class_rows.sort_by(|a, b| b.default.cmp(&a.default).then(a.name.cmp(&b.name)));
    let mut claim_rows = Vec::new();
    for namespace in scope.namespaces() {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(state.client.clone(), namespace);
        let list = api.list(&ListParams::default()).await?;
        let events: Vec<Event> = if list.items.is_empty() {
            Vec::new()
        } else {
            Api::<Event>::namespaced(state.client.clone(), namespace)
                .list(&ListParams::default().fields("involvedObject.kind=PersistentVolumeClaim"))
                .await?
                .items
        };
        claim_rows.extend(list.items.iter().map(|c| claim_row(state, c, &events)));
    }
    claim_rows.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    for (ns, name, used) in usage(state, scope).await {
        if let Some(row) = claim_rows
            .iter_mut()
            .find(|r| r.namespace == ns && r.name == name)
        {
            row.used_bytes = Some(used);
        }
    }
    Ok(StorageView {
        classes: class_rows,
        claims: claim_rows,
    })
}

/// What the kubelets report of the tenant's mounted claims (`kubelet_volume_stats_used_bytes`
/// in Prometheus): `(namespace, claim, bytes)`. Nothing without Prometheus or when it does not
/// answer — usage is a hint on the page, never a reason to fail it.
async fn usage(state: &AppState, scope: &TenantScope) -> Vec<(String, String, u64)> {
    let Some(url) = state.settings.monitoring.prometheus_url.as_deref() else {
        return Vec::new();
    };
    if scope.namespaces().is_empty() {
        return Vec::new();
    }
    // NB: namespaces are DNS labels, safe inside the regex and the quotes
    let query = format!(
        "max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_used_bytes{{namespace=~\"{}\"}})",
        scope.namespaces().join("|")
    );
    match crate::monitoring::instant(state, url, query).await {
        Ok(series) => series
            .into_iter()
            .filter_map(|(labels, v)| {
                let ns = labels.get("namespace")?;
                scope.contains(ns).then_some(())?;
                Some((
                    ns.clone(),
                    labels.get("persistentvolumeclaim")?.clone(),
                    v.max(0.0) as u64,
                ))
            })
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "claim usage from Prometheus");
            Vec::new()
        }
    }
}

/// Creates a claim; the class must exist (empty: the cluster's default, which must exist).
pub async fn create(
    state: &AppState,
    scope: &TenantScope,
    form: &ClaimForm,
) -> Result<(), AppError> {
    let api = claims(state, scope, &form.namespace)?;
    AppError::invalid_if_any(check_form(form))?;
    let classes: Api<StorageClass> = Api::all(state.client.clone());
    let all = classes.list(&ListParams::default()).await?.items;
    let class = if form.class.is_empty() {
        all.iter().find(|c| class_row(c).default).ok_or_else(|| {
            AppError::Invalid(text!(
                "class: the cluster has no default storage class; choose one",
                "存储类:集群没有默认存储类,请选择一个"
            ))
        })?
    } else {
        all.iter()
            .find(|c| c.name_any() == form.class)
            .ok_or_else(|| {
                let (class, known) = (
                    &form.class,
                    all.iter()
                        .map(|c| c.name_any())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                AppError::Invalid(text!(
                    "class: '{class}' is not a storage class of this cluster ({known})",
                    "存储类:“{class}”不是本集群的存储类({known})"
                ))
            })?
    };
    let claim: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": form.name, "namespace": form.namespace},
        "spec": {
            "storageClassName": class.name_any(),
            "accessModes": [form.access_mode],
            "resources": {"requests": {"storage": form.size.trim()}},
        }
    }))
    .map_err(|e| AppError::internal(text!("building the claim", "生成存储卷声明失败"), e))?;
    match api.create(&PostParams::default(), &claim).await {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let name = &form.name;
            Err(AppError::Conflict(text!(
                "a claim named '{name}' already exists in this namespace",
                "该命名空间中已有名为“{name}”的存储卷声明"
            )))
        }
        Err(e) => Err(e.into()),
        Ok(_) => {
            tracing::info!(user = scope.user(), tenant = scope.tenant(), ns = %form.namespace, claim = %form.name, class = %class.name_any(), size = %form.size, "claim created");
            Ok(())
        }
    }
}

/// Grows a bound claim to `size` (the class must allow it; never smaller).
pub async fn expand(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    size: &str,
) -> Result<(), AppError> {
    let api = claims(state, scope, namespace)?;
    let wanted = check_size(size).map_err(AppError::Invalid)?;
    let claim = api.get(name).await?;
    let row = claim_row(state, &claim, &[]);
    let now = size_bytes(row.capacity.as_deref().unwrap_or(&row.requested)).unwrap_or(0);
    if wanted <= now {
        let current = row.capacity.unwrap_or(row.requested);
        return Err(AppError::Invalid(text!(
            "size: {size} is not larger than the claim's {current}; a claim only grows",
            "容量:{size} 不大于当前的 {current};存储卷声明只能扩容"
        )));
    }
    let classes: Api<StorageClass> = Api::all(state.client.clone());
    let allows = classes
        .get_opt(&row.class)
        .await?
        .is_some_and(|c| c.allow_volume_expansion.unwrap_or(false));
    if !allows {
        let class = &row.class;
        return Err(AppError::Invalid(text!(
            "storage class '{class}' does not allow expanding its volumes",
            "存储类“{class}”不支持扩容"
        )));
    }
    if row.phase != "Bound" {
        let phase = &row.phase;
        return Err(AppError::Invalid(text!(
            "only a bound claim can be expanded; '{name}' is {phase}",
            "只有已绑定的存储卷声明才能扩容;“{name}”当前为 {phase}"
        )));
    }
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"resources": {"requests": {"storage": size.trim()}}}})),
    )
    .await?;
    tracing::info!(
        user = scope.user(),
        tenant = scope.tenant(),
        ns = namespace,
        claim = name,
        size,
        "claim expanded"
    );
    Ok(())
}

/// Deletes a claim — its data goes with it where the class deletes volumes — after the user
/// typed its name, and never while a pod mounts it.
pub async fn delete(
    state: &AppState,
    scope: &TenantScope,
    namespace: &str,
    name: &str,
    confirm: &str,
) -> Result<(), AppError> {
    let api = claims(state, scope, namespace)?;
    if confirm != name {
        return Err(AppError::Invalid(text!(
            "type the claim's name, '{name}', to delete it and its data",
            "请输入存储卷声明的名称“{name}”以确认删除它及其数据"
        )));
    }
    // a files pod (see `files`) is no user: it goes with the claim
    let files_pods: Vec<String> = state
        .cache
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace) && files::is_files_pod(p))
        .map(|p| p.name_any())
        .collect();
    let used: Vec<String> = users_of(state, namespace, name)
        .into_iter()
        .filter(|p| !files_pods.contains(p))
        .collect();
    if !used.is_empty() {
        let pods = used.join(", ");
        return Err(AppError::Invalid(text!(
            "'{name}' is mounted by {pods}; delete or change what uses it first",
            "“{name}”正被 {pods} 挂载;请先删除或修改使用它的应用"
        )));
    }
    files::close(state, scope, namespace, name).await?;
    api.delete(name, &DeleteParams::default()).await?;
    tracing::info!(
        user = scope.user(),
        tenant = scope.tenant(),
        ns = namespace,
        claim = name,
        "claim deleted"
    );
    Ok(())
}
