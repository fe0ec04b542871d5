//! `/t/:tenant/calls`: the tenant's call graph — its services as boxes, calls as arrows left
//! to right, each with request rate, error ratio and p95 latency over the chosen range,
//! refreshed every 10 seconds. Slow calls (p95 ≥ 500 ms) are drawn red and thick, failing ones
//! (≥ 5 % errors) dashed. Another tenant's apps are one grey "outside" box, never named (the
//! server drops the names). A service links to its dashboards (requests, errors and latency
//! beside threads, sockets and FDs) and, when configured, to the trace UI. A table below
//! repeats the edges for reading and for screen readers.

use super::param;
use crate::apm::{layout, tenant_calls, CallGraph, CallStats, NodeKind, GRAPH_RANGES};
use crate::components::banner::ErrorBanner;
use crate::i18n::{t, I18n, Lang};
use crate::pages::monitoring::REFRESH_MS;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

const BOX_W: f64 = 190.0;
const BOX_H: f64 = 64.0;
const COL_W: f64 = 400.0;
const ROW_H: f64 = 100.0;
const MARGIN: f64 = 20.0;

fn rate(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}/s")
    } else {
        format!("{r:.1}/s")
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1} %", ratio * 100.0)
}

fn ms(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 1000.0 => format!("{:.2} s", p / 1000.0),
        Some(p) => format!("{p:.0} ms"),
        None => "–".into(),
    }
}

/// `rate · errors · p95`, the line under a box and on an arrow.
fn summary(s: &CallStats) -> String {
    format!(
        "{} · {} · p95 {}",
        rate(s.rate),
        percent(s.error_ratio),
        ms(s.p95_ms)
    )
}

