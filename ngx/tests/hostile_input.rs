//! Property tests for what a tenant types that ends up inside nginx.conf: extra directives,
//! hosts, paths and names ([`ngx::directive`]), and the server files [`ngx::render`] makes of
//! routes that passed those checks.
//!
//! The yardstick is [`nginx_parse`], a model of how nginx itself splits a config into
//! directives and blocks (`ngx_conf_read_token` in `src/core/ngx_conf_file.c`), so "cannot
//! escape its location" is checked the way nginx would read the file, not by grepping for
//! `;`. The generators that find bugs are the near-valid ones: a valid value with one hostile
//! character put in at a random place.

use std::collections::BTreeMap;

use ngx::directive::{self, ALLOWED};
use ngx::{
    render, ClusterSpec, Defaults, DesiredState, Listen, LuaPaths, Mode, RenderOptions, Route,
    Target,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// A model of nginx's config syntax

/// One parsed statement: `name args…;` or `name args… { children }`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Directive(Vec<String>),
    Block(Vec<String>, Vec<Node>),
}

/// Parses config text as nginx's tokenizer does: ASCII whitespace separates words; `#` starts a
/// comment only at the start of a word; a quote only at the start of a word opens a quoted word
/// (with `\` escapes), which must be followed by whitespace, `;` or `{`; inside a bare word
/// `;` and `{` end it (except `${`), while `}`, `#` and quotes are ordinary characters.
/// Quoted words keep their quotes, so they compare equal to what `directive::check` returns.
fn nginx_parse(text: &str) -> Result<Vec<Node>, String> {
    fn is_space(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\r' | '\n')
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    // Stack of open blocks: (header words, children so far).
    let mut stack: Vec<(Vec<String>, Vec<Node>)> = vec![(Vec::new(), Vec::new())];
    let mut words: Vec<String> = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if is_space(c) {
            i += 1;
            continue;
        }
        match c {
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ';' => {
                if words.is_empty() {
                    return Err(format!("unexpected `;` at {i}"));
                }
                let node = Node::Directive(std::mem::take(&mut words));
                stack.last_mut().expect("root").1.push(node);
                i += 1;
            }
            '{' => {
                if words.is_empty() {
                    return Err(format!("unexpected `{{` at {i}"));
                }
                stack.push((std::mem::take(&mut words), Vec::new()));
                i += 1;
            }
            '}' => {
                if !words.is_empty() {
                    return Err(format!("unexpected `}}` at {i} after {words:?}"));
                }
                if stack.len() == 1 {
                    return Err(format!("unbalanced `}}` at {i}"));
                }
                let (header, children) = stack.pop().expect("checked");
                stack
                    .last_mut()
                    .expect("root")
                    .1
                    .push(Node::Block(header, children));
                i += 1;
            }
            '"' | '\'' => {
                let mut w = String::from(c);
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quote".into()),
                        Some('\\') => {
                            w.push('\\');
                            if let Some(&n) = chars.get(i + 1) {
                                w.push(n);
                            }
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            w.push(q);
                            i += 1;
                            break;
                        }
                        Some(&x) => {
                            w.push(x);
                            i += 1;
                        }
                    }
                }
                match chars.get(i) {
                    Some(&n) if is_space(n) || n == ';' || n == '{' => {}
                    None => {}
                    Some(&n) => return Err(format!("unexpected `{n}` after a quoted word")),
                }
                words.push(w);
            }
            _ => {
                let mut w = String::new();
                while let Some(&x) = chars.get(i) {
                    if is_space(x) || x == ';' || (x == '{' && !w.ends_with('$')) {
                        break;
                    }
                    if x == '\\' {
                        w.push(x);
                        if let Some(&n) = chars.get(i + 1) {
                            w.push(n);
                        }
                        i += 2;
                        continue;
                    }
                    w.push(x);
                    i += 1;
                }
                words.push(w);
            }
        }
    }
    if !words.is_empty() {
        return Err(format!("unterminated directive {words:?}"));
    }
    if stack.len() != 1 {
        return Err("unclosed block".into());
    }
    Ok(stack.pop().expect("root").1)
}

