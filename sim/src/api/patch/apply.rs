//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the request's checks
//! as kube-apiserver 1.20 makes them, then the apply itself (merge, prune, conflicts and
//! `managedFields`, see [`crate::store::managed_fields`]) as one read-modify-write, or a
//! create when the object does not exist yet.

use serde_json::Value;

use crate::error::{ApiError, Cause};
use crate::resources::{ResourceId, ResourceInfo};
use crate::store::{managed_fields, Store, WriteOptions};

/// What an apply request asks for.
pub struct ApplyRequest<'a> {
    pub info: &'a ResourceInfo,
    pub ns: &'a str,
    pub name: &'a str,
    pub subresource: Option<&'a str>,
    /// `?fieldManager=` (required: no User-Agent default for apply).
    pub manager: Option<&'a str>,
    /// `?force=true`: take the fields other managers own instead of failing.
    pub force: bool,
}

/// Applies `config`; returns the stored object and whether it was created.
pub fn apply(
    store: &Store,
    req: &ApplyRequest,
    config: Value,
    opts: &WriteOptions,
) -> Result<(Value, bool), ApiError> {
    let manager = req.manager.filter(|m| !m.is_empty()).ok_or_else(|| {
        ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause::new(
                "FieldValueRequired",
                "fieldManager",
                "Required value: is required for apply patch",
            )],
        )
    })?;
    let info = req.info;
    let sent = config["apiVersion"].as_str().unwrap_or_default();
    if sent != info.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {sent}, expected: {}",
            info.api_version()
        )));
    }
    match config["metadata"]["name"].as_str() {
        None | Some("") => {
            return Err(ApiError::bad_request(format!(
            "the name of the object ({} based on URL) was undeterminable: name must be provided",
            req.name
        )))
        }
        Some(n) if n != req.name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                req.name
            )))
        }
        Some(_) => {}
    }
    if !config["metadata"]["managedFields"].is_null() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let crd = info
        .custom
        .then(|| {
            let crds = ResourceId::new("apiextensions.k8s.io", "customresourcedefinitions");
            store
                .get(&crds, "", &format!("{}.{}", info.plural, info.group))
                .ok()
        })
        .flatten();
    let schema = managed_fields::schema_of(info, crd.as_ref());
    // The write itself is the apply: nothing more to record.
    let opts = WriteOptions {
        field_manager: None,
        ..opts.clone()
    };
    let id = info.id();
    let res = store.modify(&id, req.ns, req.name, req.subresource, &opts, |live| {
        let mut out =
            managed_fields::apply(info, &schema, Some(&live), &config, manager, req.force)?;
        if config["metadata"]["resourceVersion"].is_null() {
            // Not a precondition: let the store retry on concurrent writes.
            if let Some(md) = out["metadata"].as_object_mut() {
                md.remove("resourceVersion");
            }
        }
        Ok(out)
    });
    match res {
        Err(e) if e.code == 404 && req.subresource.is_none() => {
            let obj = managed_fields::apply(info, &schema, None, &config, manager, req.force)?;
            Ok((store.create(&id, req.ns, obj, &opts)?, true))
        }
        other => Ok((other?, false)),
    }
}
