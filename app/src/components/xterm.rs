//! xterm.js in the page: the few calls the terminal needs, bound to the globals that
//! `frontend/index.html` loads (`Terminal` from `xterm` 5.3.0, `FitAddon.FitAddon` from
//! `xterm-addon-fit` 0.8.0; both installed by `scripts/setup.sh` into `frontend/node_modules`).
//!
//! NB: not the `xterm-js-rs` crate: its bindings import the ES module `"xterm"` by bare
//! name (`#[wasm_bindgen(module = "xterm")]`), which only a JS bundler can resolve; Trunk
//! has none, and xterm 5.3 ships no ES module for an import map. A dozen lines of our own
//! bind the same API to the UMD globals instead.

#[cfg(feature = "csr")]
mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        pub type Terminal;
        #[wasm_bindgen(constructor)]
        pub fn new(options: &JsValue) -> Terminal;
        #[wasm_bindgen(method)]
        pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);
        #[wasm_bindgen(method, js_name = write)]
        pub fn write_bytes(this: &Terminal, data: &js_sys::Uint8Array);
        #[wasm_bindgen(method, js_name = write)]
        pub fn write_str(this: &Terminal, data: &str);
        /// `onData(cb: (data: string) => void)`: keys and pastes, as the shell should get them.
        #[wasm_bindgen(method, js_name = onData)]
        pub fn on_data(this: &Terminal, callback: &js_sys::Function) -> JsValue;
        /// `onResize(cb: ({cols, rows}) => void)`.
        #[wasm_bindgen(method, js_name = onResize)]
        pub fn on_resize(this: &Terminal, callback: &js_sys::Function) -> JsValue;
        #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
        pub fn attach_custom_key_event_handler(this: &Terminal, callback: &js_sys::Function);
        #[wasm_bindgen(method, js_name = loadAddon)]
        pub fn load_addon(this: &Terminal, addon: &FitAddon);
        #[wasm_bindgen(method, js_name = getSelection)]
        pub fn get_selection(this: &Terminal) -> String;
        #[wasm_bindgen(method)]
        pub fn paste(this: &Terminal, data: &str);
        #[wasm_bindgen(method)]
        pub fn focus(this: &Terminal);
        #[wasm_bindgen(method)]
        pub fn dispose(this: &Terminal);
        /// `resize(cols, rows)`: a replayed recording's size changes.
        #[wasm_bindgen(method)]
        pub fn resize(this: &Terminal, cols: u16, rows: u16);
        /// `reset()`: back to a blank terminal (a replay starting over).
        #[wasm_bindgen(method)]
        pub fn reset(this: &Terminal);
        #[wasm_bindgen(method, getter)]
        pub fn cols(this: &Terminal) -> u16;
        #[wasm_bindgen(method, getter)]
        pub fn rows(this: &Terminal) -> u16;
        #[wasm_bindgen(method, setter)]
        pub fn set_options(this: &Terminal, options: &JsValue);

        /// `FitAddon.FitAddon` (made by [`FitAddon::create`]).
        pub type FitAddon;
        #[wasm_bindgen(method)]
        pub fn fit(this: &FitAddon);
    }
}

#[cfg(feature = "csr")]
pub use js::{FitAddon, Terminal};

#[cfg(feature = "csr")]
impl FitAddon {
    /// `new FitAddon.FitAddon()`: the addon's UMD build puts its class one level down.
    pub fn create() -> Option<FitAddon> {
        use wasm_bindgen::JsCast;
        let module = js_sys::Reflect::get(&js_sys::global(), &"FitAddon".into()).ok()?;
        let class: js_sys::Function = js_sys::Reflect::get(&module, &"FitAddon".into())
            .ok()?
            .dyn_into()
            .ok()?;
        js_sys::Reflect::construct(&class, &js_sys::Array::new())
            .ok()
            .map(|v| v.unchecked_into())
    }
}

/// xterm.js options: the console's monospace font and colours for the light or dark theme.
#[cfg(feature = "csr")]
pub fn options(dark: bool) -> wasm_bindgen::JsValue {
    let theme = theme(dark);
    let json = format!(
        r#"{{"cursorBlink":true,"fontSize":14,"scrollback":5000,"fontFamily":"\"JetBrains Mono\", \"DejaVu Sans Mono\", Menlo, Consolas, monospace","theme":{theme}}}"#
    );
    js_sys::JSON::parse(&json).unwrap_or(wasm_bindgen::JsValue::UNDEFINED)
}

/// A terminal that only shows (a replayed recording): the recording's size, no input, no cursor blink.
#[cfg(feature = "csr")]
pub fn replay_options(dark: bool, cols: u16, rows: u16) -> wasm_bindgen::JsValue {
    let theme = theme(dark);
    let json = format!(
        r#"{{"cols":{cols},"rows":{rows},"disableStdin":true,"cursorBlink":false,"fontSize":14,"scrollback":5000,"fontFamily":"\"JetBrains Mono\", \"DejaVu Sans Mono\", Menlo, Consolas, monospace","theme":{theme}}}"#
    );
    js_sys::JSON::parse(&json).unwrap_or(wasm_bindgen::JsValue::UNDEFINED)
}

/// Just the theme, to switch with the console's light/dark toggle.
#[cfg(feature = "csr")]
pub fn theme_options(dark: bool) -> wasm_bindgen::JsValue {
    js_sys::JSON::parse(&format!(r#"{{"theme":{}}}"#, theme(dark)))
        .unwrap_or(wasm_bindgen::JsValue::UNDEFINED)
}

#[cfg(any(feature = "csr", test))]
fn theme(dark: bool) -> &'static str {
    if dark {
        r##"{"background":"#0f1720","foreground":"#d7dee8","cursor":"#5fb3f9","selectionBackground":"#2b4a66"}"##
    } else {
        r##"{"background":"#fbfcfd","foreground":"#1d2733","cursor":"#1769aa","selectionBackground":"#b9d7f3","black":"#1d2733","brightBlack":"#5c6b7a","white":"#c8d0d9","brightWhite":"#eef2f6","yellow":"#8a6d00","brightYellow":"#a07f00"}"##
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_themes_are_json() {
        for dark in [false, true] {
            let v: serde_json::Value = serde_json::from_str(super::theme(dark)).unwrap();
            assert!(v["background"].is_string());
        }
    }
}
