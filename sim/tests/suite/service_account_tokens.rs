//! ServiceAccount token Secrets on the demo cluster: the token controller fills them
//! (token, CA, namespace, the ServiceAccount's uid) through the store, so the change is
//! a new resourceVersion; the token authenticates (with everything the cluster's own
//! token may do: the demo cluster has no RBAC) until the Secret is deleted; a token
//! Secret whose ServiceAccount is missing or goes is deleted.

use base64::Engine;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Error;
use serde_json::json;

use crate::support::{client_with_token, eventually, spawn};

const NAME: &str = "kubernetes.io/service-account.name";
const UID: &str = "kubernetes.io/service-account.uid";

fn service_account(name: &str) -> ServiceAccount {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    )
    .unwrap()
}

fn token_secret(name: &str, sa: &str) -> Secret {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": name, "annotations": {NAME: sa}}, "type": "kubernetes.io/service-account-token"}))
    .unwrap()
}

/// The Secret once the controller has filled it.
async fn filled(secrets: &Api<Secret>, name: &str) -> Secret {
    eventually(20, || async {
        let s = secrets.get(name).await.ok()?;
        let data = s.data.as_ref()?;
        let full = ["token", "ca.crt", "namespace"]
            .iter()
            .all(|k| data.get(*k).is_some_and(|v| !v.0.is_empty()));
        let uid = s.metadata.annotations.as_ref()?.contains_key(UID);
        (full && uid).then_some(s)
    })
    .await
}

fn token_of(s: &Secret) -> String {
    String::from_utf8(s.data.as_ref().unwrap()["token"].0.clone()).unwrap()
}

/// The HTTP code of a list of Secrets in `default` through `client`.
async fn list_code(client: kube::Client) -> u16 {
    match Api::<Secret>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
    {
        Ok(_) => 200,
        Err(Error::Api(s)) => s.code,
        Err(other) => panic!("expected an API answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_filled_token_authenticates_until_its_secret_is_deleted() {
    let (sim, client) = spawn().await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let sa = sas.create(&pp, &service_account("robot")).await.unwrap();
    let created = secrets
        .create(&pp, &token_secret("robot-token", "robot"))
        .await
        .unwrap();

    let secret = filled(&secrets, "robot-token").await;
    let data = secret.data.as_ref().unwrap();
    let kubeconfig = sim.kubeconfig_yaml();
    let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
    let ca_data = kc.clusters[0].cluster.as_ref().unwrap();
    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(ca_data.certificate_authority_data.as_ref().unwrap())
        .unwrap();
    assert_eq!(data["ca.crt"].0, ca_pem, "the cluster's CA");
    assert_eq!(data["namespace"].0, b"default");
    let annotations = secret.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations.get(UID), sa.metadata.uid.as_ref());
    assert_eq!(annotations[NAME], "robot");
    let rv = |s: &Secret| -> u64 {
        s.metadata
            .resource_version
            .as_ref()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rv(&secret) > rv(&created), "written through the store");
    let token = token_of(&secret);
    assert!(token.len() >= 32, "{token}");
    assert!(!kubeconfig.contains(&token), "not the cluster's own token");

    let robot = client_with_token(&kubeconfig, Some(&token)).await;
    let names: Vec<String> = Api::<Secret>::namespaced(robot.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("no RBAC: the ServiceAccount may list Secrets")
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    assert!(names.contains(&"robot-token".to_string()), "{names:?}");
    let stranger = client_with_token(&kubeconfig, Some("not-a-token-anyone-made")).await;
    assert_eq!(list_code(stranger).await, 401, "a random token");

    secrets
        .delete("robot-token", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(list_code(robot).await, 401, "revoked with its Secret");
    sim.shutdown().await;
}

#[tokio::test]
async fn token_secrets_without_their_service_account_are_deleted() {
    let (sim, client) = spawn().await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let gone = |name: &'static str| {
        let secrets = secrets.clone();
        async move {
            eventually(20, || async {
                matches!(secrets.get(name).await, Err(Error::Api(s)) if s.code == 404).then_some(())
            })
            .await
        }
    };

    secrets
        .create(&pp, &token_secret("ghost-token", "ghost"))
        .await
        .unwrap();
    gone("ghost-token").await;

    sas.create(&pp, &service_account("robot")).await.unwrap();
    secrets
        .create(&pp, &token_secret("robot-token", "robot"))
        .await
        .unwrap();
    let token = token_of(&filled(&secrets, "robot-token").await);
    let robot = client_with_token(&sim.kubeconfig_yaml(), Some(&token)).await;
    assert_eq!(list_code(robot.clone()).await, 200);
    sas.delete("robot", &DeleteParams::default()).await.unwrap();
    assert_eq!(list_code(robot).await, 401, "its ServiceAccount is gone");
    gone("robot-token").await;
    sim.shutdown().await;
}
