//! `/t/:tenant/monitoring`: the tenant's dashboards. Pick the whole tenant, one app
//! (`?app=<ns>/<name>` links straight to it) or one pod of that app (`&pod=<name>`), a time
//! range from 15 minutes to 7 days, and auto-refresh; every panel is one chart (see
//! `components::chart`), with the app's alert thresholds drawn on its and its pods' charts.
//! Below them, for the tenant or one app, the calls it received from traces (requests, failed
//! calls, p95 latency; they need the APM switch), which the call graph's boxes link to.
//! Below, a PromQL box for hand-written queries — the server limits them to the tenant's
//! namespaces like the panels.
//!
//! [`ChartBench`] (`/_bench/chart`) is not a page a user opens: it draws generated series
//! with the same chart component and records how long that took, for `make bench`.

use super::param;
use crate::components::banner::ErrorBanner;
use crate::components::chart::Chart;
use crate::i18n::{t, I18n, Lang};
use crate::monitoring::{query_range, Panel, PanelData, QueryPromql, Target, RANGES};
use crate::workloads::{list_pods, workloads, PodQuery};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Auto-refresh period.
pub const REFRESH_MS: u64 = 10_000;

#[component]
pub fn MonitoringPage() -> impl IntoView {
    let tenant = param("tenant");
    let query = use_query_map();
    let chosen = RwSignal::new(query.with_untracked(|q| q.get("app").unwrap_or_default()));
    let pod = RwSignal::new(query.with_untracked(|q| q.get("pod").unwrap_or_default()));
    let minutes = RwSignal::new(60u32);
    let auto = RwSignal::new(true);
    let tick =
        crate::components::ticker::ticker(std::time::Duration::from_millis(REFRESH_MS), Some(auto));
    let apps = Resource::new(move || tenant.get(), workloads);
    let target = Memo::new(move |_| match (chosen.get().split_once('/'), pod.get()) {
        (Some((ns, _)), p) if !p.is_empty() => Target::Pod {
            namespace: ns.to_string(),
            name: p,
        },
        (Some((ns, name)), _) => Target::App {
            namespace: ns.to_string(),
            name: name.to_string(),
        },
        (None, _) => Target::Tenant,
    });
    // the chosen app's pods, for the pod picker
    let pods = Resource::new(
        move || (tenant.get(), chosen.get()),
        |(tn, app)| async move {
            let Some((ns, name)) = app.split_once('/') else {
                return Ok(Vec::new());
            };
            let q = PodQuery {
                app: Some(name.to_string()),
                namespace: Some(ns.to_string()),
                filter: String::new(),
                offset: 0,
                limit: 200,
            };
            list_pods(tn, q)
                .await
                .map(|p| p.rows.into_iter().map(|r| r.name).collect::<Vec<_>>())
        },
    );

    view! {
        <div class="page monitoring">
            <h1>{t("Monitoring", "监控")}</h1>
            <div class="toolbar">
                <select data-testid="monitor-target" on:change=move |ev| { pod.set(String::new()); chosen.set(event_target_value(&ev)) } prop:value=move || chosen.get()>
                    <option value="">{t("All pods of the tenant", "租户的全部 Pod")}</option>
                    {move || apps.get().and_then(Result::ok).map(|v| v.apps.into_iter().map(|a| {
                        let key = format!("{}/{}", a.namespace, a.name);
                        // NB: `selected` too: the options arrive after the select's value was set
                        let chosen_now = key.clone();
                        view! { <option value=key.clone() selected=move || chosen.get() == chosen_now>{key.clone()}</option> }
                    }).collect_view())}
                </select>
                <Show when=move || !chosen.get().is_empty()>
                    <select data-testid="monitor-pod" on:change=move |ev| pod.set(event_target_value(&ev)) prop:value=move || pod.get()>
                        <option value="">{t("All pods of the app", "应用的全部 Pod")}</option>
                        <Transition fallback=|| ()>
                            {move || pods.get().and_then(Result::ok).map(|names| names.into_iter().map(|n| {
                                let chosen_now = n.clone();
                                view! { <option value=n.clone() selected=move || pod.get() == chosen_now>{n.clone()}</option> }
                            }).collect_view())}
                        </Transition>
                    </select>
                </Show>
                <div class="segmented" data-testid="range-picker">
                    {RANGES.iter().map(|(m, label)| {
                        let m = *m;
                        view! { <button class:active=move || minutes.get() == m on:click=move |_| minutes.set(m) data-testid=format!("range-{label}")>{*label}</button> }
                    }).collect_view()}
                </div>
                <label class="inline"><input type="checkbox" data-testid="auto-refresh" prop:checked=move || auto.get() on:change=move |ev| auto.set(event_target_checked(&ev))/>
                    {t("Auto-refresh", "自动刷新")}</label>
                <button on:click=move |_| tick.update(|n| *n += 1) data-testid="refresh">{t("Refresh", "刷新")}</button>
            </div>
            <div class="chart-grid">
                {Panel::ALL.into_iter().map(|p| view! { <PanelChart tenant=tenant target=target minutes=minutes tick=tick panel=p/> }).collect_view()}
            </div>
            // per app, from traces: shown for the tenant and an app, not for one pod
            <Show when=move || !matches!(target.get(), Target::Pod { .. })>
                <h2 data-testid="traced-panels">{t("Calls (APM)", "调用(APM)")}</h2>
                <div class="chart-grid">
                    {Panel::TRACED.into_iter().map(|p| view! { <PanelChart tenant=tenant target=target minutes=minutes tick=tick panel=p/> }).collect_view()}
                </div>
            </Show>
            <PromqlBox tenant=tenant minutes=minutes/>
        </div>
    }
}

