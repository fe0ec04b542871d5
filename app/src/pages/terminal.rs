//! `/t/:tenant/terminal?ns=..&pod=..[&container=..]` (or `?ns=..&app=..`: one of the app's
//! running pods): shells in containers, in tabs. Each tab is an xterm.js terminal joined to
//! `/ws/terminal/{tenant}` (protocol: `crate::terminal`); it fits the window and tells the
//! shell its size, says why a terminal is refused (asked with `terminal_check` first) or
//! that the connection is lost (with a Reconnect button), offers a debug container where
//! the container has no shell, shows the exit code, and warns before the idle timeout.
//! Below: upload and download of files for the active tab, and for admins the audit trail
//! of sessions with their recordings (replayed by `terminal_replay`).

use super::param;
use crate::components::banner::ErrorBanner;
use crate::components::shell::use_me;
pub use crate::components::terminal_session::Conn;
#[cfg(feature = "csr")]
use crate::components::terminal_session::{Do, Event, Session};
use crate::components::upload::UploadProgress;
use crate::error::AppError;
use crate::i18n::{t, tr};
use crate::logs::{log_sources, LogSource};
use crate::terminal::{query_of, terminal_check, terminal_sessions, SessionRecord};
use crate::{Theme, ThemeCtx};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use wharf_api::routes;
use wharf_api::{text, Text};

/// One open terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tab {
    pub id: u32,
    pub ns: String,
    pub pod: String,
    pub container: String,
}

fn running_pods(sources: &[LogSource]) -> Vec<(String, String, Vec<String>, String)> {
    sources
        .iter()
        .flat_map(|s| {
            s.pods
                .iter()
                .map(move |p| {
                    (
                        s.namespace.clone(),
                        p.name.clone(),
                        p.containers.clone(),
                        s.app.clone(),
                    )
                })
                .zip(s.pods.iter().map(|p| p.status.clone()))
        })
        .filter(|(_, status)| status == "Running")
        .map(|(p, _)| p)
        .collect()
}

