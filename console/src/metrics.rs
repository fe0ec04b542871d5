//! The console's own metrics, served at `/metrics` in Prometheus' text format: requests by
//! route, method and status with their latency, the live sockets open now, and the objects in
//! each watcher cache (read at scrape time). One registry per console, kept in `AppState`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/ws/logs/{tenant}`), or the server function's path.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Latency,
    pub sockets: Family<RouteLabels, Gauge>,
    pub cached: Family<KindLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wharf");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_buckets);
        let sockets = Family::<RouteLabels, Gauge>::default();
        let cached = Family::<KindLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        registry.register(
            "live_sockets",
            "Live sockets open now, by route",
            sockets.clone(),
        );
        registry.register(
            "cached_objects",
            "Objects in the watcher caches, by kind",
            cached.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            sockets,
            cached,
        }
    }
}

impl Metrics {
    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "encoding the console's metrics");
        }
        out
    }

    /// Counts a socket as open until the guard is dropped.
    pub fn socket_open(self: &Arc<Self>, route: &str) -> SocketGuard {
        let labels = RouteLabels {
            route: route.to_string(),
        };
        self.sockets.get_or_create(&labels).inc();
        SocketGuard {
            metrics: self.clone(),
            labels,
        }
    }
}

/// An open live socket, counted in `wharf_live_sockets` while it lives.
pub struct SocketGuard {
    metrics: Arc<Metrics>,
    labels: RouteLabels,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.metrics.sockets.get_or_create(&self.labels).dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_latency_and_sockets_are_exposed() {
        let m = Arc::new(Metrics::default());
        m.requests
            .get_or_create(&RequestLabels {
                route: "/api/workloads".into(),
                method: "POST".into(),
                status: 200,
            })
            .inc();
        m.latency
            .get_or_create(&RouteLabels {
                route: "/api/workloads".into(),
            })
            .observe(0.004);
        let open = m.socket_open("/ws/workloads/{tenant}");
        let text = m.encode();
        assert!(
            text.contains(
                r#"wharf_http_requests_total{route="/api/workloads",method="POST",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"wharf_http_request_duration_seconds_count{route="/api/workloads"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wharf_live_sockets{route="/ws/workloads/{tenant}"} 1"#),
            "{text}"
        );
        drop(open);
        assert!(m
            .encode()
            .contains(r#"wharf_live_sockets{route="/ws/workloads/{tenant}"} 0"#));
    }
}
