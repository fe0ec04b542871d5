//! Every entry point refuses a stranger (401), a user of another tenant (403), and — where it
//! changes something — a viewer (403). The list below must name every server function the
//! binary registers; a new one that is not listed fails `every_server_function_is_covered`.
//! Each check runs against the demo cluster and against a real kube-apiserver.

use reqwest::StatusCode;
use serde_json::{json, Value};
use wharf_tests::{on_both_clusters, TestApp};

on_both_clusters!(
    every_socket_download_and_upload_checks_first,
    the_nginx_download_checks_first,
    strangers_get_401_everywhere,
    another_tenants_user_gets_403_everywhere_and_nothing_changes,
    a_viewer_reads_but_cannot_change,
    a_platform_admin_reaches_every_tenant,
    a_developer_cannot_administer,
    a_tenant_admin_cannot_do_a_platform_admins_work,
    the_live_socket_checks_before_upgrading,
    the_log_socket_and_download_check_first,
    the_terminal_socket_upload_and_download_check_first,
    a_read_only_token_reads_what_its_user_may_and_changes_nothing,
    a_token_is_held_to_its_users_tenant_everywhere,
);

/// (endpoint, arguments aimed at tenant alpha, does it change anything?)
/// What an entry point needs of the caller in tenant alpha.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// Any member (a viewer too).
    Read,
    /// A developer or an admin of the tenant.
    Change,
    /// An admin of the tenant.
    TenantAdmin,
    /// A platform admin.
    Platform,
}
use Need::*;