#[component]
pub fn TerminalPage() -> impl IntoView {
    let tenant = param("tenant");
    let query = use_query_map();
    let me = use_me();
    let sources = Resource::new(move || tenant.get(), log_sources);
    let tabs = RwSignal::new(Vec::<Tab>::new());
    let active = RwSignal::new(0u32);
    let next_id = RwSignal::new(1u32);
    let pick_pod = RwSignal::new(String::new()); // "ns/pod"
    let pick_container = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);

    let pods = Memo::new(move |_| {
        sources
            .get()
            .and_then(|r| r.ok())
            .map(|s| running_pods(&s))
            .unwrap_or_default()
    });
    let containers_of = move |key: &str| {
        pods.with(|ps| {
            ps.iter()
                .find(|(ns, p, _, _)| format!("{ns}/{p}") == key)
                .map(|(_, _, c, _)| c.clone())
                .unwrap_or_default()
        })
    };

    let open_tab = move |ns: String, pod: String, container: String| {
        let id = next_id.get_untracked();
        next_id.set(id + 1);
        tabs.update(|t| {
            t.push(Tab {
                id,
                ns,
                pod,
                container,
            })
        });
        active.set(id);
    };

    // The link's pod (or one of the link's app's running pods) opens in a first tab.
    Effect::new(move |done: Option<bool>| {
        if done == Some(true) {
            return true;
        }
        let q = query.get();
        let (ns, pod, app, container) = (
            q.get("ns").unwrap_or_default(),
            q.get("pod").unwrap_or_default(),
            q.get("app").unwrap_or_default(),
            q.get("container").unwrap_or_default(),
        );
        if !pod.is_empty() && !ns.is_empty() {
            pick_pod.set(format!("{ns}/{pod}"));
            open_tab(ns, pod, container);
            return true;
        }
        if app.is_empty() {
            return true;
        }
        let Some(list) = sources.get().and_then(|r| r.ok()) else {
            return false;
        };
        match running_pods(&list)
            .into_iter()
            .find(|(n, _, _, a)| *n == ns && *a == app)
        {
            Some((n, p, _, _)) => {
                pick_pod.set(format!("{n}/{p}"));
                open_tab(n, p, container);
            }
            None => error.set(Some(AppError::Invalid(wharf_api::text!(
                "App {ns}/{app} has no running pod.",
                "应用 {ns}/{app} 没有运行中的 Pod。"
            )))),
        }
        true
    });

    let do_open = move |_| {
        let key = pick_pod.get_untracked();
        let Some((ns, pod)) = key.split_once('/') else {
            error.set(Some(AppError::Invalid(wharf_api::text!(
                "Pick a pod first.",
                "请先选择一个 Pod。"
            ))));
            return;
        };
        error.set(None);
        open_tab(
            ns.to_string(),
            pod.to_string(),
            pick_container.get_untracked(),
        );
    };
    let close_tab = move |id: u32| {
        tabs.update(|t| t.retain(|x| x.id != id));
        if active.get_untracked() == id {
            active.set(tabs.with_untracked(|t| t.last().map(|x| x.id).unwrap_or(0)));
        }
    };
    let is_admin = Memo::new(move |_| {
        me.with(|m| {
            m.as_ref()
                .map(|m| {
                    m.platform_admin
                        || m.tenant(&tenant.get())
                            .is_some_and(|t| t.role == crate::auth::Role::Admin)
                })
                .unwrap_or(false)
        })
    });
    let role = Memo::new(move |_| {
        me.with(|m| {
            m.as_ref()
                .and_then(|m| m.tenant(&tenant.get()).map(|t| t.role))
        })
    });
    let can_shell = Memo::new(move |_| role.get().is_some_and(|r| r.can_change()));

    view! {
        <div class="page terminal-page">
            <div class="page-head">
                <h1>{t("Terminal", "终端")}</h1>
            </div>
            <ErrorBanner error testid="terminal-error"/>
            <Show when=move || can_shell.get()
                fallback=move || me.with(|m| m.is_some()).then(|| view! {
                    <div class="banner error" data-testid="terminal-refused">
                        {move || if role.get().is_some() {
                            t("Viewers cannot open a shell: a shell can change the container. Developers and admins can.", "只读用户不能打开终端(终端可以修改容器),开发者和管理员可以。")()
                        } else {
                            t("You have no access to this tenant.", "您无权访问此租户。")()
                        }}
                    </div>
                })>
                <div class="inline terminal-picker">
                    <select data-testid="terminal-pod" prop:value=move || pick_pod.get()
                        on:change=move |ev| { pick_pod.set(event_target_value(&ev)); pick_container.set(String::new()); }>
                        <option value="">{t("Pod…", "容器组…")}</option>
                        {move || pods.get().into_iter().map(|(ns, p, _, app)| {
                            let key = format!("{ns}/{p}");
                            view! { <option value=key.clone()>{format!("{app} · {key}")}</option> }
                        }).collect_view()}
                    </select>
                    <Show when=move || { containers_of(&pick_pod.get()).len() > 1 }>
                        <select data-testid="terminal-container" prop:value=move || pick_container.get() on:change=move |ev| pick_container.set(event_target_value(&ev))>
                            <option value="">{t("default container", "默认容器")}</option>
                            {move || containers_of(&pick_pod.get()).into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                        </select>
                    </Show>
                    <button class="primary" data-testid="terminal-open" on:click=do_open>{t("Open terminal", "打开终端")}</button>
                </div>
                <div class="tabs" data-testid="terminal-tabs">
                    <For each=move || tabs.get() key=|tab| tab.id let:tab>
                        {
                            let id = tab.id;
                            let label = format!("{} / {}", tab.pod, if tab.container.is_empty() { "…" } else { tab.container.as_str() });
                            view! {
                                <span class="tab" class:active=move || active.get() == id data-testid="terminal-tab">
                                    <button class="link" on:click=move |_| active.set(id)>{label}</button>
                                    <button class="link close" title="close" data-testid="terminal-tab-close" on:click=move |_| close_tab(id)>"×"</button>
                                </span>
                            }
                        }
                    </For>
                </div>
                <For each=move || tabs.get() key=|tab| tab.id let:tab>
                    <TerminalPane tenant=tenant.get_untracked() active=Signal::derive({ let id = tab.id; move || active.get() == id }) tab=tab.clone()/>
                </For>
                <Show when=move || tabs.with(|t| t.is_empty())>
                    <p class="empty">{t("Pick a pod and open a terminal.", "请选择容器组并打开终端。")}</p>
                </Show>
            </Show>
            <Show when=move || is_admin.get()>
                <Sessions tenant/>
            </Show>
        </div>
    }
}

/// Where a pane's terminal goes (the check and the socket both take it).
#[derive(Clone, Debug)]
pub struct PaneTarget {
    pub tenant: String,
    pub ns: String,
    pub pod: String,
    /// Empty: the pod's default container.
    pub container: String,
}

impl PaneTarget {
    /// The socket's path; `debug`: a debug container instead of a shell.
    pub fn socket_path(&self, debug: bool, cols: u16, rows: u16) -> String {
        let (cols, rows) = (cols.to_string(), rows.to_string());
        let link = query_of(&[
            ("ns", &self.ns),
            ("pod", &self.pod),
            ("container", &self.container),
            ("debug", if debug { "true" } else { "" }),
            ("cols", &cols),
            ("rows", &rows),
        ]);
        routes::WS_TERMINAL.with_query(&[&self.tenant], &link)
    }

