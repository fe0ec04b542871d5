//! Typed conveniences over the JSON store API, for k8s-openapi types:
//! `store.get_typed::<Pod>("default", "web-1")`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{DeleteOptions, ListParams, Store, WriteOptions};
use crate::error::ApiError;
use crate::resources::ResourceId;

fn from_value<K: DeserializeOwned>(v: Value) -> Result<K, ApiError> {
    serde_json::from_value(v)
        .map_err(|e| ApiError::internal(format!("stored object does not decode: {e}")))
}

fn to_value<K: Serialize + Resource>(obj: &K) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // k8s-openapi types serialize apiVersion/kind themselves; make sure they are there.
    v["apiVersion"] = Value::String(K::API_VERSION.to_string());
    v["kind"] = Value::String(K::KIND.to_string());
    Ok(v)
}

fn ns_name<K: Metadata<Ty = ObjectMeta>>(obj: &K) -> (String, String) {
    let md = obj.metadata();
    (
        md.namespace.clone().unwrap_or_default(),
        md.name.clone().unwrap_or_default(),
    )
}

impl Store {
    /// Gets a typed object (`ns` is ignored for cluster-scoped kinds; pass "").
    pub fn get_typed<K: Resource + DeserializeOwned>(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<K, ApiError> {
        from_value(self.get(&ResourceId::of::<K>(), ns, name)?)
    }

    /// Lists typed objects in `ns` (`None`: all namespaces).
    pub fn list_typed<K: Resource + DeserializeOwned>(
        &self,
        ns: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<K>, ApiError> {
        self.list(&ResourceId::of::<K>(), ns, params)?
            .values()
            .into_iter()
            .map(from_value)
            .collect()
    }

    /// Creates a typed object in its `metadata.namespace` (or "default").
    pub fn create_typed<K>(&self, obj: &K) -> Result<K, ApiError>
    where
        K: Resource + Serialize + DeserializeOwned + Metadata<Ty = ObjectMeta>,
    {
        let (ns, _) = ns_name(obj);
        from_value(self.create(
            &ResourceId::of::<K>(),
            &ns,
            to_value(obj)?,
            &WriteOptions::default(),
        )?)
    }

    /// Replaces a typed object; a set `metadata.resourceVersion` must match (else 409).
    pub fn update_typed<K>(&self, obj: &K) -> Result<K, ApiError>
    where
        K: Resource + Serialize + DeserializeOwned + Metadata<Ty = ObjectMeta>,
    {
        let (ns, name) = ns_name(obj);
        from_value(self.update(
            &ResourceId::of::<K>(),
            &ns,
            &name,
            to_value(obj)?,
            &WriteOptions::default(),
        )?)
    }

    /// Replaces only the status of a typed object.
    pub fn update_status_typed<K>(&self, obj: &K) -> Result<K, ApiError>
    where
        K: Resource + Serialize + DeserializeOwned + Metadata<Ty = ObjectMeta>,
    {
        let (ns, name) = ns_name(obj);
        from_value(self.update_status(
            &ResourceId::of::<K>(),
            &ns,
            &name,
            to_value(obj)?,
            &WriteOptions::default(),
        )?)
    }

    /// Deletes a namespaced typed object with background propagation.
    pub fn delete_typed<K: Resource<Scope = NamespaceResourceScope>>(
        &self,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        self.delete(&ResourceId::of::<K>(), ns, name, &DeleteOptions::default())
            .map(|_| ())
    }
}
