//! Sending a picked file as the raw body of a POST, with progress (fetch cannot report upload
//! progress, XMLHttpRequest can): the terminal's file transfer and the pipeline designer's
//! artifact upload.

use leptos::prelude::*;
use wharf_api::{text, Text};

/// What an upload whose connection broke says.
pub fn broke_off() -> Text {
    text!(
        "The upload broke off (connection lost).",
        "上传中断(连接断开)。"
    )
}

/// The file picked in `input`, if any.
#[cfg(feature = "csr")]
pub fn picked(input: &web_sys::HtmlInputElement) -> Option<web_sys::File> {
    input.files().and_then(|f| f.get(0))
}

/// POSTs `file` to `url`; `progress` follows `(sent, total)` bytes; `done` gets the HTTP status
/// (0 when the connection broke) and the answer's text. The page may be gone by then: signals
/// are set with `try_set`.
#[cfg(feature = "csr")]
pub fn send_file(
    file: &web_sys::File,
    url: &str,
    progress: RwSignal<Option<(f64, f64)>>,
    done: impl FnOnce(u16, String) + 'static,
) {
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    let Ok(xhr) = web_sys::XmlHttpRequest::new() else {
        return;
    };
    if xhr.open("POST", url).is_err() {
        return;
    }
    progress.try_set(Some((0.0, file.size())));
    let on_progress = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        if let Ok(ev) = ev.dyn_into::<web_sys::ProgressEvent>() {
            progress.try_set(Some((ev.loaded(), ev.total())));
        }
    });
    if let Ok(upload) = xhr.upload() {
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let mut done = Some(done);
    let on_end = {
        let xhr = xhr.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let status = xhr.status().unwrap_or(0);
            let text = xhr.response_text().ok().flatten().unwrap_or_default();
            if let Some(done) = done.take() {
                done(status, text);
            }
        })
    };
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    let _ = xhr.send_with_opt_blob(Some(file));
    // NB: the request owns nothing on the Rust side; the callbacks live as long as the page.
    on_progress.forget();
    on_end.forget();
}

/// A progress bar while `progress` is set.
#[component]
pub fn UploadProgress(progress: RwSignal<Option<(f64, f64)>>) -> impl IntoView {
    move || {
        progress.get().map(|(done, total)| {
            view! { <progress data-testid="upload-progress" max=total value=done></progress> }
        })
    }
}