    /// Why no terminal may be opened here, as the page says it (`None`: it may).
    pub async fn refusal(&self) -> Option<Text> {
        let container = Some(self.container.clone()).filter(|c| !c.is_empty());
        terminal_check(
            self.tenant.clone(),
            self.ns.clone(),
            self.pod.clone(),
            container,
        )
        .await
        .err()
        .map(|e| refusal_text(&e))
    }
}

/// A refusal as a sentence that says what to do.
fn refusal_text(e: &AppError) -> Text {
    match e {
        AppError::Unauthenticated => text!(
            "Your session has ended: log in again to open a terminal.",
            "会话已结束:请重新登录后再打开终端。"
        ),
        AppError::Forbidden(why) => text!(
            "Not allowed to open a terminal here: {why}.",
            "无权在此打开终端:{why}。"
        ),
        AppError::NotFound(what) => text!(
            "No terminal: {what} does not exist (any more).",
            "无法打开终端:{what}不存在(或已删除)。"
        ),
        AppError::Invalid(why) => text!("No terminal: {why}.", "无法打开终端:{why}。"),
        AppError::Conflict(why) => text!("No terminal yet: {why}.", "暂时无法打开终端:{why}。"),
        other => other.text(),
    }
}

#[component]
fn TerminalPane(tenant: String, tab: Tab, active: Signal<bool>) -> impl IntoView {
    let conn = RwSignal::new(Conn::Connecting);
    let warning = RwSignal::new(None::<u64>);
    let size = RwSignal::new((0u16, 0u16));
    let node = NodeRef::<leptos::html::Div>::new();
    let (cmd_tx, cmd_rx) = futures::channel::mpsc::unbounded::<Cmd>();
    let theme = expect_context::<ThemeCtx>().0;
    let target = PaneTarget {
        tenant: tenant.clone(),
        ns: tab.ns.clone(),
        pod: tab.pod.clone(),
        container: tab.container.clone(),
    };
    run_pane(node, target, cmd_rx, conn, warning, size, theme);
    {
        let tx = cmd_tx.clone();
        Effect::new(move |_| {
            if active.get() {
                let _ = tx.unbounded_send(Cmd::Fit);
            }
        });
        let tx = cmd_tx.clone();
        Effect::new(move |_| {
            let _ = tx.unbounded_send(Cmd::Theme(theme.get() == Theme::Dark));
        });
    }
    let send = move |cmd: Cmd| {
        let tx = cmd_tx.clone();
        move |_| {
            let _ = tx.unbounded_send(cmd);
        }
    };
    let transfer_link = (tenant.clone(), tab.clone());
    view! {
        <div class="terminal-pane" class:hidden=move || !active.get() data-testid="terminal-pane" data-state=move || conn.with(|c| c.state().to_string())
            data-cols=move || size.get().0.to_string() data-rows=move || size.get().1.to_string()>
            <div class="terminal-status">
                {move || match conn.get() {
                    Conn::Connecting => view! { <span class="muted">{t("connecting…", "连接中…")}</span> }.into_any(),
                    Conn::Preparing(message) => view! { <span class="muted" data-testid="terminal-preparing">{move || tr(&message)}</span> }.into_any(),
                    Conn::Live { shell, recording, stopped_at } => view! {
                        <span class="ok">{format!("● {shell}")}</span>
                        {recording.then(|| match stopped_at {
                            None => view! {
                                <span class="badge rec" data-testid="terminal-recording" title="An admin can replay this session's output">{t("● REC — this session is recorded", "● 录制中 — 本会话将被录制")}</span>
                            }.into_any(),
                            Some(limit) => {
                                let mb = (limit as f64 / (1024.0 * 1024.0)).max(0.01);
                                view! {
                                    <span class="badge busy" data-testid="terminal-recording-stopped">
                                        {move || format!("{} {mb:.2} MB", t("REC stopped at the size limit of", "录制已在大小上限处停止:")())}
                                    </span>
                                }.into_any()
                            }
                        })}
                    }.into_any(),
                    Conn::Refused(why) => view! {
                        <span class="banner error inline-banner" data-testid="terminal-refusal">{move || tr(&why)}</span>
                        <button data-testid="terminal-reconnect" on:click=send(Cmd::Reconnect)>{t("Try again", "重试")}</button>
                    }.into_any(),
                    Conn::NoShell { container, tried, image } => view! {
                        <span class="banner warn inline-banner" data-testid="terminal-debug-offer">
                            {format!("Container {container} has no shell (tried {}), as distroless images do. A debug container with the tools image {image} can join the pod next to it, as kubectl debug does; it ends with this session.", tried.join(", "))}
                        </span>
                        <button class="primary" data-testid="terminal-debug-start" on:click=send(Cmd::StartDebug)>{t("Start a debug container", "启动调试容器")}</button>
                    }.into_any(),
                    other => {
                        let text = match other {
                            Conn::Lost => "Connection lost.".to_string(),
                            Conn::Exited(code) => format!("The shell exited with code {code}."),
                            Conn::IdleClosed(secs) => format!("Closed after {} minutes without input.", secs / 60),
                            Conn::Failed(m) => tr(&m),
                            _ => String::new(),
                        };
                        view! {
                            <span class="banner error inline-banner" data-testid="terminal-ended">{text}</span>
                            <button data-testid="terminal-reconnect" on:click=send(Cmd::Reconnect)>{t("Reconnect", "重新连接")}</button>
                        }.into_any()
                    }
                }}
                {move || warning.get().map(|s| view! { <span class="banner warn inline-banner" data-testid="terminal-idle-warning">{format!("No input for a while: this session closes in {s} s. Press a key to keep it.")}</span> })}
                <span class="spacer"></span>
                <span class="muted small">{t("Copy: select, Ctrl+Shift+C · Paste: Ctrl+Shift+V", "复制:选中后 Ctrl+Shift+C · 粘贴:Ctrl+Shift+V")}</span>
            </div>
            <div class="xterm-host" node_ref=node data-testid="terminal-screen"></div>
            <Transfer tenant=transfer_link.0 tab=transfer_link.1/>
        </div>
    }
}

