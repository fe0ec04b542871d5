//! `metadata.managedFields`: who set which field, as kube-apiserver 1.20 records it.
//!
//! Every write through the API names a field manager (`?fieldManager=`, else the
//! first word of the User-Agent, else `unknown`). An *Update* (create, PUT, the
//! merge/JSON/strategic patches) gives its manager what it added or changed and takes
//! those fields from everyone else; fields it removed leave every set. An *Apply*
//! (server-side apply, [`apply`]) makes the applier's set exactly the fields it sent,
//! removes fields it sent last time and no one owns any more, and fails with a 409
//! `Conflict` when it would change a field another manager owns, unless forced.
//!
//! Writes by the demo cluster's own controllers name no manager and leave the record
//! as it was. Sets are kept as structured-merge-diff's `fieldsV1` (see [`set`]); the
//! shape of each kind comes from [`schema`].

mod last_applied;
pub mod schema;
pub mod set;
mod walk;

use serde_json::{json, Value};

use self::schema::Schema;
use self::set::{Element, FieldSet};
use crate::error::ApiError;
use crate::resources::ResourceInfo;

pub use self::walk::{compare, field_set, merge};

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    /// `Apply` or `Update`.
    operation: String,
    api_version: String,
    time: Option<String>,
    set: FieldSet,
}

impl Entry {
    /// Apply entries are one per manager; Update entries one per manager and apiVersion.
    fn is(&self, manager: &str, operation: &str, api_version: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && (operation == APPLY || self.api_version == api_version)
    }
}

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

fn decode(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or_default().to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].as_str().map(String::from),
            set: FieldSet::from_json(&e["fieldsV1"]),
        })
        .collect()
}

/// Writes `entries` into `obj`, in the real server's order (Apply before Update, then by
/// time, manager and apiVersion); without entries, `managedFields` goes.
fn encode(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.api_version).cmp(&(
            &b.operation,
            &b.time,
            &b.manager,
            &b.api_version,
        ))
    });
    let Some(md) = obj["metadata"].as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        md.remove("managedFields");
        return;
    }
    let list: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "fieldsType": "FieldsV1", "fieldsV1": e.set.to_json(),
            });
            if let Some(t) = e.time {
                v["time"] = json!(t);
            }
            v
        })
        .collect();
    md.insert("managedFields".into(), Value::Array(list));
}

/// Fields nobody owns: the type and the metadata the server sets.
fn strip_meta(set: &mut FieldSet) {
    let f = |s: &str| Element::Field(s.to_string());
    set.remove(&[f("apiVersion")]);
    set.remove(&[f("kind")]);
    set.remove(&[f("metadata")]);
    for k in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.remove(&[f("metadata"), f(k)]);
    }
}

/// The schema of `info`'s objects: built-in by kind, custom from its CRD (if found).
pub(crate) fn schema_of<'a>(info: &'a ResourceInfo, crd: Option<&'a Value>) -> Schema<'a> {
    if !info.custom {
        return Schema::builtin(&info.kind);
    }
    let version = crd.and_then(|c| {
        c["spec"]["versions"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == info.version.as_str())
    });
    Schema::Custom(
        version
            .map(|v| &v["schema"]["openAPIV3Schema"])
            .filter(|s| s.is_object()),
    )
}

/// What a kind's object looks like before a create: kube-apiserver compares a new object
/// with its Go type's zero value, whose non-pointer structs are there (so a creator does
/// not own `spec` itself, only what is in it). Custom resources start empty.
fn empty_object(info: &ResourceInfo) -> Value {
    if info.custom {
        return json!({});
    }
    let md = json!({"creationTimestamp": null});
    let template = json!({"metadata": md, "spec": {"containers": null}});
    match info.kind.as_str() {
        "Deployment" => {
            json!({"metadata": md, "spec": {"selector": null, "template": template, "strategy": {}}, "status": {}})
        }
        "ReplicaSet" => {
            json!({"metadata": md, "spec": {"selector": null, "template": template}, "status": {}})
        }
        "StatefulSet" => json!({"metadata": md,
            "spec": {"selector": null, "template": template, "serviceName": "", "updateStrategy": {}},
            "status": {"replicas": 0}}),
        "ControllerRevision" => json!({"metadata": md, "revision": 0}),
        "Job" => json!({"metadata": md, "spec": {"template": template}, "status": {}}),
        "Pod" => json!({"metadata": md, "spec": {"containers": null}, "status": {}}),
        "Service" => json!({"metadata": md, "spec": {}, "status": {"loadBalancer": {}}}),
        "Namespace" | "Node" | "PersistentVolumeClaim" | "ResourceQuota" => {
            json!({"metadata": md, "spec": {}, "status": {}})
        }
        "LimitRange" => json!({"metadata": md, "spec": {}}),
        "NetworkPolicy" => json!({"metadata": md, "spec": {"podSelector": {}}}),
        "RoleBinding" | "ClusterRoleBinding" => {
            json!({"metadata": md, "roleRef": {"apiGroup": "", "kind": "", "name": ""}})
        }
        "CustomResourceDefinition" => json!({"metadata": md,
            "spec": {"group": "", "names": {"plural": "", "kind": ""}, "scope": "", "versions": null},
            "status": {"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": null}}),
        _ => json!({"metadata": md}),
    }
}

