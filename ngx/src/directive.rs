//! Checks on everything a user can type that ends up inside nginx.conf:
//! extra directives, hosts, paths, names and sizes.
//!
//! Two lines of defence. First, syntax: a value may not contain `;`, `{`,
//! `}`, `#`, a backslash, a newline or an unbalanced quote, because each of
//! those could end the directive early and smuggle in another one (or a whole
//! block). Second, names, per [`Level`]: a route's directives go into its
//! `location` ([`ALLOWED`]), a cluster's into every host's `server {}`
//! ([`SERVER_ALLOWED`]) or into the `http {}` block ([`HTTP_ALLOWED`]).
//! Anything reading or writing files (`include`, `root`, `alias`, `*_log`,
//! `ssl_certificate*`, `auth_basic_user_file`, `*_path`), running code
//! (`*_by_lua*`, `perl*`, `js_*`) or re-pointing the route (`proxy_pass`) is
//! refused at every level, so a tenant cannot escape their location and an
//! admin cannot reach the node's files. Whether the arguments make sense is
//! left to `nginx -t`, which says so far better than we could.

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

/// Where a directive goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// A route's `location` ([`ALLOWED`]).
    Location,
    /// Every host's `server {}` of a cluster ([`SERVER_ALLOWED`]).
    Server,
    /// The `http {}` block of a cluster's nginx.conf ([`HTTP_ALLOWED`]).
    Http,
}

impl Level {
    /// The names allowed at this level.
    pub fn allowed(self) -> &'static [&'static str] {
        match self {
            Level::Location => ALLOWED,
            Level::Server => SERVER_ALLOWED,
            Level::Http => HTTP_ALLOWED,
        }
    }

    fn place(self) -> &'static str {
        match self {
            Level::Location => "a route",
            Level::Server => "a server block",
            Level::Http => "the http block",
        }
    }
}

/// Directives a cluster may add to every host's `server {}` block: tuning
/// that reads and writes no files and runs no code. Not `return`, `rewrite`,
/// `if`, `location`, `include`, `root`, `alias`, `*_log`, `ssl_certificate*`,
/// lua, perl, js or `resolver`.
pub const SERVER_ALLOWED: &[&str] = &[
    "add_header",
    "allow",
    "charset",
    "client_body_buffer_size",
    "client_body_timeout",
    "client_header_buffer_size",
    "client_header_timeout",
    "client_max_body_size",
    "deny",
    "error_page",
    "gzip",
    "gzip_buffers",
    "gzip_comp_level",
    "gzip_disable",
    "gzip_http_version",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "ignore_invalid_headers",
    "keepalive_requests",
    "keepalive_timeout",
    "large_client_header_buffers",
    "limit_conn",
    "limit_conn_status",
    "limit_rate",
    "limit_rate_after",
    "limit_req",
    "limit_req_status",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_connect_timeout",
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
    "proxy_request_buffering",
    "proxy_send_timeout",
    "send_timeout",
    "server_tokens",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_protocols",
    "ssl_session_cache",
    "ssl_session_tickets",
    "ssl_session_timeout",
    "underscores_in_headers",
];

/// Directives a cluster may add to the `http {}` block: [`SERVER_ALLOWED`]
/// but the names of [`DEFAULTS_CONTROLLED`] and [`SERVER_ONLY`], plus
/// http-wide settings. Not
/// `server_names_hash_*` (Wharf sizes them for the host count), `map`,
/// `log_format`, `access_log` or `error_log`.
pub const HTTP_ALLOWED: &[&str] = &[
    "add_header",
    "charset",
    "client_body_buffer_size",
    "client_body_timeout",
    "client_header_buffer_size",
    "client_header_timeout",
    "error_page",
    "gzip",
    "gzip_buffers",
    "gzip_comp_level",
    "gzip_disable",
    "gzip_http_version",
    "gzip_min_length",
    "gzip_proxied",
    "gzip_types",
    "gzip_vary",
    "ignore_invalid_headers",
    "keepalive_requests",
    "keepalive_timeout",
    "large_client_header_buffers",
    "limit_conn_status",
    "limit_conn_zone",
    "limit_rate",
    "limit_rate_after",
    "limit_req_status",
    "limit_req_zone",
    "map_hash_bucket_size",
    "map_hash_max_size",
    "proxy_buffer_size",
    "proxy_buffering",
    "proxy_buffers",
    "proxy_busy_buffers_size",
    "proxy_headers_hash_bucket_size",
    "proxy_headers_hash_max_size",
    "proxy_hide_header",
    "proxy_http_version",
    "proxy_ignore_headers",
    "proxy_intercept_errors",
    "proxy_max_temp_file_size",
    "proxy_next_upstream",
    "proxy_next_upstream_timeout",
    "proxy_next_upstream_tries",
    "proxy_pass_header",
    "proxy_request_buffering",
    "real_ip_header",
    "real_ip_recursive",
    "reset_timedout_connection",
    "send_timeout",
    "sendfile",
    "server_tokens",
    "set_real_ip_from",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_protocols",
    "ssl_session_cache",
    "ssl_session_tickets",
    "ssl_session_timeout",
    "tcp_nodelay",
    "tcp_nopush",
    "types_hash_bucket_size",
    "types_hash_max_size",
    "underscores_in_headers",
    "variables_hash_bucket_size",
    "variables_hash_max_size",
];

