//! Several stores read as one: one store per node (each written by that
//! node's agent), plus the console's own, queried and tailed together.
//!
//! # Stream ids across members
//! Each member numbers its streams from 1, so ids collide across members.
//! A federation shows each stream under a *global* id: the member's 32-bit
//! tag in the high half, the member's own id in the low half. The tag is a
//! hash of the member's name ([`Federation::tag_of`]), so every console
//! replica, now and after a restart, gives a stream the same global id and a
//! cursor made by one replica means the same line to another. Tag 0 is the
//! unnamed member of [`Federation::single`], whose global ids are its own
//! ids: one store behind a federation answers exactly as the store alone.
//! Two names with the same tag cannot both join ([`Error::MemberClash`]);
//! with a thousand nodes the chance of that is about one in ten thousand.
//! A member's own ids must stay below 2^32 (four billion containers).
//!
//! # Queries
//! A query runs on every member at once (one thread each: members on object
//! storage spend their time waiting for the network), each from the
//! federation's cursor translated to that member, and the pages are merged in
//! [`Position`] order over global ids. Every member returns the first `limit`
//! lines after the cursor, so the first `limit` lines of the merge are exact.
//! A member that stops at its budget bounds the page: only lines before the
//! timestamp it reached are kept, and the next cursor resumes there, so
//! nothing is skipped. Each member gets the whole budget (in time it is one
//! budget, since they run together).
//!
//! # Tails
//! A tail merges the history of every member (the last N lines overall, or
//! everything after a cursor), then forwards each member's live lines as
//! they come. It follows the members present when it started.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::key::StreamSelector;
use crate::line::{LogEntry, Position};
use crate::query::{Direction, Page, Partial, Query};
use crate::store::{Store, StreamInfo};
use crate::tail::{TailRequest, TailStart};
use crate::{Error, Result};

/// Stores read as one; cheap to clone.
#[derive(Clone, Default)]
pub struct Federation {
    members: Arc<RwLock<BTreeMap<u32, Member>>>,
}

#[derive(Clone)]
struct Member {
    name: String,
    store: Store,
}

/// How many lines a federated tail buffers from its members before they wait.
const TAIL_BUFFER: usize = 1024;

impl Federation {
    /// No members yet.
    pub fn new() -> Federation {
        Federation::default()
    }

    /// One unnamed store (tag 0): global ids and cursors are the store's own.
    pub fn single(store: Store) -> Federation {
        let f = Federation::new();
        f.write().insert(
            0,
            Member {
                name: String::new(),
                store,
            },
        );
        f
    }

