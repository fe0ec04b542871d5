use super::*;
use crate::model::*;

pub(crate) fn state() -> DesiredState {
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
            namespaces: vec!["shop".into()],
            http_directives: vec![],
            server_directives: vec![],
        },
        routes: vec![
            Route {
                name: "shop/web".into(),
                host: "shop.example.com".into(),
                path: "/".into(),
                target: Target::Service {
                    namespace: "shop".into(),
                    name: "web".into(),
                    port: 80,
                },
                directives: vec!["client_max_body_size 20m".into()],
                tls: None,
            },
            Route {
                name: "shop/legacy".into(),
                host: "shop.example.com".into(),
                path: "/billing".into(),
                target: Target::External {
                    name: "billing".into(),
                },
                directives: vec![],
                tls: None,
            },
        ],
        upstreams: vec![
            Upstream::for_service(
                "shop",
                "web",
                80,
                vec![
                    Peer::new("10.0.0.2:8080".parse().unwrap()),
                    Peer::new("10.0.0.1:8080".parse().unwrap()),
                ],
            ),
            Upstream::external(
                "billing",
                vec![Peer::new("192.168.1.10:9000".parse().unwrap())],
            ),
            Upstream::for_service(
                "shop",
                "unused",
                80,
                vec![Peer::new("10.0.0.9:80".parse().unwrap())],
            ),
        ],
        certificates: vec![],
    }
}

fn opts(mode: Mode) -> RenderOptions {
    RenderOptions {
        mode,
        ..RenderOptions::detect(9000)
    }
}

#[test]
fn rendering_is_deterministic_whatever_the_input_order() {
    let a = state();
    let mut b = state();
    b.routes.reverse();
    b.upstreams.reverse();
    b.upstreams[2].peers.reverse();
    b.generation = 7;
    for mode in [Mode::Dynamic, Mode::Static] {
        let (ra, rb) = (
            render(&a, &opts(mode)).unwrap(),
            render(&b, &opts(mode)).unwrap(),
        );
        assert_eq!(ra.files, rb.files);
        assert_eq!(ra.sha256, rb.sha256);
        assert_eq!(ra.sha256, tree_sha(&ra.files));
    }
}

#[test]
fn peers_change_the_files_only_in_static_mode() {
    let a = state();
    let mut b = state();
    b.upstreams[0]
        .peers
        .push(Peer::new("10.0.0.3:8080".parse().unwrap()));
    let (da, db) = (
        render(&a, &opts(Mode::Dynamic)).unwrap(),
        render(&b, &opts(Mode::Dynamic)).unwrap(),
    );
    assert_eq!(da.sha256, db.sha256);
    assert_ne!(da.peers, db.peers);
    let (sa, sb) = (
        render(&a, &opts(Mode::Static)).unwrap(),
        render(&b, &opts(Mode::Static)).unwrap(),
    );
    assert_ne!(sa.sha256, sb.sha256);
    assert!(sb.files[Path::new("upstreams.conf")].contains("server 10.0.0.3:8080;"));
}

#[test]
fn only_referenced_upstreams_are_rendered() {
    let r = render(&state(), &opts(Mode::Static)).unwrap();
    let ups = &r.files[Path::new("upstreams.conf")];
    assert!(ups.contains("upstream k8s.shop.web.80 {"));
    assert!(ups.contains("upstream ext.billing {"));
    assert!(!ups.contains("unused"));
    assert_eq!(r.peers.len(), 2);
}

#[test]
fn route_directives_land_in_their_location() {
    let r = render(&state(), &opts(Mode::Dynamic)).unwrap();
    let server = &r.files[Path::new("servers/shop.example.com.conf")];
    assert!(server.contains("location / {\n        access_by_lua_block { wharf.require_peers(\"k8s.shop.web.80\") }\n        proxy_pass http://k8s.shop.web.80;"));
    assert!(server.contains("        client_max_body_size 20m;\n"));
    assert!(r.files[Path::new("nginx.conf")].contains("include servers/shop.example.com.conf;"));
    assert!(r.files[Path::new(STAMP)].contains(&r.sha256));
}

