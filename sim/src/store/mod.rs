//! The object store: one generic store for every kind, and the in-process API
//! that controllers (Deployment → ReplicaSet → Pods, Jobs, Endpoints, the kubelet
//! simulation) use. The HTTP API is a thin layer over the same calls, so both
//! paths share validation, defaulting and resourceVersion semantics.
//!
//! # Model
//! - Objects are kept as serialized JSON bytes keyed by
//!   `(ResourceId, namespace, name)` (namespace `""` for cluster-scoped kinds),
//!   plus a few fields extracted at write time ([`Meta`]: labels, owners, uid,
//!   selectable fields). LIST and WATCH copy those bytes straight into responses.
//! - One global, monotonically increasing `resourceVersion` (a `u64`, sent as a
//!   decimal string) is bumped by every write, as etcd's revision is.
//! - A bounded history of recent [`Event`]s serves watches that resume from a
//!   resourceVersion; older versions answer `410 Gone` (reason `Expired`).
//!   [`Store::compact`] drops the history, as etcd compaction does.
//! - Writes take one lock, so they are serialized; reads share it.
//!
//! # For controllers
//! The store is the seam between the API server and the simulated cluster's
//! controllers (Deployment → ReplicaSet → Pods, Jobs, Endpoints, the kubelet).
//! They run in-process and call it directly; every call takes effect at once
//! and is seen by HTTP watchers like any other write.
//!
//! ```ignore
//! use k8s_openapi::api::apps::v1::Deployment;
//! use sim::store::{EventType, WatchParams};
//! use sim::ResourceId;
//!
//! let store = sim.store();
//! // Typed reads and writes (k8s-openapi types).
//! let dep: Deployment = store.get_typed("default", "web")?;
//! // Read-modify-write that retries on conflicts: here, the status subresource.
//! store.modify(&ResourceId::of::<Deployment>(), "default", "web", Some("status"), &Default::default(), |mut d| {
//!     d["status"]["observedGeneration"] = d["metadata"]["generation"].clone();
//!     Ok(d)
//! })?;
//! // Follow changes: current objects first (as ADDED), then every change.
//! let mut watch = store.watch(&ResourceId::of::<Deployment>(), WatchParams::default())?;
//! while let Some(ev) = watch.recv().await {
//!     let ev = ev?; // Err(410) if this consumer fell too far behind: list and watch again
//!     let dep: Deployment = ev.object_as()?;
//!     match ev.kind { EventType::Added | EventType::Modified => {}, EventType::Deleted => {} }
//! }
//! ```
//!
//! - Reads: [`Store::get`], [`Store::get_typed`], [`Store::list`] (label and field
//!   selectors, pages), [`Store::list_typed`].
//! - Writes: [`Store::create`] / [`Store::create_typed`] (201 semantics:
//!   generateName, uid, creationTimestamp, defaults, 409 AlreadyExists),
//!   [`Store::update`] / [`Store::update_typed`] (status ignored for kinds with a
//!   status subresource), [`Store::update_status`] / [`Store::update_status_typed`]
//!   (only `status` changes), [`Store::modify`] (read-modify-write with conflict
//!   retries, for any subresource), [`Store::delete`] (with [`Propagation`]) and
//!   [`Store::delete_collection`].
//! - Changes: [`Store::watch`] from "now" (current state as ADDED) or from a
//!   resourceVersion ([`WatchParams::resource_version`]); [`Watch::recv`] or
//!   [`Watch::into_stream`].
//! - Errors are [`ApiError`]s with the HTTP code the API would answer (404, 409,
//!   410, 422...), so callers can match on `code`.
//!
//! Every write goes through the same admission as the HTTP API: typed shape
//! check, defaults, name validation, optimistic concurrency (a `resourceVersion`
//! in the object must match the stored one, else `409 Conflict`; leave it unset
//! to overwrite), and `generation` bumps only on spec changes. A write that
//! changes nothing does not bump the resourceVersion. Writes through the API are
//! recorded in `managedFields` (see [`managed_fields`]). Pods on a node are deleted
//! gracefully (the kubelet finishes the deletion); objects with finalizers get a
//! `deletionTimestamp` and go when the last finalizer is removed (see `deletion`).
//! Deletion cascades through `ownerReferences` (see [`Propagation`]), so a controller that sets
//! `ownerReferences` on what it creates gets cleanup for free.

