//! A StatefulSet's revisions: its ControllerRevisions (what `kubectl rollout history sts`
//! lists), each holding a pod template, and a rollback that makes one of them the set's
//! template again (`kubectl rollout undo sts --to-revision`), after which the controller rolls
//! the replicas from the highest ordinal down.

use super::{
    check_rollback, created, match_labels, merge_patch_to, numbered, retry_on_conflict,
    CHANGE_CAUSE,
};
use crate::auth::TenantScope;
use crate::state::AppState;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use wharf_api::error::AppError;
use wharf_api::text;
use wharf_api::workloads::AppRevision;

/// The label on a StatefulSet's pods naming the revision they run.
const REVISION_LABEL: &str = "controller-revision-hash";

/// The pod template a revision holds, without the `$patch` directive it is stored with and
/// without the revision label.
fn template_of(revision: &ControllerRevision) -> Value {
    let mut t = revision
        .data
        .as_ref()
        .map(|d| d.0["spec"]["template"].clone())
        .unwrap_or_default();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    without_revision_label(t)
}

fn without_revision_label(mut t: Value) -> Value {
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(REVISION_LABEL);
    }
    t
}

/// The set `name` (404 if it is not one) and the revisions it controls.
async fn with_revisions(
    state: &AppState,
    ns: &str,
    name: &str,
) -> Result<(StatefulSet, Vec<ControllerRevision>), AppError> {
    let set = Api::<StatefulSet>::namespaced(state.client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(text!(
                "no StatefulSet named '{name}' in '{ns}'",
                "命名空间“{ns}”中没有名为“{name}”的 StatefulSet"
            ))
        })?;
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let selector = match_labels(set.spec.as_ref().map(|s| &s.selector));
    let owned = Api::<ControllerRevision>::namespaced(state.client.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter(|r| {
            r.owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .collect();
    Ok((set, owned))
}

/// The set's revisions, newest first; the current one is the set's update revision.
pub async fn revisions(
    state: &AppState,
    ns: &str,
    name: &str,
) -> Result<Vec<AppRevision>, AppError> {
    let (set, owned) = with_revisions(state, ns, name).await?;
    let update = set.status.as_ref().and_then(|s| s.update_revision.clone());
    let pods = state.cache.pods.state();
    let mut rows: Vec<AppRevision> = owned
        .iter()
        .map(|r| {
            let revision_name = r.name_any();
            let running: Vec<_> = pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
                .filter(|p| p.labels().get(REVISION_LABEL) == Some(&revision_name))
                .filter(|p| {
                    p.owner_references()
                        .iter()
                        .any(|o| Some(&o.uid) == set.metadata.uid.as_ref())
                })
                .collect();
            let ready = running
                .iter()
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
                })
                .count();
            let template = template_of(r);
            AppRevision {
                revision: r.revision,
                replica_set: revision_name.clone(),
                images: template["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                        (field("name"), field("image"))
                    })
                    .collect(),
                created: created(&r.metadata),
                // NB: a ControllerRevision keeps no cause; the set's own names its latest change
                cause: (update.as_deref() == Some(revision_name.as_str()))
                    .then(|| set.annotations().get(CHANGE_CAUSE).cloned())
                    .flatten(),
                replicas: i32::try_from(running.len()).unwrap_or(i32::MAX),
                ready: i32::try_from(ready).unwrap_or(i32::MAX),
                current: update.as_deref() == Some(revision_name.as_str()),
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.revision));
    Ok(rows)
}

/// Makes revision `revision`'s template the set's again, in a patch carrying the
/// resourceVersion read (a change made meanwhile gets 409).
pub async fn rollback(
    state: &AppState,
    scope: &TenantScope,
    ns: &str,
    name: &str,
    revision: i64,
) -> Result<(), AppError> {
    let api = &Api::<StatefulSet>::namespaced(state.client.clone(), ns);
    let cause = &format!("rolled back to revision {revision} by {}", scope.user());
    let read = || async {
        let (set, owned) = with_revisions(state, ns, name).await?;
        let generation = set.metadata.generation;
        Ok(((set, owned), generation))
    };
    let write = |(set, owned): (StatefulSet, Vec<ControllerRevision>)| async move {
        let target = numbered(name, revision, owned.iter().map(|r| (r.revision, r)))?;
        let current = without_revision_label(
            set.spec
                .as_ref()
                .map(|s| serde_json::to_value(&s.template).unwrap_or_default())
                .unwrap_or_default(),
        );
        let wanted = template_of(target);
        check_rollback(name, revision, &wanted, &current)?;
        let patch = json!({
            "metadata": {"resourceVersion": set.resource_version(), "annotations": {CHANGE_CAUSE: cause}},
            "spec": {"template": merge_patch_to(&current, &wanted)},
        });
        Ok(api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await)
    };
    let Some(_) = retry_on_conflict(read().await?, read, write).await? else {
        return Err(AppError::Conflict(text!(
            "'{name}' changed after its revisions were read, so nothing was rolled back; look at them again and retry",
            "读取版本后“{name}”又被修改了,因此没有回滚;请重新查看版本后再试"
        )));
    };
    tracing::info!(user = scope.user(), tenant = scope.tenant(), %ns, app = %name, revision, "rolled back");
    Ok(())
}
