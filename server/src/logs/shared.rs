//! The console with a log bucket: it collects nothing itself (the node agents do), reads
//! every store in the bucket as one [`logstore::Federation`], and ships its own store (its
//! audit records) into the bucket as `console-<pod>`, so every replica shows the same logs
//! and the same audit trail, and a replica that restarts loses nothing but its last
//! couple of seconds of audit records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logship::{BlockCache, Bucket, BucketDirectory, Shipper};
use logstore::{Federation, Store};

/// How the console takes part in the log bucket.
#[derive(Clone, Debug)]
pub struct SharedLogs {
    pub bucket: Bucket,
    /// This console's store in the bucket: `console-<pod name>`.
    pub name: String,
    /// Bytes of segment blocks kept in memory across queries.
    pub cache_bytes: usize,
    /// Stores not shipped for this long are deleted from the bucket ([`spawn_janitor`]);
    /// zero: never.
    pub stale: Duration,
}

impl SharedLogs {
    /// This console's name in the bucket, from the pod's name (`POD_NAME` from the Downward
    /// API, else `HOSTNAME`, which Kubernetes sets to the pod's name).
    pub fn console_name() -> String {
        let pod = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "local".into())
            .to_ascii_lowercase();
        format!("console-{pod}")
    }
}

/// How often new stores are looked for and changed ones refreshed.
const EVERY: Duration = Duration::from_secs(1);
/// How often the console's own store is shipped.
const SHIP_EVERY: Duration = Duration::from_secs(2);

/// Keeps `reader` in step with the bucket and ships `own` (kept in `own_dir`) into it:
/// [`Following::start`] takes a first look (so a console that starts serving shows every
/// store the bucket holds), [`Following::run`] goes on until aborted.
pub struct Following(Arc<Mutex<Follower>>);

impl Following {
    pub async fn start(
        reader: Federation,
        own: Store,
        own_dir: std::path::PathBuf,
        shared: SharedLogs,
    ) -> Following {
        let shipper = Shipper::new(&shared.bucket, &shared.name, &own_dir)
            .inspect_err(
                |e| tracing::error!(error = %e, "this console's audit records stay on its own disk"),
            )
            .ok();
        let following = Following(Arc::new(Mutex::new(Follower {
            cache: BlockCache::new(shared.cache_bytes),
            bucket: shared.bucket,
            reader,
            own,
            shipper,
            seen: HashMap::new(),
            shipped_at: None,
        })));
        following.step().await;
        following
    }

    async fn step(&self) {
        let state = self.0.clone();
        let step = tokio::task::spawn_blocking(move || {
            state.lock().unwrap_or_else(|e| e.into_inner()).step()
        });
        if let Err(e) = step.await {
            tracing::error!(error = %e, "following the log bucket");
        }
    }

    pub async fn run(self) {
        loop {
            tokio::time::sleep(EVERY).await;
            self.step().await;
        }
    }
}

struct Follower {
    bucket: Bucket,
    reader: Federation,
    cache: BlockCache,
    own: Store,
    shipper: Option<Shipper>,
    /// Per store in the bucket, its `shipped.json` tag when last refreshed.
    seen: HashMap<String, Option<String>>,
    shipped_at: Option<Instant>,
}

impl Follower {
    fn step(&mut self) {
        if let Some(shipper) = self.shipper.as_mut() {
            if self.shipped_at.is_none_or(|t| t.elapsed() >= SHIP_EVERY) {
                self.shipped_at = Some(Instant::now());
                let shipped = self.own.flush().map_err(logship::Error::from);
                if let Err(e) = shipped.and_then(|()| shipper.pass()) {
                    tracing::warn!(error = %e, "shipping this console's records");
                }
            }
        }
        follow(&self.bucket, &self.reader, &self.cache, &mut self.seen);
    }
}

