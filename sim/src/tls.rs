//! TLS for the demo cluster: a CA generated once (kept in the data dir when
//! there is one, so kubeconfigs stay valid across restarts) and a server
//! certificate signed by it on every start, for 127.0.0.1, localhost, ::1 and
//! the listen IP. ALPN offers h2 (kubectl) and http/1.1 (WebSocket upgrades).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};
use crate::persist::write_atomic;

/// The cluster CA: its certificate (for kubeconfigs) and signing key.
pub struct Ca {
    pub cert_pem: String,
    key: KeyPair,
}

fn ca_params() -> Result<CertificateParams> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| Error::Tls(e.to_string()))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "wharf-demo-ca");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Wharf demo cluster");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    Ok(params)
}

impl Ca {
    /// Loads the CA from `dir` (ca.crt, ca.key) or creates and saves one.
    pub fn load_or_create(dir: Option<&Path>) -> Result<Ca> {
        if let Some(dir) = dir {
            let (c, k) = (dir.join("ca.crt"), dir.join("ca.key"));
            if c.exists() && k.exists() {
                let cert_pem = std::fs::read_to_string(&c).map_err(|e| Error::io(&c, e))?;
                let key_pem = std::fs::read_to_string(&k).map_err(|e| Error::io(&k, e))?;
                let key = KeyPair::from_pem(&key_pem)
                    .map_err(|e| Error::Tls(format!("{}: {e}", k.display())))?;
                return Ok(Ca { cert_pem, key });
            }
        }
        let key = KeyPair::generate().map_err(|e| Error::Tls(e.to_string()))?;
        let cert = ca_params()?
            .self_signed(&key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        let ca = Ca {
            cert_pem: cert.pem(),
            key,
        };
        if let Some(dir) = dir {
            write_atomic(&dir.join("ca.key"), ca.key.serialize_pem().as_bytes())?;
            write_atomic(&dir.join("ca.crt"), ca.cert_pem.as_bytes())?;
        }
        Ok(ca)
    }

    /// A rustls server config with a fresh leaf certificate for `listen_ip`.
    pub fn server_config(&self, listen_ip: IpAddr) -> Result<Arc<rustls::ServerConfig>> {
        let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
        let mut params =
            CertificateParams::new(vec!["localhost".to_string()]).map_err(|e| tls(&e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "wharf-demo-apiserver");
        let mut ips: Vec<IpAddr> = vec![
            "127.0.0.1".parse().map_err(|e| tls(&e))?,
            "::1".parse().map_err(|e| tls(&e))?,
        ];
        if !listen_ip.is_unspecified() && !ips.contains(&listen_ip) {
            ips.push(listen_ip);
        }
        params
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        params.subject_alt_names.push(SanType::DnsName(
            "kubernetes.default.svc".try_into().map_err(|e| tls(&e))?,
        ));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf_key = KeyPair::generate().map_err(|e| tls(&e))?;
        let issuer = Issuer::new(ca_params()?, &self.key);
        let cert = params.signed_by(&leaf_key, &issuer).map_err(|e| tls(&e))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .map_err(|e| tls(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}
