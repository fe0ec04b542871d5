//! A virtualized list of log lines: every line has the same height, so only the lines in
//! view (plus some either side) are in the DOM, whether the list holds a hundred lines or
//! a hundred thousand. In follow mode it sticks to the bottom while the reader is there.

use crate::components::ansi::AnsiText;
use crate::i18n::t;
use crate::logs::LogLine;
use leptos::prelude::*;

/// Must match `.log-line { height }` in the stylesheet.
pub const LINE_PX: usize = 20;
/// Lines drawn above and below the visible ones.
const OVERSCAN: usize = 40;
/// Ask for more when the reader is this close to the end.
const NEAR_END: usize = 300;

#[component]
pub fn LogView(
    lines: RwSignal<Vec<LogLine>>,
    /// Search matches to mark.
    #[prop(into)]
    pattern: Signal<Option<regex::Regex>>,
    /// Tag each line with its pod (when several pods are merged).
    #[prop(into)]
    show_pod: Signal<bool>,
    /// Keep the newest line in view while the reader is at the bottom.
    #[prop(into)]
    stick_to_end: Signal<bool>,
    /// Called when the reader nears the end of what is loaded.
    on_near_end: Callback<()>,
) -> impl IntoView {
    let scroller = NodeRef::<leptos::html::Div>::new();
    let scroll_top = RwSignal::new(0usize);
    let viewport = RwSignal::new(600usize);
    let at_bottom = RwSignal::new(true);
    let count = Memo::new(move |_| lines.with(Vec::len));

    let window = Memo::new(move |_| {
        let n = count.get();
        let first = (scroll_top.get() / LINE_PX).saturating_sub(OVERSCAN).min(n);
        let last = ((scroll_top.get() + viewport.get()) / LINE_PX + 1 + OVERSCAN).min(n);
        (first, last)
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            let top = el.scroll_top().max(0) as usize;
            let height = el.client_height().max(0) as usize;
            scroll_top.set(top);
            viewport.set(height.max(LINE_PX));
            let total = count.get_untracked() * LINE_PX;
            at_bottom.set(top + height + 2 * LINE_PX >= total);
            if (top + height) / LINE_PX + NEAR_END >= count.get_untracked() {
                on_near_end.run(());
            }
        }
    };
    // Follow: after new lines are drawn, scroll to the newest if the reader was at the end.
    Effect::new(move |_| {
        let _ = count.get();
        if stick_to_end.get() && at_bottom.get_untracked() {
            if let Some(el) = scroller.get() {
                el.set_scroll_top(i32::MAX);
                scroll_top.set(el.scroll_top().max(0) as usize);
                viewport.set((el.client_height().max(0) as usize).max(LINE_PX));
            }
        }
    });
    Effect::new(move |_| {
        if let Some(el) = scroller.get() {
            viewport.set((el.client_height().max(0) as usize).max(LINE_PX));
        }
    });

    view! {
        <div class="log-view mono" node_ref=scroller on:scroll=on_scroll data-testid="log-view" data-count=move || count.get()>
            <Show when=move || count.get() == 0>
                <div class="log-empty" data-testid="log-empty">{t("No log lines in this range.", "该时间范围内没有日志。")}</div>
            </Show>
            <div class="log-canvas" style=move || format!("height:{}px", count.get() * LINE_PX)>
                <div class="log-window" style=move || format!("transform:translateY({}px)", window.get().0 * LINE_PX)>
                    {move || {
                        let (first, last) = window.get();
                        let pattern = pattern.get();
                        let show_pod = show_pod.get();
                        lines.with(|all| {
                            all[first..last]
                                .iter()
                                .map(|l| {
                                    let class = if l.stderr { "log-line stderr" } else { "log-line" };
                                    let pod = show_pod.then(|| view! { <span class="log-pod" data-testid="log-pod">{l.pod.clone()}</span> });
                                    view! {
                                        <div class=class data-testid="log-line" title=l.time.clone()>
                                            <span class="log-ts">{short_time(&l.time)}</span>
                                            {pod}
                                            <span class="log-text" data-testid="log-text"><AnsiText text=l.text.clone() pattern=pattern.clone()/></span>
                                        </div>
                                    }
                                })
                                .collect_view()
                        })
                    }}
                </div>
            </div>
        </div>
    }
}

/// `2024-05-01T10:02:03.123456789Z` → `10:02:03.123` (the full time is the line's tooltip).
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(11..23).unwrap_or(rfc3339).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shortened_to_the_millisecond() {
        assert_eq!(
            super::short_time("2024-05-01T10:02:03.123456789Z"),
            "10:02:03.123"
        );
        assert_eq!(super::short_time("odd"), "odd");
    }
}
