//! Watches: a subscription to one resource's changes, starting at a
//! resourceVersion (replaying retained history) or with the current state as
//! synthetic ADDED events. Selector-filtered watches turn a MODIFIED that makes
//! an object start or stop matching into ADDED or DELETED, as the API server does.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::broadcast;

use super::{matches, Event, EventType, FieldSelector, LabelSelector, State};
use crate::error::ApiError;
use crate::resources::ResourceId;

/// Where and what to watch.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// `None` watches all namespaces.
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Start after this resourceVersion. `None` (or `Some(0)`) starts with the
    /// current objects as ADDED events, then follows changes.
    pub resource_version: Option<u64>,
}

/// A live subscription. Receive with [`Watch::recv`], or turn it into a stream.
pub struct Watch {
    res: ResourceId,
    params: WatchParams,
    backlog: VecDeque<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    last_rv: u64,
}

pub(super) fn subscribe(
    st: &State,
    tx: &broadcast::Sender<Arc<Event>>,
    res: &ResourceId,
    params: WatchParams,
) -> Result<Watch, ApiError> {
    let rx = tx.subscribe();
    let mut backlog = VecDeque::new();
    let start = params.resource_version.filter(|rv| *rv > 0);
    match start {
        None => {
            if let Some(table) = st.tables.get(res) {
                for ((ns, name), e) in table {
                    if params.namespace.as_ref().is_some_and(|want| want != ns) {
                        continue;
                    }
                    if !matches(&params.labels, &params.fields, ns, name, &e.meta, &e.bytes) {
                        continue;
                    }
                    backlog.push_back(Arc::new(Event {
                        rv: e.rv,
                        kind: EventType::Added,
                        resource: res.clone(),
                        namespace: ns.clone(),
                        name: name.clone(),
                        object: e.bytes.clone(),
                        meta: e.meta.clone(),
                        prev: None,
                    }));
                }
            }
        }
        Some(rv) => {
            if rv < st.compacted_rv {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    st.compacted_rv + 1
                )));
            }
            // Future versions are accepted; events simply start after them.
            for ev in st
                .history
                .iter()
                .filter(|e| e.rv > rv && e.resource == *res)
            {
                backlog.push_back(ev.clone());
            }
        }
    }
    let mut w = Watch {
        res: res.clone(),
        params,
        backlog: VecDeque::new(),
        rx,
        last_rv: st.rv.max(start.unwrap_or(0)),
    };
    // Filter the replayed history the same way live events are filtered.
    w.backlog = backlog
        .into_iter()
        .filter_map(|e| {
            if start.is_some() {
                w.filter(&e)
            } else {
                Some(e)
            }
        })
        .collect();
    Ok(w)
}

impl Watch {
    /// The next event, `None` when the store is gone, or `Err(410)` when this
    /// watcher fell too far behind (re-list and watch again, as clients do).
    pub async fn recv(&mut self) -> Option<Result<Arc<Event>, ApiError>> {
        if let Some(e) = self.backlog.pop_front() {
            return Some(Ok(e));
        }
        loop {
            match self.rx.recv().await {
                Ok(e) => {
                    if e.rv <= self.last_rv {
                        continue;
                    }
                    self.last_rv = e.rv;
                    if let Some(e) = self.filter(&e) {
                        return Some(Ok(e));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return Some(Err(ApiError::gone("watch fell too far behind; list again")));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The resourceVersion this watch has seen everything up to (for BOOKMARK events).
    pub fn progress(&self) -> u64 {
        self.last_rv
    }

    /// The stream form of [`Watch::recv`].
    pub fn into_stream(self) -> impl Stream<Item = Result<Arc<Event>, ApiError>> + Send {
        futures::stream::unfold(self, |mut w| async move { w.recv().await.map(|e| (e, w)) })
    }

    fn filter(&self, e: &Arc<Event>) -> Option<Arc<Event>> {
        if e.resource != self.res {
            return None;
        }
        if self
            .params
            .namespace
            .as_ref()
            .is_some_and(|ns| *ns != e.namespace)
        {
            return None;
        }
        let p = &self.params;
        let now = matches(
            &p.labels,
            &p.fields,
            &e.namespace,
            &e.name,
            &e.meta,
            &e.object,
        );
        if e.kind != EventType::Modified || (p.labels.is_empty() && p.fields.is_empty()) {
            return now.then(|| e.clone());
        }
        let before = e
            .prev
            .as_ref()
            .is_some_and(|(b, m)| matches(&p.labels, &p.fields, &e.namespace, &e.name, m, b));
        let kind = match (before, now) {
            (true, true) => EventType::Modified,
            (false, true) => EventType::Added,
            (true, false) => EventType::Deleted,
            (false, false) => return None,
        };
        if kind == e.kind {
            return Some(e.clone());
        }
        Some(Arc::new(Event {
            kind,
            ..(**e).clone()
        }))
    }
}
