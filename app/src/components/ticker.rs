//! Auto-refresh: a counter that goes up every period while the component that made it lives.
//! Resources that read it are asked again; a refresh button bumps it too.

use leptos::prelude::*;
use std::time::Duration;

/// Ticks every `period` while `running` is on (`None`: always), until the component goes.
pub fn ticker(period: Duration, running: Option<RwSignal<bool>>) -> RwSignal<u64> {
    let tick = RwSignal::new(0u64);
    let handle = set_interval_with_handle(
        move || {
            if running.is_none_or(|r| r.get_untracked()) {
                tick.update(|n| *n += 1)
            }
        },
        period,
    )
    .ok();
    on_cleanup(move || {
        if let Some(h) = handle {
            h.clear();
        }
    });
    tick
}
