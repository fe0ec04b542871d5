//! TLS secrets for `wharf ng-agent`: the watcher of the cluster's `kubernetes.io/tls` Secrets
//! whose store the feed hands to `crate::nginx::tls` (the attach step the console runs
//! too), which turns a route's `tlsSecret` into an `ngx::Certificate` in the desired state.
//! The engine writes it to the node (mode 0600, under `<conf_dir>/tls/`, named after a hash
//! of its content) and serves it on the cluster's HTTPS port. A rotated secret is a new
//! certificate: new files, new config sha, one ordinary tested reload.
//!
//! Only `kubernetes.io/tls` Secrets are watched (a field selector on `type`), so the agent
//! never holds other secrets.

use crate::nginx::tls::{pair_of, Pair, TLS_SECRET_TYPE};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

/// A reflector of the cluster's `kubernetes.io/tls` Secrets; every event bumps `changed`.
pub fn reflect_tls_secrets(
    client: Client,
    changed: watch::Sender<u64>,
) -> (Store<Secret>, BoxFuture<'static, ()>) {
    let (reader, writer) = reflector::store::<Secret>();
    let cfg = watcher::Config::default().fields(&format!("type={TLS_SECRET_TYPE}"));
    let task = watcher(Api::<Secret>::all(client), cfg)
        .default_backoff()
        .modify(|s| s.managed_fields_mut().clear())
        .reflect(writer)
        .for_each(move |event| {
            if let Err(e) = &event {
                tracing::warn!(error = %e, "TLS secret watch error (retrying with back-off)");
            }
            changed.send_modify(|v| *v = v.wrapping_add(1));
            futures::future::ready(())
        })
        .boxed();
    (reader, task)
}

/// The pair of the Secret `namespace/name` as the watcher holds it.
pub fn pair_in(secrets: &Store<Secret>, namespace: &str, name: &str) -> Result<Pair, String> {
    pair_of(
        secrets
            .get(&ObjectRef::new(name).within(namespace))
            .as_deref(),
        namespace,
    )
}
