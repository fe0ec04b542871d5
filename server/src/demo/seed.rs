//! The demo's tenants, users and apps. Idempotent: what exists is left alone, so a restarted
//! demo keeps what people changed.

use anyhow::{Context, Result};
use crds::{Membership, Role, Tenant, TenantSpec, User, UserSpec, SYSTEM_NAMESPACE};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use wharf_api::workloads::DeployForm;
use wharf_console::auth::hash_password;
use wharf_console::workloads::deployment_of;

pub const DEMO_PASSWORD: &str = "wharf-demo";

pub struct DemoUser {
    pub name: &'static str,
    pub what: &'static str,
    pub admin: bool,
    pub memberships: &'static [(&'static str, Role)],
}

pub const USERS: &[DemoUser] = &[
    DemoUser {
        name: "admin",
        what: "platform admin: sees every tenant",
        admin: true,
        memberships: &[],
    },
    DemoUser {
        name: "alice",
        what: "developer in tenant alpha",
        admin: false,
        memberships: &[("alpha", Role::Developer)],
    },
    DemoUser {
        name: "bob",
        what: "developer in tenant beta",
        admin: false,
        memberships: &[("beta", Role::Developer)],
    },
    DemoUser {
        name: "ada",
        what: "admin of tenant alpha: manages its members",
        admin: false,
        memberships: &[("alpha", Role::Admin)],
    },
    DemoUser {
        name: "vera",
        what: "viewer in tenant alpha (read-only)",
        admin: false,
        memberships: &[("alpha", Role::Viewer)],
    },
];

pub const TENANTS: &[(&str, &str, &[&str])] = &[
    ("alpha", "Alpha Retail", &["alpha", "alpha-dev"]),
    ("beta", "Beta Finance", &["beta"]),
];

async fn create_missing<K>(api: &Api<K>, obj: &K) -> Result<()>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {:?}", obj.meta().name)),
    }
}

/// Tenants, their namespaces, and the users with their password Secrets.
pub async fn identities(client: &Client) -> Result<()> {
    crate::bootstrap::ensure_namespace(client, SYSTEM_NAMESPACE).await?;
    let tenants: Api<Tenant> = Api::all(client.clone());
    for (name, display, namespaces) in TENANTS {
        for ns in *namespaces {
            crate::bootstrap::ensure_namespace(client, ns).await?;
        }
        let mut t = Tenant::new(
            name,
            TenantSpec {
                display_name: display.to_string(),
                namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
                // NB: the demo's images run as root, as most images do
                pod_security: crds::PodSecurity::Baseline,
                hosts: vec![format!("*.{name}.demo")],
                image_prefix: format!("registry.wharf.local:5000/{name}/"),
                ..Default::default()
            },
        );
        t.metadata.labels = Some(BTreeMap::from([(
            "wharf.dev/demo".to_string(),
            "true".to_string(),
        )]));
        create_missing(&tenants, &t).await?;
    }
    let users: Api<User> = Api::all(client.clone());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    for u in USERS {
        let secret_name = format!("wharf-user-{}", u.name);
        if secrets.get_opt(&secret_name).await?.is_none() {
            let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!(e.to_string()))?;
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(secret_name.clone()),
                    namespace: Some(SYSTEM_NAMESPACE.into()),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    "passwordHash".to_string(),
                    ByteString(hash.into_bytes()),
                )])),
                ..Default::default()
            };
            create_missing(&secrets, &secret).await?;
        }
        let user = User::new(
            u.name,
            UserSpec {
                display_name: u.name.to_string(),
                platform_admin: u.admin,
                memberships: u
                    .memberships
                    .iter()
                    .map(|(t, r)| Membership {
                        tenant: t.to_string(),
                        role: *r,
                    })
                    .collect(),
                password_secret: secret_name,
                ..Default::default()
            },
        );
        create_missing(&users, &user).await?;
    }
    Ok(())
}

