//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! does it, for the console's work that must run once per cluster however many console
//! replicas there are (the pipeline controller: two controllers would both create Jobs and
//! write runs' status).
//!
//! Every replica runs [`spawn`]. The one whose identity is in the Lease leads while it renews
//! the Lease every `renew_every`; the others look as often and take the Lease over once it
//! has not changed for `lease_duration` *as measured on their own clock* (so clocks that
//! disagree between machines do not matter — the renew time written in the Lease is for
//! people, not compared). Every write goes through the Lease's `resourceVersion`, so of two
//! replicas that try at once exactly one wins (the other gets 409 Conflict). A leader that
//! cannot renew for `lease_duration` steps down by itself; one that stops cleanly releases
//! the Lease ([`Leadership::release`]) so another takes over at once.
//!
//! What follows the leadership watches [`Leadership`]: `acquired().await`, do the work,
//! stop when `lost()` resolves.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long a Lease lasts and how often it is renewed or looked at.
#[derive(Clone, Debug)]
pub struct LeaseTiming {
    /// A Lease unchanged for this long is free to take (client-go's default: 15 s).
    pub lease_duration: Duration,
    /// How often the leader renews and the others look (client-go's retry period: 2 s).
    pub renew_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(2),
        }
    }
}

/// A replica's view of who leads: cheap to clone.
#[derive(Clone, Debug)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    api: Api<Lease>,
    name: String,
    identity: String,
    /// Set by [`Leadership::release`]: the election takes the Lease no more.
    resigned: Arc<AtomicBool>,
}

impl Leadership {
    /// This replica's identity, as written into the Lease.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this replica leads now.
    pub fn is_leader(&self) -> bool {
        // NB: a stopped election task leaves its last value behind; it leads no more.
        *self.leading.borrow() && self.leading.has_changed().is_ok()
    }

    /// Resolves once this replica leads (at once if it does): `true`; `false` once the
    /// election task stopped (it will never lead again, whatever it last said).
    pub async fn acquired(&mut self) -> bool {
        self.leading.wait_for(|l| *l).await.is_ok() && self.leading.has_changed().is_ok()
    }

    /// Resolves once this replica no longer leads (at once if it does not). Also resolves if
    /// the election task stopped.
    pub async fn lost(&mut self) {
        let _ = self.leading.wait_for(|l| !*l).await;
    }

    /// Gives the Lease up if this replica holds it (on a clean stop), so another replica
    /// takes over without waiting for it to expire; this replica's election stops taking it.
    pub async fn release(&self) -> Result<bool, kube::Error> {
        self.resigned.store(true, Ordering::SeqCst);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            return Ok(false);
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await?;
        Ok(true)
    }
}

/// Runs `job` while this replica leads: once when it takes the Lease, then every `every`,
/// until it loses the Lease (then again once it takes it back); ends with the election. For
/// housekeeping that must run on one replica only (sweeps of shared storage).
pub fn every_while_leading<F, Fut>(
    mut leadership: Leadership,
    every: Duration,
    mut job: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        while leadership.acquired().await {
            let mut lost = leadership.clone();
            let running = async {
                loop {
                    job().await;
                    tokio::time::sleep(every).await;
                }
            };
            tokio::select! {
                () = running => {}
                () = lost.lost() => {}
            }
        }
    })
}

/// Releases the Leases of these elections (the `Application` does it on a clean stop, after
/// the console stopped), so a restarted or another replica takes over at once instead of after
/// `lease_duration`.
pub async fn release_all(running: &[Leadership]) {
    for l in running {
        match l.release().await {
            Ok(true) => tracing::info!(lease = %l.name, identity = %l.identity, "Lease released"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(lease = %l.name, error = %e, "the Lease could not be released; it expires by itself")
            }
        }
    }
}

/// A new identity for this process: the host name and a random suffix (two consoles on one
/// machine, or a restarted one, are different candidates).
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "wharf".to_string()
    } else {
        host
    };
    let suffix: String = (0..6)
        .map(|_| char::from(b'a' + (rand::random::<u8>() % 26)))
        .collect();
    format!("{host}-{suffix}")
}

/// Runs the election for Lease `namespace/name` as `identity` until the task is dropped or
/// aborted (which does not release the Lease: it then expires after `lease_duration`).
pub fn spawn(
    client: kube::Client,
    namespace: &str,
    name: &str,
    identity: String,
    timing: LeaseTiming,
) -> (Leadership, JoinHandle<()>) {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let (tx, rx) = watch::channel(false);
    let resigned = Arc::new(AtomicBool::new(false));
    let leadership = Leadership {
        leading: rx,
        api: api.clone(),
        name: name.to_string(),
        identity: identity.clone(),
        resigned: resigned.clone(),
    };
    let mut elector = Elector {
        api,
        name: name.to_string(),
        identity,
        timing,
        observed: None,
        renewed: None,
        resigned,
    };
    let task = tokio::spawn(async move {
        loop {
            let leading = elector.step().await;
            tx.send_if_modified(|l| {
                let changed = *l != leading;
                if changed {
                    tracing::info!(lease = %elector.name, identity = %elector.identity, leading, "leadership changed");
                }
                *l = leading;
                changed
            });
            // NB: a timer on purpose: renewing a lease is periodic by nature.
            tokio::time::sleep(elector.timing.renew_every).await;
        }
    });
    (leadership, task)
}

struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    /// The Lease's record (holder, renew time) as last seen, and when it was first seen so.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
    /// When this replica last renewed successfully (while it leads).
    renewed: Option<Instant>,
    resigned: Arc<AtomicBool>,
}

impl Elector {
    /// One look at the Lease: create it, renew it, take it over, or leave it. Returns
    /// whether this replica leads afterwards.
    async fn step(&mut self) -> bool {
        if self.resigned.load(Ordering::SeqCst) {
            return false;
        }
        match self.try_step().await {
            Ok(leading) => {
                self.renewed = leading.then(Instant::now);
                leading
            }
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "leader election: the Lease could not be read or written");
                // A leader keeps leading through errors only while its Lease cannot have
                // expired for the others.
                self.renewed
                    .is_some_and(|at| at.elapsed() < self.timing.lease_duration)
            }
        }
    }

    async fn try_step(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let secs = i32::try_from(self.timing.lease_duration.as_secs())
            .unwrap_or(i32::MAX)
            .max(1);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return conflict_is_false(
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .map(|_| true),
            );
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let record = (spec.holder_identity.clone(), spec.renew_time.clone());
        let since = match &self.observed {
            Some((holder, renewed, at)) if (holder, renewed) == (&record.0, &record.1) => *at,
            _ => Instant::now(),
        };
        self.observed = Some((record.0.clone(), record.1.clone(), since));

        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let free = spec.holder_identity.as_deref().is_none_or(str::is_empty);
        let expired = since.elapsed() >= self.timing.lease_duration;
        if !mine && !free && !expired {
            return Ok(false);
        }
        if !mine {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(secs);
        spec.renew_time = Some(now);
        // NB: `lease` carries the resourceVersion just read: if anyone wrote in between, 409.
        let written = conflict_is_false(
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| true),
        )?;
        if written {
            self.observed = None;
        }
        Ok(written)
    }
}

/// A 409 (someone else wrote the Lease first) means "not leading", not an error.
fn conflict_is_false(r: Result<bool, kube::Error>) -> Result<bool, kube::Error> {
    match r {
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        other => other,
    }
}
