//! `--alert-rules operator` on the demo cluster and on a real kube-apiserver, each with the
//! Prometheus Operator's own CRDs (`deploy/prometheus-operator/`, installed by the test as a
//! platform team's Helm chart would: Wharf never installs them): thresholds become a
//! `PrometheusRule` in the app's namespace, read back, cleared and deleted, refused to
//! another tenant; a real Prometheus, fed by a stand-in for the operator, shows the group;
//! nobody loading the rule gives a clear error and the previous object back; receivers become
//! an `AlertmanagerConfig` in each of the tenant's namespaces and only there, following a
//! tenant edited elsewhere; and a cluster without the kinds gets a sentence saying so.

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::monitoring::Process;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wharf_console::monitoring::operator::{
    alertmanager_config, prometheus_rule, OperatorSettings, RECEIVERS, SECRET,
};
use wharf_console::monitoring::{AlertRules, MonitoringSettings, Token};
use wharf_tests::{eventually, TestApp};

/// The operator's CRDs as vendored (prometheus-operator v0.93.0).
const CRDS: [(&str, &str); 2] = [
    (
        "prometheusrules.monitoring.coreos.com",
        include_str!(
            "../../../deploy/prometheus-operator/monitoring.coreos.com_prometheusrules.yaml"
        ),
    ),
    (
        "alertmanagerconfigs.monitoring.coreos.com",
        include_str!(
            "../../../deploy/prometheus-operator/monitoring.coreos.com_alertmanagerconfigs.yaml"
        ),
    ),
];

/// What kube-prometheus-stack's `ruleSelector` selects on.
const RELEASE: (&str, &str) = ("release", "kube-prometheus-stack");

/// Creates the operator's CRDs as they are vendored (byte for byte the manifests, as
/// `kubectl create -f` sends them) with an administrator's client, and waits until served.
async fn install_operator_crds(admin: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let resource = kube::discovery::ApiResource::erase::<CustomResourceDefinition>(&());
    let api: Api<DynamicObject> = Api::all_with(admin.clone(), &resource);
    for (name, yaml) in CRDS {
        let obj: DynamicObject = serde_yaml::from_str(yaml).expect("a CRD manifest");
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("creating the CRD {name}: {e}"));
    }
    let typed: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for (name, _) in CRDS {
        eventually(Duration::from_secs(30), name, || async {
            let crd = typed.get(name).await.ok()?;
            crd.status?
                .conditions?
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
                .then_some(())
        })
        .await
        .unwrap();
    }
    for r in [prometheus_rule(), alertmanager_config()] {
        eventually(Duration::from_secs(30), "the kinds served", || async {
            wharf_console::discovery::serves(admin, &r.api_version, &r.plural)
                .await
                .ok()?
                .then_some(())
        })
        .await
        .unwrap();
    }
}

/// A real Prometheus evaluating `<dir>/rules/*.rules.yml`, nothing scraped.
struct Prometheus {
    url: String,
    rules: PathBuf,
    _process: Process,
}

async fn start_prometheus(dir: &Path) -> Prometheus {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let (url, process) = wharf_tests::prometheus::start(
        dir,
        &format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - '{}/*.rules.yml'\n",
            rules.display()
        ),
    )
    .await;
    Prometheus {
        url,
        rules,
        _process: process,
    }
}

/// STANDS IN FOR THE PROMETHEUS OPERATOR (its binary is not installable here), doing what it
/// does with `PrometheusRule`s: those its `ruleSelector` selects (`release=…`, as
/// kube-prometheus-stack's) have their `spec` written verbatim as a rule file, removed when
/// deleted, and Prometheus reloaded. Stops when dropped.
struct OperatorStandIn(tokio::task::JoinHandle<()>);

