//! Checks on everything a user can type that ends up inside nginx.conf:
//! extra directives, hosts, paths, names and sizes.
//!
//! Two lines of defence. First, syntax: a value may not contain `;`, `{`,
//! `}`, `#`, a backslash, a newline or an unbalanced quote, because each of
//! those could end the directive early and smuggle in another one (or a whole
//! block). Second, names: only directives that make sense inside a proxied
//! `location` are allowed. Anything reading or writing files (`include`,
//! `root`, `alias`, `*_log`, `ssl_*`, `auth_basic_user_file`), running code
//! (`*_by_lua*`, `perl*`, `js_*`) or re-pointing the route (`proxy_pass`) is
//! refused, so a tenant cannot escape their location. Whether the arguments
//! make sense is left to `nginx -t`, which says so far better than we could.

use crate::{Error, Result};

/// Directives a route may add to its location.
pub const ALLOWED: &[&str] = &[
    "add_header",
    "allow",
    "charset",
    "chunked_transfer_encoding",
    "client_body_buffer_size",
    "client_body_timeout",
    "client_max_body_size",
    "default_type",
    "deny",
    "error_page",
    "etag",
    "expires",
    "gzip",
    "gzip_comp_level",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "if_modified_since",
    "keepalive_timeout",
    "limit_rate",
    "limit_rate_after",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_connect_timeout",
    "proxy_cookie_domain",
    "proxy_cookie_path",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_ignore_headers",
    "proxy_intercept_errors",
    "proxy_max_temp_file_size",
    "proxy_next_upstream",
    "proxy_next_upstream_timeout",
    "proxy_next_upstream_tries",
    "proxy_pass_header",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_request_buffering",
    "proxy_send_timeout",
    "proxy_set_header",
    "return",
    "rewrite",
    "send_timeout",
    "server_tokens",
    "sub_filter",
    "sub_filter_once",
    "sub_filter_types",
];

/// Checks one extra directive (`name arg...`, no trailing `;`) and returns it
/// normalised (single spaces).
pub fn check(directive: &str) -> Result<String> {
    let bad = |reason: String| Error::invalid(format!("directive `{directive}`"), reason);
    let trimmed = directive.trim().trim_end_matches(';').trim_end();
    for c in trimmed.chars() {
        match c {
            ';' | '{' | '}' | '#' | '\\' | '`' => return Err(bad(format!("contains `{c}`"))),
            c if c.is_control() && c != '\t' => {
                return Err(bad("contains a control character or line break".into()))
            }
            _ => {}
        }
    }
    let tokens = tokenize(trimmed).map_err(bad)?;
    let Some((name, args)) = tokens.split_first() else {
        return Err(bad("is empty".into()));
    };
    if !ALLOWED.contains(&name.as_str()) {
        return Err(bad(format!(
            "`{name}` is not allowed in a route (allowed: {})",
            ALLOWED.join(", ")
        )));
    }
    if args.is_empty() {
        return Err(bad("has no value".into()));
    }
    Ok(tokens.join(" "))
}

/// Splits on whitespace; a token may be wholly quoted (`"a b"` or `'a b'`),
/// and a quote anywhere else is refused, since an unbalanced quote would make
/// nginx read on into the next lines.
fn tokenize(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut tok = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            tok.push(c);
            loop {
                match chars.next() {
                    Some(q) if q == c => {
                        tok.push(q);
                        break;
                    }
                    Some('"') | Some('\'') => {
                        return Err("has a quote inside a quoted value".into())
                    }
                    Some(x) => tok.push(x),
                    None => return Err("has an unterminated quote".into()),
                }
            }
            if chars.peek().is_some_and(|n| !n.is_whitespace()) {
                return Err("has text glued to a quoted value".into());
            }
        } else {
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() {
                    break;
                }
                if x == '"' || x == '\'' {
                    return Err("has a quote inside a value".into());
                }
                tok.push(x);
                chars.next();
            }
        }
        out.push(tok);
    }
    Ok(out)
}

/// A virtual host: DNS name, optionally with a leading `*.`.
pub fn check_host(host: &str) -> Result<()> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    let ok = !name.is_empty()
        && host.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("host `{host}`"),
            "must be a DNS name, optionally starting with `*.`",
        ))
    }
}

