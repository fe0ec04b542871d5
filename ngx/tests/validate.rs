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