impl Drop for OperatorStandIn {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn operator_stand_in(admin: kube::Client, prometheus: &Prometheus) -> OperatorStandIn {
    let (url, dir) = (prometheus.url.clone(), prometheus.rules.clone());
    OperatorStandIn(tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::all_with(admin, &prometheus_rule());
        let selector = format!("{}={}", RELEASE.0, RELEASE.1);
        let http = reqwest::Client::new();
        let mut events = watcher(api, watcher::Config::default().labels(&selector)).boxed();
        let file = |o: &DynamicObject| {
            dir.join(format!(
                "{}-{}.rules.yml",
                o.metadata.namespace.as_deref().unwrap_or_default(),
                o.metadata.name.as_deref().unwrap_or_default()
            ))
        };
        while let Some(e) = events.next().await {
            match e {
                Ok(watcher::Event::Apply(o)) | Ok(watcher::Event::InitApply(o)) => {
                    let yaml = serde_yaml::to_string(&o.data["spec"]).unwrap();
                    std::fs::write(file(&o), yaml).unwrap();
                }
                Ok(watcher::Event::Delete(o)) => {
                    let _ = std::fs::remove_file(file(&o));
                }
                _ => continue,
            }
            let _ = http.post(format!("{url}/-/reload")).send().await;
        }
    }))
}

/// The group Prometheus shows for an app: `(alert, threshold)` sorted; `None`: no group.
async fn loaded(prometheus: &Prometheus, group: &str) -> Option<Vec<(String, String)>> {
    let body: Value = reqwest::get(format!("{}/api/v1/rules", prometheus.url))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let g = body["data"]["groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == group)?;
    let mut out: Vec<(String, String)> = g["rules"]
        .as_array()?
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["labels"]["wharf_threshold"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    Some(out)
}

fn operator_mode(confirm_within: Duration) -> AlertRules {
    AlertRules::Operator(OperatorSettings {
        labels: BTreeMap::from([(RELEASE.0.to_string(), RELEASE.1.to_string())]),
        confirm_within,
    })
}

async fn console(real: bool, monitoring: MonitoringSettings) -> TestApp {
    let settings = wharf_console::state::Settings {
        monitoring,
        egress: wharf_console::egress::EgressPolicy {
            allowed: vec![server::settings::DEMO_OUTSIDE.parse().unwrap()],
            ..Default::default()
        },
        ..Default::default()
    };
    let listen = "127.0.0.1:0".parse().unwrap();
    if real {
        wharf_tests::real::spawn_real_app_with(settings, listen)
            .await
            .expect("the console over a real kube-apiserver")
    } else {
        wharf_tests::spawn_app_with(settings, listen)
            .await
            .expect("the console over the demo cluster")
    }
}

/// `<name>::demo` and `<name>::real`, each `async fn <name>(real: bool)`.
macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test]
            async fn demo() {
                super::$name(false).await
            }
            #[tokio::test]
            async fn real() {
                super::$name(true).await
            }
        }
    )*};
}

on_both!(
    thresholds_are_prometheus_rules,
    receivers_are_alertmanager_configs,
    without_the_operators_kinds_the_console_says_so
);

async fn set(
    who: &wharf_tests::Session,
    tenant: &str,
    ns: &str,
    app: &str,
    t: Value,
) -> (StatusCode, Value) {
    who.call(
        "set_alert_rules",
        json!({"tenant": tenant, "namespace": ns, "name": app, "thresholds": t}),
    )
    .await
    .unwrap()
}