/// One panel, re-asked whenever the tenant, target, range or tick changes.
#[component]
pub fn PanelChart(
    tenant: Memo<String>,
    #[prop(into)] target: Signal<Target>,
    #[prop(into)] minutes: Signal<u32>,
    #[prop(into)] tick: Signal<u64>,
    panel: Panel,
) -> impl IntoView {
    let lang = expect_context::<I18n>().0;
    let data = Resource::new(
        move || (tenant.get(), target.get(), minutes.get(), tick.get()),
        move |(tn, tg, m, _)| query_range(tn, panel, tg, m),
    );
    let title = move || {
        let (en, zh) = panel.title();
        if lang.get() == Lang::Zh {
            zh
        } else {
            en
        }
    };
    view! {
        <Transition fallback=move || view! { <figure class="chart loading">{title()}</figure> }>
            {move || data.get().map(|r| match r {
                Ok(d) => view! { <Chart title=title() data=d bytes=panel.bytes() testid=format!("chart-{}", panel.slug())/> }.into_any(),
                Err(e) => view! { <figure class="chart"><figcaption>{title()}</figcaption><ErrorBanner error=Signal::stored(Some(e)) testid="chart-error"/></figure> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn PromqlBox(tenant: Memo<String>, minutes: RwSignal<u32>) -> impl IntoView {
    let text = RwSignal::new(String::from("sum by (pod) (container_threads)"));
    let query = ServerAction::<QueryPromql>::new();
    let result = query.value();
    let run = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        query.dispatch(QueryPromql {
            tenant: tenant.get(),
            query: text.get(),
            minutes: minutes.get(),
        });
    };
    view! {
        <section class="promql">
            <h2>{t("PromQL", "PromQL 查询")}</h2>
            <form class="row" on:submit=run>
                <input class="grow mono" data-testid="promql-input" bind:value=text/>
                <button type="submit" data-testid="promql-run">{t("Run", "执行")}</button>
            </form>
            {move || result.get().map(|r| match r {
                Ok(d) => view! { <Chart title="PromQL" data=d bytes=false testid="chart-promql"/> }.into_any(),
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="promql-error"/> }.into_any(),
            })}
        </section>
    }
}

/// `/_bench/chart?points=N&series=S`: generates `S` series of `N` points in total in the
/// browser and draws them with [`Chart`], the component the dashboards use, timing it with
/// `performance.now()`: the time from mounting the component (which renders the SVG in
/// Wasm) until the browser has laid out the result. The page carries the timings in
/// `data-render-ms` (that) and `data-frame-ms` (until the frame showing it has been painted),
/// and `data-run`; the "again" button draws new data (a fresh run).
#[component]
pub fn ChartBench() -> impl IntoView {
    let query = use_query_map();
    let points = query
        .with_untracked(|q| q.get("points").and_then(|v| v.parse::<usize>().ok()))
        .unwrap_or(10_000)
        .clamp(1, 1_000_000);
    let series = query
        .with_untracked(|q| q.get("series").and_then(|v| v.parse::<usize>().ok()))
        .unwrap_or(1)
        .clamp(1, 100);
    let run = RwSignal::new(0u32);
    let host = NodeRef::<leptos::html::Div>::new();
    let result = RwSignal::new(None::<(u32, f64, f64)>);
    Effect::new(move |_| {
        let n = run.get();
        if let Some(el) = host.get() {
            bench::draw(el, n, points, series, result);
        }
    });
    view! {
        <div class="page bench">
            <h1>"Chart render benchmark"</h1>
            <p class="muted">{format!("{points} points in {series} series, drawn with the dashboards' chart component")}</p>
            <button data-testid="bench-again" on:click=move |_| run.update(|n| *n += 1)>"again"</button>
            <p data-testid="bench-result"
                data-run=move || result.get().map(|r| r.0.to_string()).unwrap_or_default()
                data-render-ms=move || result.get().map(|r| format!("{:.3}", r.1)).unwrap_or_default()
                data-frame-ms=move || result.get().map(|r| format!("{:.3}", r.2)).unwrap_or_default()>
                {move || result.get().map(|(n, ms, frame)| format!("run {n}: {ms:.1} ms to draw, {frame:.1} ms until painted"))}
            </p>
            <div node_ref=host></div>
        </div>
    }
}

/// Series as a dashboard would show them: `series` lines sharing `points` samples, 15 s apart.
pub fn bench_data(points: usize, series: usize, seed: u32) -> PanelData {
    use crate::monitoring::Series;
    let per = points.div_ceil(series).max(1);
    let end = 1_700_000_000i64 + i64::from(seed);
    let start = end - 15 * per as i64;
    let series = (0..series)
        .map(|s| Series {
            label: format!("bench-pod-{s}"),
            points: (0..per)
                .map(|i| {
                    let x = i as f64 + f64::from(seed) * 7.0 + s as f64 * 13.0;
                    (
                        start + 15 * i as i64,
                        50.0 + 30.0 * (x / 40.0).sin() + 10.0 * (x / 3.7).cos() + s as f64,
                    )
                })
                .collect(),
        })
        .collect();
    PanelData {
        series,
        threshold: Some(85.0),
        start,
        end,
        notice: None,
    }
}

#[cfg(feature = "csr")]
mod bench {
    use super::bench_data;
    use crate::components::chart::Chart;
    use crate::i18n::{I18n, Lang};
    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast};

    /// `performance.now()`, read through the global object.
    fn now() -> f64 {
        let global = js_sys::global();
        let perf = js_sys::Reflect::get(&global, &"performance".into()).unwrap_or_default();
        js_sys::Reflect::get(&perf, &"now".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .and_then(|f| f.call0(&perf).ok())
            .and_then(|v| v.as_f64())
            .unwrap_or_default()
    }

    thread_local! {
        static MOUNTED: std::cell::RefCell<Option<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(None) };
    }

    pub fn draw(
        el: leptos::web_sys::HtmlDivElement,
        run: u32,
        points: usize,
        series: usize,
        result: RwSignal<Option<(u32, f64, f64)>>,
    ) {
        // NB: the previous chart goes first, and the data is made before the clock starts
        MOUNTED.with(|m| m.borrow_mut().take());
        el.set_inner_html("");
        let data = bench_data(points, series, run);
        let lang = RwSignal::new(Lang::En);
        let t0 = now();
        let handle = leptos::mount::mount_to(el.clone().unchecked_into(), move || {
            provide_context(I18n(lang));
            view! { <Chart title="bench" data=data bytes=false testid="bench-chart"/> }
        });
        // reading layout makes the browser parse the SVG and lay the chart out now
        let _ = el.get_bounding_client_rect();
        let drawn = now() - t0;
        MOUNTED.with(|m| *m.borrow_mut() = Some(Box::new(handle)));
        // NB: a requestAnimationFrame callback runs before that frame is painted; a task
        // queued from it runs after, so "frame" includes style, layout and paint
        let painted = Closure::once_into_js(move || {
            result.try_set(Some((run, drawn, now() - t0)));
        });
        let frame = Closure::once_into_js(move || {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    painted.unchecked_ref(),
                    0,
                );
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(frame.unchecked_ref());
        }
    }
}

#[cfg(not(feature = "csr"))]
mod bench {
    use leptos::prelude::*;

    pub fn draw(
        _el: leptos::web_sys::HtmlDivElement,
        _run: u32,
        _points: usize,
        _series: usize,
        _result: RwSignal<Option<(u32, f64, f64)>>,
    ) {
    }
}
