//! Routes' certificates: the one step that turns a route's `tlsSecret` (a `kubernetes.io/tls`
//! Secret of the route's namespace) into an `ngx::Certificate` of the desired state. The agent
//! (`server/src/nginx/agent.rs`, Secrets from its watcher) and the console (`super`, only
//! the Secrets the routes name, one GET each) both run it on what `super::desired` built, so
//! the console's config view and validation hold the HTTPS listeners the nodes serve.
//!
//! Each distinct pair is checked once with `nginx -t` (`ngx::tls::check`) before it goes into
//! the desired state: a missing or refused secret leaves that one route on plain HTTP, with a
//! reason (a node reports it in its `routeErrors`), instead of failing the whole config for
//! every route. The outcome depends only on the cluster's objects (and whether HTTPS is
//! served at all), so every node of a cluster, and the console, comes to the same one.

use super::desired::route_id;
use crds::nginx::{NginxRoute, NginxRouteError};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use ngx::{Certificate, DesiredState, PrivateKey, Tls};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The only type of Secret a route's certificate comes from (the agent watches no other).
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// A certificate chain and its private key, PEM, as a Secret holds them.
#[derive(Clone, Debug)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: PrivateKey,
}

/// The pair in a route's Secret (`None`: there is none of that name), or why it cannot be used.
pub fn pair_of(secret: Option<&Secret>, namespace: &str) -> Result<Pair, String> {
    let s = secret
        .filter(|s| s.type_.as_deref() == Some(TLS_SECRET_TYPE))
        .ok_or_else(|| {
            format!("no {TLS_SECRET_TYPE} Secret of that name in namespace {namespace}")
        })?;
    let data = s.data.as_ref();
    let text = |key: &str| -> Result<String, String> {
        let bytes = data
            .and_then(|d| d.get(key))
            .ok_or_else(|| format!("the Secret has no {key}"))?;
        String::from_utf8(bytes.0.clone()).map_err(|_| format!("{key} is not PEM text"))
    };
    Ok(Pair {
        cert_pem: text("tls.crt")?,
        key_pem: PrivateKey(text("tls.key")?),
    })
}

/// The Secrets the routes of `desired` ask for, as `(namespace, name)`: all a caller needs
/// to read (routes of other clusters and namespaces are not in `desired`).
pub fn asked(desired: &DesiredState, routes: &[Arc<NginxRoute>]) -> BTreeSet<(String, String)> {
    let by_id = asked_by_route(routes);
    desired
        .routes
        .iter()
        .filter_map(|r| by_id.get(&r.name).cloned())
        .collect()
}

/// Route id (`namespace/name`) → the `(namespace, secret)` it asks for.
fn asked_by_route(routes: &[Arc<NginxRoute>]) -> HashMap<String, (String, String)> {
    routes
        .iter()
        .filter_map(|r| {
            let ns = r.namespace()?;
            Some((
                route_id(&ns, &r.name_any()),
                (ns, r.spec.tls_secret.clone()?),
            ))
        })
        .collect()
}

/// nginx's verdicts on pairs, by `ngx::tls::fingerprint`.
pub type Verdicts = HashMap<String, Result<(), String>>;

/// Attaches certificates to desired states, remembering which pairs nginx accepted.
pub struct TlsSecrets {
    nginx_bin: PathBuf,
    /// Verdicts on the pairs the last attach used (and, before the first, any known ones).
    checked: Verdicts,
}

impl TlsSecrets {
    pub fn new(nginx_bin: PathBuf) -> Self {
        TlsSecrets::with_verdicts(nginx_bin, Verdicts::new())
    }

    /// Starts from verdicts already known (the console keeps them between requests).
    pub fn with_verdicts(nginx_bin: PathBuf, checked: Verdicts) -> Self {
        TlsSecrets { nginx_bin, checked }
    }

    /// The verdicts on the pairs the last [`TlsSecrets::attach`] used.
    pub fn verdicts(&self) -> &Verdicts {
        &self.checked
    }

