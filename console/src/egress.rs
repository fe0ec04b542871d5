//! Where an address a tenant types may lead. An external upstream, a webhook receiver's URL or
//! a git server is reached from inside the platform (an nginx node, Alertmanager, a build pod,
//! the console), so a tenant who names `127.0.0.1:9090` or `169.254.169.254` would reach the
//! platform's own services or the cloud's metadata through it. Every such address is resolved
//! and checked here, when it is saved and again when it is used (a name can resolve elsewhere
//! later).
//!
//! Refused unless a platform admin allows the range: loopback, link-local (the metadata
//! address among them), unspecified, multicast and broadcast addresses, the cluster's pod and
//! Service addresses (the ranges configured, and any address a pod or Service has now), and
//! always the platform's own endpoints (Prometheus, Alertmanager, the console). Private
//! ranges (10/8, 172.16/12, 192.168/16) are allowed: legacy servers behind nginx live there.

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// How long a name may take to resolve before it counts as unresolvable.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The platform's settings for tenants' addresses.
#[derive(Clone, Debug, Default)]
pub struct EgressPolicy {
    /// The cluster's pod and Service ranges (`--cluster-cidr`), refused like loopback.
    pub cluster_ranges: Vec<IpNet>,
    /// Ranges a platform admin allows although a rule above refuses them.
    pub allowed: Vec<IpNet>,
    /// The platform's own endpoints: refused whatever is allowed.
    pub platform: Vec<SocketAddr>,
}

/// Why an address is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    Loopback,
    LinkLocal,
    Unspecified,
    Multicast,
    Broadcast,
    /// In one of the cluster's configured ranges.
    ClusterRange(IpNet),
    /// A pod's or Service's address now (named).
    ClusterObject(String),
    /// Prometheus, Alertmanager or the console itself.
    Platform,
    /// The name resolves to nothing.
    Unresolvable,
}

/// An address refused, and why, in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What the tenant typed (`host:port`).
    pub target: String,
    /// The address it resolved to (none when it did not resolve).
    pub addr: Option<IpAddr>,
    pub why: Why,
}

impl Refused {
    /// The reason in both languages.
    pub fn text(&self) -> wharf_api::Text {
        wharf_api::Text::new(self.en(), self.zh())
    }

    pub fn en(&self) -> String {
        let at = match self.addr {
            Some(a) if !self.target.contains(&a.to_string()) => format!("{} ({a})", self.target),
            _ => self.target.clone(),
        };
        let reason = match &self.why {
            Why::Loopback => "is a loopback address".to_string(),
            Why::LinkLocal => {
                "is a link-local address (such as the cloud's metadata service)".to_string()
            }
            Why::Unspecified => "is the unspecified address".to_string(),
            Why::Multicast => "is a multicast address".to_string(),
            Why::Broadcast => "is a broadcast address".to_string(),
            Why::ClusterRange(net) => format!("is inside the cluster ({net})"),
            Why::ClusterObject(what) => format!("is the address of {what} inside the cluster"),
            Why::Platform => "is one of the platform's own services".to_string(),
            Why::Unresolvable => "does not resolve to any address".to_string(),
        };
        let fix = match self.why {
            Why::Platform | Why::Unresolvable => "",
            _ => "; a platform admin can allow its range",
        };
        format!("{at} {reason}{fix}")
    }

    pub fn zh(&self) -> String {
        let at = match self.addr {
            Some(a) if !self.target.contains(&a.to_string()) => format!("{}({a})", self.target),
            _ => self.target.clone(),
        };
        let reason = match &self.why {
            Why::Loopback => "是回环地址".to_string(),
            Why::LinkLocal => "是链路本地地址(例如云平台的元数据服务)".to_string(),
            Why::Unspecified => "是未指定地址".to_string(),
            Why::Multicast => "是组播地址".to_string(),
            Why::Broadcast => "是广播地址".to_string(),
            Why::ClusterRange(net) => format!("位于集群内部({net})"),
            Why::ClusterObject(what) => format!("是集群内 {what} 的地址"),
            Why::Platform => "是平台自身的服务".to_string(),
            Why::Unresolvable => "无法解析到任何地址".to_string(),
        };
        let fix = match self.why {
            Why::Platform | Why::Unresolvable => "",
            _ => ";平台管理员可以放行该网段",
        };
        format!("{at} {reason}{fix}")
    }
}

