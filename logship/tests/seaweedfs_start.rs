//! A local SeaweedFS that exits while starting (a port taken by someone else between picking
//! and binding it) is started again on fresh ports. Its own test binary: it points `WEED` at
//! a wrapper, which would affect every other server started in the same process.

use logship::seaweedfs::SeaweedFs;
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn a_server_that_exits_while_starting_is_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::path::Path::new("/opt/seaweedfs/bin/weed");
    assert!(
        real.exists(),
        "{} is missing: run scripts/setup.sh",
        real.display()
    );
    // the first start fails as a taken port makes weed fail; the next ones are the real weed
    let marker = dir.path().join("failed-once");
    let wrapper = dir.path().join("weed");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ ! -e '{m}' ]; then touch '{m}'; echo 'F1205 listen tcp 127.0.0.1:1: bind: address already in use' >&2; exit 255; fi\nexec '{r}' \"$@\"\n",
            m = marker.display(),
            r = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::env::set_var("WEED", &wrapper);

    let server = SeaweedFs::start(&dir.path().join("s3"), "k", "secret-key")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(marker.exists(), "the first start failed");
    server.create_bucket("logs").await.unwrap();
}