/// What the page asks of a pane's running session.
#[derive(Clone, Copy, Debug)]
pub enum Cmd {
    Fit,
    Reconnect,
    /// Open the next session in a new debug container (the container has no shell).
    StartDebug,
    Theme(bool),
}

#[cfg(not(feature = "csr"))]
fn run_pane(
    _node: NodeRef<leptos::html::Div>,
    _target: PaneTarget,
    _cmds: futures::channel::mpsc::UnboundedReceiver<Cmd>,
    _conn: RwSignal<Conn>,
    _warning: RwSignal<Option<u64>>,
    _size: RwSignal<(u16, u16)>,
    _theme: RwSignal<Theme>,
) {
}

/// The pane's life in the browser: an xterm.js terminal and, one after the other, the
/// sockets that feed it. What to do when is decided by the pane's [`Session`] (a state
/// machine tested on the host); this is only the wiring: it turns xterm.js, socket and button
/// events into [`Event`]s and does the [`Do`]s it gets back. Everything JS lives inside one
/// local task; the view talks to it through `cmds` and signals, and its cleanup ends it. The
/// signals are written with `try_set`: the task notices the pane is gone and stops.
#[cfg(feature = "csr")]
fn run_pane(
    node: NodeRef<leptos::html::Div>,
    target: PaneTarget,
    mut cmds: futures::channel::mpsc::UnboundedReceiver<Cmd>,
    conn: RwSignal<Conn>,
    warning: RwSignal<Option<u64>>,
    size: RwSignal<(u16, u16)>,
    theme: RwSignal<Theme>,
) {
    // NB: the server's sentences are written into the terminal in the language of its opening
    let zh = use_context::<crate::i18n::I18n>()
        .is_some_and(|i| i.0.get_untracked() == crate::i18n::Lang::Zh);
    use crate::components::live::ws_url;
    use crate::components::xterm::{options, theme_options, FitAddon, Terminal};
    use crate::terminal::ClientControl;
    use futures::StreamExt;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};

    enum Frame {
        Open,
        Data(js_sys::Uint8Array),
        Text(String),
        Closed,
    }

    /// One session's socket, the handlers that feed its frames into `frames`.
    struct Socket {
        ws: web_sys::WebSocket,
        frames: futures::channel::mpsc::UnboundedReceiver<Frame>,
        _handlers: [Closure<dyn FnMut(JsValue)>; 3],
    }

    impl Socket {
        fn open(url: &str) -> Option<Socket> {
            let ws = web_sys::WebSocket::new(url).ok()?;
            ws.set_binary_type(web_sys::BinaryType::Arraybuffer);
            let (tx, frames) = futures::channel::mpsc::unbounded::<Frame>();
            let handler = |f: fn(JsValue) -> Option<Frame>| {
                let tx = tx.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
                    if let Some(frame) = f(ev) {
                        let _ = tx.unbounded_send(frame);
                    }
                })
            };
            let on_open = handler(|_| Some(Frame::Open));
            let on_message = handler(|ev| {
                let data = ev.dyn_into::<web_sys::MessageEvent>().ok()?.data();
                Some(match data.as_string() {
                    Some(text) => Frame::Text(text),
                    None => Frame::Data(js_sys::Uint8Array::new(&data)),
                })
            });
            let on_close = handler(|_| Some(Frame::Closed));
            ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            Some(Socket {
                ws,
                frames,
                _handlers: [on_open, on_message, on_close],
            })
        }

        /// NB: the handlers go first: their closures are dropped with the socket.
        fn close(self) {
            self.ws.set_onclose(None);
            self.ws.set_onmessage(None);
            self.ws.set_onopen(None);
            let _ = self.ws.close();
        }
    }

    enum Wake {
        Stop,
        Cmd(Option<Cmd>),
        Typed,
        Frame(Option<Frame>),
    }

    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    on_cleanup(move || drop(stop_tx));
    node.on_load(move |el| {
        leptos::task::spawn_local(async move {
            let el: web_sys::HtmlElement = el.into();
            let Some(dark) = theme.try_get_untracked().map(|t| t == Theme::Dark) else {
                return;
            };
            let term = Terminal::new(&options(dark));
            let Some(fit) = FitAddon::create() else {
                conn.try_set(Conn::Failed(text!(
                    "xterm.js did not load (see frontend/index.html)",
                    "xterm.js 未能加载(见 frontend/index.html)"
                )));
                return;
            };
            term.load_addon(&fit);
            term.open(&el);
            // The open socket, for what the user types and the size.
            let open_ws: Rc<RefCell<Option<web_sys::WebSocket>>> = Rc::new(RefCell::new(None));
            let send_text = {
                let open_ws = open_ws.clone();
                move |text: String| {
                    if let Some(ws) = open_ws
                        .borrow()
                        .as_ref()
                        .filter(|ws| ws.ready_state() == web_sys::WebSocket::OPEN)
                    {
                        let _ = ws.send_with_str(&text);
                    }
                }
            };
            let (typed_tx, mut typed) = futures::channel::mpsc::unbounded::<()>();
            let on_data = {
                let open_ws = open_ws.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |data: JsValue| {
                    let text = data.as_string().unwrap_or_default();
                    let _ = typed_tx.unbounded_send(());
                    if let Some(ws) = open_ws
                        .borrow()
                        .as_ref()
                        .filter(|ws| ws.ready_state() == web_sys::WebSocket::OPEN)
                    {
                        let _ = ws.send_with_u8_array(text.as_bytes());
                    }
                })
            };
            term.on_data(on_data.as_ref().unchecked_ref());
            let resize_msg = |cols: u16, rows: u16| {
                serde_json::to_string(&ClientControl::Resize { cols, rows }).unwrap_or_default()
            };
            let on_resize = {
                let send_text = send_text.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |dims: JsValue| {
                    let get = |k: &str| {
                        js_sys::Reflect::get(&dims, &k.into())
                            .ok()
                            .and_then(|v| v.as_f64())
                            .unwrap_or(0.0) as u16
                    };
                    let (cols, rows) = (get("cols"), get("rows"));
                    size.try_set((cols, rows));
                    send_text(resize_msg(cols, rows));
                })
            };
            term.on_resize(on_resize.as_ref().unchecked_ref());
            // Copy and paste: Ctrl+Shift+C / Ctrl+Shift+V (plain Ctrl+C stays the shell's interrupt).
            let term = Rc::new(term);
            let on_key = {
                let term = term.clone();
                Closure::<dyn FnMut(JsValue) -> bool>::new(move |ev: JsValue| {
                    let Ok(ev) = ev.dyn_into::<web_sys::KeyboardEvent>() else {
                        return true;
                    };
                    if ev.type_() != "keydown" || !ev.ctrl_key() || !ev.shift_key() {
                        return true;
                    }
                    let clipboard = web_sys::window().map(|w| w.navigator().clipboard());
                    match (ev.key().to_ascii_lowercase().as_str(), clipboard) {
                        ("c", Some(cb)) => {
                            let _ = cb.write_text(&term.get_selection());
                            false
                        }
                        ("v", Some(cb)) => {
                            // NB: touches no signal: only the terminal, which the task keeps alive.
                            let term = term.clone();
                            leptos::task::spawn_local(async move {
                                if let Ok(text) =
                                    wasm_bindgen_futures::JsFuture::from(cb.read_text()).await
                                {
                                    term.paste(&text.as_string().unwrap_or_default());
                                }
                            });
                            false
                        }
                        _ => true,
                    }
                })
            };
            term.attach_custom_key_event_handler(on_key.as_ref().unchecked_ref());
            let fit = Rc::new(fit);
            let on_window_resize = {
                let fit = fit.clone();
                Closure::<dyn FnMut(JsValue)>::new(move |_| fit.fit())
            };
            let window = web_sys::window().expect("a window");
            let _ = window.add_event_listener_with_callback(
                "resize",
                on_window_resize.as_ref().unchecked_ref(),
            );
            fit.fit();
            size.try_set((term.cols(), term.rows()));
            term.focus();

            let mut stop = stop_rx;
            let (mut session, first) = Session::start();
            session.zh = zh;
            let mut todo: VecDeque<Do> = first.into();
            let mut socket: Option<Socket> = None;
            // What the pane shows, written only when it changes.
            let mut shown: Option<(Conn, Option<u64>)> = None;
            'pane: loop {
                while let Some(d) = todo.pop_front() {
                    match d {
                        Do::Write(text) => term.write_str(&text),
                        Do::SendSize => {
                            fit.fit();
                            send_text(resize_msg(term.cols(), term.rows()));
                        }
                        Do::Check => {
                            if conn.try_set(session.conn().clone()).is_some() {
                                break 'pane;
                            }
                            let why = target.refusal().await;
                            todo.extend(session.step(Event::Checked(why)));
                        }
                        Do::Open { debug } => {
                            let url = ws_url(&target.socket_path(debug, term.cols(), term.rows()));
                            match Socket::open(&url) {
                                Some(s) => {
                                    *open_ws.borrow_mut() = Some(s.ws.clone());
                                    socket = Some(s);
                                }
                                None => todo.extend(session.step(Event::Closed)),
                            }
                        }
                        Do::Close => {
                            open_ws.borrow_mut().take();
                            if let Some(s) = socket.take() {
                                s.close();
                            }
                        }
                    }
                }
                let now = (session.conn().clone(), session.warning());
                if shown.as_ref() != Some(&now) {
                    if conn.try_set(now.0.clone()).is_some() || warning.try_set(now.1).is_some() {
                        break 'pane;
                    }
                    shown = Some(now);
                }
                let wake = {
                    let frame = async {
                        match socket.as_mut() {
                            Some(s) => s.frames.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    futures::pin_mut!(frame);
                    futures::select_biased! {
                        _ = stop => Wake::Stop,
                        c = cmds.next() => Wake::Cmd(c),
                        _ = typed.next() => Wake::Typed,
                        f = futures::FutureExt::fuse(frame) => Wake::Frame(f),
                    }
                };
                let event = match wake {
                    // The pane is gone (its cleanup dropped `stop`) or no more commands.
                    Wake::Stop | Wake::Cmd(None) => break 'pane,
                    Wake::Cmd(Some(Cmd::Fit)) => {
                        fit.fit();
                        term.focus();
                        continue;
                    }
                    Wake::Cmd(Some(Cmd::Theme(dark))) => {
                        term.set_options(&theme_options(dark));
                        continue;
                    }
                    Wake::Cmd(Some(Cmd::Reconnect)) => Event::Reconnect,
                    Wake::Cmd(Some(Cmd::StartDebug)) => Event::StartDebug,
                    Wake::Typed => Event::Typed,
                    Wake::Frame(Some(Frame::Open)) => Event::Opened,
                    Wake::Frame(Some(Frame::Data(bytes))) => {
                        term.write_bytes(&bytes);
                        continue;
                    }
                    Wake::Frame(Some(Frame::Text(text))) => Event::Control(text),
                    Wake::Frame(Some(Frame::Closed) | None) => {
                        open_ws.borrow_mut().take();
                        if let Some(s) = socket.take() {
                            s.close();
                        }
                        Event::Closed
                    }
                };
                todo.extend(session.step(event));
            }
            open_ws.borrow_mut().take();
            if let Some(s) = socket.take() {
                s.close();
            }
            let _ = window.remove_event_listener_with_callback(
                "resize",
                on_window_resize.as_ref().unchecked_ref(),
            );
            term.dispose();
            drop((on_data, on_resize, on_key));
        });
    });
}

