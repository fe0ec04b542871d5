//! ServiceAccount token Secrets against a real kube-apiserver 1.20 with
//! kube-controller-manager: the token controller fills the same keys and annotations on
//! both, the token authenticates on both (discovery, which the real RBAC allows any
//! authenticated user), deleting the Secret revokes it on both, and a token Secret for a
//! ServiceAccount that does not exist is deleted on both. Shapes are compared, not values
//! (the real token is a signed JWT, the demo's a random string; the CAs differ).

use serde_json::{json, Value};
use wharf_testkit::Parts;

use crate::support::eventually;
use crate::support::parity::{normalize, request, Answer, Pair};

const JSON: &str = "application/json";
const SAS: &str = "/api/v1/namespaces/default/serviceaccounts";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const UID: &str = "kubernetes.io/service-account.uid";

const CONTROLLERS: Parts = Parts {
    controllers: true,
    node: false,
};

fn token_secret(name: &str, sa: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": sa}}})
}

/// A filled token Secret's shape: its data's values (but the namespace's) and the uid
/// annotation, when it is `sa_uid`, replaced by placeholders; `None` while not filled.
fn filled_shape(secret: &Answer, sa_uid: &str) -> Option<Value> {
    let mut n = normalize(secret);
    let body = &mut n["body"];
    let data = body["data"].as_object_mut()?;
    for key in ["token", "ca.crt", "namespace"] {
        data.get(key)?.as_str().filter(|v| !v.is_empty())?;
    }
    for (k, v) in data.iter_mut() {
        if k != "namespace" {
            *v = json!("<set>");
        }
    }
    let uid = &mut body["metadata"]["annotations"][UID];
    if uid.as_str() != Some(sa_uid) {
        return None;
    }
    *uid = json!("<the ServiceAccount's uid>");
    Some(n)
}

#[tokio::test]
async fn token_secrets_are_filled_authenticate_and_are_revoked_as_on_the_real_one() {
    let pair = Pair::start_with(CONTROLLERS).await;
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}});
    // NB: not compared: 1.20's controller also lists a token Secret of its own in the
    // ServiceAccount's `secrets`, which the demo cluster does not make.
    let (d, r) = pair.send("POST", SAS, JSON, &sa).await;
    assert_eq!((d.status, r.status), (201, 201), "{d:?}\n{r:?}");
    let sa_uids = (
        d.body["metadata"]["uid"].as_str().unwrap().to_string(),
        r.body["metadata"]["uid"].as_str().unwrap().to_string(),
    );
    let created = pair
        .same(
            "a token Secret",
            "POST",
            SECRETS,
            JSON,
            &token_secret("robot-token", "robot"),
        )
        .await;
    assert_eq!(created.status, 201);

    let path = format!("{SECRETS}/robot-token");
    // Both filled (each with its own ServiceAccount's uid); the answers and their shapes.
    let (demo, real, demo_shape, real_shape) = eventually(60, || async {
        let (d, r) = pair.send("GET", &path, JSON, &Value::Null).await;
        let (ds, rs) = (filled_shape(&d, &sa_uids.0)?, filled_shape(&r, &sa_uids.1)?);
        Some((d, r, ds, rs))
    })
    .await;
    assert_eq!(
        demo_shape,
        real_shape,
        "the filled Secret\n--- demo:\n{}\n--- real:\n{}",
        serde_json::to_string_pretty(&demo_shape).unwrap(),
        serde_json::to_string_pretty(&real_shape).unwrap()
    );

    let token = |a: &Answer| -> String {
        let b64 = a.body["data"]["token"].as_str().unwrap();
        let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        String::from_utf8(raw).unwrap()
    };
    let (demo_client, real_client) = pair.clients_with_tokens(&token(&demo), &token(&real)).await;
    let apis =
        |client: kube::Client| async move { request(&client, "GET", "/apis", JSON, vec![]).await };
    // The demo cluster reads its store: the filled token works at once.
    let d = apis(demo_client.clone()).await;
    assert_eq!(d.status, 200, "discovery with the token: {d:?}");
    // NB: the real one authenticates against its informers' cache of Secrets, which may
    // be a moment behind the token controller's fill (CI saw 401 once): waited for.
    eventually(30, || {
        let c = real_client.clone();
        async move { (apis(c).await.status == 200).then_some(()) }
    })
    .await;

    let (d, r) = pair.send("DELETE", &path, JSON, &Value::Null).await;
    assert_eq!((d.status, r.status), (200, 200), "{d:?}\n{r:?}");
    // The demo cluster checks its store on every request: the next one is refused.
    let d = apis(demo_client).await;
    // NB: the real one reads Secrets from its informers' cache, which may be a moment
    // behind the delete: waited for.
    let r = eventually(30, || {
        let c = real_client.clone();
        async move {
            let r = apis(c).await;
            (r.status == 401).then_some(r)
        }
    })
    .await;
    assert_eq!(normalize(&d), normalize(&r), "revoked with its Secret");
}

#[tokio::test]
async fn a_token_secret_without_its_service_account_is_deleted_as_on_the_real_one() {
    let pair = Pair::start_with(CONTROLLERS).await;
    pair.same(
        "a token Secret for a missing ServiceAccount",
        "POST",
        SECRETS,
        JSON,
        &token_secret("ghost-token", "ghost"),
    )
    .await;
    let path = format!("{SECRETS}/ghost-token");
    eventually(60, || async {
        let (d, r) = pair.send("GET", &path, JSON, &Value::Null).await;
        (d.status == 404 && r.status == 404).then_some(())
    })
    .await;
}
