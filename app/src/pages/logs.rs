//! `/t/:tenant/logs?ns=..&app=..&pod=..&container=..&range=5m|1h|24h|custom&from=..&to=..&q=..&regex=1&follow=1`:
//! the log viewer. Pick an app, then one of its pods (or all of them, merged, each line
//! tagged with its pod) and a container; a time window; a search (keyword or regex) whose
//! matches are marked; or follow mode, streaming new lines over `/ws/logs/{tenant}`. The
//! URL always reflects the view, so a copied link reopens it.

use super::param;
use crate::components::banner::ErrorBanner;
use crate::components::live::{follow, Link, LinkDot};
use crate::components::log_view::LogView;
use crate::error::AppError;
use crate::i18n::{t, t_now};
use crate::logs::{
    log_sources, query_logs, LogLine, LogLink, LogMessage, LogQuery, LogSearch, LogSelection,
    LogSource,
};
use chrono::{Duration, SecondsFormat, Utc};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use wharf_api::routes;

/// Lines a page of a range fetches at a time.
const PAGE: usize = 2_000;
/// Lines the view keeps (older ones are dropped while following).
pub const MAX_LINES: usize = 100_000;
/// Past lines a follow socket starts with.
const FOLLOW_LAST: usize = 1_000;

/// `(from, to)` in RFC 3339 for a window: a preset ending now, or the custom fields.
fn window_of(range: &str, from: &str, to: &str) -> (String, String) {
    let now = Utc::now();
    let fmt = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let back = match range {
        "5m" => Duration::minutes(5),
        "24h" => Duration::hours(24),
        "custom" => return (from.trim().to_string(), to.trim().to_string()),
        _ => Duration::hours(1),
    };
    // NB: `to` a second past now, so the line written this very second is in the window.
    (fmt(now - back), fmt(now + Duration::seconds(1)))
}