#[component]
fn Transfer(tenant: String, tab: Tab) -> impl IntoView {
    let dest = RwSignal::new("/tmp/".to_string());
    let progress = RwSignal::new(None::<(f64, f64)>);
    let result = RwSignal::new(None::<Result<Text, Text>>);
    let download_path = RwSignal::new(String::new());
    let file_input = NodeRef::<leptos::html::Input>::new();
    let base = (tenant.clone(), tab.clone());
    let link_for = move |path: &str| {
        query_of(&[
            ("ns", &base.1.ns),
            ("pod", &base.1.pod),
            ("container", &base.1.container),
            ("path", path),
        ])
    };
    let upload_url = {
        let (tenant, link_for) = (tenant.clone(), link_for.clone());
        move |path: &str| routes::UPLOAD_TERMINAL.with_query(&[&tenant], &link_for(path))
    };
    let download_href = {
        let tenant = tenant.clone();
        move || routes::DOWNLOAD_TERMINAL.with_query(&[&tenant], &link_for(&download_path.get()))
    };
    let do_upload = move |_| {
        result.set(None);
        let Some(input) = file_input.get_untracked() else {
            return;
        };
        #[cfg(feature = "csr")]
        start_upload(
            input,
            dest.get_untracked(),
            upload_url.clone(),
            progress,
            result,
        );
        #[cfg(not(feature = "csr"))]
        let _ = (input, &upload_url);
    };
    view! {
        <div class="transfer">
            <div class="inline">
                <input type="file" data-testid="upload-file" node_ref=file_input/>
                <input class="mono" data-testid="upload-dest" bind:value=dest title="folder or full path in the container"/>
                <button data-testid="upload-button" on:click=do_upload>{t("Upload", "上传")}</button>
                <UploadProgress progress/>
                {move || result.get().map(|r| match r {
                    Ok(m) => view! { <span class="ok" data-testid="upload-done">{move || tr(&m)}</span> }.into_any(),
                    Err(e) => view! { <span class="banner error inline-banner" data-testid="upload-error">{move || tr(&e)}</span> }.into_any(),
                })}
            </div>
            <div class="inline">
                <input class="mono" data-testid="download-path" placeholder="/path/in/container" bind:value=download_path/>
                <a class="button" data-testid="download-link" href=download_href download="">{t("Download", "下载")}</a>
            </div>
        </div>
    }
}

