//! The reflectors every page reads from: tenants, users, deployments, pods, services, nginx
//! clusters, routes and upstreams, pipelines and their runs, API tokens, identity providers. Each is
//! one `kube_runtime::watcher` with the default back-off, started once at boot; every change
//! bumps its kind's counter in `Cache::changes`, which the live views wait on.

use crate::state::{Cache, Changes};
use futures::{future::BoxFuture, FutureExt, StreamExt};
use kube::api::Api;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use tokio::sync::watch;

/// One reflector: a watcher with the default back-off feeding a store; every event bumps
/// `changed`. The future runs until dropped.
pub fn reflect<K>(
    api: Api<K>,
    changed: watch::Sender<u64>,
) -> (reflector::Store<K>, BoxFuture<'static, ()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    reflect_some(api, watcher::Config::default(), changed)
}

/// [`reflect`] for the objects `config` selects (a label selector, say).
pub fn reflect_some<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: watch::Sender<u64>,
) -> (reflector::Store<K>, BoxFuture<'static, ()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store::<K>();
    let kind = K::kind(&Default::default()).to_string();
    let task = watcher(api, config)
        .default_backoff()
        .modify(|o| {
            // NB: managed fields are a third of a typical object and no page shows them.
            o.managed_fields_mut().clear();
        })
        .reflect(writer)
        .for_each(move |event| {
            if let Err(e) = &event {
                tracing::warn!(%kind, error = %e, "watch error (retrying with back-off)");
            }
            changed.send_modify(|v| *v = v.wrapping_add(1));
            futures::future::ready(())
        })
        .boxed();
    (reader, task)
}

/// Starts nothing by itself: returns the cache and the watcher futures for `main` to supervise.
pub fn cache(client: &Client) -> (Cache, Vec<BoxFuture<'static, ()>>) {
    fn counter() -> (watch::Sender<u64>, watch::Receiver<u64>) {
        watch::channel(0u64)
    }
    let (c1, tenants_changed) = counter();
    let (c2, users_changed) = counter();
    let (c3, deployments_changed) = counter();
    let (c4, pods_changed) = counter();
    let (c5, services_changed) = counter();
    let (c6, nginx_clusters_changed) = counter();
    let (c7, nginx_routes_changed) = counter();
    let (c8, nginx_upstreams_changed) = counter();
    let (c9, pipelines_changed) = counter();
    let (c10, pipeline_runs_changed) = counter();
    let (c11, tokens_changed) = counter();
    let (c12, providers_changed) = counter();
    let (c13, statefulsets_changed) = counter();
    let (tenants, t1) = reflect(Api::<crds::Tenant>::all(client.clone()), c1);
    let (users, t2) = reflect(Api::<crds::User>::all(client.clone()), c2);
    let (deployments, t3) = reflect(Api::all(client.clone()), c3);
    let (pods, t4) = reflect(Api::all(client.clone()), c4);
    let (services, t5) = reflect(Api::all(client.clone()), c5);
    let (nginx_clusters, t6) = reflect(Api::<crds::NginxCluster>::all(client.clone()), c6);
    let (nginx_routes, t7) = reflect(Api::<crds::NginxRoute>::all(client.clone()), c7);
    let (nginx_upstreams, t8) = reflect(Api::<crds::NginxUpstream>::all(client.clone()), c8);
    let (pipelines, t9) = reflect(Api::<crds::Pipeline>::all(client.clone()), c9);
    let (pipeline_runs, t10) = reflect(Api::<crds::PipelineRun>::all(client.clone()), c10);
    let (tokens, t11) = reflect_some(
        Api::namespaced(client.clone(), crds::SYSTEM_NAMESPACE),
        watcher::Config::default().labels(crate::auth::tokens::SELECTOR),
        c11,
    );
    let (providers, t12) = reflect(Api::<crds::IdentityProvider>::all(client.clone()), c12);
    let (statefulsets, t13) = reflect(Api::all(client.clone()), c13);
    let changes = Changes {
        tenants: tenants_changed,
        users: users_changed,
        deployments: deployments_changed,
        statefulsets: statefulsets_changed,
        pods: pods_changed,
        services: services_changed,
        nginx_clusters: nginx_clusters_changed,
        nginx_routes: nginx_routes_changed,
        nginx_upstreams: nginx_upstreams_changed,
        pipelines: pipelines_changed,
        pipeline_runs: pipeline_runs_changed,
        tokens: tokens_changed,
        providers: providers_changed,
    };
    (
        Cache {
            tenants,
            users,
            deployments,
            statefulsets,
            pods,
            services,
            nginx_clusters,
            nginx_routes,
            nginx_upstreams,
            pipelines,
            pipeline_runs,
            tokens,
            providers,
            changes,
        },
        vec![t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13],
    )
}

/// Waits until every store has its first full list.
pub async fn ready(cache: &Cache) -> Result<(), reflector::store::WriterDropped> {
    cache.tenants.wait_until_ready().await?;
    cache.users.wait_until_ready().await?;
    cache.deployments.wait_until_ready().await?;
    cache.statefulsets.wait_until_ready().await?;
    cache.pods.wait_until_ready().await?;
    cache.services.wait_until_ready().await?;
    cache.nginx_clusters.wait_until_ready().await?;
    cache.nginx_routes.wait_until_ready().await?;
    cache.nginx_upstreams.wait_until_ready().await?;
    cache.pipelines.wait_until_ready().await?;
    cache.pipeline_runs.wait_until_ready().await?;
    cache.tokens.wait_until_ready().await?;
    cache.providers.wait_until_ready().await?;
    Ok(())
}