fn entry_points() -> Vec<(&'static str, Value, Need)> {
    let form = json!({"namespace": "alpha", "name": "probe", "image": "nginx:1.25", "replicas": 1, "port": 80, "env": [],
        "cpu_request": "", "cpu_limit": "", "memory_request": "", "memory_limit": ""});
    let app = json!({"tenant": "alpha", "namespace": "alpha", "name": "shop"});
    // NB: nothing answers on port 1: a trial reports that, a save never connects
    let ldap_form = json!({"name": "corp", "display_name": "", "disabled": false,
        "url": "ldaps://127.0.0.1:1", "start_tls": false, "ca_pem": "", "bind_dn": "cn=x",
        "bind_password": "x", "user_base": "ou=people", "user_filter": "(uid={username})",
        "group_base": "ou=groups", "group_filter": "(member={dn})", "display_name_attribute": "",
        "email_attribute": "", "group_name_attribute": ""});
    let oidc_form = json!({"name": "corp-oidc", "display_name": "", "disabled": false,
        "issuer": "http://127.0.0.1:1", "client_id": "wharf", "client_secret": "x", "scopes": "",
        "username_claim": "", "groups_claim": ""});
    let ngc_form = json!({"name": "probe-edge", "display_name": "", "http_port": 8099, "https_port": null,
        "tenants": ["alpha"], "client_max_body_size": "", "proxy_connect_timeout_secs": null,
        "proxy_read_timeout_secs": null, "proxy_send_timeout_secs": null, "upstream_keepalive": null,
        "access_log": false, "server_directives": [], "http_directives": [], "version": null});
    let with = |extra: Value| {
        let mut v = app.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let gamma = json!({"name": "gamma", "display_name": "", "namespaces": ["gamma"], "adopt": [],
        "quota": {"cpu": "", "memory": "", "pods": "", "storage": ""}, "pod_security": "restricted", "hosts": [], "image_prefix": ""});
    let alpha_form = json!({"name": "alpha", "display_name": "Alpha", "namespaces": ["alpha"], "adopt": [],
        "quota": {"cpu": "1", "memory": "", "pods": "", "storage": ""}, "pod_security": "privileged", "hosts": [], "image_prefix": ""});
    vec![
        ("workloads", json!({"tenant": "alpha"}), Read),
        (
            "list_pods",
            json!({"tenant": "alpha", "query": {"app": null, "namespace": "alpha", "filter": "", "offset": 0, "limit": 50}}),
            Read,
        ),
        (
            "deploy_app",
            json!({"tenant": "alpha", "form": form}),
            Change,
        ),
        ("scale_app", with(json!({"replicas": 2})), Change),
        ("set_image", with(json!({"image": "nginx:1.27"})), Change),
        ("restart_app", app.clone(), Change),
        (
            "apm_state",
            json!({"tenant": "alpha", "namespace": "alpha", "app": "shop"}),
            Read,
        ),
        (
            "tenant_calls",
            json!({"tenant": "alpha", "minutes": 15}),
            Read,
        ),
        (
            "set_apm",
            json!({"tenant": "alpha", "namespace": "alpha", "app": "shop", "on": false, "java": false}),
            Change,
        ),
        ("delete_app", app.clone(), Change),
        ("app_events", app.clone(), Read),
        ("app_revisions", app.clone(), Read),
        ("rollback_app", with(json!({"revision": 1})), Change),
        ("app_probes", app.clone(), Read),
        (
            "set_app_probes",
            with(json!({"probes": {"readiness": null, "liveness": null, "startup": null}})),
            Change,
        ),
        ("get_yaml", with(json!({"kind": "Deployment"})), Read),
        (
            "put_yaml",
            with(json!({"kind": "Deployment", "yaml": "kind: Deployment"})),
            Change,
        ),
        ("log_sources", json!({"tenant": "alpha"}), Read),
        (
            "query_logs",
            json!({"tenant": "alpha", "query": {"selection": {"namespace": "alpha", "app": "shop", "pod": null, "container": null},
            "from": "", "to": "", "search": {"text": "", "regex": false}, "limit": 10, "backward": false, "cursor": null}}),
            Read,
        ),
        ("terminal_sessions", json!({"tenant": "alpha"}), TenantAdmin),
        // developers and admins only: it answers whether a shell may be opened
        (
            "terminal_check",
            json!({"tenant": "alpha", "ns": "alpha", "pod": "shop-1", "container": null}),
            Change,
        ),
        ("nginx_clusters", json!({"tenant": "alpha"}), Read),
        ("tls_secrets", json!({"tenant": "alpha"}), Read),
        (
            "add_tls_secret",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe-tls", "cert_pem": "x", "key_pem": "x"}),
            Change,
        ),
        (
            "nginx_config",
            json!({"tenant": "alpha", "cluster": "alpha-edge"}),
            Read,
        ),
        (
            "nginx_drift",
            json!({"tenant": "alpha", "cluster": "alpha-edge", "node": "n1"}),
            Read,
        ),
        (
            "validate_nginx_change",
            json!({"tenant": "alpha", "change": {"kind": "SetDirectives", "namespace": "alpha", "route": "shop", "directives": []}}),
            Change,
        ),
        (
            "apply_nginx_change",
            json!({"tenant": "alpha", "change": {"kind": "RemoveExternal", "namespace": "alpha", "name": "legacy"}}),
            Change,
        ),
        (
            "repair_nginx_node",
            json!({"tenant": "alpha", "cluster": "alpha-edge", "node": "n1"}),
            Change,
        ),
        (
            "query_range",
            json!({"tenant": "alpha", "panel": "Threads", "target": {"App": {"namespace": "alpha", "name": "shop"}}, "minutes": 60}),
            Read,
        ),
        (
            "query_promql",
            json!({"tenant": "alpha", "query": "container_threads", "minutes": 60}),
            Read,
        ),
        ("alert_rules", app.clone(), Read),
        (
            "set_alert_rules",
            with(json!({"thresholds": {"threads": "100"}})),
            Change,
        ),
        (
            "list_alerts",
            json!({"tenant": "alpha", "namespace": null, "app": null}),
            Read,
        ),
        ("alert_receivers", json!({"tenant": "alpha"}), Read),
        (
            "add_alert_receiver",
            json!({"tenant": "alpha", "receiver": {"name": "ops", "kind": "Webhook", "to": "https://hooks.example.org/x"}}),
            Change,
        ),
        (
            "remove_alert_receiver",
            json!({"tenant": "alpha", "name": "ops"}),
            Change,
        ),
        ("list_silences", json!({"tenant": "alpha"}), Read),
        (
            "create_silence",
            json!({"tenant": "alpha", "silence": {"namespace": "alpha", "app": {"value": "shop"}, "duration": "1h", "comment": "maintenance"}}),
            Change,
        ),
        (
            "expire_silence",
            json!({"tenant": "alpha", "id": "002fe24b-98dc-475f-bc48-392b176a984a"}),
            Change,
        ),
        ("storage", json!({"tenant": "alpha"}), Read),
        (
            "create_claim",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "probe", "class": "", "size": "1Gi", "access_mode": "ReadWriteOnce"}}),
            Change,
        ),
        (
            "expand_claim",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe", "size": "2Gi"}),
            Change,
        ),
        (
            "delete_claim",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe", "confirm": "probe"}),
            Change,
        ),
        // developers only: it reads the tenant's data
        (
            "volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "probe", "path": ""}),
            Change,
        ),
        (
            "open_volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "probe"}),
            Change,
        ),
        (
            "close_volume_files",
            json!({"tenant": "alpha", "namespace": "alpha", "claim": "probe"}),
            Change,
        ),
        ("config_objects", json!({"tenant": "alpha"}), Read),
        (
            "config_object",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "ConfigMap", "name": "probe"}),
            Read,
        ),
        (
            "app_config",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "shop"}),
            Read,
        ),
        // developers only: the values are the secret
        (
            "reveal_secret",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe"}),
            Change,
        ),
        (
            "save_config",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "probe", "kind": "ConfigMap",
                "entries": [["k", "v"]], "resource_version": null}}),
            Change,
        ),
        (
            "apply_config",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "ConfigMap", "name": "probe"}),
            Change,
        ),
        (
            "delete_config",
            json!({"tenant": "alpha", "namespace": "alpha", "kind": "ConfigMap", "name": "probe", "confirm": "probe"}),
            Change,
        ),
        ("pipelines", json!({"tenant": "alpha"}), Read),
        ("pipeline_options", json!({"tenant": "alpha"}), Read),
        (
            "save_pipeline",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe", "spec": {"app": "shop", "stages": []}, "create": true}),
            Change,
        ),
        (
            "delete_pipeline",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe"}),
            Change,
        ),
        (
            "start_run",
            json!({"tenant": "alpha", "namespace": "alpha", "pipeline": "probe"}),
            Change,
        ),
        (
            "cancel_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": "probe-1"}),
            Change,
        ),
        (
            "retry_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": "probe-1"}),
            Change,
        ),
        (
            "deploy_run",
            json!({"tenant": "alpha", "namespace": "alpha", "run": "probe-1"}),
            Change,
        ),
        // developers only: the secret starts runs
        (
            "pipeline_webhook",
            json!({"tenant": "alpha", "namespace": "alpha", "name": "probe"}),
            Change,
        ),
        // administration: tenants and users are a platform admin's, members a tenant admin's
        ("tenants", json!({}), Platform),
        ("tenant_overview", json!({"tenant": "alpha"}), Read),
        ("create_tenant", json!({"form": gamma}), Platform),
        ("update_tenant", json!({"form": alpha_form}), Platform),
        ("tenant_deletion_plan", json!({"tenant": "alpha"}), Platform),
        (
            "delete_tenant",
            json!({"tenant": "alpha", "confirm": "alpha"}),
            Platform,
        ),
        ("users", json!({}), Platform),
        (
            "create_user",
            json!({"form": {"name": "mallory", "display_name": "", "password": "long enough", "platform_admin": true}}),
            Platform,
        ),
        (
            "reset_password",
            json!({"user": "alice", "password": "long enough"}),
            Platform,
        ),
        (
            "set_user_disabled",
            json!({"user": "alice", "disabled": true}),
            Platform,
        ),
        (
            "set_platform_admin",
            json!({"user": "vera", "platform_admin": true}),
            Platform,
        ),
        ("delete_user", json!({"user": "alice"}), Platform),
        ("members", json!({"tenant": "alpha"}), TenantAdmin),
        // nginx clusters and their nodes: a platform admin's
        ("admin_nginx_clusters", json!({}), Platform),
        ("check_nginx_cluster", json!({"form": ngc_form}), Platform),
        ("save_nginx_cluster", json!({"form": ngc_form}), Platform),
        (
            "delete_nginx_cluster",
            json!({"cluster": "probe-edge"}),
            Platform,
        ),
        (
            "join_nginx_node",
            json!({"cluster": "probe-edge", "node": "n9"}),
            Platform,
        ),
        (
            "remove_nginx_node",
            json!({"cluster": "probe-edge", "node": "n9"}),
            Platform,
        ),
        // identity: directories are a platform admin's, a tenant's group mappings its admins'
        ("identity_providers", json!({}), Platform),
        ("save_ldap_provider", json!({"form": ldap_form}), Platform),
        ("save_oidc_provider", json!({"form": oidc_form}), Platform),
        ("try_oidc_provider", json!({"form": oidc_form}), Platform),
        (
            "delete_identity_provider",
            json!({"name": "corp"}),
            Platform,
        ),
        (
            "try_ldap_provider",
            json!({"trial": {"form": ldap_form, "username": "", "password": ""}}),
            Platform,
        ),
        ("group_roles", json!({"tenant": "alpha"}), TenantAdmin),
        (
            "set_group_roles",
            json!({"tenant": "alpha", "rows": [{"provider": "corp", "group": "x", "role": "Admin"}]}),
            TenantAdmin,
        ),
        (
            "audit_records",
            json!({"filter": {"user": "", "tenant": "alpha", "action": "", "outcome": "", "from": "", "to": "", "limit": 10}}),
            TenantAdmin,
        ),
        (
            "add_member",
            json!({"tenant": "alpha", "user": "bob", "role": "Admin"}),
            TenantAdmin,
        ),
        (
            "set_member_role",
            json!({"tenant": "alpha", "user": "vera", "role": "Admin"}),
            TenantAdmin,
        ),
        (
            "remove_member",
            json!({"tenant": "alpha", "user": "alice"}),
            TenantAdmin,
        ),
    ]
}

