//! What the test suites of every crate share. Tests wait for conditions, never for time:
//! [`eventually`] polls a check until it holds (or says what never happened), and
//! [`wait_for_condition`] waits on a watch for a Kubernetes object's condition.

pub mod real_cluster;
pub mod s3;

pub use real_cluster::{Parts, RealCluster};
pub use s3::S3Server;

use std::future::Future;
use std::time::Duration;

/// A condition that did not hold in time; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {within:?} waiting for {what}")]
pub struct TimedOut {
    pub within: Duration,
    pub what: String,
}

/// How often [`eventually`] checks again.
const EVERY: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some` (its value is the answer), or gives up after
/// `within` with [`TimedOut`] naming `what`.
pub async fn eventually<T, F, Fut>(
    within: Duration,
    what: &str,
    mut check: F,
) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(TimedOut {
                within,
                what: what.to_string(),
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Waits on a watch until object `name` meets `cond`, and returns it; panics (the test's
/// failure) after `within`, or if the object is deleted meanwhile.
pub async fn wait_for_condition<K, C>(
    api: &kube::Api<K>,
    name: &str,
    within: Duration,
    cond: C,
) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
    C: kube::runtime::wait::Condition<K>,
{
    tokio::time::timeout(
        within,
        kube::runtime::wait::await_condition(api.clone(), name, cond),
    )
    .await
    .unwrap_or_else(|_| panic!("{name}: condition not met within {within:?}"))
    .expect("watching the object")
    .unwrap_or_else(|| panic!("{name} is gone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_holds_returns_its_value() {
        let mut n = 0;
        let v = eventually(Duration::from_secs(5), "the third look", || {
            n += 1;
            let now = n;
            async move { (now >= 3).then_some(now) }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn a_condition_that_never_holds_says_what_it_waited_for() {
        let err = eventually(Duration::from_millis(50), "a miracle", || async {
            None::<()>
        })
        .await
        .unwrap_err();
        assert_eq!(err.what, "a miracle");
        assert!(err.to_string().contains("waiting for a miracle"));
    }
}
