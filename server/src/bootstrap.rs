//! What the console needs in the cluster before it can serve: its CRDs (installed when
//! missing, then waited on until Established), the `wharf-system` namespace, the Secret
//! with the key that signs session cookies, and on a cluster without users the first platform
//! admin (`wharf_console::admin::bootstrap`).

use anyhow::{Context, Result};
use base64::Engine;
use crds::SYSTEM_NAMESPACE;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::Client;
use rand::RngCore;
use std::collections::BTreeMap;
use std::time::Duration;
use wharf_console::auth::SessionKey;

pub const SESSION_SECRET: &str = "wharf-session-key";
const FIELD_MANAGER: &str = "wharf";

/// Applies Wharf's CRDs, then waits until the API server serves all of them.
pub async fn install_crds(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for crd in crds::all() {
        let name = crd.metadata.name.clone().context("a CRD without a name")?;
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("installing CRD {name}"))?;
        names.push(name);
    }
    let established = names.iter().map(|name| {
        let api = api.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(api.clone(), name, conditions::is_crd_established()),
            )
            .await
            .with_context(|| format!("CRD {name} was not established within 30 s"))?
            .with_context(|| format!("watching CRD {name}"))
            .map(|_| ())
        }
    });
    futures::future::try_join_all(established).await?;
    Ok(())
}

pub async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(name).await?.is_none() {
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e).with_context(|| format!("creating namespace {name}")),
        }
    }
    Ok(())
}

/// Reads the session key, creating it (32 random bytes) on first start. Replicas share it.
pub async fn session_key(client: &Client) -> Result<SessionKey> {
    let api: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    if let Some(s) = api.get_opt(SESSION_SECRET).await? {
        if let Some(key) = s.data.and_then(|d| d.get("key").cloned()) {
            return Ok(SessionKey::new(key.0));
        }
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(SESSION_SECRET.into()),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "key".to_string(),
            ByteString(key.clone()),
        )])),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(SessionKey::new(key)),
        // another replica won the race: use its key
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let s = api.get(SESSION_SECRET).await?;
            let key = s
                .data
                .and_then(|d| d.get("key").cloned())
                .context("session key secret without a key")?;
            Ok(SessionKey::new(key.0))
        }
        Err(e) => Err(e).context("creating the session key"),
    }
}

/// Everything above, in order, then the first platform admin on a cluster without users.
pub async fn run(client: &Client) -> Result<SessionKey> {
    install_crds(client).await?;
    ensure_namespace(client, SYSTEM_NAMESPACE).await?;
    let key = session_key(client).await?;
    if let Some(password) = wharf_console::admin::bootstrap::first_admin(client)
        .await
        .context("creating the first platform admin")?
    {
        // NB: said once, by the replica that made it; it stays readable in the Secret.
        tracing::warn!(
            user = wharf_console::admin::bootstrap::ADMIN,
            %password,
            secret = %format!("{SYSTEM_NAMESPACE}/{}", wharf_console::admin::bootstrap::SECRET),
            "no Wharf user existed: created the first platform admin (its first login chooses a new password)"
        );
        println!(
            "\n  First platform admin: user `{}`, password `{password}`\n  (also in the Secret {SYSTEM_NAMESPACE}/{}; the first login with it chooses a new one)\n",
            wharf_console::admin::bootstrap::ADMIN,
            wharf_console::admin::bootstrap::SECRET,
        );
    }
    Ok(key)
}

/// For logs: the key's fingerprint, never the key.
pub fn fingerprint(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes[..4.min(bytes.len())])
}
