//! Tenants through the console, as a platform admin makes them: namespaces created (or adopted
//! only when asked), each with its ResourceQuota, LimitRange, Pod Security labels and
//! NetworkPolicy; a namespace never shared by two tenants; deletion that says what goes and
//! wants the name typed when workloads would — on the demo cluster and a real kube-apiserver
//! (with the console's own ServiceAccount, so the manifest's rights are exactly enough).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, Pod, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ObjectMeta, PostParams};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use wharf_tests::{eventually, on_both_clusters, TestApp};

on_both_clusters!(
    a_new_tenant_gets_its_namespaces_quota_security_and_isolation,
    namespaces_are_never_shared_nor_adopted_by_accident,
    deleting_a_tenant_says_what_goes_and_wants_its_name,
    an_app_deployed_into_a_restricted_tenant_runs,
);

fn gamma(extra: Value) -> Value {
    let mut form = json!({"name": "gamma", "display_name": "Gamma", "namespaces": ["gamma"], "adopt": [],
        "quota": {"cpu": "2", "memory": "4Gi", "pods": "10", "storage": ""},
        "pod_security": "restricted", "hosts": ["*.gamma.example.com"], "image_prefix": "registry.example.com/gamma/"});
    form.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({ "form": form })
}

async fn a_new_tenant_gets_its_namespaces_quota_security_and_isolation(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let (status, body) = admin.call("create_tenant", gamma(json!({}))).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let ns = Api::<Namespace>::all(app.kube.clone())
        .get("gamma")
        .await
        .unwrap();
    let labels = ns.metadata.labels.unwrap();
    assert_eq!(labels["wharf.dev/tenant"], "gamma");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    let quota = Api::<ResourceQuota>::namespaced(app.kube.clone(), "gamma")
        .get("wharf-quota")
        .await
        .unwrap();
    let hard = quota.spec.unwrap().hard.unwrap();
    assert_eq!(hard["requests.cpu"].0, "2");
    assert_eq!(hard["requests.memory"].0, "4Gi");
    assert_eq!(hard["pods"].0, "10");
    Api::<LimitRange>::namespaced(app.kube.clone(), "gamma")
        .get("wharf-defaults")
        .await
        .expect("defaults so pods without requests count");
    let policy = Api::<NetworkPolicy>::namespaced(app.kube.clone(), "gamma")
        .get("wharf-isolation")
        .await
        .unwrap();
    let from = policy.spec.unwrap().ingress.unwrap()[0]
        .from
        .clone()
        .unwrap();
    assert_eq!(
        from[0]
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["wharf.dev/tenant"],
        "gamma"
    );
    // the platform admin sees it at once, with its settings
    let (_, tenants) = admin.call("tenants", json!({})).await.unwrap();
    let g = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["form"]["name"] == "gamma")
        .unwrap_or_else(|| panic!("{tenants}"));
    assert_eq!(g["form"]["quota"]["pods"], "10");
    assert_eq!(g["form"]["hosts"], json!(["*.gamma.example.com"]));
    // an edit changes the quota and the level in the namespace
    let (status, body) = admin
        .call(
            "update_tenant",
            gamma(json!({"quota": {"cpu": "4", "memory": "", "pods": "", "storage": ""}, "pod_security": "baseline"})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    // NB: every replica's sync loop also applies the tenant from its cache, which may still
    // hold the version before the edit for a moment: the namespace converges to the edit
    let quotas = Api::<ResourceQuota>::namespaced(app.kube.clone(), "gamma");
    let namespaces = Api::<Namespace>::all(app.kube.clone());
    eventually(
        Duration::from_secs(30),
        "the edited quota and level in gamma",
        || async {
            let hard = quotas.get("wharf-quota").await.ok()?.spec?.hard?;
            let labels = namespaces.get("gamma").await.ok()?.metadata.labels?;
            (hard.keys().collect::<Vec<_>>() == ["requests.cpu"]
                && labels
                    .get("pod-security.kubernetes.io/enforce")
                    .map(String::as_str)
                    == Some("baseline"))
            .then_some(())
        },
    )
    .await
    .unwrap();
    // bad input is refused with a sentence, and nothing is made
    for (extra, says) in [
        (
            json!({"name": "delta", "namespaces": ["kube-system"]}),
            "belongs to the cluster",
        ),
        (
            json!({"name": "delta", "namespaces": ["delta"], "quota": {"cpu": "two", "memory": "", "pods": "", "storage": ""}}),
            "is not a quantity",
        ),
        (
            json!({"name": "delta", "namespaces": ["delta"], "hosts": ["*.com"]}),
            "at least two labels",
        ),
        (
            json!({"name": "delta", "namespaces": ["delta"], "image_prefix": "docker.io"}),
            "image prefix",
        ),
    ] {
        let (status, body) = admin.call("create_tenant", gamma(extra)).await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(says), "{body}");
    }
    assert!(Api::<Namespace>::all(app.kube.clone())
        .get_opt("delta")
        .await
        .unwrap()
        .is_none());
}