impl EgressPolicy {
    /// Checks one resolved address. `cluster_object` names the pod or Service that has `ip`
    /// now, if any (see [`cluster_object_of`]).
    pub fn check(
        &self,
        target: &str,
        addr: SocketAddr,
        cluster_object: impl Fn(IpAddr) -> Option<String>,
    ) -> Result<(), Refused> {
        let ip = addr.ip().to_canonical();
        let refuse = |why| {
            Err(Refused {
                target: target.to_string(),
                addr: Some(ip),
                why,
            })
        };
        let platform = self.platform.iter().any(|p| {
            p.port() == addr.port() && (p.ip().to_canonical() == ip || p.ip().is_unspecified())
        });
        if platform {
            return refuse(Why::Platform);
        }
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        if ip.is_loopback() {
            return refuse(Why::Loopback);
        }
        if ip.is_unspecified() {
            return refuse(Why::Unspecified);
        }
        if ip.is_multicast() {
            return refuse(Why::Multicast);
        }
        match ip {
            IpAddr::V4(v4) if v4.is_link_local() => return refuse(Why::LinkLocal),
            IpAddr::V4(v4) if v4.is_broadcast() => return refuse(Why::Broadcast),
            IpAddr::V6(v6) if v6.is_unicast_link_local() => return refuse(Why::LinkLocal),
            _ => {}
        }
        if let Some(net) = self.cluster_ranges.iter().find(|net| net.contains(&ip)) {
            return refuse(Why::ClusterRange(*net));
        }
        if let Some(what) = cluster_object(ip) {
            return refuse(Why::ClusterObject(what));
        }
        Ok(())
    }

    /// Resolves `host:port` and checks every address it resolves to; the addresses on success.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        cluster_object: impl Fn(IpAddr) -> Option<String>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        // A name server that does not answer counts as a name that does not resolve.
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found.collect(),
            _ => Vec::new(),
        };
        if addrs.is_empty() {
            return Err(Refused {
                target,
                addr: None,
                why: Why::Unresolvable,
            });
        }
        for a in &addrs {
            self.check(&target, *a, &cluster_object)?;
        }
        Ok(addrs)
    }
}