#[test]
fn the_model_reads_nginx_syntax() {
    let parsed = nginx_parse(
        "# c\nserver {\n  listen 80;\n  location /a {\n    add_header X \"a b;{}\";\n    return 200 ${x}y;\n  }\n}\n",
    )
    .unwrap();
    assert_eq!(
        parsed,
        vec![Node::Block(
            vec!["server".into()],
            vec![
                Node::Directive(vec!["listen".into(), "80".into()]),
                Node::Block(
                    vec!["location".into(), "/a".into()],
                    vec![
                        Node::Directive(vec!["add_header".into(), "X".into(), "\"a b;{}\"".into()]),
                        Node::Directive(vec!["return".into(), "200".into(), "${x}y".into()]),
                    ]
                ),
            ]
        )]
    );
    for bad in ["a {", "a; }", "a \"b", "a \"b\"c;", "a b"] {
        assert!(nginx_parse(bad).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Characters that end or change a value in nginx, or are at least suspicious in one.
const HOSTILE: &[char] = &[
    ';', '{', '}', '#', '\\', '`', '"', '\'', '\n', '\r', '\0', '\u{b}', '\u{c}', '\u{7f}',
    '\u{85}', '\u{a0}', '\u{2028}', '\t', ' ', '$', '/', '*', '_', ':', '=', 'é', 'İ', 'K',
];

fn hostile_char() -> impl Strategy<Value = char> {
    prop::sample::select(HOSTILE)
}

/// Strings made mostly of the characters that matter, so a bug is hit more often than by
/// uniformly random text.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop_oneof![
                3 => hostile_char(),
                3 => prop::sample::select(&['a', 'Z', '0', '.', '-', 'x'][..]),
                1 => any::<char>(),
            ],
            0..40
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

/// Puts `c` into `s` at the char boundary nearest to `at` (a fraction of the length).
fn inject(s: &str, at: prop::sample::Index, c: char) -> String {
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    let pos = bounds[at.index(bounds.len())];
    let mut out = s.to_string();
    out.insert(pos, c);
    out
}

fn directive_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z0-9_$./:=,-]{1,12}",
        1 => "\"[A-Za-z0-9 $./:=,-]{0,12}\"",
        1 => "'[A-Za-z0-9 $./:=,-]{0,12}'",
    ]
}

/// `name args…` with an allowed name, spaced any which way, sometimes with a trailing `;`.
fn valid_directive() -> impl Strategy<Value = String> {
    (
        prop::sample::select(ALLOWED),
        prop::collection::vec((directive_arg(), "[ \t]{1,3}"), 1..4),
        "[ \t]{0,2}",
        prop::bool::ANY,
    )
        .prop_map(|(name, args, trailing, semi)| {
            let mut s = name.to_string();
            for (a, sp) in args {
                s.push_str(&sp);
                s.push_str(&a);
            }
            s.push_str(&trailing);
            if semi {
                s.push(';');
            }
            s
        })
}

/// A valid directive with one hostile character put in somewhere.
fn near_valid_directive() -> impl Strategy<Value = String> {
    (
        valid_directive(),
        any::<prop::sample::Index>(),
        hostile_char(),
    )
        .prop_map(|(d, at, c)| inject(&d, at, c))
}

fn any_directive() -> impl Strategy<Value = String> {
    prop_oneof![nasty_string(), valid_directive(), near_valid_directive()]
}

/// A DNS label of either case, up to 70 long so the 63 limit is crossed.
fn host_label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9][a-zA-Z0-9-]{0,10}",
        1 => "[a-z0-9][a-z0-9-]{55,69}",
    ]
}

/// A DNS name, optionally `*.`, some of them around the 253 limit.
fn valid_host() -> impl Strategy<Value = String> {
    let labels = prop_oneof![
        4 => prop::collection::vec(host_label(), 1..6),
        1 => prop::collection::vec("[a-z0-9]{40,63}", 3..6),
    ];
    (prop::bool::weighted(0.2), labels).prop_map(|(wild, labels)| {
        let name = labels.join(".");
        if wild {
            format!("*.{name}")
        } else {
            name
        }
    })
}

fn valid_path() -> impl Strategy<Value = String> {
    "/[A-Za-z0-9/._~%!*()+,=@&?:-]{0,30}"
}

// ---------------------------------------------------------------------------------------------
// Extra directives

