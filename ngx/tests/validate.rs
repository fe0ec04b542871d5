//! `validate_*`: nginx -t in a throw-away prefix, as the console uses it.

mod support;

use std::path::Path;

use ngx::validate::{test_state, validate_state, validate_text};
use ngx::{Certificate, Error, Mode, PrivateKey, Tls};
use support::*;

/// Two server blocks claiming one name pass `nginx -t` with a warning, and nginx then serves
/// only the first: Wharf refuses such a configuration, in nginx's words (it names no line).
#[tokio::test]
async fn a_conflicting_server_name_is_an_error() {
    let conf = "events {}\nhttp {\n  server { listen 127.0.0.1:1; server_name shop.test; }\n  server { listen 127.0.0.1:1; server_name SHOP.test; }\n}\n";
    let err = validate_text(conf, Path::new(NGINX)).await.unwrap_err();
    let e = err.nginx().expect("nginx's message");
    assert!(
        e.message.contains("conflicting server name \"shop.test\""),
        "{e:?}"
    );
    let fine = conf.replace("SHOP.test", "other.test");
    validate_text(&fine, Path::new(NGINX)).await.unwrap();
}

#[tokio::test]
async fn a_good_state_validates_and_a_bad_one_names_the_line() {
    let node = Node::new(Mode::Dynamic);
    let mut state = node.state(vec![route("shop/web", "shop.test", "/", "web")], vec![]);
    let rendered = validate_state(&state, &node.opts, Path::new(NGINX))
        .await
        .unwrap();
    assert!(rendered.files.contains_key(Path::new("lua.conf")));

    state.routes[0].directives = vec![
        "client_max_body_size 10m".into(),
        "proxy_read_timeout soon".into(),
    ];
    let err = validate_state(&state, &node.opts, Path::new(NGINX))
        .await
        .unwrap_err();
    let e = err.nginx().expect("nginx's message");
    assert!(e.message.contains("proxy_read_timeout"), "{e:?}");
    assert_eq!(e.file.as_deref(), Some(Path::new("servers/shop.test.conf")));
    let line = e.line.unwrap() as usize;
    let text = &rendered.files[Path::new("servers/shop.test.conf")];
    // The line nginx names is the offending directive in our own rendering.
    let ours = ngx::render(&state, &node.opts).unwrap();
    assert!(ours.files[Path::new("servers/shop.test.conf")]
        .lines()
        .nth(line - 1)
        .unwrap()
        .contains("proxy_read_timeout soon"));
    assert!(!text.is_empty());
}

#[tokio::test]
async fn a_state_with_certificates_is_tested_with_its_https_listener_and_the_files_are_removed() {
    let node = Node::new(Mode::Dynamic);
    let mut r = route("shop/web", "shop.test", "/", "web");
    r.tls = Some(Tls::Certificate {
        name: "shop/web-tls".into(),
    });
    let mut state = node.state(vec![r], vec![]);
    state.cluster.listen.https = Some(free_port());
    let (cert, key) = self_signed("shop.test");
    let pair = |key: &str| Certificate {
        name: "shop/web-tls".into(),
        cert_pem: cert.clone(),
        key_pem: PrivateKey(key.to_string()),
    };
    state.certificates = vec![pair(&key)];
    // No TLS folder in the options: the test brings its own.
    let opts = ngx::RenderOptions {
        tls_dir: None,
        ..node.opts.clone()
    };
    let tested = test_state(&state, &opts, Path::new(NGINX)).await.unwrap();
    assert!(tested.verdict.is_ok(), "{:?}", tested.verdict);
    let server = &tested.rendered.files[Path::new("servers/shop.test.conf")];
    assert!(server.contains(" ssl;"), "{server}");
    let files = &tested.rendered.certificates;
    assert_eq!(files.len(), 1);
    let dir = files[0].key_path.parent().unwrap();
    assert!(
        !dir.exists(),
        "the certificates of a validation are removed: {}",
        dir.display()
    );

    // nginx reads the files: a key that is not the certificate's fails the test.
    let (_, other_key) = self_signed("shop.test");
    state.certificates = vec![pair(&other_key)];
    let tested = test_state(&state, &opts, Path::new(NGINX)).await.unwrap();
    let err = tested.verdict.unwrap_err();
    assert!(err.to_string().contains("mismatch"), "{err}");
}

