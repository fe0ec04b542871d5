//! Roles, ClusterRoles, RoleBindings and ClusterRoleBindings against a real kube-apiserver
//! 1.20: discovery, create/get/delete and dry runs, the kinds' defaults and how Go encodes
//! them (`rules: null`, subjects' `apiGroup`), their field errors, server-side apply with
//! managers and conflicts, and a binding's `roleRef` refused when changed by PUT, patch or a
//! forced apply. Then kubectl 1.20's `apply -k deploy/ --dry-run=server` on both clusters.
//! The demo cluster stores these kinds and authorizes nothing; enforcement is not compared.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::kubectl::Kubectl;
use crate::support::parity::{Answer, Pair};

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
const GV: &str = "rbac.authorization.k8s.io/v1";
const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles";
const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings";
const CLUSTER_ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const CLUSTER_BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

fn obj(kind: &str, name: &str, rest: Value) -> Value {
    let mut o = json!({"apiVersion": GV, "kind": kind, "metadata": {"name": name}});
    for (k, v) in rest.as_object().into_iter().flatten() {
        o[k] = v.clone();
    }
    o
}

/// The discovery entries of `names`, without what 1.20 and 1.33 report differently.
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

fn role() -> Value {
    obj(
        "Role",
        "parity-role",
        json!({"metadata": {"name": "parity-role", "labels": {"app": "demo"}}, "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get"]},
        ]}),
    )
}

fn cluster_role() -> Value {
    obj(
        "ClusterRole",
        "parity:viewer",
        json!({"rules": [
            {"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
        ], "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"parity": "aggregated"}}]}}),
    )
}

fn binding() -> Value {
    obj(
        "RoleBinding",
        "parity-binding",
        json!({"roleRef": {"kind": "Role", "name": "parity-role"}, "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "default"},
            {"kind": "ServiceAccount", "name": "builder", "apiGroup": "", "namespace": "other"},
        ]}),
    )
}

fn cluster_binding() -> Value {
    obj(
        "ClusterRoleBinding",
        "parity-cluster-binding",
        json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "parity:viewer"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
            {"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"},
        ]}),
    )
}

/// Discovery, create/get/delete and dry runs of each kind, their defaults and field errors.
#[tokio::test]
async fn rbac_kinds_are_served_defaulted_and_validated() {
    let pair = Pair::start().await;
    let (d, r) = pair
        .send(
            "GET",
            "/apis/rbac.authorization.k8s.io/v1",
            JSON,
            &Value::Null,
        )
        .await;
    let names = [
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
    ];
    assert_eq!(entries(&d, &names), entries(&r, &names), "rbac discovery");

    let made = [
        (ROLES, role()),
        (ROLES, obj("Role", "parity-empty", json!({"rules": []}))),
        (CLUSTER_ROLES, cluster_role()),
        (CLUSTER_ROLES, obj("ClusterRole", "parity-none", json!({}))),
        (BINDINGS, binding()),
        (CLUSTER_BINDINGS, cluster_binding()),
    ];
    for (path, o) in &made {
        let name = o["metadata"]["name"].as_str().unwrap();
        let r = pair
            .same(
                &format!("create {name}"),
                "POST",
                &format!("{path}?fieldManager=parity"),
                JSON,
                o,
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        pair.same(
            &format!("get {name}"),
            "GET",
            &format!("{path}/{name}"),
            JSON,
            &Value::Null,
        )
        .await;
    }
    // Dry runs answer as a create would and store nothing.
    let dry = obj(
        "RoleBinding",
        "parity-dry",
        json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "bob"}]}),
    );
    let r = pair
        .same(
            "a dry-run create",
            "POST",
            &format!("{BINDINGS}?dryRun=All&fieldManager=parity"),
            JSON,
            &dry,
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = pair
        .same(
            "after a dry run",
            "GET",
            &format!("{BINDINGS}/parity-dry"),
            JSON,
            &Value::Null,
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");

    // Field errors, in the real server's order and words.
    let bad = [
        (
            "a role's bad name and rules",
            ROLES,
            obj(
                "Role",
                "r/2",
                json!({"rules": [
                    {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
                    {},
                    {"verbs": ["get"], "apiGroups": [""]},
                    {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
                ]}),
            ),
        ),
        (
            "a cluster role's mixed rule",
            CLUSTER_ROLES,
            obj(
                "ClusterRole",
                "system:x",
                json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "apiGroups": [""]}]}),
            ),
        ),
        (
            "an aggregation rule without selectors",
            CLUSTER_ROLES,
            obj(
                "ClusterRole",
                "agg",
                json!({"aggregationRule": {"clusterRoleSelectors": []}}),
            ),
        ),
        (
            "a role binding without roleRef",
            BINDINGS,
            obj("RoleBinding", "no-ref", json!({})),
        ),
        (
            "a cluster role binding's bad roleRef and subjects",
            CLUSTER_BINDINGS,
            obj(
                "ClusterRoleBinding",
                "crb",
                json!({"roleRef": {"apiGroup": "x", "kind": "Role", "name": "a/b"}, "subjects": [
                    {"kind": "ServiceAccount", "name": "Bad_Name", "apiGroup": "v"},
                    {"kind": "User", "name": "", "apiGroup": "x"},
                    {"kind": "Robot", "name": "r"},
                    {"kind": "Group", "name": "g"},
                ]}),
            ),
        ),
    ];
    for (what, path, o) in &bad {
        let r = pair.same(what, "POST", path, JSON, o).await;
        assert_eq!(r.status, 422, "{what}: {r:?}");
    }

    for (path, o) in &made {
        let name = o["metadata"]["name"].as_str().unwrap();
        pair.same(
            &format!("delete {name}"),
            "DELETE",
            &format!("{path}/{name}"),
            JSON,
            &Value::Null,
        )
        .await;
    }
}

