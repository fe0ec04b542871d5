//! ResourceQuota, LimitRange and NetworkPolicy against a real kube-apiserver 1.20 (with
//! kube-controller-manager where quota status is involved): the kinds' defaults and field
//! errors, the LimitRanger and ResourceQuota admission plugins' changes and refusals, the
//! resourcequota controller's `status.used`, and a ReplicaSet that runs into its quota.
//! Conditions are waited for on both sides (see `support::parity`).

use serde_json::{json, Value};

use crate::support::eventually;
use crate::support::parity::{Answer, Pair};
use wharf_testkit::Parts;

const JSON: &str = "application/json";
const QUOTAS: &str = "/api/v1/namespaces/default/resourcequotas";
const LIMITS: &str = "/api/v1/namespaces/default/limitranges";
const PODS: &str = "/api/v1/namespaces/default/pods";
const NETPOL: &str = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies";

const CONTROLLERS: Parts = Parts {
    controllers: true,
    node: false,
};

fn pod(name: &str, resources: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "nowhere", "containers": [{"name": "app", "image": "nginx", "resources": resources}]}})
}

fn quota(name: &str, hard: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard}})
}

/// A quota's `status` on (the demo cluster, the real one).
async fn statuses(pair: &Pair, name: &str) -> (Value, Value) {
    let (d, r) = pair
        .send("GET", &format!("{QUOTAS}/{name}"), JSON, &Value::Null)
        .await;
    (d.body["status"].clone(), r.body["status"].clone())
}

/// Waits until both clusters report the same `status.used` for quota `name`, equal to
/// `want` when given; returns it.
async fn used_settles(pair: &Pair, name: &str, want: Option<Value>) -> Value {
    eventually(180, || async {
        let (d, r) = statuses(pair, name).await;
        let ok = d["used"].is_object() && d == r && want.as_ref().is_none_or(|w| &d["used"] == w);
        ok.then_some(d["used"].clone())
    })
    .await
}

/// The discovery entries of `names` in `path`'s resource list.
fn entries(a: &Answer, names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| {
            a.body["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == *n)
                .cloned()
                .map(|mut r| {
                    // NB: 1.20 reports storage version hashes and no singular names; the
                    // demo cluster reports what 1.33 does.
                    if let Some(m) = r.as_object_mut() {
                        m.remove("storageVersionHash");
                        m.remove("singularName");
                    }
                    r
                })
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// Discovery, canonical quantities, the kinds' defaults and the field errors of each.
#[tokio::test]
async fn kinds_are_served_defaulted_and_validated() {
    let pair = Pair::start().await;
    let (d, r) = pair.send("GET", "/api/v1", JSON, &Value::Null).await;
    let names = ["resourcequotas", "resourcequotas/status", "limitranges"];
    assert_eq!(entries(&d, &names), entries(&r, &names), "core discovery");
    let (d, r) = pair
        .send("GET", "/apis/networking.k8s.io/v1", JSON, &Value::Null)
        .await;
    assert_eq!(
        entries(&d, &["networkpolicies"]),
        entries(&r, &["networkpolicies"]),
        "networking discovery"
    );

    let parts = ["/kind", "/apiVersion", "/metadata/name", "/spec", "/status"];
    let q = quota(
        "q",
        json!({"pods": "3", "requests.cpu": "2000m", "requests.memory": "1024Mi", "limits.cpu": 4, "limits.memory": "0.5Gi"}),
    );
    pair.same_in(
        "a quota, quantities canonical",
        "POST",
        QUOTAS,
        JSON,
        &q,
        &parts,
    )
    .await;
    let r = pair
        .same(
            "a bad quantity in spec.hard",
            "POST",
            QUOTAS,
            JSON,
            &quota("bad", json!({"cpu": "abc", "pods": "1"})),
        )
        .await;
    assert_eq!(r.status, 400);
    for (what, hard) in [
        ("an unknown resource", json!({"foo": "1"})),
        ("a negative quantity", json!({"cpu": "-1"})),
        ("a fraction of pods", json!({"pods": "1.5"})),
    ] {
        let r = pair
            .same(what, "POST", QUOTAS, JSON, &quota("bad", hard))
            .await;
        assert_eq!(r.status, 422, "{what}");
    }
    // NB: without `nodeName`, which 1.20's decoder names in the path of a later error.
    let mut bad = pod("bad", json!({"requests": {"cpu": "1q"}}));
    bad["spec"].as_object_mut().unwrap().remove("nodeName");
    let r = pair
        .same("a bad quantity in a pod", "POST", PODS, JSON, &bad)
        .await;
    assert_eq!(r.status, 400);

    let lr = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
            "max": {"cpu": "1"}, "min": {"memory": "64Mi"}}]}});
    pair.same("a LimitRange, defaulted", "POST", LIMITS, JSON, &lr)
        .await;
    let bad = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bad"},
        "spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
    let r = pair.same("min above max", "POST", LIMITS, JSON, &bad).await;
    assert_eq!(r.status, 422);
    let bad = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "bad"},
        "spec": {"limits": [{"type": "Foo"}]}});
    pair.same("an unknown limit type", "POST", LIMITS, JSON, &bad)
        .await;

    let np = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
        "spec": {"podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}]}});
    pair.same("a NetworkPolicy, defaulted", "POST", NETPOL, JSON, &np)
        .await;
    let np = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny"},
        "spec": {"egress": [{}]}});
    pair.same("egress rules imply Egress", "POST", NETPOL, JSON, &np)
        .await;
    let bad = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "bad"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Foo"]}});
    let r = pair
        .same("an unknown policy type", "POST", NETPOL, JSON, &bad)
        .await;
    assert_eq!(r.status, 422);
    let apply = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
        "spec": {"podSelector": {"matchLabels": {"app": "api"}}}});
    pair.same(
        "server-side apply of a NetworkPolicy",
        "PATCH",
        &format!("{NETPOL}/np?fieldManager=wharf"),
        "application/apply-patch+yaml",
        &apply,
    )
    .await;
}

