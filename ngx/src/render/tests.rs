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
    assert!(server.contains("location / {\n        proxy_pass http://k8s.shop.web.80;"));
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
