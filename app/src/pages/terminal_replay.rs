//! The replay of a recorded terminal session, on the terminal page for admins: the
//! recording (asciicast v2, `crate::terminal::cast`) is fetched from
//! `/recordings/terminal/{tenant}` and fed to a read-only xterm.js terminal with its own
//! timing — play and pause, start over, speed 0.5× to 8×, resizes as recorded — and can be
//! downloaded as a `.cast` file that asciinema plays too.

use crate::i18n::t;
use crate::terminal::query_of;
use crate::{Theme, ThemeCtx};
use leptos::prelude::*;
use wharf_api::routes;

/// Where the player is (and its `data-state` for tests).
#[derive(Clone, Debug, PartialEq)]
pub enum Play {
    Loading,
    Playing,
    Paused,
    /// The last event has been shown.
    Done,
    Failed(String),
}

impl Play {
    fn state(&self) -> &'static str {
        match self {
            Play::Loading => "loading",
            Play::Playing => "playing",
            Play::Paused => "paused",
            Play::Done => "done",
            Play::Failed(_) => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum PlayerCmd {
    /// Pause, go on, or (when done) play again.
    Toggle,
    Restart,
    Speed(f64),
}

pub const SPEEDS: &[f64] = &[0.5, 1.0, 2.0, 4.0, 8.0];

#[component]
pub fn Replay(
    tenant: String,
    ns: String,
    session: String,
    title: String,
    on_close: Callback<()>,
) -> impl IntoView {
    let play = RwSignal::new(Play::Loading);
    // (position, length) in seconds of the recording
    let clock = RwSignal::new((0.0f64, 0.0f64));
    let node = NodeRef::<leptos::html::Div>::new();
    let (cmd_tx, cmd_rx) = futures::channel::mpsc::unbounded::<PlayerCmd>();
    let theme = expect_context::<ThemeCtx>().0;
    let url = routes::DOWNLOAD_RECORDING
        .with_query(&[&tenant], &query_of(&[("ns", &ns), ("session", &session)]));
    let download = format!("{url}&download=true");
    run_player(node, url, cmd_rx, play, clock, theme);
    let speed_tx = cmd_tx.clone();
    let send = move |cmd: PlayerCmd| {
        let tx = cmd_tx.clone();
        move |_| {
            let _ = tx.unbounded_send(cmd);
        }
    };
    let (pause_label, play_label) = (t("❚❚ Pause", "❚❚ 暂停"), t("▶ Play", "▶ 播放"));
    view! {
        <div class="replay" data-testid="replay" data-state=move || play.with(|p| p.state())>
            <div class="inline replay-controls">
                <strong>{t("Replay", "回放")}</strong>
                <span class="muted">{title}</span>
                <button data-testid="replay-toggle" on:click=send(PlayerCmd::Toggle)>{move || if play.get() == Play::Playing { pause_label() } else { play_label() }}</button>
                <button data-testid="replay-restart" title="start over" on:click=send(PlayerCmd::Restart)>"⟲"</button>
                <select data-testid="replay-speed" on:change=move |ev| {
                    if let Ok(s) = event_target_value(&ev).parse::<f64>() {
                        let _ = speed_tx.unbounded_send(PlayerCmd::Speed(s));
                    }
                }>
                    {SPEEDS.iter().map(|&s| view! { <option value=s.to_string() selected=s == 1.0>{format!("{s}×")}</option> }).collect_view()}
                </select>
                <span class="mono small" data-testid="replay-clock">{move || { let (at, total) = clock.get(); format!("{at:.1} / {total:.1} s") }}</span>
                <span class="spacer"></span>
                <a class="button" data-testid="replay-download" href=download download="">{t("Download .cast", "下载 .cast")}</a>
                <button class="link close" data-testid="replay-close" title="close" on:click=move |_| on_close.run(())>"×"</button>
            </div>
            {move || match play.get() {
                Play::Failed(e) => Some(view! { <div class="banner error" data-testid="replay-error">{e}</div> }),
                _ => None,
            }}
            <div class="xterm-host replay-screen" node_ref=node data-testid="replay-screen"></div>
        </div>
    }
}

#[cfg(not(feature = "csr"))]
fn run_player(
    _node: NodeRef<leptos::html::Div>,
    _url: String,
    _cmds: futures::channel::mpsc::UnboundedReceiver<PlayerCmd>,
    _play: RwSignal<Play>,
    _clock: RwSignal<(f64, f64)>,
    _theme: RwSignal<Theme>,
) {
}

#[cfg(feature = "csr")]
async fn sleep_ms(ms: f64) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms.round() as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[cfg(feature = "csr")]
async fn fetch_text(url: &str) -> Result<String, String> {
    let res = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| format!("The recording could not be fetched: {e}"))?;
    let text = res
        .text()
        .await
        .map_err(|e| format!("The recording could not be read: {e}"))?;
    if res.ok() {
        Ok(text)
    } else {
        let why = crate::i18n::refusal_of(&text);
        Err(format!("{} {}", res.status(), crate::i18n::tr(&why)))
    }
}

/// The player's life in the browser: fetch, parse, then a clock that moves through the
/// events while playing (in steps of at most a quarter second, so the clock and commands
/// stay prompt across long pauses in the recording).
#[cfg(feature = "csr")]
fn run_player(
    node: NodeRef<leptos::html::Div>,
    url: String,
    mut cmds: futures::channel::mpsc::UnboundedReceiver<PlayerCmd>,
    play: RwSignal<Play>,
    clock: RwSignal<(f64, f64)>,
    theme: RwSignal<Theme>,
) {
    use crate::components::xterm::{replay_options, Terminal};
    use crate::terminal::cast::{parse, EventKind};
    use futures::future::{select, Either};
    use futures::StreamExt;

    const STEP_MS: f64 = 250.0;
    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    on_cleanup(move || drop(stop_tx));
    node.on_load(move |el| {
        leptos::task::spawn_local(async move {
            let cast = match fetch_text(&url).await.and_then(|text| parse(&text)) {
                Ok(c) => c,
                Err(e) => {
                    play.try_set(Play::Failed(e));
                    return;
                }
            };
            let el: web_sys::HtmlElement = el.into();
            let (cols, rows) = (cast.header.width.max(2), cast.header.height.max(1));
            // NB: `try_`: the player may be closed while the recording loads; then it stops here.
            let Some(dark) = theme.try_get_untracked().map(|t| t == Theme::Dark) else {
                return;
            };
            let term = Terminal::new(&replay_options(dark, cols, rows));
            term.open(&el);
            let events = &cast.events;
            let total = cast.duration();
            let mut stop = stop_rx;
            let (mut next, mut at, mut speed, mut playing) = (0usize, 0.0f64, 1.0f64, true);
            if play.try_set(Play::Playing).is_some() {
                term.dispose();
                return;
            }
            loop {
                while next < events.len() && events[next].time <= at {
                    match &events[next].kind {
                        EventKind::Output(text) => term.write_str(text),
                        EventKind::Resize { cols, rows } => term.resize(*cols, *rows),
                        EventKind::Other => {}
                    }
                    next += 1;
                }
                if clock.try_set((at.min(total), total)).is_some() {
                    break;
                }
                if playing && next >= events.len() {
                    playing = false;
                    play.try_set(Play::Done);
                }
                let cmd = if playing {
                    let due_ms = (events[next].time - at).max(0.0) / speed * 1000.0;
                    let wait = due_ms.min(STEP_MS);
                    let began = js_sys::Date::now();
                    match select(Box::pin(sleep_ms(wait)), select(cmds.next(), &mut stop)).await {
                        Either::Left(_) => {
                            at = if due_ms <= STEP_MS {
                                events[next].time
                            } else {
                                at + wait / 1000.0 * speed
                            };
                            continue;
                        }
                        Either::Right((Either::Left((Some(cmd), _)), _)) => {
                            at = (at + (js_sys::Date::now() - began) / 1000.0 * speed)
                                .min(events[next].time);
                            cmd
                        }
                        Either::Right(_) => break,
                    }
                } else {
                    match select(cmds.next(), &mut stop).await {
                        Either::Left((Some(cmd), _)) => cmd,
                        _ => break,
                    }
                };
                match cmd {
                    PlayerCmd::Speed(s) => speed = s.clamp(0.1, 64.0),
                    PlayerCmd::Toggle if next < events.len() => {
                        playing = !playing;
                        play.try_set(if playing { Play::Playing } else { Play::Paused });
                    }
                    PlayerCmd::Toggle | PlayerCmd::Restart => {
                        term.reset();
                        term.resize(cols, rows);
                        (next, at, playing) = (0, 0.0, true);
                        play.try_set(Play::Playing);
                    }
                }
            }
            term.dispose();
        });
    });
}