async fn namespaces_are_never_shared_nor_adopted_by_accident(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    // host names too: a pattern that overlaps another tenant's is refused, nothing is made
    for (hosts, says) in [
        (
            json!(["*.eu.alpha.demo"]),
            "host '*.eu.alpha.demo' overlaps '*.alpha.demo' of tenant 'alpha'",
        ),
        (
            json!(["*.gamma.example.com", "shop.beta.demo"]),
            "host 'shop.beta.demo' overlaps '*.beta.demo' of tenant 'beta'",
        ),
    ] {
        let (status, body) = admin
            .call("create_tenant", gamma(json!({ "hosts": hosts })))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["Invalid"]["en"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{body}"
        );
        assert!(
            body["Invalid"]["zh"]
                .as_str()
                .unwrap_or_default()
                .contains("一个域名只能属于一个租户"),
            "{body}"
        );
    }
    assert!(Api::<Namespace>::all(app.kube.clone())
        .get_opt("gamma")
        .await
        .unwrap()
        .is_none());
    let (status, body) = admin
        .call(
            "create_tenant",
            gamma(json!({"namespaces": ["gamma", "alpha"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.to_string()
            .contains("already belongs to tenant 'alpha'"),
        "{body}"
    );
    let namespaces: Api<Namespace> = Api::all(app.kube.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("legacy".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = admin
        .call(
            "create_tenant",
            gamma(json!({"namespaces": ["gamma", "legacy"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("adopt it explicitly"), "{body}");
    assert!(
        namespaces.get_opt("gamma").await.unwrap().is_none(),
        "nothing made"
    );
    let (status, body) = admin
        .call(
            "create_tenant",
            gamma(json!({"namespaces": ["gamma", "legacy"], "adopt": ["legacy"]})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let legacy = namespaces.get("legacy").await.unwrap();
    assert_eq!(legacy.metadata.labels.unwrap()["wharf.dev/tenant"], "gamma");
}

async fn deleting_a_tenant_says_what_goes_and_wants_its_name(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let (status, _) = admin.call("create_tenant", gamma(json!({}))).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let (status, body) = admin
        .call(
            "add_member",
            json!({"tenant": "gamma", "user": "bob", "role": "Developer"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let form = json!({"namespace": "gamma", "name": "web", "image": "nginx:1.25", "replicas": 1, "port": 80, "env": [],
        "cpu_request": "100m", "cpu_limit": "", "memory_request": "64Mi", "memory_limit": ""});
    let (status, body) = admin
        .call("deploy_app", json!({"tenant": "gamma", "form": form}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, plan) = admin
        .call("tenant_deletion_plan", json!({"tenant": "gamma"}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["namespaces"], json!(["gamma"]));
    assert_eq!(plan["workloads"], json!(["Deployment gamma/web"]));
    assert_eq!(plan["members"], json!(["bob"]));
    let (status, body) = admin
        .call("delete_tenant", json!({"tenant": "gamma", "confirm": ""}))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.to_string().contains("type the tenant's name"),
        "{body}"
    );
    let tenants: Api<crds::Tenant> = Api::all(app.kube.clone());
    assert!(
        tenants.get_opt("gamma").await.unwrap().is_some(),
        "still there"
    );
    let (status, body) = admin
        .call(
            "delete_tenant",
            json!({"tenant": "gamma", "confirm": "gamma"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(tenants.get_opt("gamma").await.unwrap().is_none());
    let bob = Api::<crds::User>::all(app.kube.clone())
        .get("bob")
        .await
        .unwrap();
    assert!(bob.spec.memberships.iter().all(|m| m.tenant != "gamma"));
    let ns = Api::<Namespace>::all(app.kube.clone())
        .get_opt("gamma")
        .await
        .unwrap();
    assert!(
        ns.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
        "the namespace is going"
    );
}

/// A tenant's default level is restricted: the deploy form writes what that standard asks of a
/// pod (non-root, no privilege escalation, capabilities dropped, the runtime's seccomp
/// profile), so the app's pods are admitted by a PodSecurity-enforcing API server and run.
async fn an_app_deployed_into_a_restricted_tenant_runs(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let (status, body) = admin.call("create_tenant", gamma(json!({}))).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    admin.deploy("gamma", "web", 1, 8080).await;
    let deployments: Api<Deployment> = Api::namespaced(app.kube.clone(), "gamma");
    let ready = eventually(Duration::from_secs(60), "web to be available", || async {
        let d = deployments.get("web").await.ok()?;
        (d.status?.available_replicas? == 1).then_some(())
    })
    .await;
    if let Err(e) = ready {
        let status = deployments.get("web").await.map(|d| d.status);
        panic!("{e}: {status:?}");
    }
    let pods = Api::<Pod>::namespaced(app.kube.clone(), "gamma")
        .list(&Default::default())
        .await
        .unwrap();
    let spec = pods.items[0].spec.clone().unwrap();
    let pod = spec.security_context.unwrap();
    assert_eq!(pod.run_as_non_root, Some(true));
    assert_eq!(pod.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = spec.containers[0].security_context.clone().unwrap();
    assert_eq!(c.allow_privilege_escalation, Some(false));
    assert_eq!(c.capabilities.unwrap().drop.unwrap(), ["ALL"]);
}