/// Server-side apply of each kind (create, change, conflicts), and a binding's roleRef
/// refused when changed however it is sent.
#[tokio::test]
async fn rbac_apply_and_role_ref_is_immutable() {
    let pair = Pair::start().await;
    let applied = [
        (ROLES, role()),
        (ROLES, obj("Role", "parity-bare", json!({}))),
        (CLUSTER_ROLES, cluster_role()),
        (BINDINGS, binding()),
        (CLUSTER_BINDINGS, cluster_binding()),
    ];
    for (path, o) in &applied {
        let name = o["metadata"]["name"].as_str().unwrap();
        let r = pair
            .same(
                &format!("apply {name}"),
                "PATCH",
                &format!("{path}/{name}?fieldManager=applier"),
                APPLY,
                o,
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }

    // Changes by the same manager: a rule added, a subject dropped.
    let mut more = role();
    more["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}));
    pair.same(
        "apply a role with one more rule",
        "PATCH",
        &format!("{ROLES}/parity-role?fieldManager=applier"),
        APPLY,
        &more,
    )
    .await;
    let mut fewer = binding();
    fewer["subjects"].as_array_mut().unwrap().truncate(1);
    pair.same(
        "apply a binding with fewer subjects",
        "PATCH",
        &format!("{BINDINGS}/parity-binding?fieldManager=applier"),
        APPLY,
        &fewer,
    )
    .await;

    // Another manager's roleRef: a conflict, then (forced) the roleRef refused.
    let mut other = obj(
        "RoleBinding",
        "parity-binding",
        json!({"roleRef": {"kind": "ClusterRole", "name": "edit"}}),
    );
    let r = pair
        .same(
            "another manager applies a roleRef",
            "PATCH",
            &format!("{BINDINGS}/parity-binding?fieldManager=other"),
            APPLY,
            &other,
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    let r = pair
        .same(
            "a forced apply of another roleRef",
            "PATCH",
            &format!("{BINDINGS}/parity-binding?fieldManager=other&force=true"),
            APPLY,
            &other,
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    other["roleRef"] = json!({"kind": "Role", "name": "other-role"});
    let r = pair
        .same(
            "a PUT of another roleRef",
            "PUT",
            &format!("{BINDINGS}/parity-binding?fieldManager=parity"),
            JSON,
            &other,
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = pair
        .same(
            "a merge patch of roleRef.kind",
            "PATCH",
            &format!("{BINDINGS}/parity-binding?fieldManager=parity"),
            MERGE,
            &json!({"roleRef": {"kind": "ClusterRole"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = pair
        .same(
            "a strategic patch of a cluster binding's roleRef.name",
            "PATCH",
            &format!("{CLUSTER_BINDINGS}/parity-cluster-binding?fieldManager=parity"),
            STRATEGIC,
            &json!({"roleRef": {"name": "view"}}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");

    // The same roleRef (its apiGroup left to the default) with other subjects is fine.
    let same_ref = obj(
        "RoleBinding",
        "parity-binding",
        json!({"roleRef": {"kind": "Role", "name": "parity-role"}, "subjects": [{"kind": "Group", "name": "ops"}]}),
    );
    let r = pair
        .same(
            "a PUT with the same roleRef",
            "PUT",
            &format!("{BINDINGS}/parity-binding?fieldManager=parity"),
            JSON,
            &same_ref,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    for (path, o) in &applied {
        let name = o["metadata"]["name"].as_str().unwrap();
        pair.same(
            &format!("get {name} at the end"),
            "GET",
            &format!("{path}/{name}"),
            JSON,
            &Value::Null,
        )
        .await;
    }
}

/// What one kubectl run printed and how it ended.
#[derive(Debug, PartialEq)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(bin: &Path, k: &Kubectl, args: &[&str]) -> Run {
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(90),
        tokio::process::Command::new(bin)
            .args(k.args(args))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
    .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The same kubectl command against both clusters, which must print the same; the demo's run.
async fn same(bin: &Path, demo: &Kubectl, real: &Kubectl, args: &[&str]) -> Run {
    let d = run(bin, demo, args).await;
    let r = run(bin, real, args).await;
    assert_eq!(d, r, "kubectl {args:?}: (demo, real)");
    d
}

/// Names of the objects at `path` (a list) that Wharf's manifests would have made.
async fn wharf_objects(pair: &Pair, path: &str) -> (Vec<String>, Vec<String>) {
    let (d, r) = pair.send("GET", path, JSON, &Value::Null).await;
    let names = |a: &Answer| -> Vec<String> {
        assert_eq!(a.status, 200, "{path}: {a:?}");
        a.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["metadata"]["name"].as_str())
            // NB: the demo cluster gives each namespace its `default` ServiceAccount at once.
            .filter(|n| *n != "default")
            .filter(|n| n.starts_with("wharf") || path.contains("/namespaces/wharf-system/"))
            .map(String::from)
            .collect()
    };
    (names(&d), names(&r))
}

/// kubectl 1.20 dry-runs Wharf's kustomization (`deploy/`) on both clusters: on a fresh one
/// both refuse what goes into the namespace the dry run did not create (as every
/// kube-apiserver does); once `wharf-system` exists, everything passes and nothing is stored.
#[tokio::test]
async fn kubectl_dry_runs_the_deploy_kustomization() {
    let bin = wharf_testkit::real_cluster::bin_dir().join("kubectl-1.20");
    assert!(bin.is_file(), "{} is missing", bin.display());
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let deploy = deploy.display().to_string();
    let pair = Pair::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (demo_kc, real_kc) = pair.kubeconfigs(dir.path());
    let demo = Kubectl {
        kubeconfig: demo_kc,
        cache: dir.path().join("demo-cache"),
    };
    let real = Kubectl {
        kubeconfig: real_kc,
        cache: dir.path().join("real-cache"),
    };
    let args: Vec<&str> = vec!["apply", "-k", deploy.as_str(), "--dry-run=server"];
    let fresh = same(&bin, &demo, &real, &args).await;
    assert_eq!(fresh.code, Some(1), "{fresh:?}");
    assert!(!fresh.stderr.contains("no matches for kind"), "{fresh:?}");
    for line in fresh.stderr.lines() {
        assert!(
            line.ends_with("namespaces \"wharf-system\" not found"),
            "only the namespace is missing: {fresh:?}"
        );
    }
    assert!(
        fresh.stdout.contains(
            "clusterrolebinding.rbac.authorization.k8s.io/wharf created (server dry run)"
        ),
        "{fresh:?}"
    );

    let r = same(&bin, &demo, &real, &["create", "namespace", "wharf-system"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let ok = same(&bin, &demo, &real, &args).await;
    assert_eq!(ok.code, Some(0), "{ok:?}");
    for what in [
        "role.rbac.authorization.k8s.io/wharf-secrets created (server dry run)",
        "rolebinding.rbac.authorization.k8s.io/wharf-ng-agent created (server dry run)",
        "clusterrole.rbac.authorization.k8s.io/wharf created (server dry run)",
        "customresourcedefinition.apiextensions.k8s.io/tenants.wharf.dev created (server dry run)",
        "deployment.apps/wharf created (server dry run)",
    ] {
        assert!(ok.stdout.contains(what), "{what}: {ok:?}");
    }

    for path in [
        "/apis/rbac.authorization.k8s.io/v1/namespaces/wharf-system/roles",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/wharf-system/rolebindings",
        CLUSTER_ROLES,
        CLUSTER_BINDINGS,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "/api/v1/namespaces/wharf-system/serviceaccounts",
        "/api/v1/namespaces/wharf-system/services",
        "/apis/apps/v1/namespaces/wharf-system/deployments",
    ] {
        let (d, r) = wharf_objects(&pair, path).await;
        assert_eq!((&d, &r), (&vec![], &vec![]), "nothing stored at {path}");
    }
    let (d, r) = pair
        .send("GET", "/api/v1/namespaces/wharf-system", JSON, &Value::Null)
        .await;
    for a in [&d, &r] {
        assert!(
            a.body["metadata"]["annotations"].is_null(),
            "the dry run's patch of the namespace is not kept: {a:?}"
        );
    }
}

/// kubectl's generators for these kinds (the kubectl on PATH sends them as protobuf, 1.20's
/// as JSON): the same objects on both clusters.
#[tokio::test]
async fn kubectl_creates_rbac_objects() {
    let pair = Pair::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (demo_kc, real_kc) = pair.kubeconfigs(dir.path());
    let demo = Kubectl {
        kubeconfig: demo_kc,
        cache: dir.path().join("demo-cache"),
    };
    let real = Kubectl {
        kubeconfig: real_kc,
        cache: dir.path().join("real-cache"),
    };
    let on_path = std::path::PathBuf::from(crate::support::kubectl::bin());
    let old = wharf_testkit::real_cluster::bin_dir().join("kubectl-1.20");
    for (bin, suffix) in [(&on_path, "new"), (&old, "old")] {
        let role = format!("reader-{suffix}");
        let cluster_role = format!("cluster-reader-{suffix}");
        let commands: Vec<Vec<String>> = vec![
            vec![
                "create",
                "role",
                role.as_str(),
                "--verb=get,list",
                "--resource=pods,deployments.apps",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![
                "create",
                "clusterrole",
                cluster_role.as_str(),
                "--verb=get",
                "--non-resource-url=/healthz",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![
                "create".into(),
                "rolebinding".into(),
                format!("reads-{suffix}"),
                format!("--role={role}"),
                "--user=alice".into(),
                "--group=devs".into(),
                "--serviceaccount=default:builder".into(),
            ],
            vec![
                "create".into(),
                "clusterrolebinding".into(),
                format!("cluster-reads-{suffix}"),
                format!("--clusterrole={cluster_role}"),
                "--group=system:authenticated".into(),
            ],
        ];
        for args in &commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = same(bin, &demo, &real, &args).await;
            assert_eq!(r.code, Some(0), "{args:?}: {r:?}");
        }
        for path in [
            format!("{ROLES}/{role}"),
            format!("{CLUSTER_ROLES}/{cluster_role}"),
            format!("{BINDINGS}/reads-{suffix}"),
            format!("{CLUSTER_BINDINGS}/cluster-reads-{suffix}"),
        ] {
            pair.same(&path, "GET", &path, JSON, &Value::Null).await;
        }
    }
}
