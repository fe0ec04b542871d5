//! Live tail: the last N lines (or everything after a cursor), then every new
//! line as it is appended, with no gap and no duplicate at the seam.
//!
//! How the seam is made exact: the subscriber joins the store's broadcast
//! *first*, then notes each selected stream's next sequence number `hw`
//! (under the stream's lock) and reads history strictly below `hw` from
//! storage. Every line at or above `hw` was appended after the subscription
//! began, so it is in the broadcast. Per stream the tail remembers the next
//! sequence number it owes; broadcast lines below it are dropped as
//! duplicates, and a line above it (a gap) or a `Lagged` notice from the
//! broadcast makes the tail read the missing lines back from storage.
//!
//! History comes in time order; live lines come in the order they were
//! appended (per stream that is time order; across streams it is arrival order).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use tokio::sync::broadcast::{self, error::RecvError};

use crate::index::Span;
use crate::key::StreamSelector;
use crate::line::{LogEntry, Position};
use crate::query::{run, Filter, Matcher, Plan};
use crate::store::{Inner, Store};
use crate::Result;

/// Where a tail starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailStart {
    /// The last N lines (of all selected streams, merged), then live.
    Last(usize),
    /// Every line after a query's cursor (forward), then live.
    After(String),
    /// Only lines appended from now on.
    Now,
}

/// What to tail.
#[derive(Debug, Clone)]
pub struct TailRequest {
    pub selector: StreamSelector,
    pub filter: Option<Filter>,
    pub start: TailStart,
}

/// A live subscription; call [`Tail::next`] in a loop.
pub struct Tail {
    store: Weak<Inner>,
    rx: broadcast::Receiver<Arc<LogEntry>>,
    selector: StreamSelector,
    matcher: Matcher,
    backlog: VecDeque<LogEntry>,
    /// Per stream: the next sequence number this tail owes the subscriber.
    owed: HashMap<u64, u64>,
}

impl Store {
    /// Start a live tail; see the module docs for the seam guarantee.
    pub fn tail(&self, req: TailRequest) -> Result<Tail> {
        let matcher = Matcher::compile(req.filter.as_ref())?;
        let after = match &req.start {
            TailStart::After(c) => Some(Position::from_cursor(c)?),
            _ => None,
        };
        // 1. Subscribe before looking at storage.
        let rx = self.inner.tail_tx.subscribe();
        // 2. Note where every selected stream stands.
        let owed: HashMap<u64, u64> = self
            .inner
            .select(&req.selector)
            .iter()
            .map(|s| (s.id, s.lock().next_seq))
            .collect();
        // 3. History strictly below those marks.
        let bounds: HashMap<u64, (u64, u64)> =
            owed.iter().map(|(&id, &hw)| (id, (0, hw))).collect();
        let backlog = match &req.start {
            TailStart::Now => VecDeque::new(),
            TailStart::Last(n) => {
                let plan = Plan {
                    selector: &req.selector,
                    span: Span::ALL,
                    seq_bounds: Some(&bounds),
                    after: None,
                    forward: false,
                    limit: Some(*n),
                };
                let (mut lines, _) = run(&self.inner, &plan, &matcher)?;
                lines.reverse();
                lines.into()
            }
            TailStart::After(_) => {
                let mut span = Span::ALL;
                if let Some(a) = after {
                    span.ts_lo = a.ts.0;
                }
                let plan = Plan {
                    selector: &req.selector,
                    span,
                    seq_bounds: Some(&bounds),
                    after,
                    forward: true,
                    limit: None,
                };
                run(&self.inner, &plan, &matcher)?.0.into()
            }
        };
        Ok(Tail {
            store: Arc::downgrade(&self.inner),
            rx,
            selector: req.selector,
            matcher,
            backlog,
            owed,
        })
    }
}

impl Tail {
    /// Take the history part (the lines a start asked for, in time order)
    /// out of the tail at once; [`Tail::next`] then gives live lines only.
    pub fn take_history(&mut self) -> Vec<LogEntry> {
        self.backlog.drain(..).collect()
    }

    /// The next line: history first, then live lines as they arrive.
    /// `Err(Error::Closed)` once the store is gone.
    pub async fn next(&mut self) -> Result<LogEntry> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                return Ok(e);
            }
            match self.rx.recv().await {
                Ok(entry) => {
                    if !self.selector.matches(
                        &entry.key,
                        &self.store()?.streams_read_labels(entry.position.stream_id),
                    ) {
                        continue;
                    }
                    let sid = entry.position.stream_id;
                    let owed = self.owed.get(&sid).copied().unwrap_or(0);
                    let seq = entry.position.seq;
                    if seq < owed {
                        continue; // already delivered from storage
                    }
                    if seq > owed {
                        // A gap (should not happen without a lag): read it back.
                        self.catch_up(Some((sid, owed, seq)))?;
                    }
                    self.owed.insert(sid, seq + 1);
                    if self.matcher.is_match(&entry.text) {
                        self.backlog.push_back((*entry).clone());
                    }
                }
                Err(RecvError::Lagged(_)) => self.catch_up(None)?,
                Err(RecvError::Closed) => return Err(crate::Error::Closed),
            }
        }
    }

    fn store(&self) -> Result<Arc<Inner>> {
        self.store.upgrade().ok_or(crate::Error::Closed)
    }

    /// Read from storage what the broadcast did not deliver: one stream's
    /// `[lo, hi)`, or (after a lag) every selected stream up to now.
    fn catch_up(&mut self, one: Option<(u64, u64, u64)>) -> Result<()> {
        let inner = self.store()?;
        let bounds: HashMap<u64, (u64, u64)> = match one {
            Some((sid, lo, hi)) => HashMap::from([(sid, (lo, hi))]),
            None => inner
                .select(&self.selector)
                .iter()
                .map(|s| {
                    (
                        s.id,
                        (
                            self.owed.get(&s.id).copied().unwrap_or(0),
                            s.lock().next_seq,
                        ),
                    )
                })
                .collect(),
        };
        let plan = Plan {
            selector: &self.selector,
            span: Span::ALL,
            seq_bounds: Some(&bounds),
            after: None,
            forward: true,
            limit: None,
        };
        let (lines, _) = run(&inner, &plan, &self.matcher)?;
        self.backlog.extend(lines);
        for (sid, (_, hi)) in bounds {
            let owed = self.owed.entry(sid).or_insert(0);
            *owed = (*owed).max(hi);
        }
        Ok(())
    }
}

impl Inner {
    fn streams_read_labels(&self, stream_id: u64) -> Arc<crate::key::Labels> {
        self.streams_read()
            .by_id
            .get(&stream_id)
            .map(|s| s.labels())
            .unwrap_or_default()
    }
}
