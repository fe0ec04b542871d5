//! Language and theme kept in the browser's local storage, applied to `<html>`.

use crate::i18n::Lang;
use crate::Theme;

#[cfg(feature = "csr")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

#[cfg(feature = "csr")]
pub fn load_lang() -> Option<Lang> {
    let stored = storage()?.get_item("wharf.lang").ok()?;
    let code = stored.or_else(|| web_sys::window()?.navigator().language())?;
    Some(Lang::from_code(&code))
}

#[cfg(feature = "csr")]
pub fn load_theme() -> Option<Theme> {
    match storage()?.get_item("wharf.theme").ok()??.as_str() {
        "dark" => Some(Theme::Dark),
        _ => Some(Theme::Light),
    }
}

#[cfg(feature = "csr")]
pub fn apply(lang: Lang, theme: Theme) {
    let theme_name = if theme == Theme::Dark {
        "dark"
    } else {
        "light"
    };
    if let Some(s) = storage() {
        let _ = s.set_item("wharf.lang", lang.code());
        let _ = s.set_item("wharf.theme", theme_name);
    }
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = el.set_attribute("data-theme", theme_name);
        let _ = el.set_attribute("lang", lang.code());
    }
}

#[cfg(not(feature = "csr"))]
pub fn load_lang() -> Option<Lang> {
    None
}
#[cfg(not(feature = "csr"))]
pub fn load_theme() -> Option<Theme> {
    None
}
#[cfg(not(feature = "csr"))]
pub fn apply(_: Lang, _: Theme) {}