/// What an accepted directive must be: one directive of an allowed name with at least one
/// argument, read by nginx from inside a location block, and nothing else.
fn assert_stays_in_its_location(input: &str, out: &str) -> Result<(), TestCaseError> {
    for bad in [';', '{', '}', '#', '\\', '`', '\n', '\r'] {
        prop_assert!(!out.contains(bad), "{input:?} -> {out:?} contains {bad:?}");
    }
    prop_assert!(
        !out.chars().any(|c| c.is_control() && c != '\t'),
        "{input:?} -> {out:?} has a control character"
    );
    let conf = format!("location / {{\n    {out};\n}}\n");
    let parsed = nginx_parse(&conf).map_err(|e| {
        TestCaseError::fail(format!(
            "{input:?} -> {out:?}: nginx would not parse it: {e}"
        ))
    })?;
    let [Node::Block(header, children)] = parsed.as_slice() else {
        return Err(TestCaseError::fail(format!(
            "{input:?} -> {out:?} escaped its location: {parsed:?}"
        )));
    };
    prop_assert_eq!(header, &vec!["location".to_string(), "/".to_string()]);
    let [Node::Directive(words)] = children.as_slice() else {
        return Err(TestCaseError::fail(format!(
            "{input:?} -> {out:?} is not one directive: {children:?}"
        )));
    };
    prop_assert!(
        ALLOWED.contains(&words[0].as_str()),
        "{input:?} -> {out:?} names {:?}",
        words[0]
    );
    prop_assert!(words.len() >= 2, "{input:?} -> {out:?} has no argument");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Never panics, and whatever it accepts cannot open or close a block, start another
    /// directive or name a directive outside the allow-list.
    #[test]
    fn an_accepted_directive_stays_in_its_location(input in any_directive()) {
        if let Ok(out) = directive::check(&input) {
            assert_stays_in_its_location(&input, &out)?;
        }
    }

    /// Checking is idempotent: the normalised form is accepted and normalised to itself.
    #[test]
    fn checking_a_directive_is_idempotent(input in any_directive()) {
        if let Ok(out) = directive::check(&input) {
            prop_assert_eq!(directive::check(&out).ok(), Some(out.clone()), "input {:?}", input);
        }
    }

    /// The generator of valid directives does produce accepted ones (else the two properties
    /// above would pass on a checker that refuses everything).
    #[test]
    fn valid_directives_are_accepted(input in valid_directive()) {
        let out = directive::check(&input);
        prop_assert!(out.is_ok(), "{input:?}: {out:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Hosts, paths, names

/// The contract of `check_host`: an optional `*.`, then dot-separated labels of ASCII letters
/// (either case: nginx matches server names without regard to case, and the console and the
/// renderer lower-case hosts), digits and `-`, none empty, none starting with `-`, none longer
/// than 63, at most 253 in all (the `*.` included).
fn host_ok(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    host.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_accepted_host_is_a_dns_name(host in prop_oneof![nasty_string(), valid_host()]) {
        if directive::check_host(&host).is_ok() {
            prop_assert!(host_ok(&host), "{host:?} accepted");
            let lower = host.to_ascii_lowercase();
            prop_assert!(
                lower.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'*')),
                "{host:?} accepted"
            );
        }
    }

    #[test]
    fn valid_hosts_are_accepted_exactly_when_within_the_limits(host in valid_host()) {
        prop_assert_eq!(directive::check_host(&host).is_ok(), host_ok(&host), "{:?}", host);
    }

    /// Anything but `[A-Za-z0-9.-]` put into a valid host makes it refused.
    #[test]
    fn a_host_with_a_hostile_character_is_refused(
        host in valid_host(),
        at in any::<prop::sample::Index>(),
        c in hostile_char().prop_filter("a DNS character", |c| !c.is_ascii_alphanumeric()),
    ) {
        let bad = inject(&host, at, c);
        prop_assert!(directive::check_host(&bad).is_err(), "{bad:?} accepted");
    }

    #[test]
    fn an_accepted_path_has_no_nginx_syntax(path in prop_oneof![nasty_string(), valid_path()]) {
        if directive::check_path(&path).is_ok() {
            prop_assert!(path.starts_with('/') && path.len() <= 1024, "{path:?}");
            prop_assert!(
                path.chars().all(|c| c.is_ascii_graphic()
                    && !matches!(c, ';' | '{' | '}' | '#' | '\\' | '"' | '\'' | '$')),
                "{path:?} accepted"
            );
        }
    }

    #[test]
    fn a_path_with_a_hostile_character_is_refused(
        path in valid_path(),
        at in any::<prop::sample::Index>(),
        c in hostile_char().prop_filter("a path character", |c| !matches!(c, '/' | '*' | '_' | ':' | '=' | 'K' | '`')),
    ) {
        // NB: a backtick is refused in directives but is a plain character to nginx, and
        // `check_path` does not promise to refuse it.
        let bad = inject(&path, at, c);
        prop_assert!(directive::check_path(&bad).is_err(), "{bad:?} accepted");
    }

    #[test]
    fn an_accepted_label_is_a_dns_label(s in prop_oneof![nasty_string(), "[a-z0-9-]{0,70}"]) {
        if directive::check_label("namespace", &s).is_ok() {
            prop_assert!((1..=63).contains(&s.len()), "{s:?}");
            prop_assert!(s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-')), "{s:?}");
            prop_assert!(!s.starts_with('-') && !s.ends_with('-'), "{s:?}");
        }
    }

    #[test]
    fn an_accepted_external_name_is_plain(s in prop_oneof![nasty_string(), "[A-Za-z0-9_-]{0,70}"]) {
        if directive::check_external_name(&s).is_ok() {
            prop_assert!((1..=63).contains(&s.len()), "{s:?}");
            prop_assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{s:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

#[derive(Debug, Clone)]
struct GenRoute {
    host: String,
    path: String,
    target: Target,
    directives: Vec<String>,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        (
            "[a-z][a-z0-9-]{0,8}[a-z0-9]",
            "[a-z][a-z0-9-]{0,8}[a-z0-9]",
            1u16..
        )
            .prop_map(|(namespace, name, port)| Target::Service {
                namespace,
                name,
                port
            }),
        "[A-Za-z0-9_-]{1,12}".prop_map(|name| Target::External { name }),
    ]
}

/// Routes a tenant might submit: mostly valid, sometimes with a hostile host, path or
/// directive (render must then refuse the whole state), few hosts so paths share servers.
fn routes() -> impl Strategy<Value = Vec<GenRoute>> {
    let host = prop_oneof![
        4 => prop::sample::select(&["shop.example.com", "Shop.Example.com", "*.example.com", "a-b.c0"][..])
            .prop_map(String::from),
        2 => valid_host(),
        1 => (valid_host(), any::<prop::sample::Index>(), hostile_char())
            .prop_map(|(h, at, c)| inject(&h, at, c)),
    ];
    let path = prop_oneof![
        4 => valid_path(),
        1 => (valid_path(), any::<prop::sample::Index>(), hostile_char())
            .prop_map(|(p, at, c)| inject(&p, at, c)),
    ];
    let directives = prop::collection::vec(
        prop_oneof![4 => valid_directive(), 1 => near_valid_directive()],
        0..4,
    );
    prop::collection::vec(
        (host, path, target(), directives).prop_map(|(host, path, target, directives)| GenRoute {
            host,
            path,
            target,
            directives,
        }),
        1..6,
    )
}

fn state(routes: &[GenRoute]) -> DesiredState {
    DesiredState {
        generation: 1,
        cluster: ClusterSpec {
            name: "edge".into(),
            listen: Listen {
                http: 8080,
                https: None,
            },
            defaults: Defaults::default(),
            tenants: vec![],
            namespaces: vec![],
            http_directives: vec![],
            server_directives: vec![],
        },
        routes: routes
            .iter()
            .enumerate()
            .map(|(i, r)| Route {
                name: format!("tenant/route-{i}"),
                host: r.host.clone(),
                path: r.path.clone(),
                target: r.target.clone(),
                directives: r.directives.clone(),
                tls: None,
            })
            .collect(),
        upstreams: vec![],
        certificates: vec![],
    }
}

fn options() -> RenderOptions {
    RenderOptions {
        mode: Mode::Static,
        lua: LuaPaths::default(),
        control_port: 9000,
        listen_address: None,
        http_port: None,
        https_port: None,
        worker_processes: 1,
        user: None,
        shared_dict_size: "1m".into(),
        tls_dir: None,
    }
}

/// Every check a route must pass on its own, as `render` documents.
fn route_checks(r: &GenRoute) -> Result<Vec<String>, ngx::Error> {
    directive::check_host(&r.host)?;
    directive::check_path(&r.path)?;
    match &r.target {
        Target::Service {
            namespace, name, ..
        } => {
            directive::check_label("namespace", namespace)?;
            directive::check_label("service", name)?;
        }
        Target::External { name } => directive::check_external_name(name)?,
    }
    r.directives.iter().map(|d| directive::check(d)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A state `render` accepts is one whose every route passes the checks; its files parse
    /// with balanced blocks; and each host's file is one `server` whose locations are exactly
    /// the routes' paths, each holding the fixed proxy directives and then that route's own
    /// directives, and nothing of any other route.
    #[test]
    fn rendered_routes_stay_in_their_own_location(routes in routes()) {
        let desired = state(&routes);
        let Ok(rendered) = render(&desired, &options()) else {
            return Ok(());
        };
        let mut checked = Vec::new();
        for r in &routes {
            match route_checks(r) {
                Ok(ds) => checked.push(ds),
                Err(e) => return Err(TestCaseError::fail(format!("rendered a route the checks refuse ({e}): {r:?}"))),
            }
        }
        let mut trees = BTreeMap::new();
        for (path, text) in &rendered.files {
            if path.to_str() == Some("mime.types") {
                continue;
            }
            let tree = nginx_parse(text)
                .map_err(|e| TestCaseError::fail(format!("{}: {e}\n{text}", path.display())))?;
            trees.insert(path.to_string_lossy().into_owned(), tree);
        }
        // Routes by the server file they must land in, then by path.
        let mut by_file: BTreeMap<String, BTreeMap<&str, Vec<Vec<String>>>> = BTreeMap::new();
        for (r, ds) in routes.iter().zip(&checked) {
            let host = r.host.to_ascii_lowercase();
            let file = format!("servers/{}.conf", host.replace('*', "_wildcard_"));
            let own: Vec<Vec<String>> = ds
                .iter()
                .map(|d| match nginx_parse(&format!("{d};")).as_deref() {
                    Ok([Node::Directive(words)]) => Ok(words.clone()),
                    other => Err(TestCaseError::fail(format!("{d:?} parses as {other:?}"))),
                })
                .collect::<Result<_, _>>()?;
            by_file.entry(file).or_default().insert(r.path.as_str(), own);
        }
        for (file, paths) in &by_file {
            let tree = trees.get(file).ok_or_else(|| TestCaseError::fail(format!("no {file}")))?;
            let [Node::Block(header, children)] = tree.as_slice() else {
                return Err(TestCaseError::fail(format!("{file} is not one server: {tree:?}")));
            };
            prop_assert_eq!(header, &vec!["server".to_string()]);
            let host = file.trim_start_matches("servers/").trim_end_matches(".conf").replace("_wildcard_", "*");
            prop_assert!(children.contains(&Node::Directive(vec!["server_name".into(), host.clone()])), "{}: {:?}", file, children);
            let mut seen = Vec::new();
            for child in children {
                match child {
                    Node::Directive(words) => prop_assert!(
                        matches!(words[0].as_str(), "listen" | "server_name"),
                        "{}: stray directive {:?}", file, words
                    ),
                    Node::Block(h, body) => {
                        prop_assert!(h.len() == 2 && h[0] == "location", "{}: stray block {:?}", file, h);
                        let own = paths.get(h[1].as_str())
                            .ok_or_else(|| TestCaseError::fail(format!("{file}: location {} is no route's", h[1])))?;
                        // The fixed part: proxy_pass and the standard headers, no blocks.
                        let fixed = body.len().checked_sub(own.len())
                            .ok_or_else(|| TestCaseError::fail(format!("{file}: {body:?}")))?;
                        prop_assert!(body[..fixed].iter().all(|n| matches!(n, Node::Directive(w)
                            if w[0] == "proxy_pass" || w[0] == "proxy_set_header")), "{}: {:?}", file, body);
                        let tail: Vec<Node> = own.iter().cloned().map(Node::Directive).collect();
                        prop_assert_eq!(&body[fixed..], tail.as_slice(), "{}", file);
                        seen.push(h[1].clone());
                    }
                }
            }
            let mut want: Vec<String> = paths.keys().map(|p| p.to_string()).collect();
            want.sort();
            seen.sort();
            prop_assert_eq!(seen, want, "{}", file);
        }
    }
}
