//! Leader election over a Lease (`wharf_console::leader`), as several console replicas run it
//! against one cluster: exactly one leads; when it dies another takes over once the Lease
//! is stale; when it stops cleanly and releases, another takes over without waiting.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use std::time::Duration;
use wharf_console::leader::{self, Leadership, LeaseTiming};
use wharf_tests::real::Clients;
use wharf_tests::{eventually, on_both_clusters};

on_both_clusters!(
    clients:
    one_replica_leads_and_another_takes_over_when_it_dies,
    a_released_lease_is_taken_at_once_not_after_it_expires,
    leases_look_like_a_real_api_servers_to_kubectl_and_kube_rs,
);

/// Where `deploy/wharf.yaml` lets the console keep its Leases.
const NS: &str = crds::SYSTEM_NAMESPACE;

/// The identities of the replicas that believe they lead.
fn leaders(replicas: &[(Leadership, tokio::task::JoinHandle<()>)]) -> Vec<String> {
    replicas
        .iter()
        .filter(|(l, _)| l.is_leader())
        .map(|(l, _)| l.identity().to_string())
        .collect()
}

async fn holder(api: &Api<Lease>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()?
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// Waits until exactly one replica leads and the Lease names it; returns its index.
async fn one_leader(
    api: &Api<Lease>,
    name: &str,
    replicas: &[(Leadership, tokio::task::JoinHandle<()>)],
) -> usize {
    eventually(
        Duration::from_secs(30),
        "exactly one leader, named in the Lease",
        || async {
            let leading = leaders(replicas);
            let [one] = leading.as_slice() else {
                return None;
            };
            (holder(api, name).await.as_deref() == Some(one.as_str())).then(|| {
                replicas
                    .iter()
                    .position(|(l, _)| l.identity() == one)
                    .expect("a replica")
            })
        },
    )
    .await
    .expect("one leader")
}

async fn one_replica_leads_and_another_takes_over_when_it_dies(clients: Clients) {
    let client = clients.console.clone();
    let timing = LeaseTiming {
        lease_duration: Duration::from_secs(2),
        renew_every: Duration::from_millis(200),
    };
    let mut replicas: Vec<_> = (0..3)
        .map(|i| {
            leader::spawn(
                client.clone(),
                NS,
                "pipelines-test",
                format!("replica-{i}"),
                timing.clone(),
            )
        })
        .collect();
    let api: Api<Lease> = Api::namespaced(client.clone(), NS);
    let first = one_leader(&api, "pipelines-test", &replicas).await;
    let lease = api.get("pipelines-test").await.unwrap();
    assert_eq!(
        lease.spec.as_ref().and_then(|s| s.lease_duration_seconds),
        Some(2)
    );
    let transitions = lease.spec.and_then(|s| s.lease_transitions).unwrap_or(0);

    // The leader dies without a word (no release): the others wait out the Lease, and one of
    // them takes it.
    let (dead, task) = replicas.remove(first);
    task.abort();
    let _ = task.await;
    assert!(!dead.is_leader(), "a stopped election does not lead");
    assert!(
        !dead.clone().acquired().await,
        "nor will it: what follows it stops instead of waiting"
    );
    let second = one_leader(&api, "pipelines-test", &replicas).await;
    assert_ne!(replicas[second].0.identity(), dead.identity());
    let after = api
        .get("pipelines-test")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.lease_transitions)
        .unwrap_or(0);
    assert_eq!(after, transitions + 1, "a take-over counts as a transition");

    // Leadership is stable while the leader lives: every look at the cluster finds the same
    // single leader (checked on the Lease's own changes, not on time).
    let leader_id = replicas[second].0.identity().to_string();
    let mut seen = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < 5 {
            let lease = api.get("pipelines-test").await.expect("the Lease");
            assert_eq!(
                leaders(&replicas),
                vec![leader_id.clone()],
                "one leader at a time"
            );
            assert_eq!(
                lease.spec.and_then(|s| s.holder_identity).as_ref(),
                Some(&leader_id)
            );
            seen.insert(lease.metadata.resource_version);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("five renewals by the same leader within 30 s");
    for (_, task) in replicas {
        task.abort();
    }
}

async fn a_released_lease_is_taken_at_once_not_after_it_expires(clients: Clients) {
    let client = clients.console.clone();
    // An hour: only a release can explain a take-over within the test.
    let timing = LeaseTiming {
        lease_duration: Duration::from_secs(3600),
        renew_every: Duration::from_millis(200),
    };
    let api: Api<Lease> = Api::namespaced(client.clone(), NS);
    let (mut a, a_task) = leader::spawn(
        client.clone(),
        NS,
        "released",
        "replica-a".into(),
        timing.clone(),
    );
    assert!(tokio::time::timeout(Duration::from_secs(30), a.acquired())
        .await
        .expect("the only replica leads"));
    let (mut b, b_task) = leader::spawn(client.clone(), NS, "released", "replica-b".into(), timing);
    // b has looked at the Lease at least once and found it held (the Lease records a).
    eventually(
        Duration::from_secs(30),
        "a renewal seen while b runs",
        || async {
            (holder(&api, "released").await.as_deref() == Some("replica-a") && !b.is_leader())
                .then_some(())
        },
    )
    .await
    .unwrap();

    // a's election keeps running (as when the console is still stopping): released, it
    // does not take the Lease back.
    assert!(
        a.release().await.unwrap(),
        "a held the Lease and released it"
    );
    assert!(tokio::time::timeout(Duration::from_secs(30), b.acquired())
        .await
        .expect("b takes the released Lease"));
    tokio::time::timeout(Duration::from_secs(30), a.lost())
        .await
        .expect("a steps down");
    assert_eq!(holder(&api, "released").await.as_deref(), Some("replica-b"));
    assert!(
        !a.release().await.unwrap(),
        "a no longer holds it: nothing to release"
    );
    assert_eq!(holder(&api, "released").await.as_deref(), Some("replica-b"));
    a_task.abort();
    b_task.abort();
}

async fn leases_look_like_a_real_api_servers_to_kubectl_and_kube_rs(clients: Clients) {
    let client = clients.console.clone();
    let (mut l, task) = leader::spawn(
        client.clone(),
        NS,
        "shown",
        "replica-x".into(),
        LeaseTiming::default(),
    );
    assert!(tokio::time::timeout(Duration::from_secs(30), l.acquired())
        .await
        .expect("leads"));
    let api: Api<Lease> = Api::namespaced(client.clone(), NS);
    let lease = api.get("shown").await.unwrap();
    let spec = lease.spec.expect("a spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("replica-x"));
    assert!(spec.renew_time.is_some() && spec.acquire_time.is_some());
    // discovery lists the group, as `kubectl get leases` needs
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "coordination.k8s.io"),
        "coordination.k8s.io in /apis"
    );
    task.abort();
}