/// Records an Update by `manager` of `old` (`None` on create) into `new`: `new` is the
/// object as written, before the defaults the server adds (applied here to compare,
/// since a writer owns the defaults of what it sent) and before server-set fields.
pub(crate) fn record_update(
    info: &ResourceInfo,
    schema: &Schema,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
) {
    let empty = empty_object(info);
    let old = old.unwrap_or(&empty);
    // A writer's own managedFields replace the record (`[{}]`, an entry owning
    // nothing, empties it); without any, the stored record goes on.
    let mut entries = decode(new);
    if entries.is_empty() {
        entries = decode(old);
    }
    let mut shaped = new.clone();
    crate::kinds::defaults::apply(info, &mut shaped);
    let diff = compare(&without_managed(old), &without_managed(&shaped), schema);
    let mut changed = diff.changed();
    strip_meta(&mut changed);
    for e in &mut entries {
        e.set = e.set.difference(&changed).difference(&diff.removed);
    }
    if !changed.is_empty() {
        let api_version = info.api_version();
        let now = Some(crate::store::now());
        match entries
            .iter_mut()
            .find(|e| e.is(manager, UPDATE, &api_version))
        {
            Some(e) => {
                e.set = e.set.union(&changed);
                e.time = now;
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: UPDATE.into(),
                api_version,
                time: now,
                set: changed,
            }),
        }
    }
    encode(new, entries);
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(md) = v["metadata"].as_object_mut() {
        md.remove("managedFields");
    }
    v
}

/// A server-side apply of `config` by `manager` to `live` (`None`: the object is created).
/// Returns the object to write, `managedFields` included, or the 409 of the conflicts.
pub fn apply(
    info: &ResourceInfo,
    schema: &Schema,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, ApiError> {
    let empty = json!({});
    let live = live.unwrap_or(&empty);
    let mut entries = decode(live);
    let live = without_managed(live);
    let allowed = last_applied::allowed_conflicts(manager, &live, schema);
    let config = without_managed(config);
    let mut applied = field_set(&config, schema);
    strip_meta(&mut applied);
    let mine = entries.iter().position(|e| e.is(manager, APPLY, ""));
    let last = mine.map(|i| entries[i].set.clone()).unwrap_or_default();
    let mut merged = merge(&live, &config, schema);
    // Fields this manager applied last time, stopped sending, and no one else owns.
    for path in last.difference(&applied).paths() {
        let owned = applied.has_prefix(&path)
            || entries
                .iter()
                .enumerate()
                .any(|(i, e)| Some(i) != mine && e.set.has_prefix(&path));
        if !owned {
            walk::remove(&mut merged, &path, schema);
        }
    }
    let diff = compare(&live, &merged, schema);
    let mut changed = diff.changed();
    strip_meta(&mut changed);
    let mut conflicts: Vec<(&Entry, FieldSet)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let theirs = e.set.intersection(&changed).difference(&allowed);
        if Some(i) != mine && !theirs.is_empty() {
            conflicts.push((e, theirs));
        }
    }
    if !force && !conflicts.is_empty() {
        return Err(conflict_error(conflicts));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) != mine {
            e.set = e.set.difference(&changed).difference(&diff.removed);
        }
    }
    let unchanged = changed.is_empty()
        && diff.removed.is_empty()
        && Some(&applied) == mine.map(|i| &entries[i].set);
    let time = match mine {
        Some(i) if unchanged => entries[i].time.clone(),
        _ => Some(crate::store::now()),
    };
    let me = Entry {
        manager: manager.to_string(),
        operation: APPLY.into(),
        api_version: info.api_version(),
        time,
        set: applied,
    };
    match mine {
        Some(i) => entries[i] = me,
        None => entries.push(me),
    }
    encode(&mut merged, entries);
    last_applied::update(manager, &live, &config, &mut merged);
    Ok(merged)
}

/// The 409 kube-apiserver answers: one cause per field, managers in name order.
fn conflict_error(mut conflicts: Vec<(&Entry, FieldSet)>) -> ApiError {
    conflicts.sort_by(|a, b| {
        (&a.0.manager, &a.0.operation, &a.0.api_version).cmp(&(
            &b.0.manager,
            &b.0.operation,
            &b.0.api_version,
        ))
    });
    let who = |e: &Entry| {
        if e.operation == UPDATE {
            format!("{:?} using {}", e.manager, e.api_version)
        } else {
            format!("{:?}", e.manager)
        }
    };
    let mut causes = Vec::new();
    let mut lines = Vec::new();
    for (e, fields) in &conflicts {
        lines.push(format!("conflicts with {}:", who(e)));
        for p in fields.paths() {
            let field = set::display(&p);
            lines.push(format!("- {field}"));
            causes.push(json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(e)), "field": field}));
        }
    }
    let message = if causes.len() == 1 {
        format!(
            "Apply failed with 1 conflict: {}: {}",
            causes[0]["message"].as_str().unwrap_or_default(),
            causes[0]["field"].as_str().unwrap_or_default()
        )
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            causes.len(),
            lines.join("\n")
        )
    };
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

/// The store's hook: records a create (`old` is `None`) or update of `new` by the
/// request's field manager, if it names one.
pub(super) fn on_write(
    st: &super::State,
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    opts: &super::WriteOptions,
) {
    let Some(manager) = &opts.field_manager else {
        return;
    };
    let crd = info.custom.then(|| crd_of(st, info)).flatten();
    let schema = schema_of(info, crd.as_ref());
    record_update(info, &schema, old, new, manager);
}

/// The CRD that defines custom resource `info`.
fn crd_of(st: &super::State, info: &ResourceInfo) -> Option<Value> {
    let crds =
        crate::resources::ResourceId::new("apiextensions.k8s.io", "customresourcedefinitions");
    st.tables
        .get(&crds)?
        .get(&(String::new(), format!("{}.{}", info.plural, info.group)))
        .map(super::Entry::value)
}
