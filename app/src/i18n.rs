//! Chinese and English text. The first users are Chinese operators, so every sentence a
//! page shows is written in both; the choice is kept in the browser's local storage.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

/// The same, read once (for attributes and messages built in event handlers).
pub fn t_now(en: &'static str, zh: &'static str) -> &'static str {
    t(en, zh)()
}
