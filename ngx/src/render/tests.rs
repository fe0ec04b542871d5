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