#[test]
fn injection_and_conflicts_are_refused() {
    let mut s = state();
    s.routes[0].directives = vec!["client_max_body_size 1m; include /etc/shadow".into()];
    assert!(matches!(
        render(&s, &opts(Mode::Dynamic)),
        Err(Error::Invalid { .. })
    ));
    let mut s = state();
    s.routes[1].path = "/".into();
    let err = render(&s, &opts(Mode::Dynamic)).unwrap_err().to_string();
    assert!(err.contains("already routed"), "{err}");
    let mut s = state();
    s.routes[0].host = "shop.example.com;".into();
    assert!(render(&s, &opts(Mode::Static)).is_err());
}

#[test]
fn hosts_are_one_server_whatever_their_case() {
    // the second route's host in capitals: the same server block, its own location
    let mut s = state();
    s.routes[1].host = "SHOP.Example.com".into();
    let r = render(&s, &opts(Mode::Dynamic)).unwrap();
    let servers: Vec<_> = r
        .files
        .keys()
        .filter(|p| p.starts_with("servers/") && !p.ends_with("_default.conf"))
        .collect();
    assert_eq!(servers, vec![Path::new("servers/shop.example.com.conf")]);
    let conf = &r.files[Path::new("servers/shop.example.com.conf")];
    assert!(
        conf.contains("location /billing") && conf.contains("server_name shop.example.com;"),
        "{conf}"
    );
    // and the same path in another case is the same route
    s.routes[1].path = "/".into();
    let err = render(&s, &opts(Mode::Dynamic)).unwrap_err().to_string();
    assert!(
        err.contains("shop.example.com/ is already routed by `shop/web`"),
        "{err}"
    );
}

fn tls_state(cert_pem: &str) -> DesiredState {
    let mut s = state();
    s.cluster.listen.https = Some(8443);
    s.routes[0].tls = Some(Tls::Certificate {
        name: "shop/web-tls".into(),
    });
    s.certificates = vec![Certificate {
        name: "shop/web-tls".into(),
        cert_pem: cert_pem.into(),
        key_pem: PrivateKey("KEY".into()),
    }];
    s
}

fn tls_opts() -> RenderOptions {
    RenderOptions {
        tls_dir: Some("/srv/conf/tls".into()),
        ..opts(Mode::Dynamic)
    }
}

#[test]
fn a_certificate_is_served_on_the_https_port_under_content_named_files() {
    let r = render(&tls_state("CERT-1"), &tls_opts()).unwrap();
    let server = &r.files[Path::new("servers/shop.example.com.conf")];
    assert_eq!(r.certificates.len(), 1);
    let files = &r.certificates[0];
    assert!(files
        .cert_path
        .to_string_lossy()
        .starts_with("/srv/conf/tls/shop_web-tls-"));
    assert!(server.contains("    listen 8443 ssl;\n"), "{server}");
    assert!(server.contains(&format!(
        "    ssl_certificate {};\n",
        files.cert_path.display()
    )));
    assert!(server.contains(&format!(
        "    ssl_certificate_key {};\n",
        files.key_path.display()
    )));
    // The key is in no file of the tree (the drift view and the download show the tree).
    assert!(r.files.values().all(|f| !f.contains("KEY")));
    assert!(
        !format!("{files:?}").contains("KEY"),
        "the key must not print"
    );

    // A rotated certificate gets new files, so the tree (and its sha) changes.
    let rotated = render(&tls_state("CERT-2"), &tls_opts()).unwrap();
    assert_ne!(rotated.certificates[0].cert_path, files.cert_path);
    assert_ne!(rotated.sha256, r.sha256);
    // The same content renders the same tree.
    assert_eq!(
        render(&tls_state("CERT-1"), &tls_opts()).unwrap().sha256,
        r.sha256
    );
}