/// Sends the picked file to `dest` in the container (a folder ending in `/` gets the file's
/// own name); also the storage page's upload onto a volume.
#[cfg(feature = "csr")]
pub(crate) fn start_upload(
    input: web_sys::HtmlInputElement,
    dest: String,
    url: impl Fn(&str) -> String + 'static,
    progress: RwSignal<Option<(f64, f64)>>,
    result: RwSignal<Option<Result<Text, Text>>>,
) {
    use crate::components::upload::{broke_off, picked, send_file};
    let Some(file) = picked(&input) else {
        result.set(Some(Err(text!("Pick a file first.", "请先选择文件。"))));
        return;
    };
    let dest = dest.trim().to_string();
    let path = if dest.is_empty() {
        format!("/tmp/{}", file.name())
    } else if dest.ends_with('/') {
        format!("{dest}{}", file.name())
    } else {
        dest
    };
    send_file(&file, &url(&path), progress, move |status, text| {
        result.try_set(Some(if status == 200 {
            let done: Option<crate::terminal::UploadDone> = serde_json::from_str(&text).ok();
            Ok(done
                .map(|d| {
                    text!(
                        "Uploaded {} bytes to {}",
                        "已上传 {} 字节到 {}",
                        d.bytes,
                        d.path
                    )
                })
                .unwrap_or_else(|| Text::verbatim(text)))
        } else if status == 0 {
            Err(broke_off())
        } else {
            Err(crate::i18n::refusal_of(&text))
        }));
    });
}

