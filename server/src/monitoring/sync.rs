//! The console's background work for alerts, started with the console (see
//! `console::prepare_with_logs`) and supervised like the watchers:
//!
//! * **history** — a watcher on the console's alert Events (`wharf.dev/alert`), with the
//!   default back-off, feeding the alert book (see `wharf_console::monitoring::alerts`);
//! * **sync** — at start and every `sync_every`: re-read the firing alerts from
//!   Alertmanager (`/api/v2/alerts`), recording episodes that ended unseen, and converge
//!   Alertmanager's configuration on the tenants' receivers as the cache has them (a tenant
//!   edited with kubectl, namespaces moved, an Alertmanager that was down at the last change).
//!
//! NB: a tick, not a `Controller`: what converges is one file rendered from every tenant,
//! and rendering and comparing it is cheaper than tracking which tenant changed.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Event;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use wharf_console::monitoring::alerts::{self, ALERT_LABEL};
use wharf_console::state::AppState;

/// The tasks to supervise (none when neither Alertmanager nor the webhook is configured).
pub fn spawn(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let s = &state.settings.monitoring;
    if s.alertmanager_url.is_none() && s.webhook_token.is_none() {
        return Vec::new();
    }
    vec![
        tokio::spawn(history(state.clone())),
        tokio::spawn(sync(state.clone())),
    ]
}

/// Watches the alert Events into the alert book; runs until dropped.
async fn history(state: AppState) {
    let api: Api<Event> = Api::all(state.client.clone());
    let book = state.monitoring.alerts.clone();
    let mut listing: Vec<Event> = Vec::new();
    let mut events = watcher(api, watcher::Config::default().labels(ALERT_LABEL))
        .default_backoff()
        .boxed();
    while let Some(e) = events.next().await {
        match e {
            Ok(watcher::Event::Init) => listing.clear(),
            Ok(watcher::Event::InitApply(ev)) => listing.push(ev),
            Ok(watcher::Event::InitDone) => book.replace_history(&std::mem::take(&mut listing)),
            Ok(watcher::Event::Apply(ev)) => book.seen(&ev),
            Ok(watcher::Event::Delete(ev)) => book.forget(&ev),
            Err(err) => {
                tracing::warn!(error = %err, "watching alert Events (retrying with back-off)")
            }
        }
    }
}

/// The periodic re-sync; runs until dropped. Repeated failures are logged once per change
/// of reason (an Alertmanager that is down says so once, not every tick), and only as a
/// note while the console is starting (the demo starts Alertmanager after the console).
async fn sync(state: AppState) {
    let every = state
        .settings
        .monitoring
        .sync_every
        .max(std::time::Duration::from_millis(200));
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut alerts_err, mut config_err) = (None::<String>, None::<String>);
    loop {
        tick.tick().await;
        let starting = started.elapsed() < STARTING;
        match alerts::resync(&state).await {
            Ok(n) => {
                if alerts_err.take().is_some() {
                    tracing::info!(firing = n, "firing alerts re-read from Alertmanager");
                }
            }
            Err(e) => report(
                &mut alerts_err,
                starting,
                "re-reading firing alerts from Alertmanager",
                e.to_string(),
            ),
        }
        match wharf_console::monitoring::converge_alertmanager(&state).await {
            Ok(changed) => {
                if changed {
                    tracing::info!("Alertmanager's configuration follows the tenants' receivers");
                }
                config_err = None;
            }
            Err(e) => report(
                &mut config_err,
                starting,
                "bringing Alertmanager's configuration in step with the tenants",
                e.to_string(),
            ),
        }
    }
}

/// How long after start a failure is expected (Alertmanager still starting) and only noted.
const STARTING: std::time::Duration = std::time::Duration::from_secs(60);

fn report(last: &mut Option<String>, starting: bool, what: &str, now: String) {
    if last.as_deref() == Some(now.as_str()) {
        return;
    }
    if starting {
        tracing::info!(error = %now, "{what} (retrying)");
    } else {
        tracing::warn!(error = %now, "{what}");
    }
    *last = Some(now);
}