#[component]
pub fn LogsPage() -> impl IntoView {
    let tenant = param("tenant");
    let query = use_query_map();
    let navigate = use_navigate();
    let url = |k: &str| query.with_untracked(|q| q.get(k).unwrap_or_default());
    let flag = |k: &str| matches!(url(k).as_str(), "1" | "true");

    // The view, first from the URL.
    let ns = RwSignal::new(url("ns"));
    let app = RwSignal::new(url("app"));
    let pod = RwSignal::new(url("pod"));
    let container = RwSignal::new(url("container"));
    let range = RwSignal::new(
        Some(url("range"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| {
                if url("from").is_empty() {
                    "1h".into()
                } else {
                    "custom".into()
                }
            }),
    );
    let from = RwSignal::new(url("from"));
    let to = RwSignal::new(url("to"));
    let search = RwSignal::new(LogSearch {
        text: url("q"),
        regex: flag("regex"),
    });
    let following = RwSignal::new(flag("follow"));
    let refresh = RwSignal::new(0u32);
    // What the search box holds until it is submitted.
    let search_text = RwSignal::new(url("q"));
    let search_regex = RwSignal::new(flag("regex"));
    let custom_from = RwSignal::new(url("from"));
    let custom_to = RwSignal::new(url("to"));

    let lines = RwSignal::new(Vec::<LogLine>::new());
    let next_cursor = RwSignal::new(None::<String>);
    // Set when the server stopped a search at its budget: where it got.
    let partial = RwSignal::new(None::<wharf_api::logs::LogPartial>);
    let error = RwSignal::new(None::<AppError>);
    let link = RwSignal::new(Link::Connecting);
    let pattern = RwSignal::new(None::<regex::Regex>);
    let search_error = RwSignal::new(None::<wharf_api::Text>);

    let sources = RwSignal::new(None::<Vec<LogSource>>);
    let asked_sources = LocalResource::new(move || log_sources(tenant.get()));
    Effect::new(move |_| match asked_sources.get() {
        Some(Ok(s)) => {
            // Nothing picked yet: the first app.
            if ns.get_untracked().is_empty() {
                if let Some(first) = s.first() {
                    ns.set(first.namespace.clone());
                    app.set(first.app.clone());
                }
            }
            sources.set(Some(s));
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let selection = Memo::new(move |_| LogSelection {
        namespace: ns.get(),
        app: Some(app.get()).filter(|s| !s.is_empty()),
        pod: Some(pod.get()).filter(|s| !s.is_empty()),
        container: Some(container.get()).filter(|s| !s.is_empty()),
    });
    let current_source = Memo::new(move |_| {
        sources.with(|s| {
            s.as_ref().and_then(|s| {
                s.iter()
                    .find(|a| a.namespace == ns.get() && a.app == app.get())
                    .cloned()
            })
        })
    });
    let containers = Memo::new(move |_| {
        let mut names: Vec<String> = current_source
            .get()
            .map(|s| {
                s.pods
                    .into_iter()
                    .filter(|p| pod.with(|sel| sel.is_empty() || *sel == p.name))
                    .flat_map(|p| p.containers)
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.dedup();
        names
    });

    // The search compiles once per change: it filters on the server and marks matches here.
    Effect::new(move |_| match search.with(LogSearch::compile) {
        Ok(p) => {
            pattern.set(p);
            search_error.set(None);
        }
        Err(e) => {
            pattern.set(None);
            search_error.set(Some(e));
        }
    });

    // The URL follows the view.
    Effect::new(move |_| {
        let mut link = LogLink::new(&selection.get(), &search.get());
        let r = range.get();
        if r == "custom" {
            link.from = Some(from.get()).filter(|s| !s.is_empty());
            link.to = Some(to.get()).filter(|s| !s.is_empty());
        }
        let mut qs = link.to_query();
        qs.push_str(&format!("&range={r}"));
        if following.get() {
            qs.push_str("&follow=1");
        }
        navigate(
            &format!("/t/{}/logs?{qs}", tenant.get()),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..Default::default()
            },
        );
    });

    // A time window: the first page, then more as the reader scrolls down. Every page is asked
    // through one action; an answer carries the ticket of the view it was asked for, and one
    // for a view the reader already left is dropped.
    let latest = StoredValue::new(0u64);
    let last_query = StoredValue::new(None::<LogQuery>);
    let fetch = Action::new(move |(q, ticket, append): &(LogQuery, u64, bool)| {
        let (tn, q, ticket, append) = (tenant.get_untracked(), q.clone(), *ticket, *append);
        async move {
            let answer = query_logs(tn, q.clone()).await;
            (ticket, append, q, answer)
        }
    });
    let (loading, fetched) = (fetch.pending(), fetch.value());
    Effect::new(move |_| {
        let Some((ticket, append, q, answer)) = fetched.get() else {
            return;
        };
        if ticket != latest.get_value() {
            return;
        }
        match answer {
            Ok(page) if append => {
                lines.update(|l| l.extend(page.lines));
                next_cursor.set(page.next_cursor);
                partial.set(page.partial);
            }
            Ok(page) => {
                lines.set(page.lines);
                last_query.set_value(Some(q));
                next_cursor.set(page.next_cursor);
                partial.set(page.partial);
            }
            Err(e) => error.set(Some(e)),
        }
    });
    Effect::new(move |_| {
        let (sel, s, r, f, tt, follow_on) = (
            selection.get(),
            search.get(),
            range.get(),
            from.get(),
            to.get(),
            following.get(),
        );
        let _ = (tenant.get(), refresh.get());
        let ticket = latest.get_value() + 1;
        latest.set_value(ticket);
        if follow_on
            || sel.namespace.is_empty()
            || search_error.with_untracked(Option::is_some) && s.regex
        {
            return;
        }
        let (from_t, to_t) = window_of(&r, &f, &tt);
        lines.set(Vec::new());
        next_cursor.set(None);
        partial.set(None);
        error.set(None);
        let q = LogQuery {
            selection: sel,
            from: from_t,
            to: to_t,
            search: s,
            limit: PAGE,
            backward: false,
            cursor: None,
        };
        fetch.dispatch((q, ticket, false));
    });
    let more = Callback::new(move |_| {
        if following.get_untracked()
            || loading.get_untracked()
            || lines.with_untracked(Vec::len) >= MAX_LINES
        {
            return;
        }
        let (Some(cursor), Some(q)) = (next_cursor.get_untracked(), last_query.get_value()) else {
            return;
        };
        fetch.dispatch((
            LogQuery {
                cursor: Some(cursor),
                ..q
            },
            latest.get_value(),
            true,
        ));
    });

    // Follow mode: the last lines, then live ones, over a WebSocket that reconnects by itself.
    Effect::new(move |_| {
        if !following.get() {
            return;
        }
        let (tn, sel, s) = (tenant.get(), selection.get(), search.get());
        if sel.namespace.is_empty() || search_error.with_untracked(Option::is_some) {
            return;
        }
        error.set(None);
        lines.set(Vec::new());
        next_cursor.set(None);
        let mut l = LogLink::new(&sel, &s);
        l.last = Some(FOLLOW_LAST);
        // NB: `try_`: a message may be handled after the page went (see `follow`).
        follow::<LogMessage, _>(
            routes::WS_LOGS.with_query(&[&tn], &l.to_query()),
            link,
            move |m| match m {
                LogMessage::Reset => {
                    lines.try_set(Vec::new());
                }
                LogMessage::Lines(new) => {
                    lines.try_update(|all| {
                        all.extend(new);
                        if all.len() > MAX_LINES {
                            all.drain(..all.len() - MAX_LINES);
                        }
                    });
                }
                LogMessage::Error(e) => {
                    error.try_set(Some(e));
                }
            },
        );
    });

    let download_href = move || {
        let (f, tt) = window_of(&range.get(), &from.get(), &to.get());
        let mut l = LogLink::new(&selection.get(), &search.get());
        l.from = Some(f).filter(|s| !s.is_empty());
        l.to = Some(tt).filter(|s| !s.is_empty());
        routes::DOWNLOAD_LOGS.with_query(&[&tenant.get()], &l.to_query())
    };

    let pick_app = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        let (n, a) = v.split_once('/').unwrap_or(("", ""));
        ns.set(n.to_string());
        app.set(a.to_string());
        pod.set(String::new());
        container.set(String::new());
    };
    let submit_search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        search.set(LogSearch {
            text: search_text.get_untracked(),
            regex: search_regex.get_untracked(),
        });
    };
    let preset = move |r: &'static str| {
        move |_| {
            range.set(r.to_string());
            refresh.update(|n| *n += 1);
        }
    };
    let apply_custom = move |_| {
        from.set(custom_from.get_untracked().trim().to_string());
        to.set(custom_to.get_untracked().trim().to_string());
        range.set("custom".into());
        refresh.update(|n| *n += 1);
    };

    view! {
        <div class="page logs-page">
            <div class="page-head">
                <h1>{t("Logs", "日志")} <Show when=move || following.get()><LinkDot link/></Show></h1>
                <div class="spacer"></div>
                <a class="button" href=download_href download="" data-testid="log-download">{t("Download", "下载")}</a>
            </div>
            <div class="log-controls">
                <select data-testid="logs-app" on:change=pick_app prop:value=move || format!("{}/{}", ns.get(), app.get())>
                    <option value="/" disabled=true>{t("App…", "应用…")}</option>
                    {move || sources.get().unwrap_or_default().into_iter().map(|s| {
                        let v = format!("{}/{}", s.namespace, s.app);
                        // NB: `selected` per option: the select's value alone is lost when its options arrive later.
                        let (n, a) = (s.namespace.clone(), s.app.clone());
                        view! { <option value=v.clone() prop:selected=move || ns.get() == n && app.get() == a>{v.clone()}</option> }
                    }).collect_view()}
                </select>
                <select data-testid="logs-pod" on:change=move |ev| { pod.set(event_target_value(&ev)); container.set(String::new()); } prop:value=move || pod.get()>
                    <option value="">{t("All pods (merged)", "全部容器组(合并)")}</option>
                    {move || current_source.get().map(|s| s.pods.into_iter().map(|p| {
                        let label = format!("{} · {}", p.name, p.status);
                        let name = p.name.clone();
                        view! { <option value=p.name.clone() prop:selected=move || pod.get() == name>{label}</option> }
                    }).collect_view())}
                </select>
                <select data-testid="logs-container" on:change=move |ev| container.set(event_target_value(&ev)) prop:value=move || container.get()>
                    <option value="">{t("All containers", "全部容器")}</option>
                    {move || containers.get().into_iter().map(|c| {
                        let name = c.clone();
                        view! { <option value=c.clone() prop:selected=move || container.get() == name>{c.clone()}</option> }
                    }).collect_view()}
                </select>
                <div class="segmented">
                    <button class:active=move || range.get() == "5m" data-testid="range-5m" on:click=preset("5m")>{t("5 min", "5 分钟")}</button>
                    <button class:active=move || range.get() == "1h" data-testid="range-1h" on:click=preset("1h")>{t("1 hour", "1 小时")}</button>
                    <button class:active=move || range.get() == "24h" data-testid="range-24h" on:click=preset("24h")>{t("24 hours", "24 小时")}</button>
                    <button class:active=move || range.get() == "custom" data-testid="range-custom" on:click=move |_| range.set("custom".into())>{t("Custom", "自定义")}</button>
                </div>
                <label class="follow-toggle">
                    <input type="checkbox" data-testid="logs-follow" prop:checked=move || following.get() on:change=move |ev| following.set(event_target_checked(&ev))/>
                    {t("Follow", "实时跟踪")}
                </label>
            </div>
            <Show when=move || range.get() == "custom">
                <div class="log-controls">
                    <input class="mono" data-testid="logs-from" placeholder="2024-05-01T10:02:00Z" bind:value=custom_from/>
                    "→"
                    <input class="mono" data-testid="logs-to" placeholder="2024-05-01T10:05:00Z" bind:value=custom_to/>
                    <button data-testid="logs-apply" on:click=apply_custom>{t("Apply", "应用")}</button>
                    <span class="muted">{t("RFC 3339, e.g. 2024-05-01T10:02:00Z", "RFC 3339 格式,例如 2024-05-01T10:02:00Z")}</span>
                </div>
            </Show>
            <form class="log-controls" on:submit=submit_search>
                <input class="log-search" data-testid="logs-search" placeholder=move || t_now("Search: keyword, or a regular expression", "搜索:关键字或正则表达式") bind:value=search_text/>
                <label><input type="checkbox" data-testid="logs-regex" bind:checked=search_regex/> {t("Regex", "正则")}</label>
                <button type="submit" data-testid="logs-search-submit">{t("Search", "搜索")}</button>
                <span class="muted" data-testid="log-count">
                    {move || {
                        let n = lines.with(Vec::len);
                        let more = next_cursor.with(Option::is_some);
                        format!("{n}{} {}", if more { "+" } else { "" }, t_now("lines", "行"))
                    }}
                </span>
                <Show when=move || loading.get()><span class="loading" data-testid="logs-loading">{t("Loading…", "加载中…")}</span></Show>
            </form>
            {move || partial.get().map(|p| {
                let mb = p.scanned_bytes as f64 / 1e6;
                let (en, zh) = if p.by_time {
                    ("the time budget for one search", "单次搜索的时间上限")
                } else {
                    ("the amount of log one search may read", "单次搜索可读取的日志量上限")
                };
                view! {
                    <div class="banner warn" data-testid="logs-partial">
                        <span>{move || format!(
                            "{} {} ({mb:.0} MB, {}). {}",
                            t_now("Partial result: searched up to", "部分结果:已搜索到"),
                            p.reached,
                            t_now(en, zh),
                            t_now("Narrow the time range or the pods, or search further.", "请缩小时间范围或 Pod 范围,或继续搜索。"),
                        )}</span>
                        <button class="small" data-testid="logs-search-further" disabled=move || loading.get()
                            on:click=move |_| more.run(())>{t("Search further", "继续搜索")}</button>
                    </div>
                }
            })}
            <ErrorBanner error=Signal::derive(move || search_error.get().map(AppError::Invalid)) testid="search-error"/>
            <ErrorBanner error testid="logs-error"/>
            {move || match sources.get() {
                None => view! { <p class="loading">{t("Loading…", "加载中…")}</p> }.into_any(),
                Some(s) if s.is_empty() => view! { <div class="empty" data-testid="logs-no-apps">{t("No apps in this tenant yet: nothing logs.", "该租户还没有应用,暂无日志。")}</div> }.into_any(),
                Some(_) => view! {
                    <LogView lines pattern=pattern show_pod=Signal::derive(move || pod.with(String::is_empty))
                        stick_to_end=following on_near_end=more/>
                }.into_any(),
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::window_of;

    #[test]
    fn a_preset_window_ends_now_and_a_custom_one_is_taken_as_typed() {
        let (f, t) = window_of("5m", "", "");
        let (f, t) = (
            chrono::DateTime::parse_from_rfc3339(&f).unwrap(),
            chrono::DateTime::parse_from_rfc3339(&t).unwrap(),
        );
        assert_eq!((t - f).num_seconds(), 301);
        assert_eq!(
            window_of("custom", " a ", "b"),
            ("a".to_string(), "b".to_string())
        );
    }
}