/// [`EgressPolicy::resolve`] with the console's settings and its view of the cluster's pods and
/// Services: what every check of a tenant's address at save and at use calls.
pub async fn reachable(
    state: &crate::state::AppState,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Refused> {
    state
        .settings
        .egress
        .resolve(host, port, |ip| cluster_object_of(&state.cache, ip))
        .await
}

/// The pod or Service that has `ip` now, from the console's cache (`pod alpha/web-1`,
/// `Service beta/db`).
pub fn cluster_object_of(cache: &crate::state::Cache, ip: IpAddr) -> Option<String> {
    let ip = ip.to_string();
    let name = |m: &kube::api::ObjectMeta| {
        format!(
            "{}/{}",
            m.namespace.as_deref().unwrap_or_default(),
            m.name.as_deref().unwrap_or_default()
        )
    };
    for p in cache.pods.state() {
        let status = p.status.as_ref();
        let ips = status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|i| i.ip.as_str())
            .chain(status.and_then(|s| s.pod_ip.as_deref()));
        if ips.into_iter().any(|i| i == ip) {
            return Some(format!("pod {}", name(&p.metadata)));
        }
    }
    for s in cache.services.state() {
        let spec = s.spec.as_ref();
        let ips = spec
            .and_then(|s| s.cluster_ips.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
            .chain(spec.and_then(|s| s.cluster_ip.as_deref()));
        if ips.into_iter().any(|i| i == ip) {
            return Some(format!("Service {}", name(&s.metadata)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: IpAddr) -> Option<String> {
        None
    }

    fn check(policy: &EgressPolicy, addr: &str) -> Result<(), Why> {
        let a: SocketAddr = addr.parse().unwrap();
        policy.check(addr, a, none).map_err(|r| r.why)
    }

    #[test]
    fn the_platform_and_the_hosts_own_addresses_are_refused() {
        let p = EgressPolicy::default();
        assert_eq!(check(&p, "127.0.0.1:9090"), Err(Why::Loopback));
        assert_eq!(check(&p, "127.3.4.5:80"), Err(Why::Loopback));
        assert_eq!(check(&p, "[::1]:80"), Err(Why::Loopback));
        assert_eq!(check(&p, "[::ffff:127.0.0.1]:80"), Err(Why::Loopback));
        assert_eq!(check(&p, "169.254.169.254:80"), Err(Why::LinkLocal));
        assert_eq!(check(&p, "[fe80::1]:80"), Err(Why::LinkLocal));
        assert_eq!(check(&p, "0.0.0.0:80"), Err(Why::Unspecified));
        assert_eq!(check(&p, "224.0.0.1:80"), Err(Why::Multicast));
        assert_eq!(check(&p, "255.255.255.255:80"), Err(Why::Broadcast));
        assert_eq!(
            check(&p, "10.0.0.5:8080"),
            Ok(()),
            "legacy servers in private ranges"
        );
        assert_eq!(check(&p, "203.0.113.7:443"), Ok(()));
    }

    #[test]
    fn cluster_ranges_and_objects_are_refused_and_an_admin_can_allow_a_range() {
        let mut p = EgressPolicy {
            cluster_ranges: vec!["10.96.0.0/12".parse().unwrap()],
            ..Default::default()
        };
        assert!(matches!(
            check(&p, "10.96.0.10:53"),
            Err(Why::ClusterRange(_))
        ));
        let a: SocketAddr = "10.0.0.9:80".parse().unwrap();
        let r = p
            .check("10.0.0.9:80", a, |ip| {
                (ip == a.ip()).then(|| "pod beta/db-0".into())
            })
            .unwrap_err();
        assert_eq!(r.why, Why::ClusterObject("pod beta/db-0".into()));
        assert!(r.en().contains("pod beta/db-0") && r.zh().contains("pod beta/db-0"));
        p.allowed = vec![
            "10.96.0.10/32".parse().unwrap(),
            "127.0.0.0/8".parse().unwrap(),
        ];
        assert_eq!(check(&p, "10.96.0.10:53"), Ok(()));
        assert_eq!(check(&p, "127.0.0.1:8080"), Ok(()));
    }

    #[test]
    fn the_platforms_own_services_are_refused_even_when_allowed() {
        let p = EgressPolicy {
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            platform: vec![
                "127.0.0.1:9090".parse().unwrap(),
                "0.0.0.0:3000".parse().unwrap(),
            ],
            ..Default::default()
        };
        assert_eq!(check(&p, "127.0.0.1:9090"), Err(Why::Platform));
        assert_eq!(
            check(&p, "127.0.0.1:3000"),
            Err(Why::Platform),
            "listening on every address"
        );
        assert_eq!(check(&p, "127.0.0.1:9091"), Ok(()));
    }

    #[test]
    fn both_languages_say_the_same_thing() {
        let r = Refused {
            target: "metadata.internal:80".into(),
            addr: Some("169.254.169.254".parse().unwrap()),
            why: Why::LinkLocal,
        };
        assert_eq!(
            r.en(),
            "metadata.internal:80 (169.254.169.254) is a link-local address (such as the cloud's metadata service); a platform admin can allow its range"
        );
        assert!(r.zh().contains("169.254.169.254") && r.zh().contains("链路本地"));
    }

    #[tokio::test]
    async fn a_name_is_checked_for_every_address_it_resolves_to() {
        let p = EgressPolicy::default();
        let r = p.resolve("localhost", 80, none).await.unwrap_err();
        assert_eq!(r.why, Why::Loopback);
        let r = p
            .resolve("no-such-host.invalid", 80, none)
            .await
            .unwrap_err();
        assert_eq!(r.why, Why::Unresolvable);
    }
}
