//! nginx beside Kubernetes: `agent` is `wharf ng-agent` (watchers of the cluster's custom
//! resources, Services and EndpointSlices → `ngx::Agent`, status per node, repairs), `tls`
//! turns routes' TLS secrets into certificates for it, `download` is the console's authorized
//! GET of a node's files, `live` the NgFront page's socket, `demo` starts the demo's nginx
//! nodes.

pub mod agent;
pub mod demo;
pub mod download;
pub mod live;
pub mod tls;
