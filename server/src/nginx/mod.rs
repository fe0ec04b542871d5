//! nginx beside Kubernetes: `agent` is `wharf ng-agent` (watchers of the cluster's custom
//! resources, Services and EndpointSlices → `ngx::Agent`, status per node), `download` is the
//! console's authorized GET of a node's files, `demo` starts the demo's nginx nodes.

pub mod agent;
pub mod demo;
pub mod download;
