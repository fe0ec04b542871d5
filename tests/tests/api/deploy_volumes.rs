//! The deploy form's volumes, config, health checks, sidecars and secret environment on the
//! demo cluster and a real kube-apiserver: bad input — overlapping paths, a size that does
//! not parse, a probe on a port the container does not expose, a ConfigMap that is not there,
//! claims over the storage quota — refused in both languages with nothing created; a good
//! form makes the claim, the `-env` Secret, the Deployment with every part, or a StatefulSet
//! with a claim template.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ResourceQuota, Secret, Service};
use kube::Api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::{Session, TestApp};

wharf_tests::on_both_clusters!(
    bad_volumes_and_checks_are_refused_and_nothing_is_created,
    a_deployment_gets_claims_config_checks_and_a_sidecar,
    a_stateful_set_gets_a_claim_per_replica,
    health_checks_are_read_back_and_changed_after_deploy,
);

fn form(name: &str, extra: Value) -> Value {
    let mut f = json!({"namespace": "alpha", "name": name, "image": "nginx:1.25", "replicas": 1,
        "port": 8080, "env": [], "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""});
    for (k, v) in extra.as_object().unwrap() {
        f[k] = v.clone();
    }
    json!({"tenant": "alpha", "form": f})
}

async fn save_config(alice: &Session, kind: &str, name: &str) {
    let (status, body) = alice
        .call(
            "save_config",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": name, "kind": kind,
                "entries": [["app.properties", "level=info\n"]], "resource_version": null}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Nothing of a refused deploy: no app, claim, Secret or Service named after it.
async fn nothing_of(app: &TestApp, name: &str) {
    let ns = "alpha";
    let c = app.kube.clone();
    assert!(Api::<Deployment>::namespaced(c.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_none());
    assert!(Api::<StatefulSet>::namespaced(c.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_none());
    assert!(Api::<Service>::namespaced(c.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_none());
    assert!(Api::<Secret>::namespaced(c.clone(), ns)
        .get_opt(&format!("{name}-env"))
        .await
        .unwrap()
        .is_none());
    let claims = Api::<PersistentVolumeClaim>::namespaced(c, ns)
        .list(&Default::default())
        .await
        .unwrap();
    assert!(
        claims.items.iter().all(|c| c
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str)
            != Some(name)),
        "a claim of {name} was left"
    );
}

async fn bad_volumes_and_checks_are_refused_and_nothing_is_created(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    save_config(&alice, "ConfigMap", "orders-config").await;
    let claim = |name: &str, size: &str, path: &str| json!({"source": {"NewClaim": {"name": name, "size": size, "class": ""}}, "path": path});
    let config =
        |name: &str, path: &str| json!({"source": {"ConfigMap": {"name": name}}, "path": path});
    let readiness = |port: u16| {
        json!({"readiness": {"action": {"Http": {"path": "/ready"}}, "port": port,
        "initial_delay_seconds": 0, "period_seconds": 10, "failure_threshold": 3}})
    };
    for (extra, says) in [
        (
            json!({"mounts": [claim("orders-data", "1Gi", "/data"), config("orders-config", "/data/conf")]}),
            "'/data' and '/data/conf' overlap",
        ),
        (
            json!({"mounts": [claim("orders-data", "1GB", "/data")]}),
            "'1GB' is not a storage size",
        ),
        (
            json!({"probes": readiness(9090)}),
            "port 9090 is not a port the container exposes",
        ),
        (
            json!({"mounts": [config("no-such-config", "/etc/orders")]}),
            "there is no ConfigMap 'no-such-config' in alpha",
        ),
        (
            json!({"mounts": [claim("orders-data", "1Gi", "/data")], "secret_env": [["DB_PASSWORD", "x"]],
                "image_pull_secret": "nope"}),
            "there is no image pull secret 'nope'",
        ),
    ] {
        let (status, en, zh) = alice.refused("deploy_app", form("orders", extra)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{says}: {en}");
        assert!(en.contains(says), "{says}: {en}");
        assert!(!zh.is_empty() && zh != en, "{zh}");
        nothing_of(&app, "orders").await;
    }
    // a quota of 1 GiB of claims: 2 GiB more is refused before anything is made
    let quota = serde_json::from_value(
        json!({"metadata": {"name": "storage-cap", "namespace": "alpha"},
        "spec": {"hard": {"requests.storage": "1Gi"}}}),
    )
    .unwrap();
    let quotas: Api<ResourceQuota> = Api::namespaced(app.kube.clone(), "alpha");
    quotas.create(&Default::default(), &quota).await.unwrap();
    let (status, en, _) = alice.refused("deploy_app", form("orders", json!({"mounts": [claim("orders-data", "2Gi", "/data")], "secret_env": [["DB_PASSWORD", "x"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
    assert!(
        en.contains("need 2.0 GiB of storage but the tenant's quota has 1.0 GiB left"),
        "{en}"
    );
    nothing_of(&app, "orders").await;
    quotas
        .delete("storage-cap", &Default::default())
        .await
        .unwrap();
    // the Service is refused by the cluster (its name taken by a Service of another app):
    // the Deployment, claim and Secret made before it are taken back
    let svc = serde_json::from_value(json!({"metadata": {"name": "taken", "namespace": "alpha"},
        "spec": {"ports": [{"port": 80}]}}))
    .unwrap();
    let services: Api<Service> = Api::namespaced(app.kube.clone(), "alpha");
    services.create(&Default::default(), &svc).await.unwrap();
    let (status, en, _) = alice.refused("deploy_app", form("taken", json!({"mounts": [claim("taken-data", "1Gi", "/data")], "secret_env": [["DB_PASSWORD", "x"]]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{en}");
    assert!(Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get_opt("taken")
        .await
        .unwrap()
        .is_none());
    assert!(Api::<Secret>::namespaced(app.kube.clone(), "alpha")
        .get_opt("taken-env")
        .await
        .unwrap()
        .is_none());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(app.kube.clone(), "alpha");
    let left = claims.get_opt("taken-data").await.unwrap();
    assert!(
        left.is_none() || left.unwrap().metadata.deletion_timestamp.is_some(),
        "the claim was left"
    );
}

async fn a_deployment_gets_claims_config_checks_and_a_sidecar(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    save_config(&alice, "ConfigMap", "orders-config").await;
    save_config(&alice, "Secret", "orders-db").await;
    let (status, body) = alice
        .call(
            "deploy_app",
            form(
                "orders",
                json!({
                    "mounts": [
                        {"source": {"NewClaim": {"name": "orders-data", "size": "1Gi", "class": ""}}, "path": "/data"},
                        {"source": {"ConfigMap": {"name": "orders-config"}}, "path": "/etc/orders"},
                        {"source": {"SecretEnv": {"name": "orders-db"}}, "path": ""}],
                    "probes": {"readiness": {"action": {"Http": {"path": "/healthz"}}, "port": null,
                        "initial_delay_seconds": 0, "period_seconds": 5, "failure_threshold": 2},
                        "liveness": {"action": "Tcp", "port": null, "initial_delay_seconds": 10,
                        "period_seconds": 10, "failure_threshold": 3}},
                    "sidecars": [{"name": "shipper", "image": "busybox:1.36", "command": "tail -F /data/app.log",
                        "port": null, "share_mounts": true}],
                    "secret_env": [["API_TOKEN", "t0ken"]]
                }),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = Api::<Deployment>::namespaced(app.kube.clone(), "alpha")
        .get("orders")
        .await
        .unwrap();
    let pod = serde_json::to_value(d.spec.unwrap().template.spec.unwrap()).unwrap();
    let main = &pod["containers"][0];
    assert_eq!(
        main["volumeMounts"][0],
        json!({"name": "orders-data", "mountPath": "/data"})
    );
    assert_eq!(main["volumeMounts"][1]["mountPath"], "/etc/orders");
    assert_eq!(main["volumeMounts"][1]["readOnly"], true);
    assert_eq!(
        main["envFrom"],
        json!([{"secretRef": {"name": "orders-db"}}])
    );
    assert_eq!(
        main["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "orders-env"
    );
    assert_eq!(main["readinessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(main["readinessProbe"]["periodSeconds"], 5);
    assert_eq!(main["livenessProbe"]["tcpSocket"]["port"], 8080);
    assert_eq!(pod["containers"][1]["name"], "shipper");
    assert_eq!(pod["containers"][1]["volumeMounts"], main["volumeMounts"]);
    let claim = Api::<PersistentVolumeClaim>::namespaced(app.kube.clone(), "alpha")
        .get("orders-data")
        .await
        .unwrap();
    assert_eq!(
        claim.spec.unwrap().resources.unwrap().requests.unwrap()["storage"].0,
        "1Gi"
    );
    let secret = Api::<Secret>::namespaced(app.kube.clone(), "alpha")
        .get("orders-env")
        .await
        .unwrap();
    assert_eq!(secret.data.unwrap()["API_TOKEN"].0, b"t0ken");
    // the claim now exists: a second app may mount it, not create it again
    let (status, en, _) = alice.refused("deploy_app", form("orders2", json!({"mounts": [{"source": {"NewClaim": {"name": "orders-data", "size": "1Gi", "class": ""}}, "path": "/data"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("claim 'orders-data' already exists"), "{en}");
}

async fn a_stateful_set_gets_a_claim_per_replica(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let (status, body) = alice
        .call(
            "deploy_app",
            form(
                "redis",
                json!({"kind": "StatefulSet", "image": "redis:7", "port": 6379, "replicas": 2,
                    "mounts": [{"source": {"NewClaim": {"name": "data", "size": "1Gi", "class": ""}}, "path": "/data"}],
                    "secret_env": [["REDIS_PASSWORD", "pw"]]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let sts = Api::<StatefulSet>::namespaced(app.kube.clone(), "alpha")
        .get("redis")
        .await
        .unwrap();
    let spec = sts.spec.unwrap();
    assert_eq!(spec.service_name.as_deref(), Some("redis"));
    let templates = spec.volume_claim_templates.unwrap();
    assert_eq!(templates[0].metadata.name.as_deref(), Some("data"));
    let pod = spec.template.spec.unwrap();
    assert!(pod.volumes.unwrap_or_default().is_empty());
    assert_eq!(
        pod.containers[0].volume_mounts.as_ref().unwrap()[0].name,
        "data"
    );
    // no claim of its own is made: the StatefulSet makes data-redis-0, data-redis-1
    assert!(
        Api::<PersistentVolumeClaim>::namespaced(app.kube.clone(), "alpha")
            .get_opt("data")
            .await
            .unwrap()
            .is_none()
    );
    // it is an app like the others: listed, scaled, restarted, deleted
    let row = wharf_tests::eventually(
        std::time::Duration::from_secs(30),
        "redis in the apps list",
        || async {
            let (_, v) = alice
                .call("workloads", json!({"tenant": "alpha"}))
                .await
                .ok()?;
            v["apps"]
                .as_array()?
                .iter()
                .find(|a| a["name"] == "redis")
                .cloned()
        },
    )
    .await
    .unwrap();
    assert_eq!(row["kind"], "StatefulSet", "{row}");
    assert_eq!(row["replicas"], 2);
    let redis = json!({"tenant": "alpha", "namespace": "alpha", "name": "redis"});
    // its first replica is listed with its own claim and as running the update revision
    let first = wharf_tests::eventually(
        std::time::Duration::from_secs(30),
        "redis-0 with its revision",
        || async {
            let (_, page) = alice
                .call(
                    "list_pods",
                    json!({"tenant": "alpha", "query": {"app": "redis", "namespace": "alpha",
                        "filter": "", "offset": 0, "limit": 10}}),
                )
                .await
                .ok()?;
            let first = page["rows"].as_array()?.first()?.clone();
            (first["updated"] == true).then_some(first)
        },
    )
    .await
    .unwrap();
    assert_eq!(first["name"], "redis-0", "{first}");
    assert_eq!(first["claims"], json!(["data-redis-0"]), "{first}");
    // its YAML opens and is held to the tenant's pod security like a Deployment's
    let (status, yaml) = alice
        .call(
            "get_yaml",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "StatefulSet", "name": "redis"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{yaml}");
    let mut edited: serde_json::Value = serde_yaml::from_str(yaml.as_str().unwrap()).unwrap();
    assert_eq!(edited["kind"], "StatefulSet");
    edited["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "root", "hostPath": {"path": "/"}}]);
    let (status, en, _) = alice
        .refused(
            "put_yaml",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "StatefulSet", "name": "redis",
                "yaml": serde_yaml::to_string(&edited).unwrap()}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("hostPath volumes"), "{en}");
    let mut scale = redis.clone();
    scale["replicas"] = json!(1);
    let (status, body) = alice.call("scale_app", scale).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alice.call("restart_app", redis.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let sets = Api::<StatefulSet>::namespaced(app.kube.clone(), "alpha");
    let now = sets.get("redis").await.unwrap().spec.unwrap();
    assert_eq!(now.replicas, Some(1));
    assert!(now
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()
        .contains_key("kubectl.kubernetes.io/restartedAt"));
    // the restart is a second revision (a ControllerRevision); rolling back to the first
    // takes the restart's annotation away again
    let revisions = wharf_tests::eventually(
        std::time::Duration::from_secs(30),
        "two revisions, the second current",
        || async {
            let (_, v) = alice.call("app_revisions", redis.clone()).await.ok()?;
            let rows = v.as_array()?.clone();
            (rows.len() == 2 && rows[0]["current"] == true).then_some(rows)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &revisions[0]["revision"],
            &revisions[1]["revision"],
            &revisions[1]["current"]
        ),
        (&json!(2), &json!(1), &json!(false)),
        "{revisions:?}"
    );
    assert_eq!(revisions[1]["images"], json!([["redis", "redis:7"]]));
    let mut back = redis.clone();
    back["revision"] = json!(1);
    let (status, body) = alice.call("rollback_app", back.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let rolled = sets.get("redis").await.unwrap();
    assert_eq!(
        rolled.metadata.annotations.as_ref().unwrap()["kubernetes.io/change-cause"],
        "rolled back to revision 1 by alice"
    );
    assert!(!rolled
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default()
        .contains_key("kubectl.kubernetes.io/restartedAt"));
    back["revision"] = json!(9);
    let (status, en, _) = alice.refused("rollback_app", back).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(en.contains("no revision 9"), "{en}");
    let (status, body) = alice.call("delete_app", redis).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(sets
        .get_opt("redis")
        .await
        .unwrap()
        .is_none_or(|s| s.metadata.deletion_timestamp.is_some()));
    // a StatefulSet's claims count per replica against the quota
    let quota = serde_json::from_value(
        json!({"metadata": {"name": "storage-cap", "namespace": "alpha"},
        "spec": {"hard": {"requests.storage": "3Gi"}}}),
    )
    .unwrap();
    Api::<ResourceQuota>::namespaced(app.kube.clone(), "alpha")
        .create(&Default::default(), &quota)
        .await
        .unwrap();
    let (status, en, _) = alice.refused("deploy_app", form("cache", json!({"kind": "StatefulSet", "replicas": 4,
            "mounts": [{"source": {"NewClaim": {"name": "data", "size": "1Gi", "class": ""}}, "path": "/data"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{en}");
    assert!(en.contains("need 4.0 GiB"), "{en}");
}

async fn health_checks_are_read_back_and_changed_after_deploy(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    let http = |path: &str| {
        json!({"action": {"Http": {"path": path}}, "port": null, "initial_delay_seconds": 0,
            "period_seconds": 10, "failure_threshold": 3})
    };
    let (status, body) = alice
        .call(
            "deploy_app",
            form(
                "checked",
                json!({"probes": {"readiness": http("/healthz")}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let web = json!({"tenant": "alpha", "namespace": "alpha", "name": "checked"});
    let (status, read) = alice.call("app_probes", web.clone()).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["probes"]["readiness"], http("/healthz"), "{read}");
    assert_eq!(read["probes"]["liveness"], Value::Null);
    assert_eq!((&read["port"], &read["custom"]), (&json!(8080), &json!([])));

    let apps = Api::<Deployment>::namespaced(app.kube.clone(), "alpha");
    let generation = |d: &Deployment| d.metadata.generation;
    let before = apps.get("checked").await.unwrap();
    // a port the container does not expose: refused in both languages, nothing changed
    let mut bad = http("/");
    bad["port"] = json!(9999);
    let mut args = web.clone();
    args["probes"] = json!({"readiness": bad});
    let (status, en, zh) = alice.refused("set_app_probes", args).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        en.contains("port 9999 is not a port the container exposes"),
        "{en}"
    );
    assert!(zh.contains("端口 9999"), "{zh}");
    assert_eq!(
        generation(&apps.get("checked").await.unwrap()),
        generation(&before)
    );

    // TCP readiness, a liveness command: a rollout with its cause
    let mut args = web.clone();
    args["probes"] = json!({
        "readiness": {"action": "Tcp", "port": null, "initial_delay_seconds": 5, "period_seconds": 7, "failure_threshold": 2},
        "liveness": {"action": {"Command": {"command": "test -f /tmp/alive"}}, "port": null,
            "initial_delay_seconds": 0, "period_seconds": 10, "failure_threshold": 3},
    });
    let (status, body) = alice.call("set_app_probes", args).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = apps.get("checked").await.unwrap();
    assert_eq!(
        now.metadata.annotations.as_ref().unwrap()["kubernetes.io/change-cause"],
        "health checks changed by alice"
    );
    let c = &now.spec.unwrap().template.spec.unwrap().containers[0];
    let ready = c.readiness_probe.as_ref().unwrap();
    assert!(
        ready.http_get.is_none(),
        "the HTTP check is replaced, not merged"
    );
    assert_eq!(
        ready.tcp_socket.as_ref().unwrap().port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080)
    );
    assert_eq!(
        (
            ready.initial_delay_seconds,
            ready.period_seconds,
            ready.failure_threshold
        ),
        (Some(5), Some(7), Some(2))
    );
    assert_eq!(
        c.liveness_probe
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command,
        Some(vec!["sh".into(), "-c".into(), "test -f /tmp/alive".into()])
    );
    let (_, read) = alice.call("app_probes", web.clone()).await.unwrap();
    assert_eq!(read["probes"]["readiness"]["action"], "Tcp", "{read}");
    assert_eq!(read["probes"]["readiness"]["period_seconds"], 7, "{read}");

    // a startup check set in YAML beyond the form (HTTPS) is named, kept, and not overwritten
    apps.patch(
        "checked",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
            {"name": c.name, "startupProbe": {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTPS"}}}
        ]}}}})),
    )
    .await
    .unwrap();
    let (_, read) = alice.call("app_probes", web.clone()).await.unwrap();
    assert_eq!(read["custom"], json!(["startup"]), "{read}");
    assert_eq!(read["probes"]["startup"], Value::Null);
    let mut args = web.clone();
    args["probes"] = json!({"startup": http("/")});
    let (status, en, _) = alice.refused("set_app_probes", args).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(en.contains("YAML editor"), "{en}");
    // clearing the others leaves it
    let mut args = web.clone();
    args["probes"] = json!({});
    let (status, body) = alice.call("set_app_probes", args).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = apps
        .get("checked")
        .await
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .clone();
    assert!(c.readiness_probe.is_none() && c.liveness_probe.is_none());
    assert_eq!(
        c.startup_probe.unwrap().http_get.unwrap().scheme.as_deref(),
        Some("HTTPS")
    );
}