/// Server functions anyone may call.
const PUBLIC: &[&str] = &["login", "logout", "sign_in_options"];
/// Server functions that need a session but no tenant.
const SESSION_ONLY: &[&str] = &[
    "whoami",
    "change_password",
    "api_tokens",
    "create_api_token",
    "revoke_api_token",
];

async fn deploy_shop(app: &TestApp) {
    let alice = app.login("alice").await.unwrap();
    alice.deploy("alpha", "shop", 1, 80).await;
    // the ConfigMap the config editor's read calls open
    let (status, body) = alice
        .call(
            "save_config",
            json!({"tenant": "alpha", "form": {"namespace": "alpha", "name": "probe", "kind": "ConfigMap",
                "entries": [["k", "v"]], "resource_version": null}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    nginx_cluster_of_alpha(app).await;
}

/// An nginx cluster serving only alpha, with a node that has reported (what an agent writes).
async fn nginx_cluster_of_alpha(app: &TestApp) {
    use kube::api::{Api, Patch, PatchParams, PostParams};
    let c: crds::NginxCluster = serde_json::from_value(json!({"apiVersion": "wharf.dev/v1alpha1", "kind": "NginxCluster",
        "metadata": {"name": "alpha-edge"}, "spec": {"tenants": ["alpha"], "listen": {"http": 8081}}})).unwrap();
    let clusters: Api<crds::NginxCluster> = Api::all(app.kube.clone());
    clusters.create(&PostParams::default(), &c).await.unwrap();
    let node = json!({"status": {"nodes": {"n1": {"heartbeat": chrono::Utc::now().to_rfc3339(), "heartbeatSeconds": 10}}}});
    clusters
        .patch_status("alpha-edge", &PatchParams::default(), &Patch::Merge(&node))
        .await
        .unwrap();
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({"metadata": {"name": crds::nginx::node_configmap("alpha-edge", "n1"), "namespace": "wharf-system"},
        "data": {"config": "# ==> nginx.conf <==\n", "drift.diff": ""}})).unwrap();
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(app.kube.clone(), "wharf-system")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    wharf_tests::eventually(
        std::time::Duration::from_secs(20),
        "the console to see the nginx cluster",
        || async {
            app.state
                .cache
                .nginx_clusters
                .state()
                .iter()
                .any(|c| {
                    c.status
                        .as_ref()
                        .is_some_and(|s| s.nodes.contains_key("n1"))
                })
                .then_some(())
        },
    )
    .await
    .unwrap();
}

async fn the_nginx_download_checks_first(app: TestApp) {
    nginx_cluster_of_alpha(&app).await;
    let get = |tenant: &str, cookie: Option<&str>| {
        let mut req =
            reqwest::Client::new().get(app.url(&format!("/download/nginx/{tenant}/alpha-edge/n1")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let (bob, vera) = (
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    assert_eq!(get("alpha", None).await, 401);
    assert_eq!(get("alpha", bob.cookie()).await, 403);
    // through one's own tenant, another tenant's cluster is not even visible
    assert_eq!(get("beta", bob.cookie()).await, 404);
    assert_eq!(get("alpha", vera.cookie()).await, 200);
}

#[tokio::test]
async fn every_server_function_is_covered() {
    let listed: Vec<&str> = entry_points()
        .iter()
        .map(|(n, _, _)| *n)
        .chain(PUBLIC.iter().copied())
        .chain(SESSION_ONLY.iter().copied())
        .collect();
    let registered: Vec<String> = server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_string())
        .collect();
    assert!(!registered.is_empty(), "no server functions registered");
    for name in wharf_console::audit::READ_ONLY {
        assert!(
            registered.iter().any(|r| r == name),
            "audit::READ_ONLY names '{name}', which is no server function"
        );
    }
    // what the table says changes nothing for a viewer is read-only for the audit log too
    for (name, _, need) in entry_points() {
        if need == Read {
            assert!(
                !wharf_console::audit::audited(name),
                "'{name}' reads only: add it to audit::READ_ONLY"
            );
        }
    }
    for name in &registered {
        assert!(
            listed.contains(&name.as_str()),
            "server function '{name}' has no authorization test: add it to entry_points()"
        );
    }
}

/// Every socket, download and upload of the shared route list, before anything else is looked
/// at: 401 for a stranger, 403 for another tenant's user (queries left out on purpose: the
/// check must come before the request is parsed).
async fn every_socket_download_and_upload_checks_first(app: TestApp) {
    use wharf_api::routes::{Kind, ALL};
    let bob = app.login("bob").await.unwrap();
    assert!(
        ALL.len() >= 10,
        "the route list names every socket, download and upload"
    );
    for route in ALL {
        let values: Vec<&str> = route
            .pattern
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| if s == "{tenant}" { "alpha" } else { "x" })
            .collect();
        let path = route.path(&values);
        for (who, want) in [(None, 401), (Some(&bob), 403)] {
            let got = match route.kind {
                Kind::Socket => app.handshake(&path, who).await,
                Kind::Download | Kind::Upload => {
                    let client = reqwest::Client::new();
                    let mut req = if route.kind == Kind::Upload {
                        client.post(app.url(&path)).body("x")
                    } else {
                        client.get(app.url(&path))
                    };
                    if let Some(cookie) = who.and_then(|s| s.cookie()) {
                        req = req.header("cookie", cookie);
                    }
                    req.send().await.unwrap().status().as_u16()
                }
            };
            assert_eq!(
                got,
                want,
                "{} as {}",
                route.pattern,
                if who.is_some() {
                    "bob of beta"
                } else {
                    "a stranger"
                }
            );
        }
    }
}

async fn strangers_get_401_everywhere(app: TestApp) {
    let nobody = app.anonymous();
    for (name, args, _) in entry_points() {
        let (status, _) = nobody.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
    }
    let (status, _) = nobody.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn another_tenants_user_gets_403_everywhere_and_nothing_changes(app: TestApp) {
    deploy_shop(&app).await;
    let bob = app.login("bob").await.unwrap();
    for (name, args, _) in entry_points() {
        let (status, body) = bob.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
    }
    // reaching for alpha's namespace through bob's own tenant is refused too
    let (status, _) = bob
        .call(
            "get_yaml",
            json!({"tenant": "beta", "namespace": "alpha", "kind": "Deployment", "name": "shop"}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = bob
        .call(
            "scale_app",
            json!({"tenant": "beta", "namespace": "alpha", "name": "shop", "replicas": 0}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    let shop = deployments.get("shop").await.unwrap();
    assert_eq!(
        shop.spec.unwrap().replicas,
        Some(1),
        "bob's calls changed alpha's app"
    );
    users_unchanged(&app).await;
}

async fn a_viewer_reads_but_cannot_change(app: TestApp) {
    deploy_shop(&app).await;
    let vera = app.login("vera").await.unwrap();
    for (name, args, need) in entry_points() {
        let (status, body) = vera.call(name, args).await.unwrap();
        if need > Read {
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        } else {
            assert_eq!(status, StatusCode::OK, "{name}: {body}");
        }
    }
}

async fn a_developer_cannot_administer(app: TestApp) {
    let alice = app.login("alice").await.unwrap();
    for (name, args, need) in entry_points() {
        if need >= TenantAdmin {
            let (status, body) = alice.call(name, args).await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        }
    }
}

async fn a_tenant_admin_cannot_do_a_platform_admins_work(app: TestApp) {
    let ada = app.login("ada").await.unwrap();
    for (name, args, need) in entry_points() {
        if need == Platform {
            let (status, body) = ada.call(name, args).await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        }
    }
    users_unchanged(&app).await;
}

/// The demo's users as seeded: what the refused administration calls aimed at.
async fn users_unchanged(app: &TestApp) {
    let users: kube::Api<crds::User> = kube::Api::all(app.kube.clone());
    let alice = users.get("alice").await.expect("alice still exists");
    assert!(!alice.spec.disabled);
    assert_eq!(alice.spec.memberships.len(), 1);
    assert_eq!(alice.spec.memberships[0].role, crds::Role::Developer);
    let vera = users.get("vera").await.unwrap();
    assert!(!vera.spec.platform_admin);
    assert_eq!(vera.spec.memberships[0].role, crds::Role::Viewer);
    assert!(users.get_opt("mallory").await.unwrap().is_none());
    let bob = users.get("bob").await.unwrap();
    assert_eq!(bob.spec.memberships.len(), 1, "bob was not added to alpha");
    let tenants: kube::Api<crds::Tenant> = kube::Api::all(app.kube.clone());
    assert!(tenants.get_opt("gamma").await.unwrap().is_none());
    let alpha = tenants.get("alpha").await.expect("alpha still exists");
    assert!(alpha.spec.quota.is_none());
    assert!(alpha.spec.group_roles.is_empty(), "alpha's group mappings");
    let providers: kube::Api<crds::IdentityProvider> = kube::Api::all(app.kube.clone());
    assert!(providers.get_opt("corp").await.unwrap().is_none());
    let clusters: kube::Api<crds::nginx::NginxCluster> = kube::Api::all(app.kube.clone());
    assert!(clusters.get_opt("probe-edge").await.unwrap().is_none());
}

async fn a_platform_admin_reaches_every_tenant(app: TestApp) {
    let admin = app.login("admin").await.unwrap();
    let (status, me) = admin.call("whoami", json!({})).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let tenants: Vec<&str> = me["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, vec!["alpha", "beta"]);
    for tenant in ["alpha", "beta"] {
        let (status, _) = admin
            .call("workloads", json!({"tenant": tenant}))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
    }
}

async fn the_live_socket_checks_before_upgrading(app: TestApp) {
    assert_eq!(
        app.open_socket("/ws/workloads/alpha", None).await.err(),
        Some(401)
    );
    let bob = app.login("bob").await.unwrap();
    assert_eq!(
        app.open_socket("/ws/workloads/alpha", Some(&bob))
            .await
            .err(),
        Some(403)
    );
    let alice = app.login("alice").await.unwrap();
    let mut socket = app
        .open_socket("/ws/workloads/alpha", Some(&alice))
        .await
        .expect("alice may follow alpha");
    use futures::StreamExt;
    let first = socket
        .next()
        .await
        .expect("a first message")
        .expect("readable");
    let text = first.into_text().unwrap();
    assert!(text.starts_with("{\"Snapshot\""), "{text}");
}

async fn the_log_socket_and_download_check_first(app: TestApp) {
    let query = "ns=alpha&app=shop&from=2024-05-01T10:00:00Z&to=2024-05-01T11:00:00Z";
    let socket = |tenant: &str| format!("/ws/logs/{tenant}?{query}");
    let download = |tenant: &str, cookie: Option<&str>| {
        let mut req =
            reqwest::Client::new().get(app.url(&format!("/download/logs/{tenant}?{query}")));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let (bob, vera) = (
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    assert_eq!(app.handshake(&socket("alpha"), None).await, 401);
    assert_eq!(download("alpha", None).await, 401);
    assert_eq!(app.handshake(&socket("alpha"), Some(&bob)).await, 403);
    assert_eq!(download("alpha", bob.cookie()).await, 403);
    // through one's own tenant, another tenant's namespace is still refused
    assert_eq!(app.handshake(&socket("beta"), Some(&bob)).await, 403);
    assert_eq!(download("beta", bob.cookie()).await, 403);
    // a viewer may read
    assert_eq!(app.handshake(&socket("alpha"), Some(&vera)).await, 101);
    assert_eq!(download("alpha", vera.cookie()).await, 200);
    // a plain GET (no upgrade) is refused before anything else too
    let plain = reqwest::Client::new()
        .get(app.url(&format!("/ws/logs/alpha?{query}")))
        .header("cookie", bob.cookie().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
}

async fn the_terminal_socket_upload_and_download_check_first(app: TestApp) {
    let query = "ns=alpha&pod=shop-1&path=%2Ftmp%2Fx";
    let http = |method: &str, what: &str, tenant: &str, cookie: Option<&str>| {
        let url = app.url(&format!("/{what}/terminal/{tenant}?{query}"));
        let mut req = if method == "POST" {
            reqwest::Client::new().post(url).body("x")
        } else {
            reqwest::Client::new().get(url)
        };
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let (bob, vera) = (
        app.login("bob").await.unwrap(),
        app.login("vera").await.unwrap(),
    );
    for (tenant, who, want) in [
        ("alpha", None, 401),
        ("alpha", Some(&bob), 403),
        ("beta", Some(&bob), 403),
        ("alpha", Some(&vera), 403),
    ] {
        let cookie = who.and_then(|s| s.cookie());
        assert_eq!(
            app.handshake(&format!("/ws/terminal/{tenant}?{query}"), who)
                .await,
            want,
            "socket {tenant} {cookie:?}"
        );
        assert_eq!(
            http("POST", "upload", tenant, cookie).await,
            want,
            "upload {tenant} {cookie:?}"
        );
        assert_eq!(
            http("GET", "download", tenant, cookie).await,
            want,
            "download {tenant} {cookie:?}"
        );
        // recordings: admins only, so the viewer is refused too (tests/terminal.rs has the rest)
        assert_eq!(
            http("GET", "recordings", tenant, cookie).await,
            want,
            "recordings {tenant} {cookie:?}"
        );
    }
}

/// A token for `user` made through their session: (scope "Full" or "ReadOnly").
pub async fn token_of(app: &TestApp, user: &str, scope: &str) -> String {
    let session = app.login(user).await.unwrap();
    let (status, made) = session
        .call(
            "create_api_token",
            json!({"form": {"name": format!("{user}-script"), "scope": scope, "days": 7}}),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{made}");
    made["token"].as_str().expect("the new token").to_string()
}

/// A platform admin's read-only token: every read answers as for the admin, every change
/// (tenant, member, platform) is refused, and nothing changed.
async fn a_read_only_token_reads_what_its_user_may_and_changes_nothing(app: TestApp) {
    deploy_shop(&app).await;
    let script = app.with_token(&token_of(&app, "admin", "ReadOnly").await);
    for (name, args, need) in entry_points() {
        let (status, body) = script.call(name, args).await.unwrap();
        // NB: a read-only token reads what changes nothing (is not audited) and needs no
        // developer: asking whether a shell may be opened or an nginx change would pass
        // is for those who may make them.
        let reads = need != Change && !wharf_console::audit::audited(name);
        let want = if reads {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, want, "{name}: {body}");
    }
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(app.kube.clone(), "alpha");
    assert_eq!(
        deployments
            .get("shop")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(1),
        "the read-only token changed alpha's app"
    );
    users_unchanged(&app).await;
    // the live sockets read: one opens with the token; the terminal changes: refused
    use wharf_api::routes::{WS_TERMINAL, WS_WORKLOADS};
    let live = WS_WORKLOADS.path(&["alpha"]);
    assert_eq!(app.handshake(&live, Some(&script)).await, 101);
    let terminal = WS_TERMINAL.path(&["alpha"]);
    assert_eq!(app.handshake(&terminal, Some(&script)).await, 403);
}

/// bob's token (full scope) is bob in every entry point: 403 in alpha, sockets and downloads
/// included.
async fn a_token_is_held_to_its_users_tenant_everywhere(app: TestApp) {
    deploy_shop(&app).await;
    let script = app.with_token(&token_of(&app, "bob", "Full").await);
    for (name, args, _) in entry_points() {
        let (status, body) = script.call(name, args).await.unwrap();
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
    }
    use wharf_api::routes::{Kind, ALL};
    for route in ALL.iter().filter(|r| r.kind == Kind::Socket) {
        let values: Vec<&str> = route
            .pattern
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| if s == "{tenant}" { "alpha" } else { "x" })
            .collect();
        let path = route.path(&values);
        assert_eq!(app.handshake(&path, Some(&script)).await, 403, "{path}");
    }
    users_unchanged(&app).await;
}
