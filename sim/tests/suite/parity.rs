//! The demo cluster against a real kube-apiserver: the same requests to both, the answers
//! compared (see `support::parity`).

use crate::support::parity::Pair;
use serde_json::json;

/// The smallest check that the comparison itself works: reading a namespace that does not
/// exist answers the same 404 Status from both.
#[tokio::test]
async fn a_missing_namespace_is_the_same_404() {
    let pair = Pair::start().await;
    let real = pair
        .same(
            "GET a missing namespace",
            "GET",
            "/api/v1/namespaces/nowhere",
            "application/json",
            &serde_json::Value::Null,
        )
        .await;
    assert_eq!(real.status, 404);
    assert_eq!(real.body["reason"], json!("NotFound"));
}
