//! Administration without the console's pages: the first platform admin a console makes on a
//! cluster without users (exactly one, whatever the number of replicas starting), and
//! `wharf admin` managing users and tenants — on the demo cluster and on a real
//! kube-apiserver, with the console's own ServiceAccount.

use clap::Parser;
use crds::{User, SYSTEM_NAMESPACE};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams};
use server::admin::{execute, AdminCommand};
use wharf_console::admin::{bootstrap, AdminError};
use wharf_tests::on_both_clusters;
use wharf_tests::real::Clients;

on_both_clusters!(
    clients:
    a_cluster_without_users_gets_exactly_one_first_admin,
    wharf_admin_manages_users_and_tenants,
);

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: AdminCommand,
}

/// `wharf admin <args>` as the binary runs it.
async fn admin(client: &kube::Client, args: &[&str]) -> Result<String, AdminError> {
    let cli = Cli::try_parse_from(std::iter::once("wharf-admin").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("wharf admin {args:?}: {e}"));
    execute(client, cli.command).await
}

async fn password_hash(client: &kube::Client, user: &str) -> String {
    let secret = Api::<Secret>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .get(&wharf_console::admin::users::password_secret(user))
        .await
        .unwrap();
    String::from_utf8(secret.data.unwrap()["passwordHash"].0.clone()).unwrap()
}

async fn a_cluster_without_users_gets_exactly_one_first_admin(clients: Clients) {
    let users: Api<User> = Api::all(clients.admin.clone());
    users
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    wharf_tests::eventually(
        std::time::Duration::from_secs(30),
        "no users left",
        || async {
            users
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await
    .unwrap();

    // three replicas starting together
    let made =
        futures::future::join_all((0..3).map(|_| bootstrap::first_admin(&clients.console))).await;
    let passwords: Vec<String> = made
        .into_iter()
        .filter_map(|r| r.expect("first_admin"))
        .collect();
    assert_eq!(passwords.len(), 1, "exactly one replica made the admin");
    let password = &passwords[0];

    let all = users.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].metadata.name.as_deref(), Some(bootstrap::ADMIN));
    assert!(all[0].spec.platform_admin);
    let kept = Api::<Secret>::namespaced(clients.admin.clone(), SYSTEM_NAMESPACE)
        .get(bootstrap::SECRET)
        .await
        .unwrap();
    assert_eq!(
        kept.data.unwrap()["password"].0,
        password.as_bytes(),
        "the password is kept in the bootstrap Secret"
    );
    assert!(wharf_console::auth::verify_password(
        password,
        &password_hash(&clients.admin, bootstrap::ADMIN).await
    ));
    // a later start has nothing to do
    assert_eq!(
        bootstrap::first_admin(&clients.console).await.unwrap(),
        None
    );

    // and the console lets the first admin in with it
    let logs = tempfile::tempdir().unwrap();
    let store = logstore::Store::open_path(logs.path(), logstore::Config::default()).unwrap();
    let console = wharf_tests::start_console(
        clients.console.clone(),
        Default::default(),
        store,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let login = |password: String| {
        let url = format!("http://{}/api/login", console.addr);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({"username": "admin", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(login(password.clone()).await, 200);
    assert_eq!(login("not-the-password".into()).await, 401);
}

async fn wharf_admin_manages_users_and_tenants(clients: Clients) {
    let client = &clients.console;
    let out = admin(
        client,
        &["user", "create", "carol", "--password", "carol-first-pass"],
    )
    .await
    .unwrap();
    assert_eq!(out, "created user carol\n");
    let hash = password_hash(client, "carol").await;
    assert!(wharf_console::auth::verify_password(
        "carol-first-pass",
        &hash
    ));

    // refusals say why and change nothing
    for (args, want) in [
        (
            &["user", "create", "carol", "--password", "another-pass"][..],
            "user 'carol' already exists",
        ),
        (
            &["user", "create", "dave", "--password", "short"][..],
            "A password needs at least 8 characters",
        ),
        (
            &["user", "create", "Dave", "--password", "long-enough"][..],
            "user 'Dave' must be 1 to 63 lower-case letters",
        ),
        (
            &["user", "passwd", "nobody", "--password", "long-enough"][..],
            "user 'nobody' does not exist",
        ),
        (
            &["tenant", "create", "delta", "--namespace", "alpha"][..],
            "namespace 'alpha' already belongs to tenant 'alpha'",
        ),
        (
            &["tenant", "create", "delta", "--namespace", "kube-system"][..],
            "namespace 'kube-system' belongs to the cluster or to Wharf",
        ),
        (
            &["tenant", "create", "alpha", "--namespace", "alpha-new"][..],
            "tenant 'alpha' already exists",
        ),
    ] {
        let err = admin(client, args).await.unwrap_err();
        assert!(err.to_string().contains(want), "{args:?}: {err}");
    }
    assert!(wharf_console::auth::verify_password(
        "carol-first-pass",
        &password_hash(client, "carol").await
    ));

    admin(
        client,
        &["user", "passwd", "carol", "--password", "carol-second-pass"],
    )
    .await
    .unwrap();
    let hash = password_hash(client, "carol").await;
    assert!(wharf_console::auth::verify_password(
        "carol-second-pass",
        &hash
    ));
    assert!(!wharf_console::auth::verify_password(
        "carol-first-pass",
        &hash
    ));

    admin(client, &["user", "disable", "carol"]).await.unwrap();
    let list = admin(client, &["user", "list"]).await.unwrap();
    assert!(list.contains("carol\tfalse\ttrue\t"), "{list}");
    admin(client, &["user", "enable", "carol"]).await.unwrap();
    let list = admin(client, &["user", "list"]).await.unwrap();
    assert!(list.contains("carol\tfalse\tfalse\t"), "{list}");
    assert!(
        list.contains("alice\tfalse\tfalse\talpha:developer"),
        "{list}"
    );

    let out = admin(
        client,
        &[
            "tenant",
            "create",
            "gamma",
            "--namespace",
            "gamma",
            "--namespace",
            "gamma-dev",
            "--display-name",
            "Gamma",
        ],
    )
    .await
    .unwrap();
    assert_eq!(out, "created tenant gamma (gamma, gamma-dev)\n");
    let namespaces: Api<Namespace> = Api::all(clients.admin.clone());
    for ns in ["gamma", "gamma-dev"] {
        let n = namespaces.get(ns).await.unwrap();
        assert_eq!(n.metadata.labels.unwrap()["wharf.dev/tenant"], "gamma");
    }
    let list = admin(client, &["tenant", "list"]).await.unwrap();
    assert!(list.contains("gamma\tGamma\tgamma,gamma-dev\n"), "{list}");
}