/// Names the cluster's [`crate::Defaults`] write into the `http {}` block:
/// refused there as directives (nginx refuses duplicates, and the console
/// edits them as defaults).
pub const DEFAULTS_CONTROLLED: &[&str] = &[
    "client_max_body_size",
    "proxy_connect_timeout",
    "proxy_read_timeout",
    "proxy_send_timeout",
];

/// Names allowed in a server block but not in the `http {}` block: there
/// they would also reach the agent's own control server (`deny all` or a
/// request limit there and reloads can no longer be confirmed).
pub const SERVER_ONLY: &[&str] = &["allow", "deny", "limit_conn", "limit_req"];

/// Checks one route directive: [`check_at`] for [`Level::Location`].
pub fn check(directive: &str) -> Result<String> {
    check_at(Level::Location, directive)
}

/// Checks one extra directive (`name arg...`, no trailing `;`) for `level`
/// and returns it normalised (single spaces).
pub fn check_at(level: Level, directive: &str) -> Result<String> {
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
    if let Some(reason) = refusal(level, name) {
        return Err(bad(reason));
    }
    let allowed = level.allowed();
    if !allowed.contains(&name.as_str()) {
        return Err(bad(format!(
            "`{name}` is not allowed in {} (allowed: {})",
            level.place(),
            allowed.join(", ")
        )));
    }
    if args.is_empty() {
        return Err(bad("has no value".into()));
    }
    if matches!(name.as_str(), "limit_req_zone" | "limit_conn_zone") {
        check_zone_args(args).map_err(bad)?;
    }
    Ok(tokens.join(" "))
}

/// A refusal with a better reason than "not allowed": names that are right
/// for the level in nginx's eyes but wrong for Wharf.
fn refusal(level: Level, name: &str) -> Option<String> {
    match level {
        Level::Location => None,
        Level::Http if DEFAULTS_CONTROLLED.contains(&name) => Some(format!(
            "`{name}` is set by the cluster's defaults; change it there instead"
        )),
        Level::Http if SERVER_ONLY.contains(&name) => Some(format!(
            "`{name}` in the http block would also apply to Wharf's control server; \
             set it in the server directives instead"
        )),
        Level::Http if name.starts_with("server_names_hash_") => Some(format!(
            "`{name}` is sized by Wharf for the cluster's host count"
        )),
        // NB: proxy_set_header is all-or-nothing per level, and every route's
        // location sets its own, so one inherited from above would never apply.
        Level::Server | Level::Http if name == "proxy_set_header" => Some(
            "`proxy_set_header` has no effect above a route's location (each sets its own \
             headers, which replace inherited ones); set it on the routes"
                .into(),
        ),
        _ => None,
    }
}

