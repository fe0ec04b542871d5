//! Where the nginx agent learns a Service's ready endpoints: its EndpointSlices
//! (`discovery.k8s.io/v1`, Kubernetes 1.21 and later) or, on an older server, its Endpoints
//! object read as one slice per subset. The desired state is computed from slices either way.

use crate::watchers::reflect;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use kube::api::{Api, ObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

pub enum EndpointSource {
    Slices(Store<EndpointSlice>),
    Endpoints(Store<Endpoints>),
}

impl EndpointSource {
    /// Watches EndpointSlices where the server has them, Endpoints otherwise.
    pub async fn watch(
        client: &Client,
        changed: watch::Sender<u64>,
    ) -> Result<(EndpointSource, BoxFuture<'static, ()>), kube::Error> {
        if crate::discovery::serves(client, "discovery.k8s.io/v1", "endpointslices").await? {
            let (store, task) = reflect(Api::<EndpointSlice>::all(client.clone()), changed);
            Ok((EndpointSource::Slices(store), task))
        } else {
            tracing::info!(
                "the API server has no discovery.k8s.io/v1 EndpointSlices (before 1.21): reading Endpoints"
            );
            let (store, task) = reflect(Api::<Endpoints>::all(client.clone()), changed);
            Ok((EndpointSource::Endpoints(store), task))
        }
    }

    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        match self {
            EndpointSource::Slices(s) => s.wait_until_ready().await,
            EndpointSource::Endpoints(s) => s.wait_until_ready().await,
        }
    }

    /// Every Service's endpoints, as slices.
    pub fn slices(&self) -> Vec<Arc<EndpointSlice>> {
        match self {
            EndpointSource::Slices(s) => s.state(),
            EndpointSource::Endpoints(s) => s
                .state()
                .iter()
                .flat_map(|e| slices_of(e))
                .map(Arc::new)
                .collect(),
        }
    }
}

/// An Endpoints object as the EndpointSlices the endpoint-slice controller would make of it:
/// one per subset, ready and not-ready addresses marked as such.
pub fn slices_of(endpoints: &Endpoints) -> Vec<EndpointSlice> {
    let (Some(ns), Some(name)) = (&endpoints.metadata.namespace, &endpoints.metadata.name) else {
        return Vec::new();
    };
    let addresses = |list: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>, ready| {
        list.iter()
            .flatten()
            .map(move |a| Endpoint {
                addresses: vec![a.ip.clone()],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    ..Default::default()
                }),
                node_name: a.node_name.clone(),
                hostname: a.hostname.clone(),
                ..Default::default()
            })
            .collect::<Vec<_>>()
    };
    endpoints
        .subsets
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, subset)| EndpointSlice {
            metadata: ObjectMeta {
                name: Some(format!("{name}-{i}")),
                namespace: Some(ns.clone()),
                labels: Some(BTreeMap::from([(
                    SERVICE_NAME_LABEL.to_string(),
                    name.clone(),
                )])),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: addresses(&subset.addresses, true)
                .into_iter()
                .chain(addresses(&subset.not_ready_addresses, false))
                .collect(),
            ports: subset.ports.as_ref().map(|ports| {
                ports
                    .iter()
                    .map(|p| EndpointPort {
                        name: p.name.clone(),
                        port: Some(p.port),
                        protocol: p.protocol.clone(),
                        app_protocol: p.app_protocol.clone(),
                    })
                    .collect()
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_endpoints_subset_becomes_a_slice_with_ready_and_not_ready_endpoints() {
        let e: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "shop", "namespace": "alpha"},
            "subsets": [{
                "addresses": [{"ip": "10.244.0.5", "nodeName": "n1"}],
                "notReadyAddresses": [{"ip": "10.244.0.6"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }]
        }))
        .unwrap();
        let slices = slices_of(&e);
        assert_eq!(slices.len(), 1);
        let s = &slices[0];
        assert_eq!(
            s.metadata.labels.as_ref().unwrap()[SERVICE_NAME_LABEL],
            "shop"
        );
        assert_eq!(s.metadata.namespace.as_deref(), Some("alpha"));
        let ready: Vec<(&str, Option<bool>)> = s
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].as_str(),
                    e.conditions.as_ref().unwrap().ready,
                )
            })
            .collect();
        assert_eq!(
            ready,
            vec![("10.244.0.5", Some(true)), ("10.244.0.6", Some(false))]
        );
        let port = &s.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.name.as_deref(), port.port),
            (Some("http"), Some(8080))
        );
    }

    #[test]
    fn endpoints_without_subsets_have_no_slices() {
        let e: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "shop", "namespace": "alpha"}}))
                .unwrap();
        assert!(slices_of(&e).is_empty());
    }
}