/// A location prefix: starts with `/`, printable, nothing nginx would parse.
pub fn check_path(path: &str) -> Result<()> {
    let ok = path.starts_with('/')
        && path.len() <= 1024
        && path.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, ';' | '{' | '}' | '#' | '\\' | '"' | '\'' | '$')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("path `{path}`"),
            "must start with `/` and contain no spaces, quotes, `;`, `{`, `}`, `#`, `$` or `\\`",
        ))
    }
}

/// A Kubernetes namespace or Service name (DNS label).
pub fn check_label(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} `{s}`"),
            "must be a DNS label ([a-z0-9-], at most 63)",
        ))
    }
}

/// An external upstream's name.
pub fn check_external_name(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("upstream name `{s}`"),
            "must be [A-Za-z0-9_-], at most 63",
        ))
    }
}

/// An nginx size: digits with an optional `k`/`m`/`g`.
pub fn check_size(what: &str, s: &str) -> Result<()> {
    let digits = s.strip_suffix(['k', 'K', 'm', 'M', 'g', 'G']).unwrap_or(s);
    if !digits.is_empty() && digits.len() <= 12 && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} `{s}`"),
            "must be a size like 1m, 512k or 0",
        ))
    }
}

/// A file path rendered into the config (TLS certificates).
pub fn check_file_path(what: &str, p: &std::path::Path) -> Result<()> {
    let s = p.to_string_lossy();
    let ok = p.is_absolute()
        && s.chars().all(|c| {
            c.is_ascii_graphic() && !matches!(c, ';' | '{' | '}' | '#' | '\\' | '"' | '\'' | '$')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("{what} `{s}`"),
            "must be an absolute path without spaces or nginx syntax",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_directives() {
        assert_eq!(
            check("client_max_body_size 20m").unwrap(),
            "client_max_body_size 20m"
        );
        assert_eq!(
            check("  proxy_read_timeout   120s; ").unwrap(),
            "proxy_read_timeout 120s"
        );
        assert_eq!(
            check("add_header X-Frame-Options \"SAMEORIGIN always\"").unwrap(),
            "add_header X-Frame-Options \"SAMEORIGIN always\""
        );
        assert!(check("proxy_set_header X-Real-IP $remote_addr").is_ok());
        // Nonsense arguments are nginx -t's business, not ours.
        assert!(check("proxy_buffers banana").is_ok());
    }

    #[test]
    fn refuses_injection() {
        for d in [
            "client_max_body_size 1m; include /etc/passwd",
            "add_header X y } server { listen 81",
            "add_header X \"y",
            "add_header X y\ninclude /etc/shadow",
            "add_header X 'a\"b'",
            "add_header X y # comment swallows",
            "add_header X a\\",
            "add_header X a\"b\"",
        ] {
            assert!(check(d).is_err(), "{d:?} should be refused");
        }
    }

    #[test]
    fn refuses_directives_outside_the_allowlist() {
        for d in [
            "include /etc/nginx/x.conf",
            "root /",
            "proxy_pass http://evil",
            "access_log /tmp/x",
            "content_by_lua_block",
            "alias /etc/",
            "load_module x.so",
        ] {
            let err = check(d).unwrap_err().to_string();
            assert!(
                err.contains("not allowed") || err.contains("contains"),
                "{d}: {err}"
            );
        }
        assert!(check("client_max_body_size").is_err());
    }

    #[test]
    fn hosts_paths_names() {
        assert!(check_host("shop.example.com").is_ok());
        assert!(check_host("*.example.com").is_ok());
        assert!(check_host("a b").is_err());
        assert!(check_host("x;y").is_err());
        assert!(check_path("/api/v1").is_ok());
        assert!(check_path("api").is_err());
        assert!(check_path("/a b").is_err());
        assert!(check_label("namespace", "team-a").is_ok());
        assert!(check_label("namespace", "Team.A").is_err());
        assert!(check_size("size", "10m").is_ok());
        assert!(check_size("size", "10mb").is_err());
    }
}
