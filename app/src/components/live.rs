//! A live feed from a server WebSocket: connects, parses each JSON message, reconnects with
//! back-off when the connection drops, and stops when the owning view is cleaned up.

use leptos::prelude::*;
use serde::de::DeserializeOwned;

/// The connection state, shown as a small indicator on live pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Live,
    Lost,
}

/// `ws://` or `wss://` URL for a server path, from the page's own origin.
#[cfg(feature = "csr")]
pub fn ws_url(path: &str) -> String {
    let loc = web_sys::window().expect("a window").location();
    let scheme = if loc.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
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

/// Follows `path`, calling `on_message` for each message, until the current owner is cleaned up.
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
            link.set(Link::Connecting);
            if let Ok(ws) = WebSocket::open(&ws_url(&path)) {
                let (_, mut rx) = ws.split();
                while let Some(msg) = rx.next().await {
                    let text = match msg {
                        Ok(Message::Text(t)) => t,
                        Ok(Message::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
                        Err(_) => break,
                    };
                    if let Ok(value) = serde_json::from_str::<T>(&text) {
                        link.set(Link::Live);
                        backoff = 500;
                        on_message(value);
                    }
                }
            }
            link.set(Link::Lost);
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
