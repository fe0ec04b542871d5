//! Keeps every tenant's namespaces at its settings (see [`super::policy`]): re-applied when a
//! tenant or an nginx cluster changes (which nginx clusters serve a tenant decides its
//! isolation), and all of them every few minutes, which undoes hand edits. Every replica runs
//! it: server-side apply of the same objects by the same field manager is idempotent.

use super::policy;
use crate::state::AppState;
use kube::ResourceExt;
use std::collections::HashMap;
use std::time::Duration;

/// How often everything is re-applied even without a change.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Runs until the watchers stop.
pub async fn run(state: AppState) {
    let mut changes = state
        .cache
        .changes
        .of(|c| vec![&c.tenants, &c.nginx_clusters]);
    // what was last applied to each tenant, to skip unchanged ones between resyncs
    let mut applied: HashMap<String, String> = HashMap::new();
    let mut next_resync = tokio::time::Instant::now() + RESYNC;
    loop {
        changes.mark_seen();
        let clusters: Vec<crds::NginxCluster> = state
            .cache
            .nginx_clusters
            .state()
            .iter()
            .map(|c| (**c).clone())
            .collect();
        for tenant in state.cache.tenants() {
            let name = tenant.name_any();
            let serving = policy::serving_clusters(&tenant, &clusters);
            let key = format!(
                "{}|{}",
                serde_json::to_string(&tenant.spec).unwrap_or_default(),
                serving.join(",")
            );
            if applied.get(&name) == Some(&key) {
                continue;
            }
            match policy::apply(&state.client, &tenant, &clusters).await {
                Ok(()) => {
                    applied.insert(name, key);
                }
                Err(e) => {
                    applied.remove(&name);
                    tracing::warn!(tenant = %name, error = %e, "applying the tenant's settings to its namespaces failed; retried at the next change or resync");
                }
            }
        }
        applied.retain(|name, _| state.cache.tenant(name).is_some());
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(next_resync) => {
                applied.clear();
                next_resync = tokio::time::Instant::now() + RESYNC;
            }
        }
    }
}