#[component]
pub fn CallGraphPage() -> impl IntoView {
    let tenant = param("tenant");
    let minutes = RwSignal::new(5u32);
    let auto = RwSignal::new(true);
    let tick =
        crate::components::ticker::ticker(std::time::Duration::from_millis(REFRESH_MS), Some(auto));
    let graph = Resource::new(
        move || (tenant.get(), minutes.get(), tick.get()),
        |(tn, m, _)| tenant_calls(tn, m),
    );
    view! {
        <div class="page call-graph">
            <h1>{t("Call graph", "调用拓扑")}</h1>
            <p class="muted">{t(
                "Calls between the tenant's apps whose APM switch is on (and the apps they call), from the tracing agents' spans. Other tenants' apps are shown only as \"outside\".",
                "来自调用链探针的数据:开启了 APM 开关的应用之间(及其调用的应用)的调用。其他租户的应用只显示为“外部”。",
            )}</p>
            <div class="toolbar">
                <div class="segmented" data-testid="graph-range">
                    {GRAPH_RANGES.iter().map(|(m, label)| {
                        let m = *m;
                        view! { <button class:active=move || minutes.get() == m on:click=move |_| minutes.set(m) data-testid=format!("graph-range-{label}")>{*label}</button> }
                    }).collect_view()}
                </div>
                <label class="inline"><input type="checkbox" data-testid="graph-auto" prop:checked=move || auto.get() on:change=move |ev| auto.set(event_target_checked(&ev))/>
                    {t("Auto-refresh", "自动刷新")}</label>
                <button on:click=move |_| tick.update(|n| *n += 1) data-testid="graph-refresh">{t("Refresh", "刷新")}</button>
            </div>
            // NB: Transition keeps the last graph on screen while the next one loads
            <Transition fallback=|| view! { <p class="loading">"…"</p> }>
                {move || graph.get().map(|r| match r {
                    Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="graph-error"/> }.into_any(),
                    Ok(g) => view! { <Graph tenant graph=g/> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

#[component]
fn Graph(tenant: Memo<String>, graph: CallGraph) -> impl IntoView {
    let lang = expect_context::<I18n>().0;
    let outside_label = move || {
        if lang.get() == Lang::Zh {
            "外部"
        } else {
            "outside"
        }
    };
    let places = layout(&graph.nodes, &graph.edges);
    let at = |i: usize| {
        let p = places[i];
        (
            MARGIN + p.column as f64 * COL_W,
            MARGIN + p.row as f64 * ROW_H,
        )
    };
    let pos = |id: &str| graph.nodes.iter().position(|n| n.id == id).map(at);
    let width = places
        .iter()
        .map(|p| p.column)
        .max()
        .map_or(0.0, |c| c as f64 * COL_W)
        + BOX_W
        + 2.0 * MARGIN;
    let height = places
        .iter()
        .map(|p| p.row)
        .max()
        .map_or(0.0, |r| r as f64 * ROW_H)
        + BOX_H
        + 2.0 * MARGIN;
    let name_of = move |id: &str, g: &CallGraph| -> String {
        match g.nodes.iter().find(|n| n.id == id) {
            Some(n) if n.kind == NodeKind::Outside => outside_label().to_string(),
            Some(n) => n.name.clone(),
            None => id.to_string(),
        }
    };
    let edges = graph
        .edges
        .iter()
        .filter_map(|e| {
            let (fx, fy) = pos(&e.from)?;
            let (tx, ty) = pos(&e.to)?;
            let (x1, y1) = (fx + BOX_W, fy + BOX_H / 2.0);
            let (x2, y2) = (tx, ty + BOX_H / 2.0);
            // a call back to an earlier column loops under the boxes
            let d = if x2 > x1 {
                let mid = (x1 + x2) / 2.0;
                format!("M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
            } else {
                let low = y1.max(y2) + BOX_H;
                format!("M{x1},{y1} C{},{low} {},{low} {x2},{y2}", x1 + 60.0, x2 - 60.0)
            };
            let (lx, ly) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 - 6.0);
            let slow = e.stats.slow();
            let failing = e.stats.failing();
            let class = format!(
                "edge{}{}",
                if slow { " slow" } else { "" },
                if failing { " failing" } else { "" }
            );
            let text = summary(&e.stats);
            Some(view! {
                <g data-testid="graph-edge" data-from=e.from.clone() data-to=e.to.clone() data-slow=slow.to_string() data-failing=failing.to_string()>
                    <path class=class d=d marker-end="url(#arrow)"/>
                    <text class="edge-label" x=lx y=ly text-anchor="middle">{text}</text>
                </g>
            })
        })
        .collect_view();
    let nodes = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (x, y) = at(i);
            let kind = match n.kind {
                NodeKind::App => "app",
                NodeKind::Database => "database",
                NodeKind::Outside => "outside",
            };
            let slow = n.stats.as_ref().is_some_and(CallStats::slow);
            let class = format!("node {kind}{}", if slow { " slow" } else { "" });
            let title = match n.kind {
                NodeKind::Outside => outside_label().to_string(),
                NodeKind::Database => n.name.clone(),
                NodeKind::App => n.name.clone(),
            };
            let zh = lang.get_untracked() == Lang::Zh;
            let line = match (n.kind, &n.stats) {
                (NodeKind::Database, _) => (if zh { "数据库" } else { "database" }).to_string(),
                (NodeKind::Outside, _) => (if zh { "其他租户的应用" } else { "other tenants' apps" }).to_string(),
                (NodeKind::App, Some(s)) => summary(s),
                (NodeKind::App, None) => String::new(),
            };
            let shape = view! {
                <rect class=class x=x y=y width=BOX_W height=BOX_H rx=8/>
                <text class="node-name" x=x + 10.0 y=y + 24.0>{title}</text>
                <text class="node-stats" x=x + 10.0 y=y + 46.0>{line}</text>
            };
            let href = (n.kind == NodeKind::App)
                .then(|| format!("/t/{}/monitoring?app={}/{}", tenant.get_untracked(), n.namespace, n.name));
            // NB: an `<a>` written inside `<svg>` is made an HTML element, which SVG does not
            // draw: the box is a group that navigates when clicked (or Enter is pressed)
            match href {
                Some(href) => {
                    let (to, to_key) = (href.clone(), href.clone());
                    let navigate = use_navigate();
                    let navigate_key = navigate.clone();
                    view! {
                        <g class="link" role="link" tabindex="0" data-href=href data-testid="graph-node" data-id=n.id.clone() data-kind=kind
                            on:click=move |_| navigate(&to, Default::default())
                            on:keydown=move |ev| if ev.key() == "Enter" { navigate_key(&to_key, Default::default()) }>
                            {shape}
                        </g>
                    }
                    .into_any()
                }
                None => view! { <g data-testid="graph-node" data-id=n.id.clone() data-kind=kind>{shape}</g> }.into_any(),
            }
        })
        .collect_view();
    let rows = graph
        .edges
        .iter()
        .map(|e| {
            let from = name_of(&e.from, &graph);
            let to = name_of(&e.to, &graph);
            let slow = e.stats.slow();
            view! {
                <tr data-testid="graph-row" data-from=e.from.clone() data-to=e.to.clone() class:slow=slow>
                    <td>{from}</td><td>{to}</td>
                    <td>{rate(e.stats.rate)}</td>
                    <td>{percent(e.stats.error_ratio)}</td>
                    <td>{ms(e.stats.p95_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    let traces = graph
        .nodes
        .iter()
        .filter_map(|n| {
            let href = n.trace_link.clone()?;
            let name = n.name.clone();
            Some(view! { <li><a href=href target="_blank" rel="noopener" data-testid="graph-trace-link">{name}</a></li> })
        })
        .collect_view();
    let empty = graph.nodes.is_empty();
    view! {
        {graph.notice.clone().map(|n| view! { <p class="notice muted" data-testid="graph-notice">{move || crate::i18n::tr(&n)}</p> })}
        {(!empty).then(|| view! {
            <svg class="graph" data-testid="graph" width=width height=height viewBox=format!("0 0 {width} {height}")>
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">
                        <path d="M 0 0 L 10 5 L 0 10 z"/>
                    </marker>
                </defs>
                {edges}
                {nodes}
            </svg>
        })}
        {(!graph.edges.is_empty()).then(|| view! {
            <table class="grid graph-table" data-testid="graph-table">
                <thead><tr>
                    <th>{t("From", "调用方")}</th><th>{t("To", "被调用方")}</th>
                    <th>{t("Requests (average/s)", "请求率(平均每秒)")}</th><th>{t("Errors", "错误率")}</th><th>"p95"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        })}
        <ul class="trace-links">{traces}</ul>
    }
}
