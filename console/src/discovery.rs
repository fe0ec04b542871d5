//! What the API server serves. Wharf supports Kubernetes from 1.20 on; a few APIs it would
//! rather use arrived later (EndpointSlice `discovery.k8s.io/v1` and CronJob `batch/v1` in
//! 1.21, Pod Security admission in 1.23). Each user of such an API asks here first and falls
//! back, or says plainly what is unavailable, instead of watching a 404 forever.

use kube::Client;

/// Whether the server serves `resource` (plural, e.g. `endpointslices`) in `group_version`
/// (e.g. `discovery.k8s.io/v1`; `v1` for the core group).
pub async fn serves(
    client: &Client,
    group_version: &str,
    resource: &str,
) -> Result<bool, kube::Error> {
    let list = if group_version.contains('/') {
        client.list_api_group_resources(group_version).await
    } else {
        client.list_core_api_resources(group_version).await
    };
    match list {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}
