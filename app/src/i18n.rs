//! Chinese and English text. The first users are Chinese operators, so every sentence a
//! page shows is written in both; the choice is kept in the browser's local storage. What the
//! server says (errors, refusals, validation) comes as a [`Text`] in both languages too.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wharf_api::Text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
    pub fn from_code(code: &str) -> Lang {
        if code.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

/// The language signal, provided once at the root.
#[derive(Clone, Copy)]
pub struct I18n(pub RwSignal<Lang>);

/// A reactive text: English or Chinese according to the current language.
pub fn t(
    en: &'static str,
    zh: &'static str,
) -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
    let lang = use_context::<I18n>().map(|i| i.0);
    move || match lang.map(|l| l.get()).unwrap_or_default() {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// The current language (reactive: read inside a closure, the closure follows a switch).
pub fn lang() -> Lang {
    use_context::<I18n>().map(|i| i.0.get()).unwrap_or_default()
}

/// A sentence the server sent, in `lang`.
pub fn pick(text: &Text, lang: Lang) -> &str {
    text.pick(lang == Lang::Zh)
}

/// A sentence the server sent, in the current language (reactive, like [`lang`]).
pub fn tr(text: &Text) -> String {
    pick(text, lang()).to_string()
}

/// The body of a refused download, upload or socket: the server's sentence in both languages
/// (JSON), or the body as it came when it is something else.
pub fn refusal_of(body: &str) -> Text {
    serde_json::from_str(body).unwrap_or_else(|_| Text::verbatim(body.trim()))
}

/// The same, read once (for attributes and messages built in event handlers).
pub fn t_now(en: &'static str, zh: &'static str) -> &'static str {
    t(en, zh)()
}