/// What a session row offers of its recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordingCell {
    /// Not recorded (or still open: the record says so at the end).
    None,
    /// Replay and download; `truncated`: it stops at the size limit.
    Replay { truncated: bool },
    /// Recorded, but deleted since: no link that would only fail.
    Expired,
}

fn recording_cell(r: &SessionRecord) -> RecordingCell {
    match (r.recording, r.recording_expired) {
        (false, _) => RecordingCell::None,
        (true, true) => RecordingCell::Expired,
        (true, false) => RecordingCell::Replay {
            truncated: r.recording_truncated,
        },
    }
}

#[component]
fn Sessions(tenant: Memo<String>) -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let rows = Resource::new(
        move || (tenant.get(), refresh.get()),
        |(t, _)| terminal_sessions(t),
    );
    // The recording being replayed: (namespace, session id, what it shows).
    let replaying = RwSignal::new(None::<(String, String, String)>);
    view! {
        <h2>{t("Terminal sessions (audit)", "终端会话(审计)")} " " <button class="link" data-testid="sessions-refresh" on:click=move |_| refresh.update(|r| *r += 1)>"↻"</button></h2>
        {move || replaying.get().map(|(ns, session, title)| view! {
            <super::terminal_replay::Replay tenant=tenant.get_untracked() ns session title on_close=Callback::new(move |_| replaying.set(None))/>
        })}
        <Suspense fallback=|| view! { <p class="loading">"…"</p> }>
            {move || rows.get().map(|r| match r {
                Err(e) => view! { <ErrorBanner error=Signal::stored(Some(e)) testid="sessions-error"/> }.into_any(),
                Ok(rows) if rows.is_empty() => view! { <p class="empty">{t("No sessions yet.", "暂无会话。")}</p> }.into_any(),
                Ok(rows) => view! {
                    <table class="grid" data-testid="sessions-table">
                        <thead><tr><th>{t("Kind", "类型")}</th><th>{t("User", "用户")}</th><th>{t("Pod / container", "容器组 / 容器")}</th><th>{t("Detail", "详情")}</th><th>{t("Started", "开始")}</th><th>{t("Duration", "时长")}</th><th>{t("Exit", "退出码")}</th><th>{t("Outcome", "结果")}</th><th>{t("Recording", "录制")}</th></tr></thead>
                        <tbody>{rows.into_iter().map(|r| {
                            let recording = match recording_cell(&r) {
                                RecordingCell::None => None,
                                RecordingCell::Expired => Some(view! {
                                    <span class="muted" data-testid="session-recording-expired" title=t("The recording was deleted by the console's retention (age or total size).", "录制已按控制台的保留策略(时长或总大小)删除。")>{t("recording expired", "录制已过期")}</span>
                                }.into_any()),
                                RecordingCell::Replay { truncated } => {
                                    let (ns, id) = (r.namespace.clone(), r.id.clone());
                                    let title = format!("{} · {}/{} · {}", r.user, r.namespace, r.pod, r.started.map(|s| s.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default());
                                    let href = routes::DOWNLOAD_RECORDING.with_query(&[&tenant.get_untracked()], &query_of(&[("ns", &ns), ("session", &id), ("download", "true")]));
                                    Some(view! {
                                        <button class="link" data-testid="session-replay" on:click=move |_| replaying.set(Some((ns.clone(), id.clone(), title.clone())))>{t("▶ Replay", "▶ 回放")}</button>
                                        " · "
                                        <a data-testid="session-cast-download" href=href download="">".cast"</a>
                                        {truncated.then(|| view! {
                                            " "
                                            <span class="badge busy" data-testid="session-recording-truncated" title=t("The recording stops where it reached the console's size limit; the session went on.", "录制在达到控制台的大小上限处停止，会话仍继续。")>{t("truncated", "已截断")}</span>
                                        })}
                                    }.into_any())
                                }
                            };
                            let (kind, id) = (r.kind.clone(), r.id.clone());
                            view! {
                                <tr data-testid="session-row" data-kind=kind data-session=id>
                                    <td>{r.kind}</td><td>{r.user}</td><td class="mono">{format!("{}/{} · {}", r.namespace, r.pod, r.container)}</td><td class="mono">{r.detail}</td>
                                    <td>{r.started.map(|s| s.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()}</td>
                                    <td>{r.duration_secs.map(|d| format!("{d:.1} s")).unwrap_or_else(|| "open".into())}</td>
                                    <td>{r.exit_code.map(|c| c.to_string()).unwrap_or_default()}</td><td>{r.outcome}</td>
                                    <td>{recording}</td>
                                </tr>
                            }
                        }).collect_view()}</tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn the_socket_link_names_the_size_and_asks_for_a_debug_container_only_when_told() {
        let t = PaneTarget {
            tenant: "alpha".into(),
            ns: "alpha".into(),
            pod: "web-1".into(),
            container: String::new(),
        };
        assert_eq!(
            t.socket_path(false, 120, 40),
            "/ws/terminal/alpha?ns=alpha&pod=web-1&cols=120&rows=40"
        );
        assert_eq!(
            t.socket_path(true, 80, 24),
            "/ws/terminal/alpha?ns=alpha&pod=web-1&debug=true&cols=80&rows=24"
        );
        // and the server reads it back
        let link: crate::terminal::TerminalLink = serde_json::from_value(serde_json::json!({"ns": "alpha", "pod": "web-1", "debug": true, "cols": 80, "rows": 24})).unwrap();
        assert!(link.debug && link.cols == Some(80));
    }

    #[test]
    fn an_expired_recording_offers_no_link_and_a_truncated_one_says_so() {
        let row: SessionRecord = serde_json::from_value(serde_json::json!({"kind": "session", "user": "alice", "tenant": "alpha", "namespace": "alpha",
            "pod": "web-1", "container": "app", "detail": "/bin/sh", "started": null, "duration_secs": 1.0, "exit_code": 0, "outcome": "exit"}))
        .unwrap();
        assert_eq!(
            recording_cell(&row),
            RecordingCell::None,
            "a record from before recordings reads as not recorded"
        );
        let with = |recording, truncated, expired| {
            recording_cell(&SessionRecord {
                recording,
                recording_truncated: truncated,
                recording_expired: expired,
                ..row.clone()
            })
        };
        assert_eq!(
            with(true, false, false),
            RecordingCell::Replay { truncated: false }
        );
        assert_eq!(
            with(true, true, false),
            RecordingCell::Replay { truncated: true }
        );
        assert_eq!(with(true, true, true), RecordingCell::Expired);
        assert_eq!(with(true, false, true), RecordingCell::Expired);
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(
            refusal_text(&AppError::NotFound(text!(
                "pod 'x' in namespace 'alpha'",
                "命名空间“alpha”中的 Pod“x”"
            ))),
            Text::new(
                "No terminal: pod 'x' in namespace 'alpha' does not exist (any more).",
                "无法打开终端:命名空间“alpha”中的 Pod“x”不存在(或已删除)。"
            )
        );
        assert!(refusal_text(&AppError::Forbidden(Text::verbatim(
            "no access to tenant 'alpha'"
        )))
        .en
        .starts_with("Not allowed to open a terminal here: no access"));
        assert!(refusal_text(&AppError::Unauthenticated)
            .en
            .contains("log in again"));
    }
}