/// One look at the bucket: stores new to this console join the federation; a store whose
/// `shipped.json` changed since the last look is refreshed.
fn follow(
    bucket: &Bucket,
    reader: &Federation,
    cache: &BlockCache,
    seen: &mut HashMap<String, Option<String>>,
) {
    let names = match bucket.store_names() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "listing the log bucket");
            return;
        }
    };
    for gone in reader.names().into_iter().filter(|n| !names.contains(n)) {
        reader.remove(&gone);
        seen.remove(&gone);
        tracing::info!(store = %gone, "log store left the bucket");
    }
    for name in names {
        let dir = BucketDirectory::new(bucket, &name, cache.clone());
        let tag = match dir.shipped_tag() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(store = %name, error = %e, "reading the log bucket");
                continue;
            }
        };
        match (reader.member(&name), seen.get(&name)) {
            (Some(_), _) if tag.is_none() => {
                // deleted from the bucket (its node gone for good)
                reader.remove(&name);
                seen.remove(&name);
                tracing::info!(store = %name, "log store left the bucket");
            }
            (Some(_), Some(known)) if *known == tag => {}
            (Some(store), _) => match store.refresh() {
                Ok(_) => {
                    seen.insert(name, tag);
                }
                Err(e) => {
                    tracing::warn!(store = %name, error = %e, "refreshing from the log bucket")
                }
            },
            (None, _) => {
                match Store::open_read_only(Arc::new(dir), crate::logs::agent::store_config()) {
                    Ok(store) => match reader.insert(&name, store) {
                        Ok(()) => {
                            tracing::info!(store = %name, "log store joined from the bucket");
                            seen.insert(name, tag);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "a store in the log bucket cannot be shown")
                        }
                    },
                    // NB: a store whose first pass is not finished has no manifest yet
                    Err(e) => tracing::debug!(store = %name, error = %e, "not readable yet"),
                }
            }
        }
    }
}

/// Deletes from the bucket the stores whose writer has not marked them for `stale` (a node,
/// or a console pod, gone for good: a live shipper marks its store at least hourly), never
/// this console's own. Runs on one replica, the one leading (the pipelines' Lease): when it
/// starts to lead, then every `every` while it does.
pub fn spawn_janitor(
    bucket: Bucket,
    own: String,
    stale: Duration,
    every: Duration,
    leadership: wharf_console::leader::Leadership,
) -> tokio::task::JoinHandle<()> {
    wharf_console::leader::every_while_leading(leadership, every, move || {
        let (b, own) = (bucket.clone(), own.clone());
        async move {
            let swept = tokio::task::spawn_blocking(move || sweep_stale(&b, &own, stale));
            match swept.await {
                Ok(Ok(deleted)) => {
                    for (name, objects) in deleted {
                        tracing::info!(store = %name, objects, "a stale log store deleted from the bucket");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "sweeping the log bucket's stale stores"),
                Err(e) => tracing::error!(error = %e, "sweeping the log bucket's stale stores"),
            }
        }
    })
}

/// One sweep: the stale stores deleted, with how many objects each had.
fn sweep_stale(
    bucket: &Bucket,
    own: &str,
    stale: Duration,
) -> logship::Result<Vec<(String, usize)>> {
    let mut marks = Vec::new();
    for name in bucket.store_names()? {
        marks.push((name.clone(), bucket.store_shipped_at(&name)?));
    }
    let mut deleted = Vec::new();
    for name in stale_stores(&marks, own, chrono::Utc::now(), stale) {
        let objects = bucket.delete_store(&name)?;
        deleted.push((name, objects));
    }
    Ok(deleted)
}

/// Of the stores and when each was last marked, those to delete: marked more than `stale`
/// before `now` (a store never marked is on its first pass, or already emptied: kept), never
/// `own`; none when `stale` is zero.
pub fn stale_stores(
    marks: &[(String, Option<chrono::DateTime<chrono::Utc>>)],
    own: &str,
    now: chrono::DateTime<chrono::Utc>,
    stale: Duration,
) -> Vec<String> {
    if stale.is_zero() {
        return Vec::new();
    }
    let stale = chrono::Duration::from_std(stale).unwrap_or(chrono::Duration::MAX);
    marks
        .iter()
        .filter(|(name, at)| name != own && at.is_some_and(|at| now - at > stale))
        .map(|(name, _)| name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn only_stores_marked_longer_ago_than_the_limit_go_and_never_ones_own() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let days = |d: i64| Some(now - chrono::Duration::days(d));
        let marks = [
            ("node-live".to_string(), days(0)),
            ("node-quiet".to_string(), days(13)),
            ("node-gone".to_string(), days(15)),
            ("console-me".to_string(), days(30)),
            ("node-new".to_string(), None),
        ];
        let fortnight = Duration::from_secs(14 * 86_400);
        assert_eq!(
            stale_stores(&marks, "console-me", now, fortnight),
            ["node-gone"]
        );
        assert_eq!(
            stale_stores(&marks, "console-me", now, Duration::ZERO),
            Vec::<String>::new(),
            "0: never"
        );
        assert_eq!(
            stale_stores(&marks, "console-other", now, fortnight),
            ["node-gone", "console-me"]
        );
    }
}
