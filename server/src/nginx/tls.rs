//! TLS secrets for `wharf ng-agent`: a route's `tlsSecret` (a `kubernetes.io/tls` Secret of the
//! route's namespace) becomes an `ngx::Certificate` in the desired state, which the engine
//! writes to the node (mode 0600, under `<conf_dir>/tls/`, named after a hash of its content)
//! and serves on the cluster's HTTPS port. A rotated secret is a new certificate: new files,
//! new config sha, one ordinary tested reload.
//!
//! Only `kubernetes.io/tls` Secrets are watched (a field selector on `type`), so the agent
//! never holds other secrets. Each distinct pair is checked once with `nginx -t`
//! (`ngx::tls::check`) before it goes into the desired state: a missing or refused secret
//! leaves that one route on plain HTTP and is reported in the node's `routeErrors`, instead
//! of failing the whole config for every route. The outcome depends only on the cluster's
//! objects, so every node of a cluster serves the same thing.

use crds::nginx::{NginxRoute, NginxRouteError};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use ngx::{Certificate, DesiredState, PrivateKey, Tls};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use wharf_app::nginx::desired::route_id;

const TLS_TYPE: &str = "kubernetes.io/tls";

/// A reflector of the cluster's `kubernetes.io/tls` Secrets; every event bumps `changed`.
pub fn reflect_tls_secrets(client: Client, changed: watch::Sender<u64>) -> (Store<Secret>, BoxFuture<'static, ()>) {
    let (reader, writer) = reflector::store::<Secret>();
    let cfg = watcher::Config::default().fields(&format!("type={TLS_TYPE}"));
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

/// Attaches certificates to the routes of a desired state, remembering which pairs nginx
/// accepted.
pub struct TlsSecrets {
    nginx_bin: PathBuf,
    /// sha256 of (cert, key) → nginx's verdict; only pairs in use are kept.
    checked: HashMap<String, Result<(), String>>,
}

impl TlsSecrets {
    pub fn new(nginx_bin: PathBuf) -> Self {
        TlsSecrets { nginx_bin, checked: HashMap::new() }
    }

    /// Sets `tls` on each route of `desired` whose `NginxRoute` names a usable secret and adds
    /// the certificates; returns the routes left without TLS, with the reason. `https` says
    /// whether this node serves an HTTPS port at all.
    pub async fn attach(&mut self, desired: &mut DesiredState, routes: &[Arc<NginxRoute>], secrets: &Store<Secret>, https: bool) -> Vec<NginxRouteError> {
        let asked: HashMap<String, (String, String)> = routes
            .iter()
            .filter_map(|r| {
                let ns = r.namespace()?;
                Some((route_id(&ns, &r.name_any()), (ns, r.spec.tls_secret.clone()?)))
            })
            .collect();
        let mut errors = Vec::new();
        let mut certificates: BTreeMap<String, Certificate> = BTreeMap::new();
        let mut in_use = HashMap::new();
        // The first route of a host (by name) that gets a certificate decides the host's.
        let mut host_cert: BTreeMap<String, (String, String)> = BTreeMap::new();
        for route in desired.routes.iter_mut() {
            let Some((ns, secret)) = asked.get(&route.name) else { continue };
            let name = format!("{ns}/{secret}");
            let verdict = if !https {
                Err(format!("TLS secret {name}: the nginx cluster has no HTTPS port (spec.listen.https); served on HTTP only"))
            } else {
                match self.certificate(ns, secret, secrets, &mut in_use).await {
                    Ok(cert) => match host_cert.get(&route.host) {
                        Some((other, by)) if *other != name => Err(format!("TLS secret {name}: host {} already uses {other} (route {by}); served on HTTP only", route.host)),
                        _ => Ok(cert),
                    },
                    Err(why) => Err(format!("TLS secret {name}: {why}; served on HTTP only")),
                }
            };
            match verdict {
                Ok(cert) => {
                    host_cert.entry(route.host.clone()).or_insert_with(|| (name.clone(), route.name.clone()));
                    route.tls = Some(Tls::Certificate { name: name.clone() });
                    certificates.insert(name, cert);
                }
                Err(message) => errors.push(NginxRouteError { route: route.name.clone(), message }),
            }
        }
        self.checked = in_use;
        desired.certificates = certificates.into_values().collect();
        errors
    }

    /// The secret's pair, checked by nginx (once per distinct content).
    async fn certificate(&self, ns: &str, secret: &str, secrets: &Store<Secret>, in_use: &mut HashMap<String, Result<(), String>>) -> Result<Certificate, String> {
        let s = secrets.get(&ObjectRef::new(secret).within(ns)).ok_or_else(|| format!("no {TLS_TYPE} Secret of that name in namespace {ns}"))?;
        let data = s.data.as_ref();
        let text = |key: &str| -> Result<String, String> {
            let bytes = data.and_then(|d| d.get(key)).ok_or_else(|| format!("the Secret has no {key}"))?;
            String::from_utf8(bytes.0.clone()).map_err(|_| format!("{key} is not PEM text"))
        };
        let (cert_pem, key_pem) = (text("tls.crt")?, text("tls.key")?);
        let sha = ngx::tls::fingerprint(&cert_pem, &key_pem);
        let verdict = match in_use.get(&sha).or_else(|| self.checked.get(&sha)) {
            Some(v) => v.clone(),
            None => match ngx::tls::check(&cert_pem, &key_pem, &self.nginx_bin).await {
                Ok(()) => Ok(()),
                // NB: nginx could not be run or the temp files not written: not a verdict on
                // the pair, so not remembered; the next change asks again.
                Err(e @ (ngx::Error::Spawn { .. } | ngx::Error::Io { .. })) => return Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        in_use.insert(sha, verdict.clone());
        verdict?;
        Ok(Certificate { name: format!("{ns}/{secret}"), cert_pem, key_pem: PrivateKey(key_pem) })
    }
}