/// `limit_req_zone` / `limit_conn_zone` make shared memory zones: a key, a
/// `zone=name:size`, a `rate=` and the like; nothing that names a file.
fn check_zone_args(args: &[String]) -> std::result::Result<(), String> {
    for a in args {
        let a = a.trim_matches(|c| c == '"' || c == '\'');
        if let Some(rate) = a.strip_prefix("rate=") {
            let ok = rate
                .strip_suffix("r/s")
                .or_else(|| rate.strip_suffix("r/m"))
                .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if !ok {
                return Err(format!(
                    "has a rate `{rate}` that is not like 10r/s or 60r/m"
                ));
            }
        } else if a.contains('/') {
            return Err(format!("has `{a}`, which looks like a path"));
        }
    }
    Ok(())
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

    #[test]
    fn each_level_accepts_its_own_names() {
        assert_eq!(check_at(Level::Server, " gzip   on; ").unwrap(), "gzip on");
        assert!(check_at(Level::Server, "client_max_body_size 50m").is_ok());
        assert!(check_at(Level::Server, "ssl_protocols TLSv1.2 TLSv1.3").is_ok());
        assert!(check_at(Level::Server, "add_header X-Frame-Options \"DENY\"").is_ok());
        assert!(check_at(Level::Http, "keepalive_timeout 30s").is_ok());
        assert!(check_at(Level::Http, "set_real_ip_from 10.0.0.0/8").is_ok());
        assert!(check_at(
            Level::Http,
            "limit_req_zone $binary_remote_addr zone=per_ip:10m rate=10r/s"
        )
        .is_ok());
        assert!(check_at(Level::Http, "limit_conn_zone $server_name zone=per_host:1m").is_ok());
        // http-only names are refused in a server block and in a route
        assert!(check_at(Level::Server, "tcp_nopush on").is_err());
        assert!(check("sendfile off").is_err());
        // the route level is unchanged
        assert_eq!(
            check_at(Level::Location, "return 204").unwrap(),
            "return 204"
        );
        assert!(check_at(Level::Location, "proxy_set_header X-A b").is_ok());
    }

    #[test]
    fn levels_refuse_names_outside_their_lists() {
        for level in [Level::Server, Level::Http] {
            for d in [
                "return 301 https://evil",
                "rewrite ^ /x",
                "if ($x)",
                "location /x",
                "include /etc/nginx/x.conf",
                "root /",
                "alias /etc/",
                "access_log /tmp/x",
                "error_log /tmp/x",
                "ssl_certificate /etc/ssl/private/x.pem",
                "ssl_certificate_key /etc/ssl/private/x.key",
                "ssl_dhparam /etc/passwd",
                "content_by_lua_block x",
                "perl_modules /tmp",
                "js_import /tmp/x.js",
                "resolver 8.8.8.8",
                "proxy_pass http://evil",
                "proxy_temp_path /tmp",
                "proxy_store on",
                "proxy_cache_path /tmp keys_zone=x:1m",
                "log_format x $remote_addr",
                "map $a $b",
                "gzip_static on",
                "load_module x.so",
            ] {
                let err = check_at(level, d).unwrap_err().to_string();
                assert!(err.contains("is not allowed in"), "{level:?} {d}: {err}");
                assert!(err.contains("(allowed: add_header, "), "{err}");
            }
        }
        let err = check_at(Level::Server, "return 404")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not allowed in a server block"), "{err}");
        let err = check_at(Level::Http, "return 404").unwrap_err().to_string();
        assert!(err.contains("not allowed in the http block"), "{err}");
        let err = check_at(Level::Http, "server_names_hash_max_size 4096")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sized by Wharf"), "{err}");
        for d in [
            "deny all",
            "allow 10.0.0.0/8",
            "limit_req zone=x",
            "limit_conn x 1",
        ] {
            assert!(check_at(Level::Server, d).is_ok(), "{d}");
            let err = check_at(Level::Http, d).unwrap_err().to_string();
            assert!(err.contains("control server"), "{err}");
        }
        let err = check_at(Level::Server, "proxy_set_header X-A b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("set it on the routes"), "{err}");
    }

    #[test]
    fn the_http_level_sends_defaults_names_to_the_defaults() {
        for name in DEFAULTS_CONTROLLED {
            let err = check_at(Level::Http, &format!("{name} 10"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("set by the cluster's defaults; change it there instead"),
                "{err}"
            );
            // a server block or a route may still override them
            assert!(check_at(Level::Server, &format!("{name} 10")).is_ok());
            assert!(check(&format!("{name} 10")).is_ok());
        }
    }

    #[test]
    fn every_level_refuses_injection() {
        for level in [Level::Location, Level::Server, Level::Http] {
            for d in [
                "gzip on; include /etc/passwd",
                "add_header X y } server { listen 81",
                "add_header X \"y",
                "add_header X y\ninclude /etc/shadow",
                "add_header X 'a\"b'",
                "add_header X y # comment swallows",
                "add_header X a\\",
                "add_header X `a`",
                "add_header X a\"b\"",
                "add_header X a\u{7}",
                "",
                "gzip",
            ] {
                assert!(
                    check_at(level, d).is_err(),
                    "{level:?} {d:?} should be refused"
                );
            }
        }
    }

    #[test]
    fn zones_name_no_files() {
        for d in [
            "limit_req_zone $binary_remote_addr zone=x:10m rate=1r/s /etc/passwd",
            "limit_req_zone $binary_remote_addr zone=../x:10m rate=1r/s",
            "limit_req_zone $binary_remote_addr zone=x:10m rate=1/s",
            "limit_conn_zone $binary_remote_addr zone=/tmp/x:10m",
        ] {
            let err = check_at(Level::Http, d).unwrap_err().to_string();
            assert!(err.contains("path") || err.contains("rate"), "{d}: {err}");
        }
        assert!(check_at(
            Level::Http,
            "limit_req_zone $binary_remote_addr zone=x:10m rate=60r/m"
        )
        .is_ok());
    }

    #[test]
    fn the_lists_are_sorted_and_consistent() {
        for list in [ALLOWED, SERVER_ALLOWED, HTTP_ALLOWED] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        // http takes every server name but the defaults' ones
        for name in SERVER_ALLOWED {
            assert_eq!(
                HTTP_ALLOWED.contains(name),
                !DEFAULTS_CONTROLLED.contains(name) && !SERVER_ONLY.contains(name),
                "{name}"
            );
        }
        for list in [SERVER_ALLOWED, HTTP_ALLOWED] {
            for name in list.iter() {
                assert!(
                    !name.ends_with("_path")
                        && !name.ends_with("_log")
                        && !name.starts_with("ssl_certificate")
                        && !name.contains("lua")
                        && ![
                            "return",
                            "rewrite",
                            "if",
                            "location",
                            "include",
                            "root",
                            "alias",
                            "resolver",
                            "proxy_pass",
                            "proxy_store"
                        ]
                        .contains(name),
                    "{name}"
                );
            }
        }
    }
}