pub mod admission;
pub mod claims;
mod deletion;
mod gc;
pub mod managed_fields;
mod object;
pub mod selector;
mod typed;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::body::Bytes;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub use self::object::{Entry, Event, EventType, Meta};
pub use self::selector::{FieldSelector, LabelSelector};
pub use self::watch::{Watch, WatchParams};
use crate::error::{ApiError, Cause};
use crate::kinds;
use crate::persist::{Record, Wal};
use crate::resources::{Registry, ResourceId, ResourceInfo};

/// Events retained for watch resumption.
const HISTORY_LIMIT: usize = 10_000;
/// Broadcast buffer per watcher; a watcher that falls this far behind is ended with 410.
const BROADCAST_CAPACITY: usize = 16_384;

/// Options for create, update and patch.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: run admission and return the result without storing it.
    pub dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are a 400 instead of being dropped.
    pub strict: bool,
    /// Records the write as an Update by this manager in `metadata.managedFields`
    /// (`None`: not recorded; the record stays as it was).
    pub field_manager: Option<String>,
}

impl WriteOptions {
    /// Writes recorded in `managedFields` for `manager` (the demo controllers name
    /// themselves as the real components do: `kube-controller-manager`, `kubelet`...).
    pub fn by(manager: &str) -> WriteOptions {
        WriteOptions {
            field_manager: Some(manager.to_string()),
            ..Default::default()
        }
    }
}

/// How deletion treats dependents (objects whose `ownerReferences` name the deleted one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the object now; the garbage collector then deletes its dependents.
    #[default]
    Background,
    /// Delete the dependents first, then the object.
    Foreground,
    /// Keep the dependents, removing the owner reference from them.
    Orphan,
}

/// Options for delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `None`: the finalizers the object has decide (Background when it has none).
    pub propagation: Option<Propagation>,
    /// `gracePeriodSeconds` (pods only; see `deletion`).
    pub grace_period: Option<i64>,
    pub dry_run: bool,
    /// `preconditions.uid` / `preconditions.resourceVersion`.
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// Options for list.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list: objects as JSON bytes, in (namespace, name) order.
#[derive(Debug, Clone)]
pub struct ObjectList {
    pub items: Vec<Bytes>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

impl ObjectList {
    pub fn values(&self) -> Vec<Value> {
        self.items
            .iter()
            .filter_map(|b| serde_json::from_slice(b).ok())
            .collect()
    }
}

type Key = (String, String);

pub(crate) struct State {
    pub(crate) rv: u64,
    pub(crate) tables: HashMap<ResourceId, BTreeMap<Key, Entry>>,
    history: VecDeque<Arc<Event>>,
    /// Watches from a resourceVersion below this answer 410.
    compacted_rv: u64,
    registry: Arc<Registry>,
    wal: Option<Wal>,
    /// owner uid → dependents.
    dependents: HashMap<String, BTreeSet<(ResourceId, String, String)>>,
}

struct Inner {
    state: RwLock<State>,
    tx: broadcast::Sender<Arc<Event>>,
}

/// A cheap, cloneable handle on the demo cluster's objects. See the module docs.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish()
    }
}

