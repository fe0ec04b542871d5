//! Exec runs real processes on this machine, so the demo cluster allows it only while it
//! listens on a loopback address. Listening on all interfaces, exec and attach answer 403
//! with a Status before any upgrade, while the rest of the API keeps working.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, PostParams};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn exec_is_refused_when_the_cluster_listens_beyond_loopback() {
    let sim = sim::start(sim::SimConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..sim::SimConfig::default()
    })
    .await
    .expect("sim starts");
    let client = sim::testing::client(&sim).await.expect("client");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "guarded"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("the API itself works");

    for attach in [false, true] {
        let err = if attach {
            pods.attach("guarded", &AttachParams::default().stdout(true))
                .await
                .err()
        } else {
            pods.exec(
                "guarded",
                ["echo", "hi"],
                &AttachParams::default().stdout(true),
            )
            .await
            .err()
        }
        .expect("refused");
        let text = format!("{err:?}");
        assert!(
            text.contains("403") && text.contains("loopback"),
            "attach={attach}: {text}"
        );
    }
    // the refusal does not depend on the pod being up: nothing ran
    tokio::time::timeout(Duration::from_secs(30), sim.shutdown())
        .await
        .expect("shuts down");
}