#[test]
fn certificates_must_exist_be_unique_per_host_and_have_a_dir() {
    let mut s = tls_state("CERT");
    s.certificates.clear();
    let err = render(&s, &tls_opts()).unwrap_err().to_string();
    assert!(err.contains("no certificate `shop/web-tls`"), "{err}");

    let err = render(&tls_state("CERT"), &opts(Mode::Dynamic))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLS directory"), "{err}");

    // The other route of the same host names another certificate.
    let mut s = tls_state("CERT");
    s.routes[1].tls = Some(Tls::Certificate {
        name: "shop/other".into(),
    });
    s.certificates.push(Certificate {
        name: "shop/other".into(),
        cert_pem: "OTHER".into(),
        key_pem: PrivateKey("K2".into()),
    });
    let err = render(&s, &tls_opts()).unwrap_err().to_string();
    assert!(err.contains("different TLS certificates"), "{err}");

    let mut s = tls_state("CERT");
    s.certificates[0].name = "shop/web tls".into();
    s.routes[0].tls = Some(Tls::Certificate {
        name: "shop/web tls".into(),
    });
    assert!(render(&s, &tls_opts()).is_err());
}

/// The trees rendered before the cluster's `httpDirectives` and
/// `serverDirectives` existed, file by file (`src/render/golden/`), and their
/// shas: with both lists empty the tree must stay byte for byte what it was,
/// or every existing cluster would reload after an upgrade.
#[test]
fn without_cluster_directives_the_tree_is_byte_identical_to_before() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/render/golden");
    let shas = [
        (
            "dynamic-tls",
            "32b2cb14fc770c56d3861523d142bef92f26ec7a9529316ce12777dbcf340cdc",
        ),
        (
            "static",
            "98f6a2b4e870ba7db07d63ab9ca3ed5a39db192546fdeb11386fd645cc2b89e1",
        ),
    ];
    for ((name, r), (golden_name, sha)) in golden_fixtures().into_iter().zip(shas) {
        assert_eq!(name, golden_name);
        let dir = base.join(name);
        let mut golden = BTreeMap::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(&dir).unwrap().to_path_buf();
                    golden.insert(rel, std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        assert_eq!(
            golden.keys().collect::<Vec<_>>(),
            r.files.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, body) in &r.files {
            assert!(
                golden[path] == *body,
                "{name}/{}: differs from the golden file\n--- golden\n{}\n--- now\n{body}",
                path.display(),
                golden[path]
            );
        }
        assert_eq!(r.sha256, sha, "{name}");
        // and serde leaves the empty lists out, so a stored spec reads back the same
        let json = serde_json::to_value(&state().cluster).unwrap();
        assert!(json.get("httpDirectives").is_none() && json.get("serverDirectives").is_none());
    }
}

fn golden_fixtures() -> Vec<(&'static str, RenderedConfig)> {
    let tls = render(&tls_state("CERT-1"), &tls_opts()).unwrap();
    let mut s = state();
    s.cluster.defaults.access_log = true;
    s.cluster.defaults.client_max_body_size = "8m".into();
    let st = render(
        &s,
        &RenderOptions {
            listen_address: Some("127.0.0.1".parse().unwrap()),
            user: Some("www-data".into()),
            ..opts(Mode::Static)
        },
    )
    .unwrap();
    vec![("dynamic-tls", tls), ("static", st)]
}