fn key(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

impl Store {
    /// An empty store, in memory only.
    pub fn in_memory() -> Store {
        Self::from_parts(0, Vec::new(), None)
    }

    /// A store holding `objects` at `rv`, appending its changes to `wal` if given.
    pub(crate) fn from_parts(
        rv: u64,
        objects: Vec<(ResourceId, Value, u64)>,
        wal: Option<Wal>,
    ) -> Store {
        let mut tables: HashMap<ResourceId, BTreeMap<Key, Entry>> = HashMap::new();
        let mut dependents: HashMap<String, BTreeSet<(ResourceId, String, String)>> =
            HashMap::new();
        for (res, obj, obj_rv) in objects {
            let meta = Arc::new(Meta::of(&obj));
            let ns = obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            for o in &meta.owners {
                dependents.entry(o.clone()).or_default().insert((
                    res.clone(),
                    ns.clone(),
                    name.clone(),
                ));
            }
            let bytes = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
            tables.entry(res).or_default().insert(
                (ns, name),
                Entry {
                    bytes,
                    rv: obj_rv,
                    meta,
                },
            );
        }
        let crds = tables
            .get(&ResourceId::new(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
            ))
            .map(|t| t.values().map(Entry::value).collect::<Vec<_>>())
            .unwrap_or_default();
        let registry = Arc::new(Registry::from_crds(crds.iter()));
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    rv,
                    tables,
                    history: VecDeque::new(),
                    compacted_rv: rv,
                    registry,
                    wal,
                    dependents,
                }),
                tx,
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// The resources served right now (built-ins and CRD-defined).
    pub fn registry(&self) -> Arc<Registry> {
        self.read().registry.clone()
    }

    /// Drops the watch history: a watch from any older resourceVersion now gets 410.
    pub fn compact(&self) {
        let mut st = self.write();
        st.history.clear();
        st.compacted_rv = st.rv;
    }

    /// Writes a snapshot and truncates the WAL (no-op without a data dir).
    pub fn checkpoint(&self) -> crate::Result<()> {
        let mut st = self.write();
        let st = &mut *st;
        if let Some(wal) = st.wal.as_mut() {
            wal.snapshot(st.rv, &st.tables)?;
        }
        Ok(())
    }

    fn info(&self, st: &State, res: &ResourceId) -> Result<ResourceInfo, ApiError> {
        st.registry.by_id(res).cloned().ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("the server doesn't have a resource type \"{}\"", res.key()),
            )
        })
    }

    /// One object as JSON.
    pub fn get(&self, res: &ResourceId, ns: &str, name: &str) -> Result<Value, ApiError> {
        Ok(self.get_entry(res, ns, name)?.value())
    }

    /// One object, as its stored entry (JSON bytes + meta).
    pub fn get_entry(&self, res: &ResourceId, ns: &str, name: &str) -> Result<Entry, ApiError> {
        let st = self.read();
        st.tables
            .get(res)
            .and_then(|t| t.get(&key(ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.key(), name))
    }

    /// Lists objects of a resource, in one namespace or (with `None`) all of them.
    pub fn list(
        &self,
        res: &ResourceId,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<ObjectList, ApiError> {
        let start_after = match &params.continue_token {
            Some(t) => Some(decode_continue(t)?),
            None => None,
        };
        let st = self.read();
        let rv = st.rv;
        let Some(table) = st.tables.get(res) else {
            return Ok(ObjectList {
                items: vec![],
                resource_version: rv,
                continue_token: None,
                remaining: None,
            });
        };
        let lower = match (&start_after, ns) {
            (Some(k), _) => std::ops::Bound::Excluded(k.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let limit = params.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        let mut more = false;
        for ((ons, oname), e) in table.range((lower, std::ops::Bound::Unbounded)) {
            if let Some(ns) = ns {
                if ons != ns {
                    break;
                }
            }
            if !matches(
                &params.labels,
                &params.fields,
                ons,
                oname,
                &e.meta,
                &e.bytes,
            ) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(e.bytes.clone());
            last_key = Some((ons.clone(), oname.clone()));
        }
        let continue_token = if more {
            last_key.map(|k| encode_continue(rv, &k))
        } else {
            None
        };
        Ok(ObjectList {
            items,
            resource_version: rv,
            continue_token,
            remaining: None,
        })
    }

    /// Creates an object; `ns` is the namespace from the URL (ignored for cluster-scoped kinds).
    pub fn create(
        &self,
        res: &ResourceId,
        ns: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        let registry = self.registry();
        let info = registry
            .by_id(res)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?;
        let mut obj = kinds::check_body(&info, obj, opts.strict)?;
        let mut st = self.write();
        let ns = if info.namespaced {
            let body_ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
            let ns = if ns.is_empty() { body_ns } else { ns };
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            let ns = if ns.is_empty() { "default" } else { ns }.to_string();
            match st.tables.get(&ResourceId::core("namespaces")).and_then(|t| t.get(&key("", &ns))) {
                None => return Err(ApiError::not_found("namespaces", &ns)),
                Some(e) if e.bytes.windows(17).any(|w| w == b"deletionTimestamp") => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!("{} is forbidden: unable to create new content in namespace {ns} because it is being terminated", info.id().key()),
                    ))
                }
                Some(_) => {}
            }
            ns
        } else {
            String::new()
        };
        let md = obj["metadata"]
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
        if md
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
        {
            match md.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let name = format!("{prefix}{}", random_suffix());
                    md.insert("name".into(), json!(name));
                }
                _ => {
                    return Err(ApiError::invalid(
                        &info.kind,
                        &info.group,
                        "",
                        vec![Cause::new(
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )],
                    ))
                }
            }
        }
        let name = md
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        kinds::validate_name(&info, &name)?;
        if info.namespaced {
            md.insert("namespace".into(), json!(ns));
        } else {
            md.remove("namespace");
        }
        if st
            .tables
            .get(res)
            .is_some_and(|t| t.contains_key(&key(&ns, &name)))
        {
            return Err(ApiError::already_exists(&res.key(), &name));
        }
        md.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        md.insert("creationTimestamp".into(), json!(now()));
        md.remove("deletionTimestamp");
        md.remove("deletionGracePeriodSeconds");
        md.remove("resourceVersion");
        if kinds::has_generation(&info) {
            md.insert("generation".into(), json!(1));
        } else {
            md.remove("generation");
        }
        if info.has_status() && info.kind != "Node" {
            // As the API server's create strategies do: status is the controllers' to write.
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        managed_fields::on_write(&st, &info, None, &mut obj, opts);
        kinds::on_create(&info, &mut obj, &st.ip_allocator())?;
        kinds::validate(&info, &obj)?;
        admission::on_create(&mut st, &self.inner.tx, &info, &ns, &mut obj, opts)?;
        if opts.dry_run {
            return Ok(obj);
        }
        let out = st.commit(&self.inner.tx, res, &ns, &name, EventType::Added, obj)?;
        drop(st);
        self.after_create(res, &ns, &name)?;
        Ok(out)
    }

    fn after_create(&self, res: &ResourceId, _ns: &str, name: &str) -> Result<(), ApiError> {
        if *res == ResourceId::core("namespaces") {
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
            match self.create(
                &ResourceId::core("serviceaccounts"),
                name,
                sa,
                &WriteOptions::default(),
            ) {
                Ok(_) | Err(ApiError { code: 409, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Replaces an object. For kinds with a status subresource, `status` is kept from the stored object.
    pub fn update(
        &self,
        res: &ResourceId,
        ns: &str,
        name: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.update_with(res, ns, name, obj, opts, UpdateMode::Main)
    }

    /// Replaces only `status` (the status subresource); everything else is kept.
    pub fn update_status(
        &self,
        res: &ResourceId,
        ns: &str,
        name: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.update_with(res, ns, name, obj, opts, UpdateMode::Status)
    }

    /// Replaces only `spec.ephemeralContainers` of a pod (the ephemeralcontainers subresource).
    pub fn update_ephemeral_containers(
        &self,
        ns: &str,
        name: &str,
        obj: Value,
        opts: &WriteOptions,
    ) -> Result<Value, ApiError> {
        self.update_with(
            &ResourceId::core("pods"),
            ns,
            name,
            obj,
            opts,
            UpdateMode::EphemeralContainers,
        )
    }

    /// Reads, changes and writes an object, retrying on conflicts caused by
    /// concurrent writers (as the API server does for PATCH). `change` gets the
    /// current object and returns the new one; a `resourceVersion` it sets is a precondition.
    pub fn modify(
        &self,
        res: &ResourceId,
        ns: &str,
        name: &str,
        subresource: Option<&str>,
        opts: &WriteOptions,
        mut change: impl FnMut(Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mode = match subresource {
            Some("status") => UpdateMode::Status,
            Some("ephemeralcontainers") => UpdateMode::EphemeralContainers,
            _ => UpdateMode::Main,
        };
        let mut tries = 0;
        loop {
            let current = self.get(res, ns, name)?;
            let current_rv = current["metadata"]["resourceVersion"].clone();
            let mut new = change(current)?;
            let explicit_rv = new["metadata"]["resourceVersion"]
                .as_str()
                .map(String::from);
            if explicit_rv.is_none() {
                if let Some(md) = new["metadata"].as_object_mut() {
                    md.insert("resourceVersion".into(), current_rv.clone());
                }
            }
            match self.update_with(res, ns, name, new, opts, mode) {
                Err(e) if e.code == 409 && explicit_rv.is_none() && tries < 5 => tries += 1,
                other => return other,
            }
        }
    }

    fn update_with(
        &self,
        res: &ResourceId,
        ns: &str,
        name: &str,
        obj: Value,
        opts: &WriteOptions,
        mode: UpdateMode,
    ) -> Result<Value, ApiError> {
        let registry = self.registry();
        let info = registry
            .by_id(res)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?;
        let obj = kinds::check_body(&info, obj, opts.strict)?;
        let ns = if info.namespaced { ns } else { "" };
        let body_name = obj["metadata"]["name"].as_str().unwrap_or_default();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let body_ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
        if info.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut st = self.write();
        let old_entry = st
            .tables
            .get(res)
            .and_then(|t| t.get(&key(ns, name)))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.key(), name))?;
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
            if !rv.is_empty() && rv != old_entry.rv.to_string() {
                return Err(ApiError::conflict(&res.key(), name));
            }
        }
        kinds::check_update_precondition(&info, name, &obj)?;
        let old = old_entry.value();
        let mut new = match mode {
            UpdateMode::Main => {
                let mut new = obj;
                if info.has_status() {
                    set_or_remove(&mut new, "status", old.get("status").cloned());
                }
                new
            }
            UpdateMode::Status => {
                let mut new = old.clone();
                set_or_remove(&mut new, "status", obj.get("status").cloned());
                new
            }
            UpdateMode::EphemeralContainers => {
                let mut new = old.clone();
                let ec = obj["spec"].get("ephemeralContainers").cloned();
                set_or_remove(&mut new["spec"], "ephemeralContainers", ec);
                new
            }
        };
        // Fields the server owns.
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            let v = old["metadata"].get(k).cloned();
            set_or_remove(&mut new["metadata"], k, v);
        }
        set_or_remove(&mut new["metadata"], "name", Some(json!(name)));
        if info.namespaced {
            set_or_remove(&mut new["metadata"], "namespace", Some(json!(ns)));
        }
        managed_fields::on_write(&st, &info, Some(&old), &mut new, opts);
        deletion::check_new_finalizers(&info.kind, &info.group, &old, &new)?;
        kinds::on_update(&info, &old, &mut new)?;
        kinds::validate(&info, &new)?;
        admission::on_update(
            &st,
            &info,
            ns,
            &old,
            &new,
            matches!(mode, UpdateMode::Status),
        )?;
        if kinds::has_generation(&info) && spec_changed(&info, &old, &new) {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            new["metadata"]["generation"] = json!(g);
        }
        // A no-op update does not bump the resourceVersion.
        let mut cmp = new.clone();
        cmp["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        if cmp == old || opts.dry_run {
            return Ok(if opts.dry_run { new } else { old });
        }
        if deletion::done(&new) {
            // NB: as kube-apiserver does, the update is not stored: the object goes as it
            // was (one DELETED event), and the answer is the update, at the old version.
            deletion::remove_for_good(&mut st, &self.inner.tx, res, ns, name, &old)?;
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            return Ok(new);
        }
        st.commit(&self.inner.tx, res, ns, name, EventType::Modified, new)
    }

    /// Deletes an object, handling finalizers and propagation to dependents.
    /// Returns the object as it was deleted (or, with finalizers, as marked for deletion).
    pub fn delete(
        &self,
        res: &ResourceId,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let registry = self.registry();
        let info = registry
            .by_id(res)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?;
        let ns = if info.namespaced { ns } else { "" };
        let mut st = self.write();
        deletion::delete(&mut st, &self.inner.tx, res, ns, name, opts)
    }

    /// Deletes every object matching `params` in `ns` (or everywhere), returning the deleted objects.
    pub fn delete_collection(
        &self,
        res: &ResourceId,
        ns: Option<&str>,
        params: &ListParams,
        opts: &DeleteOptions,
    ) -> Result<Vec<Value>, ApiError> {
        let list = self.list(
            res,
            ns,
            &ListParams {
                limit: None,
                continue_token: None,
                ..params.clone()
            },
        )?;
        let mut out = Vec::new();
        for obj in list.values() {
            let ons = obj["metadata"]["namespace"].as_str().unwrap_or_default();
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            match self.delete(res, ons, name, opts) {
                Ok(v) => out.push(v),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Subscribes to changes of one resource. See [`WatchParams`] for where it starts.
    pub fn watch(&self, res: &ResourceId, params: WatchParams) -> Result<Watch, ApiError> {
        let st = self.read();
        self.info(&st, res)?;
        watch::subscribe(&st, &self.inner.tx, res, params)
    }
}

#[derive(Debug, Clone, Copy)]
enum UpdateMode {
    Main,
    Status,
    EphemeralContainers,
}

fn set_or_remove(obj: &mut Value, k: &str, v: Option<Value>) {
    if let Some(m) = obj.as_object_mut() {
        match v {
            Some(v) => {
                m.insert(k.to_string(), v);
            }
            None => {
                m.remove(k);
            }
        }
    }
}

/// Anything other than metadata and status changed. A custom resource without a status
/// subresource counts its status too, as kube-apiserver does.
fn spec_changed(info: &ResourceInfo, old: &Value, new: &Value) -> bool {
    let status_counts = info.custom && !info.has_status();
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            if !status_counts {
                m.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

pub(crate) fn matches(
    labels: &LabelSelector,
    fields: &FieldSelector,
    ns: &str,
    name: &str,
    meta: &Meta,
    bytes: &Bytes,
) -> bool {
    if !labels.matches(&meta.labels) {
        return false;
    }
    if fields.is_empty() {
        return true;
    }
    let mut parsed: Option<Value> = None;
    fields.matches(|f| match f {
        "metadata.name" => Some(name.to_string()),
        "metadata.namespace" => Some(ns.to_string()),
        f => match meta.fields.iter().find(|(k, _)| *k == f) {
            Some((_, v)) => Some(v.clone()),
            None => {
                let v = parsed
                    .get_or_insert_with(|| serde_json::from_slice(bytes).unwrap_or(Value::Null));
                object::field_of(v, f)
            }
        },
    })
}

fn encode_continue(rv: u64, k: &Key) -> String {
    let raw = json!({"rv": rv, "ns": k.0, "name": k.1}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(t: &str) -> Result<Key, ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid: invalid continue token");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    Ok((
        v["ns"].as_str().ok_or_else(bad)?.to_string(),
        v["name"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// RFC 3339 in seconds, as Kubernetes timestamps are written.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Allocates Service cluster IPs from 10.96.0.0/12, skipping those in use.
pub(crate) struct IpAllocator {
    used: BTreeSet<String>,
}

impl IpAllocator {
    pub(crate) fn allocate(&self) -> Option<String> {
        // 10.96.0.0/12 spans 10.96.0.0 - 10.111.255.255; .0.1 is the `kubernetes` service.
        for n in 1u32..(1 << 20) {
            let ip = format!("10.{}.{}.{}", 96 + (n >> 16), (n >> 8) & 0xff, n & 0xff);
            if n & 0xff != 0 && !self.used.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }
    pub(crate) fn is_used(&self, ip: &str) -> bool {
        self.used.contains(ip)
    }
}

impl State {
    fn ip_allocator(&self) -> IpAllocator {
        let used = self
            .tables
            .get(&ResourceId::core("services"))
            .map(|t| {
                t.values()
                    .filter_map(|e| {
                        let v = e.value();
                        v["spec"]["clusterIP"].as_str().map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        IpAllocator { used }
    }

    /// Stores `obj` at a new resourceVersion, logs it, records and broadcasts the event.
    fn commit(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        res: &ResourceId,
        ns: &str,
        name: &str,
        kind: EventType,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        let rv = self.rv + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let bytes =
            Bytes::from(serde_json::to_vec(&obj).map_err(|e| ApiError::internal(e.to_string()))?);
        if let Some(wal) = self.wal.as_mut() {
            wal.append(&Record::put(rv, res, ns, name, &bytes))
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        self.rv = rv;
        let meta = Arc::new(Meta::of(&obj));
        let table = self.tables.entry(res.clone()).or_default();
        let prev = table.insert(
            key(ns, name),
            Entry {
                bytes: bytes.clone(),
                rv,
                meta: meta.clone(),
            },
        );
        if let Some(p) = &prev {
            for o in &p.meta.owners {
                if let Some(d) = self.dependents.get_mut(o) {
                    d.remove(&(res.clone(), ns.to_string(), name.to_string()));
                }
            }
        }
        for o in &meta.owners {
            self.dependents.entry(o.clone()).or_default().insert((
                res.clone(),
                ns.to_string(),
                name.to_string(),
            ));
        }
        if res.group == "apiextensions.k8s.io" {
            self.rebuild_registry();
        }
        if let Some(wal) = self.wal.as_mut() {
            if wal.wants_snapshot() {
                wal.snapshot(self.rv, &self.tables)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
        }
        self.publish(
            tx,
            Event {
                rv,
                kind,
                resource: res.clone(),
                namespace: ns.to_string(),
                name: name.to_string(),
                object: bytes,
                meta,
                prev: prev.map(|p| (p.bytes, p.meta)),
            },
        );
        Ok(obj)
    }

    /// Removes an object for good, recording a DELETED event. Pushes it onto `deleted` for the GC.
    fn remove(
        &mut self,
        tx: &broadcast::Sender<Arc<Event>>,
        res: &ResourceId,
        ns: &str,
        name: &str,
        deleted: &mut Vec<(ResourceId, String, String, String)>,
    ) -> Result<Value, ApiError> {
        let Some(entry) = self
            .tables
            .get_mut(res)
            .and_then(|t| t.remove(&key(ns, name)))
        else {
            return Err(ApiError::not_found(&res.key(), name));
        };
        let rv = self.rv + 1;
        if let Some(wal) = self.wal.as_mut() {
            wal.append(&Record::delete(rv, res, ns, name))
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        self.rv = rv;
        let mut obj = entry.value();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let bytes = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
        for o in &entry.meta.owners {
            if let Some(d) = self.dependents.get_mut(o) {
                d.remove(&(res.clone(), ns.to_string(), name.to_string()));
                if d.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
        if res.group == "apiextensions.k8s.io" {
            self.rebuild_registry();
        }
        deleted.push((
            res.clone(),
            ns.to_string(),
            name.to_string(),
            entry.meta.uid.clone(),
        ));
        self.publish(
            tx,
            Event {
                rv,
                kind: EventType::Deleted,
                resource: res.clone(),
                namespace: ns.to_string(),
                name: name.to_string(),
                object: bytes,
                meta: entry.meta.clone(),
                prev: None,
            },
        );
        Ok(obj)
    }

    fn publish(&mut self, tx: &broadcast::Sender<Arc<Event>>, ev: Event) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        // No receivers is fine.
        let _ = tx.send(ev);
    }

    fn rebuild_registry(&mut self) {
        let crds: Vec<Value> = self
            .tables
            .get(&ResourceId::new(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
            ))
            .map(|t| t.values().map(Entry::value).collect())
            .unwrap_or_default();
        self.registry = Arc::new(Registry::from_crds(crds.iter()));
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }
}
