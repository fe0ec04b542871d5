//! Wharf keeps its own state as Kubernetes custom resources (group `wharf.dev`), so the
//! console holds no local state and runs unchanged as several replicas.
//!
//! One module per resource; [`all`] lists every definition the server installs at start.

#[cfg(feature = "kube")]
pub mod identity;
#[cfg(feature = "kube")]
pub mod nginx;
pub mod pipeline;
#[cfg(feature = "kube")]
pub mod schema;
#[cfg(feature = "kube")]
pub mod tenant;
#[cfg(feature = "kube")]
pub mod user;

#[cfg(feature = "kube")]
pub use identity::{IdentityProvider, IdentityProviderSpec, LdapSpec, OidcSpec};
#[cfg(feature = "kube")]
pub use nginx::{
    NginxCluster, NginxClusterSpec, NginxClusterStatus, NginxNodeStatus, NginxRoute,
    NginxRouteSpec, NginxUpstream, NginxUpstreamSpec,
};
#[cfg(feature = "kube")]
pub use pipeline::{Pipeline, PipelineRun};
#[cfg(feature = "kube")]
pub use tenant::{
    AlertReceiver, GroupRole, PodSecurity, Tenant, TenantAlerting, TenantQuota, TenantSpec,
};
#[cfg(feature = "kube")]
pub use user::{Membership, Role, User, UserSpec, UserStatus};

#[cfg(feature = "kube")]
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
#[cfg(feature = "kube")]
use kube::CustomResourceExt;

/// The API group of every Wharf resource.
pub const GROUP: &str = "wharf.dev";

/// The namespace where Wharf keeps its secrets (password hashes, the session key).
pub const SYSTEM_NAMESPACE: &str = "wharf-system";

/// Every custom resource definition Wharf needs, ready to be applied (to any API server from
/// 1.20 on: see [`schema`]).
#[cfg(feature = "kube")]
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        Tenant::crd(),
        User::crd(),
        NginxCluster::crd(),
        NginxRoute::crd(),
        NginxUpstream::crd(),
        Pipeline::crd(),
        PipelineRun::crd(),
        IdentityProvider::crd(),
    ]
    .into_iter()
    .map(schema::for_apiserver)
    .collect()
}

#[cfg(all(test, feature = "kube"))]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_named_after_their_plural_and_group() {
        let names: Vec<String> = all().into_iter().filter_map(|c| c.metadata.name).collect();
        assert_eq!(
            names,
            vec![
                "tenants.wharf.dev",
                "users.wharf.dev",
                "nginxclusters.wharf.dev",
                "nginxroutes.wharf.dev",
                "nginxupstreams.wharf.dev",
                "pipelines.wharf.dev",
                "pipelineruns.wharf.dev",
                "identityproviders.wharf.dev"
            ]
        );
    }

    /// `deploy/crds.yaml` is generated from these types; this keeps it from drifting.
    /// Regenerate with `WHARF_UPDATE_MANIFESTS=1 cargo test -p wharf-crds`.
    #[test]
    fn deploy_manifest_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/crds.yaml");
        let generated: String = all()
            .iter()
            .map(|c| format!("---\n{}", serde_yaml::to_string(c).expect("serialize")))
            .collect();
        let generated = format!("# Generated from crds/ by `WHARF_UPDATE_MANIFESTS=1 cargo test -p wharf-crds`; do not edit.\n{generated}");
        if std::env::var_os("WHARF_UPDATE_MANIFESTS").is_some() {
            std::fs::write(path, &generated).expect("write deploy/crds.yaml");
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(on_disk == generated, "deploy/crds.yaml is out of date: run WHARF_UPDATE_MANIFESTS=1 cargo test -p wharf-crds");
    }

    #[test]
    fn definitions_round_trip_through_yaml() {
        for crd in all() {
            let yaml = serde_yaml::to_string(&crd).expect("serialize");
            let back: CustomResourceDefinition = serde_yaml::from_str(&yaml).expect("parse");
            assert_eq!(back.spec.group, GROUP);
            let namespaced = [
                "nginxroutes.wharf.dev",
                "nginxupstreams.wharf.dev",
                "pipelines.wharf.dev",
                "pipelineruns.wharf.dev",
            ]
            .contains(&back.metadata.name.as_deref().unwrap_or_default());
            assert_eq!(
                back.spec.scope,
                if namespaced { "Namespaced" } else { "Cluster" }
            );
        }
    }
}
