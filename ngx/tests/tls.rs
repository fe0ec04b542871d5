//! Certificates against Debian's real nginx: a pair checked alone, files
//! written private beside the releases, a rotation applied with a reload and
//! the old files removed once no kept release names them.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ngx::{Agent, Certificate, Error, Mode, Outcome, PrivateKey, Tls};
use support::*;

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn nginx_checks_a_pair_alone() {
    let (cert, key) = self_signed("shop.test");
    let (_, other_key) = self_signed("shop.test");
    ngx::tls::check(&cert, &key, Path::new(NGINX))
        .await
        .unwrap();

    let err = ngx::tls::check(&cert, &other_key, Path::new(NGINX))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Nginx(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("tls.key") && msg.contains("mismatch"), "{msg}");
    assert!(!msg.contains("wharf-ngx-tls-"), "temp paths leak: {msg}");

    let err = ngx::tls::check("not a certificate", &key, Path::new(NGINX))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tls.crt"), "{err}");
    // PEM-looking but broken: nginx's own words.
    let broken = cert.replace(&cert[40..80], &"A".repeat(40));
    let err = ngx::tls::check(&broken, &key, Path::new(NGINX))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Nginx(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reloads_with_new_private_files_and_prunes_old_ones() {
    let a = backend(15, "a").await;
    let mut node = Node::new(Mode::Dynamic);
    let https = free_port();
    let mut r = route("shop/web", "shop.test", "/", "web");
    r.tls = Some(Tls::Certificate {
        name: "shop/web-tls".into(),
    });
    let mut base = node.state(vec![r], vec![service("web", vec![a.peer()])]);
    base.cluster.listen.https = Some(https);
    let state = |cert: &(String, String)| {
        let mut s = base.clone();
        s.certificates = vec![Certificate {
            name: "shop/web-tls".into(),
            cert_pem: cert.0.clone(),
            key_pem: PrivateKey(cert.1.clone()),
        }];
        s
    };
    let first = self_signed("shop.test");
    let agent = Agent::start(node.agent_config()).unwrap();
    let out = agent.apply(state(&first)).await.unwrap();
    assert!(matches!(out, Outcome::Installed { .. }), "{out:?}");
    node.start_nginx().await;

    let dir = node.paths.tls_dir();
    let files = |dir: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let v1 = files(&dir);
    assert_eq!(v1.len(), 2, "{v1:?}");
    assert_eq!(mode_of(&dir), 0o700);
    for f in &v1 {
        assert_eq!(mode_of(f), 0o600, "{}", f.display());
    }
    let key_file = v1.iter().find(|p| p.extension().unwrap() == "key").unwrap();
    assert_eq!(std::fs::read_to_string(key_file).unwrap(), first.1);
    let live = std::fs::read_to_string(node.live_file("servers/shop.test.conf")).unwrap();
    assert!(
        live.contains(&format!("listen 127.0.0.1:{https} ssl;")),
        "{live}"
    );
    assert!(live.contains(&key_file.display().to_string()), "{live}");
    // The key is nowhere in the release the drift view and downloads read.
    let tree = ngx::layout::read_tree(&node.paths.current_release().unwrap()).unwrap();
    assert!(tree.values().all(|t| !t.contains("PRIVATE KEY")));

    // Rotation: new files, a reload, the first files kept for a rollback.
    let second = self_signed("shop.test");
    let out = agent.apply(state(&second)).await.unwrap();
    assert!(matches!(out, Outcome::Reloaded { .. }), "{out:?}");
    let v2 = files(&dir);
    assert_eq!(v2.len(), 4, "{v2:?}");
    assert!(v1.iter().all(|f| v2.contains(f)));
    assert_eq!(node.hit("shop.test", "/").await, Some((200, "a".into())));

    // One more: the first pair is no longer named by a kept release.
    let third = self_signed("shop.test");
    agent.apply(state(&third)).await.unwrap();
    let v3 = files(&dir);
    assert_eq!(v3.len(), 4, "{v3:?}");
    assert!(v1.iter().all(|f| !v3.contains(f)), "{v3:?}");
    assert_eq!(agent.status().reload_count, 2);
}
