//! Custom resources against their CRD's `openAPIV3Schema`, as kube-apiserver 1.20 treats
//! them: unknown fields pruned, nulls of non-nullable fields dropped, defaults applied,
//! then the object validated; and the CRDs themselves checked (structural rules, defaults
//! that validate and survive pruning).
//!
//! Messages and field paths are go-openapi's and apiextensions-apiserver's, quirks
//! included (an array item's error is reported at the array's path).

mod default;
mod gofmt;
mod prune;
mod structural;
mod validate;

use serde_json::Value;

pub(crate) use self::structural::validate_crd;
use crate::error::ApiError;
use crate::resources::ResourceInfo;

/// Prunes, defaults and validates a custom object being written (after the server-set
/// fields are in place, so the answer is about the object as it would be stored).
pub(crate) fn admit(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(schema) = &info.schema else {
        return Ok(());
    };
    prune::prune(obj, schema, true);
    default::apply(obj, schema);
    let causes = validate::validate(schema, obj, "");
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid_causes(
        &info.kind,
        &info.group,
        name,
        causes,
    ))
}

/// A schema node's `nullable`.
fn nullable(s: &Value) -> bool {
    s["nullable"].as_bool() == Some(true)
}

/// A schema node's `x-kubernetes-preserve-unknown-fields`.
fn preserves_unknown(s: &Value) -> bool {
    s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true)
}

/// The schema for a key of an object: its property, else `additionalProperties`.
fn field_schema<'a>(s: &'a Value, key: &str) -> Option<&'a Value> {
    s["properties"]
        .get(key)
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}