#[test]
fn cluster_directives_land_in_the_http_block_and_every_host_server() {
    let mut s = tls_state("CERT-1");
    // a second host, HTTP only
    s.routes[1].host = "billing.example.com".into();
    s.cluster.http_directives = vec![
        "keepalive_timeout 30s".into(),
        "proxy_http_version 1.0".into(),
        "limit_req_zone $binary_remote_addr zone=per_ip:10m rate=10r/s".into(),
    ];
    s.cluster.server_directives = vec!["gzip on".into(), "limit_req zone=per_ip burst=20".into()];
    let r = render(&s, &tls_opts()).unwrap();
    let main = &r.files[Path::new("nginx.conf")];
    // after the cluster defaults, before the includes, under a comment
    assert!(main.contains(
        "    proxy_send_timeout 60s;\n    proxy_next_upstream error timeout;\n    proxy_next_upstream_tries 3;\n\n    # The cluster's own http directives (they replace Wharf's lines of the same name).\n    keepalive_timeout 30s;\n    proxy_http_version 1.0;\n    limit_req_zone $binary_remote_addr zone=per_ip:10m rate=10r/s;\n\n    include lua.conf;\n"
    ), "{main}");
    // Wharf's lines of those names are replaced, not doubled; the others stay
    assert_eq!(main.matches("keepalive_timeout").count(), 1, "{main}");
    assert_eq!(main.matches("proxy_http_version").count(), 1, "{main}");
    assert!(!main.contains("HTTP/1.1 with an empty Connection header"));
    assert!(
        main.contains("    sendfile on;\n    server_tokens off;\n    server_names_hash_max_size")
    );
    assert!(
        !main.contains("gzip on"),
        "server directives stay out of http"
    );

    let block = "\n    # the cluster's server directives\n    gzip on;\n    limit_req zone=per_ip burst=20;\n\n    # route ";
    // the HTTPS server (listens on both ports) ...
    let shop = &r.files[Path::new("servers/shop.example.com.conf")];
    assert!(shop.contains(" ssl;\n"), "{shop}");
    assert!(
        shop.contains(&format!("    server_name shop.example.com;\n{block}")),
        "{shop}"
    );
    // ... and the plain HTTP one, before their locations
    let billing = &r.files[Path::new("servers/billing.example.com.conf")];
    assert!(!billing.contains(" ssl;"), "{billing}");
    assert!(
        billing.contains(&format!("    server_name billing.example.com;\n{block}")),
        "{billing}"
    );
    assert!(billing.find("gzip on;") < billing.find("location "));
    // not the catch-all server, not the control server, not a location
    for f in ["servers/_default.conf", "control.conf"] {
        assert!(!r.files[Path::new(f)].contains("gzip"), "{f}");
    }
    assert!(!shop.contains("        gzip"), "{shop}");
    assert!(
        !shop.contains("keepalive_timeout"),
        "http directives stay out of servers"
    );

    // and they change the sha (the nodes reload)
    assert_ne!(
        r.sha256,
        render(&tls_state("CERT-1"), &tls_opts()).unwrap().sha256
    );
}

#[test]
fn every_builtin_http_line_gives_way_to_the_admins() {
    for (name, value) in [
        ("sendfile", "off"),
        ("server_tokens", "on"),
        ("keepalive_timeout", "30s"),
        ("proxy_http_version", "1.0"),
        ("proxy_next_upstream", "error timeout http_502"),
        ("proxy_next_upstream_tries", "1"),
    ] {
        let mut s = state();
        s.cluster.http_directives = vec![format!("{name} {value}")];
        let r = render(&s, &opts(Mode::Static)).unwrap();
        let main = &r.files[Path::new("nginx.conf")];
        let lines: Vec<_> = main
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("{name} ")))
            .collect();
        assert_eq!(lines, vec![format!("    {name} {value};")], "{main}");
    }
}

#[test]
fn bad_cluster_directives_render_nothing() {
    for (http, server, says) in [
        (
            vec!["client_max_body_size 10m"],
            vec![],
            "cluster's defaults",
        ),
        (
            vec!["include /etc/shadow"],
            vec![],
            "not allowed in the http block",
        ),
        (
            vec![],
            vec!["return 301 https://evil"],
            "not allowed in a server block",
        ),
        (vec![], vec!["gzip on; include /etc/shadow"], "contains `;`"),
        (
            vec!["gzip on"],
            vec!["tcp_nopush on"],
            "not allowed in a server block",
        ),
    ] {
        let mut s = state();
        s.cluster.http_directives = http.into_iter().map(String::from).collect();
        s.cluster.server_directives = server.into_iter().map(String::from).collect();
        let err = render(&s, &opts(Mode::Dynamic)).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
}