#[tokio::test]
async fn hand_written_text_is_checked_too() {
    validate_text(
        "events {}\nhttp { server { listen 127.0.0.1:1; } }\n",
        Path::new(NGINX),
    )
    .await
    .unwrap();
    let err = validate_text(
        "events {}\nhttp {\n  server { lisen 80; }\n}\n",
        Path::new(NGINX),
    )
    .await
    .unwrap_err();
    let Error::Nginx(e) = err else { panic!() };
    assert!(e.message.contains("unknown directive \"lisen\""), "{e:?}");
    assert_eq!(e.file.as_deref(), Some(Path::new("nginx.conf")));
    assert_eq!(e.line, Some(3));
}

/// The cluster's http and server directives, as an admin sets them, pass nginx's own test on
/// both modes, a TLS host included; and what no allow-list can see, the same directive twice,
/// is nginx's to refuse, in its words, pointing at the rendered line.
#[tokio::test]
async fn cluster_http_and_server_directives_pass_nginx_and_a_duplicate_is_nginxs_to_refuse() {
    for mode in [Mode::Dynamic, Mode::Static] {
        let node = Node::new(mode);
        let mut tls_route = route("shop/web", "shop.test", "/", "web");
        tls_route.tls = Some(Tls::Certificate {
            name: "shop/web-tls".into(),
        });
        let mut state = node.state(
            vec![tls_route, route("shop/api", "api.test", "/", "api")],
            vec![],
        );
        state.cluster.listen.https = Some(free_port());
        let (cert, key) = self_signed("shop.test");
        state.certificates = vec![Certificate {
            name: "shop/web-tls".into(),
            cert_pem: cert,
            key_pem: PrivateKey(key),
        }];
        state.cluster.http_directives = [
            "keepalive_timeout 30s",
            "sendfile off",
            "proxy_http_version 1.1",
            "tcp_nopush on",
            "reset_timedout_connection on",
            "types_hash_max_size 2048",
            "limit_req_zone $binary_remote_addr zone=per_ip:10m rate=10r/s",
            "limit_conn_zone $binary_remote_addr zone=conns:10m",
            "set_real_ip_from 10.0.0.0/8",
            "real_ip_header X-Forwarded-For",
            "real_ip_recursive on",
            "proxy_headers_hash_max_size 1024",
            "map_hash_bucket_size 128",
            "gzip_types text/css application/json",
        ]
        .map(String::from)
        .to_vec();
        state.cluster.server_directives = [
            "gzip on",
            "client_max_body_size 50m",
            "proxy_read_timeout 120s",
            "add_header X-Frame-Options \"SAMEORIGIN\" always",
            "limit_req zone=per_ip burst=20 nodelay",
            "limit_conn conns 50",
            "ssl_protocols TLSv1.2 TLSv1.3",
            "ssl_session_cache shared:wharf_ssl:10m",
            "error_page 502 503 /unavailable",
            "large_client_header_buffers 4 16k",
            "server_tokens on",
        ]
        .map(String::from)
        .to_vec();
        let opts = ngx::RenderOptions {
            tls_dir: None,
            ..node.opts.clone()
        };
        let tested = test_state(&state, &opts, Path::new(NGINX)).await.unwrap();
        assert!(tested.verdict.is_ok(), "{mode:?}: {:?}", tested.verdict);
        let main = &tested.rendered.files[Path::new("nginx.conf")];
        assert!(main.contains("    keepalive_timeout 30s;\n"), "{main}");
        let shop = &tested.rendered.files[Path::new("servers/shop.test.conf")];
        assert!(
            shop.contains(" ssl;\n") && shop.contains("    gzip on;\n"),
            "{shop}"
        );

        // the same server directive twice: allowed one by one, refused by nginx
        state
            .cluster
            .server_directives
            .push("client_max_body_size 60m".into());
        let tested = test_state(&state, &opts, Path::new(NGINX)).await.unwrap();
        let err = tested.verdict.unwrap_err();
        let e = err.nginx().expect("nginx's message");
        assert_eq!(
            e.message, "\"client_max_body_size\" directive is duplicate",
            "{e:?}"
        );
        let file = e.file.as_deref().expect("a file");
        assert!(file.starts_with("servers/"), "{e:?}");
        let text = &tested.rendered.files[file];
        let line = text.lines().nth(e.line.unwrap() as usize - 1).unwrap();
        assert_eq!(line, "    client_max_body_size 60m;", "{e:?}");
    }
}
