//! Personal API tokens: what a user creates on the tokens page for scripts and CI, and the
//! checks both the form and the server run on it. A token is shown once, when it is made;
//! the console keeps only its hash.

use crate::{text, Text};
use serde::{Deserialize, Serialize};

/// The longest a token lives.
pub const MAX_DAYS: u32 = 366;
/// The most tokens one user may hold.
pub const MAX_PER_USER: usize = 50;
/// The longest a token's name may be, in characters.
pub const MAX_NAME: usize = 64;
/// What every token starts with (so secret scanners and people recognise one).
pub const PREFIX: &str = "wharf_";

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenScope {
    /// Whatever its user may do, except managing tokens and passwords.
    Full,
    /// Reading what its user may read; no change of any kind.
    ReadOnly,
}

impl TokenScope {
    pub fn label(self) -> &'static str {
        match self {
            TokenScope::Full => "full",
            TokenScope::ReadOnly => "read-only",
        }
    }
    pub fn parse(label: &str) -> Option<TokenScope> {
        match label {
            "full" => Some(TokenScope::Full),
            "read-only" => Some(TokenScope::ReadOnly),
            _ => None,
        }
    }
    pub fn words(self) -> Text {
        match self {
            TokenScope::Full => Text::new("same as you", "与本人相同"),
            TokenScope::ReadOnly => Text::new("read-only", "只读"),
        }
    }
}

/// A new token as its user asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenForm {
    pub name: String,
    pub scope: TokenScope,
    /// Days from now until it expires, 1 to [`MAX_DAYS`].
    pub days: u32,
}

/// A token as its user's list shows it (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// What tells it apart in the list, the audit log and a revocation: the part of the token
    /// after [`PREFIX`] and before the secret.
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    /// RFC 3339.
    pub created: String,
    pub expires: String,
    /// RFC 3339, to the minute or so; `None` if never used.
    pub last_used: Option<String>,
}

/// A token just made: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

/// The form's problems, if any (the server runs the same checks).
pub fn check(form: &TokenForm) -> Result<(), Text> {
    let name = form.name.trim();
    if name.is_empty() {
        return Err(text!("Give the token a name.", "请为令牌命名。"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(text!(
            "A token's name has at most {MAX_NAME} characters.",
            "令牌名称最多 {MAX_NAME} 个字符。"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(text!(
            "A token's name cannot hold control characters.",
            "令牌名称不能包含控制字符。"
        ));
    }
    if !(1..=MAX_DAYS).contains(&form.days) {
        return Err(text!(
            "A token expires after 1 to {MAX_DAYS} days.",
            "令牌有效期为 1 到 {MAX_DAYS} 天。"
        ));
    }
    Ok(())
}

/// The id of a token as typed or pasted (`wharf_<id>_<secret>`), if it has that shape.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str, days: u32) -> TokenForm {
        TokenForm {
            name: name.into(),
            scope: TokenScope::ReadOnly,
            days,
        }
    }

    #[test]
    fn forms_are_checked() {
        assert!(check(&form("ci deploy", 30)).is_ok());
        assert!(check(&form("  ", 30)).is_err());
        assert!(check(&form(&"x".repeat(MAX_NAME + 1), 30)).is_err());
        assert!(check(&form("a\u{7}b", 30)).is_err());
        assert!(check(&form("ci", 0)).is_err());
        assert!(check(&form("ci", MAX_DAYS)).is_ok());
        assert!(check(&form("ci", MAX_DAYS + 1)).is_err());
    }

    #[test]
    fn only_well_formed_tokens_split() {
        let token = format!("wharf_{}_{}", "0123456789abcdef", "ab".repeat(32));
        assert_eq!(
            split(&token),
            Some(("0123456789abcdef", "ab".repeat(32).as_str()))
        );
        assert_eq!(split("wharf_0123_ab"), None);
        assert_eq!(split(&token.replace("wharf_", "other_")), None);
        assert_eq!(split(&format!("{token}x")), None);
        assert_eq!(split(&token.replace('a', "g")), None);
    }
}