/// A few running apps, one of them leaking threads (what operators hunt on the dashboards).
pub async fn apps(client: &Client) -> Result<()> {
    // (namespace, name, image, replicas, port, leaking count, calls it makes: see
    // `simnode::traces`: shop-web → orders → its database (slow) and beta's billing)
    let apps = [
        (
            "alpha",
            "shop-web",
            "nginx:1.25",
            2,
            80,
            None,
            Some("orders"),
        ),
        (
            "alpha",
            "orders",
            "registry.local/alpha/orders:1.4.2",
            1,
            8080,
            Some("threads"),
            Some("db:orders-db@900ms,beta/billing"),
        ),
        (
            "beta",
            "billing",
            "registry.local/beta/billing:2.0.1",
            2,
            8080,
            None,
            None,
        ),
    ];
    for (ns, name, image, replicas, port, leak, calls) in apps {
        let form = DeployForm {
            namespace: ns.into(),
            name: name.into(),
            image: image.into(),
            replicas,
            port: Some(port),
            ..DeployForm::default()
        };
        let mut d: Deployment = deployment_of(&form, crds::PodSecurity::Baseline)
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        let annotations: BTreeMap<String, String> = [
            leak.map(|l| ("sim.wharf.dev/leak".to_string(), l.to_string())),
            calls.map(|c| ("sim.wharf.dev/calls".to_string(), c.to_string())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let (false, Some(spec)) = (annotations.is_empty(), d.spec.as_mut()) {
            spec.template
                .metadata
                .get_or_insert_with(Default::default)
                .annotations = Some(annotations);
        }
        create_missing(&Api::<Deployment>::namespaced(client.clone(), ns), &d).await?;
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name, "app.kubernetes.io/managed-by": "wharf"}},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": port, "targetPort": port}]}
        }))?;
        create_missing(&Api::<Service>::namespaced(client.clone(), ns), &svc).await?;
    }
    Ok(())
}

/// The demo's nginx cluster `edge` serving both tenants (HTTP on 8081, HTTPS on 8443), and a
/// route per seeded app (the apps listen on 80 and 8080). `shop.alpha.demo` is served over
/// HTTPS too, with a self-signed certificate made when the demo is first seeded (the
/// `kubernetes.io/tls` Secret `alpha/shop-web-tls`). Run after [`apps`]; idempotent like the rest.
pub async fn nginx(client: &Client) -> Result<()> {
    use crds::nginx::{
        NginxCluster, NginxClusterSpec, NginxListen, NginxRoute, NginxRouteSpec, RouteService,
    };
    // The account nodes joined from the console authenticate as (deploy/wharf.yaml on a
    // real cluster).
    let account = k8s_openapi::api::core::v1::ServiceAccount {
        metadata: ObjectMeta {
            name: Some(wharf_console::nginx::join::AGENT_ACCOUNT.into()),
            namespace: Some(SYSTEM_NAMESPACE.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    create_missing(&Api::namespaced(client.clone(), SYSTEM_NAMESPACE), &account).await?;
    let cluster = NginxCluster::new(
        crate::nginx::demo::CLUSTER,
        NginxClusterSpec {
            display_name: "Edge (shared)".into(),
            tenants: vec!["alpha".into(), "beta".into()],
            namespaces: vec![],
            listen: NginxListen {
                http: 8081,
                https: Some(8443),
            },
            defaults: Default::default(),
            ..Default::default()
        },
    );
    create_missing(&Api::<NginxCluster>::all(client.clone()), &cluster).await?;
    let (tls_ns, tls_secret, tls_host) = TLS_ROUTE;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), tls_ns);
    if secrets.get_opt(tls_secret).await?.is_none() {
        let (cert, key) = ngx::tls::self_signed(&[tls_host.to_string()])
            .context("making the demo's self-signed certificate")?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(tls_secret.into()),
                namespace: Some(tls_ns.into()),
                ..Default::default()
            },
            type_: Some("kubernetes.io/tls".into()),
            data: Some(BTreeMap::from([
                ("tls.crt".to_string(), ByteString(cert.into_bytes())),
                ("tls.key".to_string(), ByteString(key.0.into_bytes())),
            ])),
            ..Default::default()
        };
        create_missing(&secrets, &secret).await?;
    }
    let routes = [
        ("alpha", "shop-web", "shop.alpha.demo", 80),
        ("alpha", "orders", "orders.alpha.demo", 8080),
        ("beta", "billing", "billing.beta.demo", 8080),
    ];
    for (ns, name, host, port) in routes {
        let mut r = NginxRoute::new(
            name,
            NginxRouteSpec {
                cluster: crate::nginx::demo::CLUSTER.into(),
                host: host.into(),
                path: "/".into(),
                service: Some(RouteService {
                    name: name.into(),
                    port,
                }),
                upstream: None,
                directives: vec![],
                tls_secret: (host == tls_host).then(|| tls_secret.to_string()),
            },
        );
        r.metadata.namespace = Some(ns.into());
        create_missing(&Api::<NginxRoute>::namespaced(client.clone(), ns), &r).await?;
    }
    Ok(())
}

