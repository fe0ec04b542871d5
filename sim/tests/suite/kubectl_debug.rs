//! The real `kubectl` for the terminal's harder paths: `kubectl debug -it` into a pod
//! whose image has no shell (run on a pty, as a person would), and `kubectl exec` of a
//! program the image lacks. Uses `kubectl` from PATH, or `$WHARF_KUBECTL`; fails when
//! there is none.

use crate::support::kubectl::{bin, Kubectl};

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: shelless
  annotations:
    sim.wharf.dev/missing-programs: "*"
spec:
  containers:
  - name: app
    image: gcr.io/distroless/java21:nonroot
    ports:
    - containerPort: 8080
"#;

/// Reads the terminal until `want` shows up.
async fn read_until(screen: &mut pty_process::OwnedReadPty, seen: &mut String, want: &str) {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        let mut buf = [0u8; 4096];
        while !seen.contains(want) {
            match screen.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        true
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "waiting for {want:?} on kubectl's terminal:\n{seen}"
    );
}

#[tokio::test]
async fn kubectl_debug_gives_a_shell_and_exec_of_a_missing_program_fails() {
    // NB: machines of this kind carry kubectl; a missing one fails the test rather than
    // letting it pass without checking anything.
    let dir = tempfile::tempdir().unwrap();
    let (sim, k) = Kubectl::with_cluster(dir.path()).await;
    let app = dir.path().join("app.yaml");
    std::fs::write(&app, APP).unwrap();
    k.run(&["apply", "-f", app.to_str().unwrap()]).await;
    k.run(&[
        "wait",
        "--for=condition=Ready",
        "pod/shelless",
        "--timeout=60s",
    ])
    .await;

    // The console's "no tar" path: kubectl prints the runtime's words and fails.
    let out = k
        .output(&["exec", "shelless", "--", "tar", "cf", "-", "/tmp"])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec")
            && stderr.contains("OCI runtime exec failed: exec failed: unable to start container process: exec: \"tar\": executable file not found in $PATH: unknown"),
        "{stderr}"
    );

    // `kubectl debug -it` on a terminal: a prompt in a busybox debug container.
    let (pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(24, 80)).unwrap();
    let args = k.args(&[
        "debug",
        "-it",
        "shelless",
        "--image=busybox:1.36",
        "--target=app",
        "-c",
        "debugger",
        "--profile=general",
    ]);
    let mut child = pty_process::Command::new(bin())
        .args(&args)
        .kill_on_drop(true)
        .spawn(pts)
        .unwrap();
    let (mut screen, mut keys) = pty.into_split();
    let mut seen = String::new();
    read_until(
        &mut screen,
        &mut seen,
        "If you don't see a command prompt, try pressing enter.",
    )
    .await;
    keys.write_all(b"echo $((6*7))\r").await.unwrap();
    read_until(&mut screen, &mut seen, "42").await;
    keys.write_all(b"exit\r").await.unwrap();
    read_until(&mut screen, &mut seen, "Session ended").await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("kubectl debug exits after the shell")
        .unwrap();
    assert!(status.success(), "{seen}");

    let state = k
        .run(&[
            "get", "pod", "shelless", "-o",
            "jsonpath={.status.ephemeralContainerStatuses[0].name} {.status.ephemeralContainerStatuses[0].state.terminated.exitCode}",
        ])
        .await;
    assert_eq!(state, "debugger 0");
    sim.shutdown().await;
}