async fn thresholds_are_prometheus_rules(real: bool) {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = start_prometheus(dir.path()).await;
    let app = console(
        real,
        MonitoringSettings {
            prometheus_url: Some(prometheus.url.clone()),
            alert_rules: operator_mode(Duration::from_secs(4)),
            ..Default::default()
        },
    )
    .await;
    install_operator_crds(&app.kube).await;
    let stand_in = operator_stand_in(app.kube.clone(), &prometheus);
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );
    let rules: Api<DynamicObject> =
        Api::namespaced_with(app.kube.clone(), "alpha", &prometheus_rule());
    let group = "wharf/alpha/orders";

    // 1. set: a PrometheusRule in the app's namespace, with the file mode's very rules
    let first = json!({"threads": "40", "cpu_percent": "80", "duration": "30s"});
    let (s, b) = set(&alice, "alpha", "alpha", "orders", first.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let obj = rules
        .get("wharf-orders")
        .await
        .expect("the app's PrometheusRule");
    let labels = obj.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "wharf");
    assert_eq!(labels["wharf.io/app"], "orders");
    assert_eq!(labels[RELEASE.0], RELEASE.1);
    let parsed = serde_json::from_value::<wharf_api::monitoring::AlertThresholds>(first.clone())
        .unwrap()
        .parse()
        .unwrap();
    let want = wharf_console::monitoring::rules::rule_groups("alpha", "orders", &parsed).unwrap();
    assert_eq!(
        obj.data["spec"], want,
        "the spec is the rule file's document"
    );
    let exprs: Vec<&str> = obj.data["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["expr"].as_str())
        .collect();
    assert_eq!(exprs.len(), 2, "{exprs:?}");
    assert!(
        exprs
            .iter()
            .all(|e| e.contains("namespace=\"alpha\",pod=~\"orders-[a-z0-9]+-[a-z0-9]+\"")),
        "{exprs:?}"
    );
    assert!(
        exprs.iter().any(
            |e| e.starts_with("sum by (namespace, pod) (container_threads{") && e.ends_with("> 40")
        ),
        "{exprs:?}"
    );
    assert!(
        obj.metadata
            .managed_fields
            .iter()
            .flatten()
            .any(|m| m.manager.as_deref() == Some("wharf")
                && m.operation.as_deref() == Some("Apply")),
        "written by server-side apply as wharf: {:?}",
        obj.metadata.managed_fields
    );
    // what the operator hands Prometheus is live (the console waited for it too)
    assert_eq!(
        loaded(&prometheus, group).await,
        Some(vec![
            ("WharfCpuHigh".to_string(), "80".to_string()),
            ("WharfThreadsHigh".to_string(), "40".to_string())
        ])
    );

    // 2. read back as set
    let (s, back) = alice
        .call(
            "alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{back}");
    assert_eq!(
        (
            &back["threads"],
            &back["cpu_percent"],
            &back["memory_percent"],
            &back["duration"]
        ),
        (&json!("40"), &json!("80"), &json!(""), &json!("30s"))
    );

    // 3. another tenant can neither set nor read them, and nothing changes
    let (s, _) = set(&bob, "beta", "alpha", "orders", json!({"threads": "1"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = set(&bob, "alpha", "alpha", "orders", json!({"threads": "1"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for tenant in ["alpha", "beta"] {
        let (s, b) = bob
            .call(
                "alert_rules",
                json!({"tenant": tenant, "namespace": "alpha", "name": "orders"}),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    }
    assert_eq!(rules.get("wharf-orders").await.unwrap().data["spec"], want);

    // 4. nobody loads the next change (the operator is gone): a clear error in both
    // languages, and the object exactly as it was
    drop(stand_in);
    let before = rules.get("wharf-orders").await.unwrap();
    let (s, b) = set(
        &alice,
        "alpha",
        "alpha",
        "orders",
        json!({"threads": "7", "duration": "30s"}),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    let text = b.to_string();
    for says in [
        "saved as PrometheusRule alpha/wharf-orders",
        "has not loaded them",
        "ruleSelector",
        "ruleNamespaceSelector",
        "release=kube-prometheus-stack",
        "put back",
        "已保存为 PrometheusRule",
        "仍未加载",
    ] {
        assert!(text.contains(says), "{says}: {b}");
    }
    let after = rules.get("wharf-orders").await.unwrap();
    assert_eq!(
        after.data["spec"], before.data["spec"],
        "the previous rules are back"
    );
    assert_eq!(after.metadata.labels, before.metadata.labels);
    assert_eq!(loaded(&prometheus, group).await.map(|g| g.len()), Some(2));
    // ... and an app that had none has none again
    let (s, b) = set(
        &alice,
        "alpha",
        "alpha",
        "shop-web",
        json!({"sockets": "9"}),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        rules.get_opt("wharf-shop-web").await.unwrap().is_none(),
        "a rule nobody loads is not left behind"
    );

    // 5. cleared: deleted, and gone from Prometheus
    let _stand_in = operator_stand_in(app.kube.clone(), &prometheus);
    let (s, b) = set(&alice, "alpha", "alpha", "orders", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(rules.get_opt("wharf-orders").await.unwrap().is_none());
    assert_eq!(loaded(&prometheus, group).await, None);
    let (_, back) = alice
        .call(
            "alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(back["threads"], "", "{back}");
}

/// The `AlertmanagerConfig`s Wharf wrote, by namespace.
async fn receiver_configs(admin: &kube::Client) -> BTreeMap<String, DynamicObject> {
    let api: Api<DynamicObject> = Api::all_with(admin.clone(), &alertmanager_config());
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| (o.metadata.namespace.clone().unwrap_or_default(), o))
        .collect()
}

fn hooks(amc: &DynamicObject) -> Vec<String> {
    amc.data["spec"]["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["webhookConfigs"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w["url"].as_str().map(String::from))
        .collect()
}

const CONSOLE_HOOK: &str = "http://wharf.wharf-system/hooks/alertmanager";

async fn receivers_are_alertmanager_configs(real: bool) {
    let token = Token::new("the-console-token");
    let app = console(
        real,
        MonitoringSettings {
            webhook_url: Some(CONSOLE_HOOK.into()),
            webhook_token: Some(token.clone()),
            alert_rules: operator_mode(Duration::from_secs(4)),
            sync_every: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await;
    install_operator_crds(&app.kube).await;
    let (alice, bob) = (
        app.login("alice").await.unwrap(),
        app.login("bob").await.unwrap(),
    );

    // 1. every tenant namespace gets the console's webhook (the alert book)
    let all = eventually(
        Duration::from_secs(30),
        "an AlertmanagerConfig per tenant namespace",
        || async {
            let all = receiver_configs(&app.kube).await;
            (["alpha", "alpha-dev", "beta"]
                .iter()
                .all(|ns| all.contains_key(*ns)))
            .then_some(all)
        },
    )
    .await
    .unwrap();
    for (ns, amc) in &all {
        assert_eq!(amc.metadata.name.as_deref(), Some(RECEIVERS));
        assert_eq!(hooks(amc), vec![CONSOLE_HOOK.to_string()], "{ns}");
        let labels = amc.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["app.kubernetes.io/managed-by"], "wharf");
        assert_eq!(labels[RELEASE.0], RELEASE.1);
    }

    // 2. alice's receivers: in alpha's namespaces, and only there
    let (view_status, view) = alice
        .call("alert_receivers", json!({"tenant": "alpha"}))
        .await
        .unwrap();
    assert_eq!(view_status, StatusCode::OK, "{view}");
    assert_eq!(view["managed"], true, "{view}");
    let hook = "http://127.200.0.7:9000/alpha-pager";
    let (s, b) = alice
        .call("add_alert_receiver", json!({"tenant": "alpha", "receiver": {"name": "pager", "kind": "Webhook", "to": hook}}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let all = receiver_configs(&app.kube).await;
    for ns in ["alpha", "alpha-dev"] {
        let amc = &all[ns];
        assert_eq!(
            hooks(amc),
            vec![CONSOLE_HOOK.to_string(), hook.to_string()],
            "{ns}"
        );
        let spec = &amc.data["spec"];
        assert_eq!(spec["route"]["receiver"], "wharf");
        assert_eq!(spec["route"]["routes"][0]["receiver"], "wharf");
        assert_eq!(spec["route"]["routes"][0]["continue"], true);
        assert_eq!(spec["route"]["routes"][1]["receiver"], "tenant:alpha");
        assert_eq!(
            spec["receivers"][0]["webhookConfigs"][0]["httpConfig"]["authorization"]["credentials"],
            json!({"name": SECRET, "key": "webhook-token"})
        );
        // the Secret beside it holds the token of that namespace, not the console's own
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(app.kube.clone(), ns);
        let secret = secrets.get(SECRET).await.expect("the receivers' Secret");
        let stored = secret.data.unwrap_or_default()["webhook-token"].0.clone();
        assert_eq!(
            String::from_utf8(stored).unwrap(),
            token.scoped(ns).expose()
        );
    }
    // a Secret deleted by hand is written again by the next round
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(app.kube.clone(), "alpha");
    secrets
        .delete(SECRET, &Default::default())
        .await
        .expect("deleting the Secret");
    let want = token.scoped("alpha").expose().to_string();
    eventually(
        Duration::from_secs(60),
        "alpha's Secret written again",
        || async {
            let s = secrets.get_opt(SECRET).await.ok()??;
            let stored = s.data.unwrap_or_default().get("webhook-token")?.0.clone();
            (String::from_utf8(stored).ok()? == want).then_some(())
        },
    )
    .await
    .unwrap();
    assert_eq!(
        hooks(&all["beta"]),
        vec![CONSOLE_HOOK.to_string()],
        "beta's namespace has none of alpha's"
    );
    assert!(
        all.iter()
            .filter(|(_, a)| hooks(a).contains(&hook.to_string()))
            .count()
            == 2,
        "alpha's hook only in alpha's two namespaces"
    );
    // bob cannot add to alpha
    let (s, _) = bob
        .call("add_alert_receiver", json!({"tenant": "alpha", "receiver": {"name": "x", "kind": "Webhook", "to": "http://127.200.0.8:1/x"}}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::FORBIDDEN);

    // 3. a namespace's token posts that namespace's alerts to the console, and no other's
    let post = |t: String, ns: &str| {
        let body = json!({"version": "4", "status": "firing", "receiver": "alpha/wharf-receivers/wharf",
            "alerts": [{"status": "firing", "labels": {"alertname": "WharfThreadsHigh", "namespace": ns, "pod": "orders-1-a", "wharf_app": "orders"},
                "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": format!("f-{ns}")}]});
        let url = app.url("/hooks/alertmanager");
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(t)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        post(token.scoped("alpha").expose().to_string(), "alpha").await,
        StatusCode::OK
    );
    assert_eq!(
        post(token.scoped("alpha").expose().to_string(), "beta").await,
        StatusCode::UNAUTHORIZED
    );

    // 4. a tenant edited elsewhere converges: a receiver added with kubectl, a namespace moved out
    let tenants: Api<crds::Tenant> = Api::all(app.kube.clone());
    let other = "http://127.200.0.9:9000/added-by-kubectl";
    tenants
        .patch(
            "alpha",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"namespaces": ["alpha"], "alerting": {"receivers": [
                {"name": "pager", "webhookUrl": hook}, {"name": "kubectl", "webhookUrl": other}]}}})),
        )
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "alpha's config to follow the tenant",
        || async {
            let all = receiver_configs(&app.kube).await;
            (hooks(all.get("alpha")?) == [CONSOLE_HOOK, hook, other]
                && !all.contains_key("alpha-dev"))
            .then_some(())
        },
    )
    .await
    .unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(app.kube.clone(), "alpha-dev");
    assert!(
        secrets.get_opt(SECRET).await.unwrap().is_none(),
        "a namespace no tenant has keeps no token"
    );

    // 5. removed through the console: gone from alpha's config
    let (s, b) = alice
        .call(
            "remove_alert_receiver",
            json!({"tenant": "alpha", "name": "kubectl"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        hooks(&receiver_configs(&app.kube).await["alpha"]),
        [CONSOLE_HOOK, hook]
    );
}

async fn without_the_operators_kinds_the_console_says_so(real: bool) {
    let app = console(
        real,
        MonitoringSettings {
            webhook_url: Some(CONSOLE_HOOK.into()),
            webhook_token: Some(Token::new("t")),
            alert_rules: operator_mode(Duration::from_secs(4)),
            ..Default::default()
        },
    )
    .await;
    let alice = app.login("alice").await.unwrap();
    let (s, b) = set(&alice, "alpha", "alpha", "orders", json!({"threads": "5"})).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    for says in [
        "does not serve PrometheusRule (monitoring.coreos.com/v1)",
        "--alert-rules operator",
        "未提供 PrometheusRule",
    ] {
        assert!(b.to_string().contains(says), "{says}: {b}");
    }
    let (s, b) = alice
        .call(
            "alert_rules",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "orders"}),
        )
        .await
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    let (s, b) = alice
        .call("add_alert_receiver", json!({"tenant": "alpha", "receiver": {"name": "pager", "kind": "Webhook", "to": "http://127.200.0.7:9000/x"}}))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b.to_string()
            .contains("does not serve AlertmanagerConfig (monitoring.coreos.com/v1alpha1)"),
        "{b}"
    );
    let tenant: Api<crds::Tenant> = Api::all(app.kube.clone());
    assert!(
        tenant
            .get("alpha")
            .await
            .unwrap()
            .spec
            .alerting
            .is_none_or(|a| a.receivers.is_empty()),
        "a receiver that cannot be written is not kept"
    );
}