    /// Sets `tls` on each route of `desired` whose `NginxRoute` names a usable secret and adds
    /// the certificates; returns the routes left without TLS, with the reason. `https` says
    /// whether an HTTPS port is served at all; `pair` finds a Secret's pair by namespace and
    /// name (or says why there is none).
    pub async fn attach(
        &mut self,
        desired: &mut DesiredState,
        routes: &[Arc<NginxRoute>],
        https: bool,
        pair: impl Fn(&str, &str) -> Result<Pair, String>,
    ) -> Vec<NginxRouteError> {
        let asked = asked_by_route(routes);
        let mut errors = Vec::new();
        let mut certificates: BTreeMap<String, Certificate> = BTreeMap::new();
        let mut in_use = Verdicts::new();
        // The first route of a host (by name) that gets a certificate decides the host's.
        let mut host_cert: BTreeMap<String, (String, String)> = BTreeMap::new();
        for route in desired.routes.iter_mut() {
            let Some((ns, secret)) = asked.get(&route.name) else {
                continue;
            };
            let name = format!("{ns}/{secret}");
            let verdict = if !https {
                Err(format!("TLS secret {name}: the nginx cluster has no HTTPS port (spec.listen.https); served on HTTP only"))
            } else {
                match self.certificate(ns, secret, &pair, &mut in_use).await {
                    Ok(cert) => match host_cert.get(&route.host) {
                        Some((other, by)) if *other != name => Err(format!("TLS secret {name}: host {} already uses {other} (route {by}); served on HTTP only", route.host)),
                        _ => Ok(cert),
                    },
                    Err(why) => Err(format!("TLS secret {name}: {why}; served on HTTP only")),
                }
            };
            match verdict {
                Ok(cert) => {
                    host_cert
                        .entry(route.host.clone())
                        .or_insert_with(|| (name.clone(), route.name.clone()));
                    route.tls = Some(Tls::Certificate { name: name.clone() });
                    certificates.insert(name, cert);
                }
                Err(message) => errors.push(NginxRouteError {
                    route: route.name.clone(),
                    message,
                }),
            }
        }
        self.checked = in_use;
        desired.certificates = certificates.into_values().collect();
        errors
    }

    /// The secret's pair, checked by nginx (once per distinct content).
    async fn certificate(
        &self,
        ns: &str,
        secret: &str,
        pair: &impl Fn(&str, &str) -> Result<Pair, String>,
        in_use: &mut Verdicts,
    ) -> Result<Certificate, String> {
        let Pair { cert_pem, key_pem } = pair(ns, secret)?;
        let sha = ngx::tls::fingerprint(&cert_pem, &key_pem.0);
        let verdict = match in_use.get(&sha).or_else(|| self.checked.get(&sha)) {
            Some(v) => v.clone(),
            None => match ngx::tls::check(&cert_pem, &key_pem.0, &self.nginx_bin).await {
                Ok(()) => Ok(()),
                // NB: nginx could not be run or the temp files not written: not a verdict on
                // the pair, so not remembered; the next change asks again.
                Err(e @ (ngx::Error::Spawn { .. } | ngx::Error::Io { .. })) => {
                    return Err(e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
        };
        in_use.insert(sha, verdict.clone());
        verdict?;
        Ok(Certificate {
            name: format!("{ns}/{secret}"),
            cert_pem,
            key_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(type_: &str, data: &[(&str, &str)]) -> Secret {
        Secret {
            type_: Some(type_.into()),
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_complete_tls_secret_gives_a_pair() {
        let ok = secret(TLS_SECRET_TYPE, &[("tls.crt", "C"), ("tls.key", "K")]);
        let p = pair_of(Some(&ok), "alpha").unwrap();
        assert_eq!((p.cert_pem.as_str(), p.key_pem.0.as_str()), ("C", "K"));
        let opaque = secret("Opaque", &[("tls.crt", "C"), ("tls.key", "K")]);
        assert_eq!(
            pair_of(Some(&opaque), "alpha").unwrap_err(),
            "no kubernetes.io/tls Secret of that name in namespace alpha"
        );
        assert_eq!(
            pair_of(None, "alpha").unwrap_err(),
            "no kubernetes.io/tls Secret of that name in namespace alpha"
        );
        let no_key = secret(TLS_SECRET_TYPE, &[("tls.crt", "C")]);
        assert_eq!(
            pair_of(Some(&no_key), "alpha").unwrap_err(),
            "the Secret has no tls.key"
        );
    }
}