    /// The tag of a member's name: 32-bit FNV-1a, never 0 (kept for
    /// [`Federation::single`]).
    pub fn tag_of(name: &str) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in name.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h.max(1)
    }

    /// Add (or replace) the member `name`. [`Error::MemberClash`] if another
    /// member's name has the same tag.
    pub fn insert(&self, name: &str, store: Store) -> Result<()> {
        let tag = Federation::tag_of(name);
        let mut members = self.write();
        if let Some(m) = members.get(&tag).filter(|m| m.name != name) {
            return Err(Error::MemberClash {
                name: name.to_owned(),
                other: m.name.clone(),
            });
        }
        members.insert(
            tag,
            Member {
                name: name.to_owned(),
                store,
            },
        );
        Ok(())
    }

    /// Drop the member `name` (a node that left); `false` if it was not one.
    pub fn remove(&self, name: &str) -> bool {
        let mut members = self.write();
        let tag = Federation::tag_of(name);
        match members.get(&tag) {
            Some(m) if m.name == name => members.remove(&tag).is_some(),
            _ => false,
        }
    }

    /// The members' names, in tag order (the unnamed one is `""`).
    pub fn names(&self) -> Vec<String> {
        self.read().values().map(|m| m.name.clone()).collect()
    }

    /// The member `name`'s store.
    pub fn member(&self, name: &str) -> Option<Store> {
        self.read()
            .get(&Federation::tag_of(name))
            .filter(|m| m.name == name)
            .map(|m| m.store.clone())
    }

    /// The streams a selector picks in every member, with global ids.
    pub fn streams(&self, selector: &StreamSelector) -> Vec<StreamInfo> {
        let mut out = Vec::new();
        for (tag, m) in self.snapshot() {
            for mut info in m.store.streams(selector) {
                info.id = global_id(tag, info.id);
                out.push(info);
            }
        }
        out
    }

    /// Run a query over every member; see the module docs. Errors as
    /// [`Store::query`]; a member's error fails the query.
    pub fn query(&self, q: &Query) -> Result<Page> {
        let members = self.snapshot();
        if let [(0, only)] = members.as_slice() {
            return only.store.query(q);
        }
        let after = q.cursor.as_deref().map(Position::from_cursor).transpose()?;
        let forward = q.direction == Direction::Forward;
        let pages: Vec<Result<Page>> = std::thread::scope(|s| {
            let runs: Vec<_> = members
                .iter()
                .map(|(tag, m)| {
                    let mut mq = q.clone();
                    mq.cursor = after.map(|a| member_cursor(a, *tag).cursor());
                    s.spawn(move || {
                        let mut page = m.store.query(&mq)?;
                        for line in &mut page.lines {
                            line.position.stream_id = global_id(*tag, line.position.stream_id);
                        }
                        Ok(page)
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let mut lines = Vec::new();
        let mut cut = false;
        // Of the members that stopped at their budget: how far the least advanced got (every
        // line up to there was searched in every member), and the stop it reported.
        let mut stopped: Option<(Position, Partial)> = None;
        let mut scanned = 0;
        for ((tag, _), page) in members.iter().zip(pages) {
            let page = page?;
            if let (Some(p), Some(next)) = (page.partial, page.next_cursor.as_deref()) {
                scanned += p.scanned;
                let upto = global_position(*tag, Position::from_cursor(next)?);
                let less = match stopped {
                    None => true,
                    Some((s, _)) if forward => upto < s,
                    Some((s, _)) => upto > s,
                };
                if less {
                    stopped = Some((upto, p));
                }
            } else {
                cut |= page.next_cursor.is_some();
            }
            lines.extend(page.lines);
        }
        match forward {
            true => lines.sort_by_key(|l| l.position),
            false => lines.sort_by_key(|l| std::cmp::Reverse(l.position)),
        }
        if let Some((upto, _)) = stopped {
            lines.retain(|l| match forward {
                true => l.position <= upto,
                false => l.position >= upto,
            });
        }
        let next_cursor = match q.limit {
            Some(limit) if lines.len() > limit || (cut && lines.len() == limit) => {
                lines.truncate(limit);
                lines.last().map(|l| l.cursor())
            }
            _ => match stopped {
                Some((upto, _)) => Some(upto.cursor()),
                None if cut => lines.last().map(|l| l.cursor()),
                None => None,
            },
        };
        let partial = match (&next_cursor, stopped) {
            (Some(_), Some((_, p))) => Some(Partial { scanned, ..p }),
            _ => None,
        };
        Ok(Page {
            lines,
            next_cursor,
            partial,
        })
    }

    /// Tail every member: merged history, then live lines as each member
    /// has them. Must be called inside a Tokio runtime (it spawns one
    /// forwarding task per member).
    pub fn tail(&self, req: TailRequest) -> Result<FederatedTail> {
        let members = self.snapshot();
        let after = match &req.start {
            TailStart::After(c) => Some(Position::from_cursor(c)?),
            _ => None,
        };
        let mut history = Vec::new();
        let mut tails = Vec::new();
        for (tag, m) in &members {
            let start = match (&req.start, after) {
                (TailStart::After(_), Some(a)) => TailStart::After(member_cursor(a, *tag).cursor()),
                (other, _) => other.clone(),
            };
            let mut tail = m.store.tail(TailRequest {
                selector: req.selector.clone(),
                filter: req.filter.clone(),
                start,
            })?;
            history.extend(tail.take_history().into_iter().map(|mut l| {
                l.position.stream_id = global_id(*tag, l.position.stream_id);
                l
            }));
            tails.push((*tag, tail));
        }
        history.sort_by_key(|l| l.position);
        if let TailStart::Last(n) = req.start {
            let extra = history.len().saturating_sub(n);
            history.drain(..extra);
        }
        let (tx, rx) = mpsc::channel(TAIL_BUFFER);
        let forwarders = tails
            .into_iter()
            .map(|(tag, mut tail)| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    loop {
                        let next = tail.next().await.map(|mut l| {
                            l.position.stream_id = global_id(tag, l.position.stream_id);
                            l
                        });
                        let last = next.is_err();
                        if tx.send(next).await.is_err() || last {
                            return;
                        }
                    }
                })
            })
            .collect();
        Ok(FederatedTail {
            history: history.into(),
            rx,
            forwarders,
        })
    }

    fn snapshot(&self) -> Vec<(u32, Member)> {
        self.read().iter().map(|(t, m)| (*t, m.clone())).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Member>> {
        self.members.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, Member>> {
        self.members.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A tail over a [`Federation`]; call [`FederatedTail::next`] in a loop.
pub struct FederatedTail {
    history: std::collections::VecDeque<LogEntry>,
    rx: mpsc::Receiver<Result<LogEntry>>,
    forwarders: Vec<JoinHandle<()>>,
}

impl FederatedTail {
    /// The next line: the merged history first, then live lines as they arrive.
    /// `Err(Error::Closed)` once every member is gone; a member's error ends the tail.
    pub async fn next(&mut self) -> Result<LogEntry> {
        if let Some(l) = self.history.pop_front() {
            return Ok(l);
        }
        self.rx.recv().await.unwrap_or(Err(Error::Closed))
    }
}

impl Drop for FederatedTail {
    fn drop(&mut self) {
        for f in &self.forwarders {
            f.abort();
        }
    }
}

/// A member's stream id as the federation shows it.
fn global_id(tag: u32, id: u64) -> u64 {
    (u64::from(tag) << 32) | (id & 0xffff_ffff)
}

/// A member's position (or cursor) as the federation orders it; the bounds
/// [`resume_at`] makes (stream 0 or `u64::MAX`: before or after every stream
/// of that time) stay bounds.
fn global_position(tag: u32, p: Position) -> Position {
    match p.stream_id {
        0 | u64::MAX => p,
        id => Position {
            stream_id: global_id(tag, id),
            ..p
        },
    }
}

/// The federation's cursor `at` as member `tag` understands it: its own line
/// if `at` names one of its streams; else every line of the member at `at`'s
/// time is before `at` (a smaller tag) or after it (a larger one).
fn member_cursor(at: Position, tag: u32) -> Position {
    let at_tag = (at.stream_id >> 32) as u32;
    match tag.cmp(&at_tag) {
        std::cmp::Ordering::Equal => Position {
            stream_id: at.stream_id & 0xffff_ffff,
            ..at
        },
        std::cmp::Ordering::Less => Position {
            ts: at.ts,
            stream_id: u64::MAX,
            seq: u64::MAX,
        },
        std::cmp::Ordering::Greater => Position {
            ts: at.ts,
            stream_id: 0,
            seq: 0,
        },
    }
}
