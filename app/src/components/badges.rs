//! Small labels: health badges and "3m ago" with the exact time on hover.

use crate::time::{ago, exact};
use crate::workloads::AppHealth;
use chrono::{DateTime, Utc};
use leptos::prelude::*;

#[component]
pub fn Ago(at: Option<DateTime<Utc>>) -> impl IntoView {
    match at {
        Some(t) => {
            view! { <span class="ago" title=exact(t)>{ago(t, Utc::now())}</span> }.into_any()
        }
        None => view! { <span class="ago">"-"</span> }.into_any(),
    }
}

pub fn health_class(h: AppHealth) -> &'static str {
    match h {
        AppHealth::Running => "badge ok",
        AppHealth::Progressing => "badge busy",
        AppHealth::Degraded => "badge bad",
        AppHealth::Stopped => "badge idle",
    }
}

pub fn health_text(h: AppHealth) -> &'static str {
    match h {
        AppHealth::Running => "Running",
        AppHealth::Progressing => "Progressing",
        AppHealth::Degraded => "Degraded",
        AppHealth::Stopped => "Stopped",
    }
}

/// A pod's STATUS, coloured by what it means.
#[component]
pub fn PodStatus(status: String) -> impl IntoView {
    let class = match status.as_str() {
        "Running" | "Succeeded" | "Completed" => "badge ok",
        "Pending" | "ContainerCreating" | "Terminating" => "badge busy",
        s if s.starts_with("Init:") => "badge busy",
        _ => "badge bad",
    };
    view! { <span class=class data-testid="pod-status">{status}</span> }
}
