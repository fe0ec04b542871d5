//! A deduplicating work queue of `(namespace, name)` keys, as client-go's workqueue:
//! a key queued many times while it waits is reconciled once, and a key queued while
//! it is being reconciled is reconciled again afterwards.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// `(namespace, name)`; namespace "" for cluster-scoped objects.
pub(crate) type Key = (String, String);

#[derive(Default)]
struct Pending {
    order: VecDeque<Key>,
    set: HashSet<Key>,
}

#[derive(Clone, Default)]
pub(crate) struct Queue {
    pending: Arc<Mutex<Pending>>,
    notify: Arc<Notify>,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    pub fn add(&self, key: Key) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.set.insert(key.clone()) {
            p.order.push_back(key);
            drop(p);
            self.notify.notify_one();
        }
    }

    /// Queues `key` after `delay` (a timer task; aborting the runtime drops it).
    pub fn add_after(&self, key: Key, delay: Duration) {
        let q = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(key);
        });
    }

    /// The next key, waiting for one.
    pub async fn next(&self) -> Key {
        loop {
            let notified = self.notify.notified();
            {
                let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(k) = p.order.pop_front() {
                    p.set.remove(&k);
                    return k;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_waiting_keys() {
        let q = Queue::new();
        let k = ("ns".to_string(), "a".to_string());
        q.add(k.clone());
        q.add(k.clone());
        q.add(("ns".into(), "b".into()));
        assert_eq!(q.next().await, k);
        assert_eq!(q.next().await.1, "b");
        q.add(k.clone());
        assert_eq!(q.next().await, k);
    }
}