/// LimitRanger defaults and bounds, then the quota's refusals, its `status.used` charged by
/// admission and recounted by the controller (terminated and deleted pods let go).
#[tokio::test]
async fn limit_ranger_and_quota_admission() {
    let pair = Pair::start_with(CONTROLLERS).await;
    // Pods wait for the namespace's ServiceAccount (the real ServiceAccount plugin).
    pair.wait_until_served("/api/v1/namespaces/default/serviceaccounts/default")
        .await;
    let r = pair
        .same(
            "a request above its limit",
            "POST",
            PODS,
            JSON,
            &pod(
                "bad",
                json!({"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 422);
    let lr = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "250m"},
            "default": {"cpu": "500m"}, "max": {"cpu": "1"}}]}});
    pair.same("a LimitRange", "POST", LIMITS, JSON, &lr).await;
    let q = quota(
        "wharf-quota",
        json!({"pods": "3", "requests.cpu": "1", "limits.cpu": "2", "requests.memory": "1Gi"}),
    );
    pair.same_in("a quota", "POST", QUOTAS, JSON, &q, &["/spec"])
        .await;
    used_settles(&pair, "wharf-quota", None).await;

    let parts = [
        "/spec/containers/0/resources",
        "/metadata/annotations",
        "/status/qosClass",
    ];
    let r = pair
        .same_in(
            "a pod without resources gets the defaults",
            "POST",
            PODS,
            JSON,
            &pod("a", json!({"requests": {"memory": "100Mi"}})),
            &parts,
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (d, r) = statuses(&pair, "wharf-quota").await;
    assert_eq!(d["used"], r["used"], "charged at admission");
    let r = pair
        .same(
            "no memory request under a memory quota",
            "POST",
            PODS,
            JSON,
            &pod("b", json!({})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = pair
        .same(
            "above the LimitRange's max",
            "POST",
            PODS,
            JSON,
            &pod(
                "b",
                json!({"requests": {"memory": "1Mi"}, "limits": {"cpu": "2"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = pair
        .same(
            "past the quota",
            "POST",
            PODS,
            JSON,
            &pod(
                "b",
                json!({"requests": {"cpu": "800m", "memory": "1Mi"}, "limits": {"cpu": "1"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = pair
        .same_in(
            "within the quota",
            "POST",
            PODS,
            JSON,
            &pod("c", json!({"requests": {"cpu": "0.5", "memory": "512Mi"}})),
            &parts,
        )
        .await;
    assert_eq!(r.status, 201);
    let used = used_settles(&pair, "wharf-quota", None).await;
    assert_eq!(used["requests.cpu"], "750m");

    // A pod that has finished is not charged; a deleted one neither.
    let done = json!({"status": {"phase": "Succeeded"}});
    pair.same_in(
        "a pod finishes",
        "PATCH",
        &format!("{PODS}/c/status"),
        "application/merge-patch+json",
        &done,
        &["/status/phase"],
    )
    .await;
    let used = used_settles(&pair, "wharf-quota", None).await;
    assert_eq!(used["pods"], "1", "{used}");
    pair.same_in(
        "delete a pod",
        "DELETE",
        &format!("{PODS}/a?gracePeriodSeconds=0"),
        JSON,
        &Value::Null,
        &["/kind"],
    )
    .await;
    let used = used_settles(&pair, "wharf-quota", None).await;
    assert_eq!(used["pods"], "0", "{used}");
    assert_eq!(used["requests.memory"], "0", "{used}");

    // Claims: their count and storage.
    let pq = quota(
        "storage",
        json!({"persistentvolumeclaims": "1", "requests.storage": "1Gi"}),
    );
    pair.same_in("a storage quota", "POST", QUOTAS, JSON, &pq, &["/spec"])
        .await;
    used_settles(&pair, "storage", None).await;
    let pvc = |name: &str, size: &str| {
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}})
    };
    let claims = "/api/v1/namespaces/default/persistentvolumeclaims";
    let r = pair
        .same("a claim too big", "POST", claims, JSON, &pvc("big", "2Gi"))
        .await;
    assert_eq!(r.status, 403);
    let r = pair
        .same_in(
            "a claim",
            "POST",
            claims,
            JSON,
            &pvc("data", "512Mi"),
            &["/spec/resources"],
        )
        .await;
    assert_eq!(r.status, 201);
    let r = pair
        .same(
            "one claim too many",
            "POST",
            claims,
            JSON,
            &pvc("more", "1Mi"),
        )
        .await;
    assert_eq!(r.status, 403);
    used_settles(
        &pair,
        "storage",
        Some(json!({"persistentvolumeclaims": "1", "requests.storage": "512Mi"})),
    )
    .await;
}

/// A Deployment scaled past its namespace's quota: the pods that fit, and the ReplicaSet's
/// `ReplicaFailure` condition with the quota's refusal (names generated, so masked).
#[tokio::test]
async fn a_deployment_runs_into_its_quota() {
    let pair = Pair::start_with(CONTROLLERS).await;
    pair.same_in(
        "a quota of two pods",
        "POST",
        QUOTAS,
        JSON,
        &quota("two", json!({"pods": "2"})),
        &["/spec"],
    )
    .await;
    used_settles(&pair, "two", None).await;
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
    pair.same_in(
        "a deployment of three",
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        JSON,
        &deploy,
        &["/spec/replicas"],
    )
    .await;
    // NB: generous deadlines: the real controller-manager backs off failed creates, and under a
    // loaded CI machine its ReplicaSet and Deployment syncs come late (a 60 s wait once ran out)
    let failure = |client: kube::Client| async move {
        let api: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
            kube::Api::default_namespaced(client);
        eventually(180, || async {
            let list = api.list(&Default::default()).await.ok()?;
            let rs = list.items.into_iter().next()?;
            let status = rs.status?;
            // NB: the real controller's first report may predate its pods in its cache.
            if status.replicas != 2 {
                return None;
            }
            let cond = status
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "ReplicaFailure")?;
            let msg = cond.message?;
            // pods "web-<hash>-<suffix>" is forbidden: ...
            let (_, rest) = msg.split_once(" is forbidden: ")?;
            Some((
                status.replicas,
                cond.status,
                cond.reason,
                format!("pods \"…\" is forbidden: {rest}"),
            ))
        })
        .await
    };
    let demo = failure(pair.sim_client.clone()).await;
    let real = failure(pair.real_client.clone()).await;
    assert_eq!(demo, real);
    assert_eq!(
        real.3,
        "pods \"…\" is forbidden: exceeded quota: two, requested: pods=1, used: pods=2, limited: pods=2"
    );
    used_settles(&pair, "two", Some(json!({"pods": "2"}))).await;
    // The Deployment reports the ReplicaSet's failure.
    let deploy_failure = |client: kube::Client| async move {
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::default_namespaced(client);
        eventually(180, || async {
            let d = api.get("web").await.ok()?;
            let conds = d.status?.conditions?;
            // NB: sorted: both controllers move a condition to the end when its reason changes,
            // so the order depends on when the ReplicaSet's pods came (it differed once in CI).
            let mut types: Vec<String> = conds.iter().map(|c| c.type_.clone()).collect();
            types.sort();
            let f = conds.into_iter().find(|c| c.type_ == "ReplicaFailure")?;
            let msg = f.message?;
            let (_, rest) = msg.split_once(" is forbidden: ")?;
            Some((types, f.status, f.reason, rest.to_string()))
        })
        .await
    };
    let demo = deploy_failure(pair.sim_client.clone()).await;
    let real = deploy_failure(pair.real_client.clone()).await;
    assert_eq!(demo, real);
}
