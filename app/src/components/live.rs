//! Live data from the server: [`use_live`] paints a first snapshot from a server function,
//! then follows a WebSocket that pushes the whole value again whenever it changes; [`follow`]
//! is the socket alone (connects, parses each JSON message, reconnects with back-off when the
//! connection drops).
//!
//! Both die with the component that started them: the socket task is aborted when the owner
//! is cleaned up, and it only writes signals through `try_` accessors, so a message that was
//! already on its way when the page went is dropped instead of panicking on a disposed signal.

use crate::error::AppError;
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use std::future::Future;

/// The connection state, shown as a small indicator on live pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Live,
    Lost,
}

/// A message of a live socket that carries the whole current value (or says why it cannot).
pub trait LiveFeed: DeserializeOwned + 'static {
    type Value: Send + Sync + 'static;
    fn into_value(self) -> Result<Self::Value, AppError>;
}

/// What [`use_live`] keeps current. `data` is `None` until the first snapshot arrives.
pub struct Live<T: Send + Sync + 'static> {
    pub data: RwSignal<Option<T>>,
    pub error: RwSignal<Option<AppError>>,
    pub link: RwSignal<Link>,
}

impl<T: Send + Sync + 'static> Clone for Live<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Live<T> {}

/// First paint from `fetch` (a server function), then the socket at `endpoint` keeps the value
/// current. Both are reactive: when a signal they read changes (the tenant), the value is
/// cleared, asked again and the socket moved. `fetch` runs again too when something else it
/// reads changes (a refresh counter after a change).
pub fn use_live<M, Fut>(
    fetch: impl Fn() -> Fut + 'static,
    endpoint: impl Fn() -> String + 'static,
) -> Live<M::Value>
where
    M: LiveFeed,
    M::Value: Clone,
    Fut: Future<Output = Result<M::Value, AppError>> + 'static,
{
    let live = Live {
        data: RwSignal::new(None),
        error: RwSignal::new(None),
        link: RwSignal::new(Link::Connecting),
    };
    let first = LocalResource::new(fetch);
    Effect::new(move |_| match first.get() {
        Some(Ok(v)) => {
            live.error.set(None);
            live.data.set(Some(v));
        }
        Some(Err(e)) => live.error.set(Some(e)),
        None => {}
    });
    Effect::new(move |prev: Option<()>| {
        let path = endpoint();
        if prev.is_some() {
            // NB: another tenant: nothing of the previous one may stay on the page.
            live.data.set(None);
            live.error.set(None);
        }
        follow::<M, _>(path, live.link, move |m| match m.into_value() {
            Ok(v) => {
                live.error.try_set(None);
                live.data.try_set(Some(v));
            }
            Err(e) => {
                live.error.try_set(Some(e));
            }
        });
    });
    live
}

/// `ws://` or `wss://` URL for a server path, from the page's own origin.
#[cfg(feature = "csr")]
pub fn ws_url(path: &str) -> String {
    let loc = web_sys::window().expect("a window").location();
    let scheme = if loc.protocol().unwrap_or_default() == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}{path}", loc.host().unwrap_or_default())
}

#[cfg(feature = "csr")]
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Follows `path`, calling `on_message` for each message, until the current owner is cleaned
/// up. `on_message` must write signals with `try_` accessors (a message can be handled after
/// the page went, between its cleanup and the task's end); the loop itself stops as soon as
/// `link` is gone.
#[cfg(feature = "csr")]
pub fn follow<T, F>(path: String, link: RwSignal<Link>, on_message: F)
where
    T: DeserializeOwned + 'static,
    F: Fn(T) + 'static,
{
    use futures::StreamExt;
    use gloo_net::websocket::{futures::WebSocket, Message};

    let (task, handle) = futures::future::abortable(async move {
        let mut backoff = 500;
        loop {
            if link.try_set(Link::Connecting).is_some() {
                return;
            }
            if let Ok(ws) = WebSocket::open(&ws_url(&path)) {
                let (_, mut rx) = ws.split();
                while let Some(msg) = rx.next().await {
                    let text = match msg {
                        Ok(Message::Text(t)) => t,
                        Ok(Message::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
                        Err(_) => break,
                    };
                    if let Ok(value) = serde_json::from_str::<T>(&text) {
                        if link.try_set(Link::Live).is_some() {
                            return;
                        }
                        backoff = 500;
                        on_message(value);
                    }
                }
            }
            if link.try_set(Link::Lost).is_some() {
                return;
            }
            sleep_ms(backoff).await;
            backoff = (backoff * 2).min(10_000);
        }
    });
    leptos::task::spawn_local(async move {
        let _ = task.await;
    });
    on_cleanup(move || handle.abort());
}

#[cfg(not(feature = "csr"))]
pub fn follow<T, F>(_path: String, _link: RwSignal<Link>, _on_message: F)
where
    T: DeserializeOwned + 'static,
    F: Fn(T) + 'static,
{
}

#[component]
pub fn LinkDot(link: RwSignal<Link>) -> impl IntoView {
    let (class, title) = (
        move || match link.get() {
            Link::Live => "dot live",
            Link::Connecting => "dot connecting",
            Link::Lost => "dot lost",
        },
        move || match link.get() {
            Link::Live => "live",
            Link::Connecting => "connecting…",
            Link::Lost => "connection lost, retrying…",
        },
    );
    view! { <span class=class title=title data-testid="live-state" data-state=move || title().to_string()></span> }
}
