//! Wharf keeps its own state as Kubernetes custom resources (group `wharf.dev`), so the
//! console holds no local state and runs unchanged as several replicas.
//!
//! One module per resource; [`all`] lists every definition the server installs at start.

pub mod tenant;
pub mod user;

pub use tenant::{Tenant, TenantSpec};
pub use user::{Membership, Role, User, UserSpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every Wharf resource.
pub const GROUP: &str = "wharf.dev";

/// The namespace where Wharf keeps its secrets (password hashes, the session key).
pub const SYSTEM_NAMESPACE: &str = "wharf-system";

/// Every custom resource definition Wharf needs, ready to be applied.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![Tenant::crd(), User::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_named_after_their_plural_and_group() {
        let names: Vec<String> = all().into_iter().filter_map(|c| c.metadata.name).collect();
        assert_eq!(names, vec!["tenants.wharf.dev", "users.wharf.dev"]);
    }

    #[test]
    fn definitions_round_trip_through_yaml() {
        for crd in all() {
            let yaml = serde_yaml::to_string(&crd).expect("serialize");
            let back: CustomResourceDefinition = serde_yaml::from_str(&yaml).expect("parse");
            assert_eq!(back.spec.group, GROUP);
            assert_eq!(back.spec.scope, "Cluster");
        }
    }
}