/// The demo's TLS route: namespace, `kubernetes.io/tls` Secret, host.
pub const TLS_ROUTE: (&str, &str, &str) = ("alpha", "shop-web-tls", "shop.alpha.demo");

/// The files of the demo's git repository for `orders`: a build script that "compiles" and
/// writes a jar, so the seeded pipeline really clones and builds something.
const ORDERS_REPO: &[(&str, &str)] = &[
    ("build.sh", "set -e\necho \"[INFO] Building orders 1.5.0\"\nmkdir -p target\nfor f in src/*.java; do echo \"[INFO] Compiling $f\"; done\nprintf 'orders 1.5.0\\n' > target/orders.jar\necho \"[INFO] BUILD SUCCESS\"\n"),
    ("src/OrderService.java", "public class OrderService {\n    // TODO: page the order list\n    public static void main(String[] args) { System.out.println(\"orders\"); }\n}\n"),
    ("README.md", "# orders\n\nThe demo's order service. Build: `sh build.sh`.\n"),
];

/// A local git repository for `orders` under `<shared>/git/orders` (`shared`: the demo
/// node's folder its sandboxed containers may read, `sim::Sim::shared_dir`) and the pipeline
/// `alpha/orders-ci` that builds it (clone → build → quality → debug tools → image → deploy
/// on the button). Idempotent; without git on the host the demo runs without it.
pub async fn pipelines(client: &Client, shared: &std::path::Path) -> Result<()> {
    use crds::pipeline::{PipelineSpec, Stage, StageKind};
    let repo = std::path::absolute(shared.join("git").join("orders"))?;
    if !repo.join(".git").exists() {
        std::fs::create_dir_all(repo.join("src"))?;
        for (path, content) in ORDERS_REPO {
            std::fs::write(repo.join(path), content)?;
        }
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args([
                    "-c",
                    "user.name=Wharf demo",
                    "-c",
                    "user.email=demo@wharf.local",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(&repo)
                .output()
                .map_err(anyhow::Error::from)
                .and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        anyhow::bail!("git {args:?}: {}", String::from_utf8_lossy(&o.stderr))
                    }
                })
        };
        if let Err(e) = git(&["init", "-q"])
            .and_then(|_| git(&["add", "-A"]))
            .and_then(|_| git(&["commit", "-q", "-m", "orders 1.5.0"]))
        {
            tracing::warn!(error = %e, "no demo git repository, so no demo pipeline");
            return Ok(());
        }
    }
    let stage = |kind, name: &str| Stage::new(kind, name);
    let mut clone = stage(StageKind::Source, "clone");
    clone.source.as_mut().expect("source").git_url = format!("file://{}", repo.display());
    let mut build = stage(StageKind::Build, "build");
    build.build.as_mut().expect("build").command = "sh build.sh".into();
    let mut quality = stage(StageKind::Quality, "quality");
    if let Some(q) = quality.quality.as_mut() {
        q.server_url = "http://sonar.demo.local:9000".into();
        q.block_on_fail = true;
    }
    let mut image = stage(StageKind::Image, "image");
    if let Some(i) = image.image.as_mut() {
        i.registry = "demo".into();
        i.repository = "alpha/orders".into();
        i.dockerfile = "FROM eclipse-temurin:17-jre\nWORKDIR /app\nCOPY target/orders.jar app.jar\nEXPOSE 8080\nCMD [\"java\", \"-jar\", \"/app/app.jar\"]\n".into();
    }
    let spec = PipelineSpec {
        app: "orders".into(),
        stages: vec![
            clone,
            build,
            quality,
            stage(StageKind::Tools, "tools"),
            image,
            stage(StageKind::Deploy, "deploy"),
        ],
    };
    match wharf_console::pipelines::create_pipeline(client, "alpha", "orders-ci", spec).await {
        Ok(()) | Err(wharf_api::error::AppError::Conflict(_)) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("seeding the demo pipeline: {e}")),
    }
}
