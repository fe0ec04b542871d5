//! Reading: a time range over the streams a selector picks, filtered by a
//! keyword or a regular expression, merged across streams in time order
//! (k-way merge on [`Position`]), paged with an opaque cursor.
//!
//! Each stream is read only where it overlaps the range: binary search over
//! its segments, then over the chosen segments' sparse indexes, then inside
//! each decompressed block. A keyword rejects whole blocks with one `memmem`
//! over their text column before any line is looked at.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use memchr::memmem;

use crate::directory::CountingReader;
use crate::index::Span;
use crate::key::{StreamKey, StreamSelector};
use crate::line::{LogEntry, Position};
use crate::segment;
use crate::segment::block::DecodedBlock;
use crate::store::{Inner, Store};
use crate::stream::{with_decompressor, PlannedBlock, Shared};
use crate::time::Timestamp;
use crate::{Error, Result};

/// Which way a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// A line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Lines containing these bytes (case-sensitive).
    Keyword(String),
    /// Lines matching this regular expression (Rust `regex` syntax, on bytes).
    Regex(String),
}

/// A query; build it with [`Query::new`] and the builder methods.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub selector: StreamSelector,
    /// Inclusive; `None` = from the beginning.
    pub from: Option<Timestamp>,
    /// Exclusive; `None` = up to now.
    pub to: Option<Timestamp>,
    pub filter: Option<Filter>,
    /// At most this many lines; `None` = all.
    pub limit: Option<usize>,
    pub direction: Direction,
    /// Go on after (in `direction`) the line this cursor names.
    pub cursor: Option<String>,
}

impl Query {
    pub fn new(selector: StreamSelector) -> Self {
        Query {
            selector,
            ..Default::default()
        }
    }

    pub fn range(mut self, from: Timestamp, to: Timestamp) -> Self {
        self.from = Some(from);
        self.to = Some(to);
        self
    }

    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(filter);
        self
    }

    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// In time order for `Forward`, reverse time order for `Backward`.
    pub lines: Vec<LogEntry>,
    /// Set when the limit was reached: pass it as `Query::cursor` (same
    /// query otherwise) for the next page. `None`: there is no more.
    pub next_cursor: Option<String>,
}

/// A compiled [`Filter`].
pub(crate) enum Matcher {
    All,
    Keyword(Box<memmem::Finder<'static>>),
    Regex(regex::bytes::Regex),
}

impl Matcher {
    pub fn compile(filter: Option<&Filter>) -> Result<Self> {
        Ok(match filter {
            None => Matcher::All,
            Some(Filter::Keyword(k)) if k.is_empty() => Matcher::All,
            Some(Filter::Keyword(k)) => {
                Matcher::Keyword(Box::new(memmem::Finder::new(k.as_bytes()).into_owned()))
            }
            Some(Filter::Regex(r)) => {
                Matcher::Regex(
                    regex::bytes::Regex::new(r).map_err(|e| Error::InvalidRegex {
                        pattern: r.clone(),
                        source: Box::new(e),
                    })?,
                )
            }
        })
    }

    /// False only if no line of the block can match.
    fn block_may_match(&self, block: &DecodedBlock) -> bool {
        match self {
            Matcher::Keyword(f) => f.find(block.texts()).is_some(),
            _ => true,
        }
    }

    pub fn is_match(&self, text: &[u8]) -> bool {
        match self {
            Matcher::All => true,
            Matcher::Keyword(f) => f.find(text).is_some(),
            Matcher::Regex(r) => r.is_match(text),
        }
    }
}

/// Reads one stream's planned blocks in one direction.
pub(crate) struct StreamReader<'a> {
    shared: &'a Shared,
    key: Arc<StreamKey>,
    stream_id: u64,
    blocks: Vec<PlannedBlock>,
    forward: bool,
    span: Span,
    /// Exclusive bound from a cursor.
    after: Option<Position>,
    /// Index of the next block to load (forward) or one past it (backward).
    next_block: usize,
    current: Option<(Arc<DecodedBlock>, usize, usize)>,
    reader: Option<(Arc<str>, CountingReader)>,
}

impl<'a> StreamReader<'a> {
    pub fn new(
        shared: &'a Shared,
        key: Arc<StreamKey>,
        stream_id: u64,
        blocks: Vec<PlannedBlock>,
        forward: bool,
        span: Span,
        after: Option<Position>,
    ) -> Self {
        let next_block = if forward { 0 } else { blocks.len() };
        StreamReader {
            shared,
            key,
            stream_id,
            blocks,
            forward,
            span,
            after,
            next_block,
            current: None,
            reader: None,
        }
    }

    fn load(&mut self, planned: PlannedBlock) -> Result<Option<Arc<DecodedBlock>>> {
        match planned {
            PlannedBlock::Memory(b) => Ok(Some(b)),
            PlannedBlock::Disk { path, meta } => {
                if self.reader.as_ref().is_none_or(|(p, _)| *p != path) {
                    match self.shared.reader(&path) {
                        Ok(r) => self.reader = Some((path.clone(), r)),
                        // Deleted by retention since the query was planned: those lines are gone.
                        Err(Error::Io { source, .. })
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            return Ok(None)
                        }
                        Err(e) => return Err(e),
                    }
                }
                let Some((_, reader)) = &self.reader else {
                    return Ok(None);
                };
                let block = with_decompressor(|d| segment::read_block(reader, &path, &meta, d))?;
                Ok(Some(Arc::new(block)))
            }
        }
    }

    /// The next line that passes bounds and filter.
    pub fn next(&mut self, matcher: &Matcher) -> Result<Option<LogEntry>> {
        loop {
            if let Some((block, lo, hi)) = &mut self.current {
                while lo < hi {
                    let i = if self.forward {
                        *lo += 1;
                        *lo - 1
                    } else {
                        *hi -= 1;
                        *hi
                    };
                    let position = Position {
                        ts: block.timestamp(i),
                        stream_id: self.stream_id,
                        seq: block.first_seq + i as u64,
                    };
                    if let Some(after) = &self.after {
                        let beyond = if self.forward {
                            position > *after
                        } else {
                            position < *after
                        };
                        if !beyond {
                            continue;
                        }
                    }
                    let text = block.text(i);
                    if !matcher.is_match(text) {
                        continue;
                    }
                    let flags = block.flags(i);
                    return Ok(Some(LogEntry {
                        key: self.key.clone(),
                        position,
                        stream: flags.stream(),
                        truncated: flags.truncated(),
                        text: text.to_vec(),
                    }));
                }
                self.current = None;
            }
            let planned = if self.forward {
                let Some(p) = self.blocks.get(self.next_block) else {
                    return Ok(None);
                };
                self.next_block += 1;
                p.clone()
            } else {
                if self.next_block == 0 {
                    return Ok(None);
                }
                self.next_block -= 1;
                self.blocks[self.next_block].clone()
            };
            let Some(block) = self.load(planned)? else {
                continue;
            };
            if !matcher.block_may_match(&block) {
                continue;
            }
            let first_seq = block.first_seq;
            let n = block.len();
            let rel = |s: u64| {
                usize::try_from(s.saturating_sub(first_seq))
                    .unwrap_or(usize::MAX)
                    .min(n)
            };
            let lo = block
                .lower_bound(self.span.ts_lo)
                .max(rel(self.span.seq_lo));
            let hi = block
                .lower_bound(self.span.ts_hi)
                .min(rel(self.span.seq_hi));
            if lo < hi {
                self.current = Some((block, lo, hi));
            }
        }
    }
}

struct Head {
    position: Position,
    reader: usize,
    forward: bool,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.position == other.position
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    // BinaryHeap pops the greatest: reverse for forward reads.
    fn cmp(&self, other: &Self) -> Ordering {
        if self.forward {
            other.position.cmp(&self.position)
        } else {
            self.position.cmp(&other.position)
        }
    }
}

/// A query already validated and reduced to bounds.
pub(crate) struct Plan<'m> {
    pub selector: &'m StreamSelector,
    pub span: Span,
    /// Per-stream sequence bounds `[lo, hi)` (tails); streams absent are skipped.
    pub seq_bounds: Option<&'m HashMap<u64, (u64, u64)>>,
    pub after: Option<Position>,
    pub forward: bool,
    pub limit: Option<usize>,
}

/// Run a plan: returns the lines and whether the limit cut it.
pub(crate) fn run(
    inner: &Inner,
    plan: &Plan<'_>,
    matcher: &Matcher,
) -> Result<(Vec<LogEntry>, bool)> {
    let mut readers = Vec::new();
    for stream in inner.select(plan.selector) {
        let mut span = plan.span;
        if let Some(bounds) = plan.seq_bounds {
            let Some(&(lo, hi)) = bounds.get(&stream.id) else {
                continue;
            };
            span.seq_lo = span.seq_lo.max(lo);
            span.seq_hi = span.seq_hi.min(hi);
        }
        if span.is_empty() {
            continue;
        }
        let blocks = stream.lock().plan(&span);
        if blocks.is_empty() {
            continue;
        }
        readers.push(StreamReader::new(
            &inner.shared,
            stream.key.clone(),
            stream.id,
            blocks,
            plan.forward,
            span,
            plan.after,
        ));
    }
    let limit = plan.limit.unwrap_or(usize::MAX);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok((out, false));
    }
    let mut heads: Vec<Option<LogEntry>> = Vec::with_capacity(readers.len());
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (i, r) in readers.iter_mut().enumerate() {
        let head = r.next(matcher)?;
        if let Some(h) = &head {
            heap.push(Head {
                position: h.position,
                reader: i,
                forward: plan.forward,
            });
        }
        heads.push(head);
    }
    while let Some(Head { reader, .. }) = heap.pop() {
        let Some(entry) = heads[reader].take() else {
            continue;
        };
        out.push(entry);
        if out.len() >= limit {
            // Is there anything after? Only then is the page cut.
            let more = !heap.is_empty() || readers[reader].next(matcher)?.is_some();
            return Ok((out, more));
        }
        if let Some(next) = readers[reader].next(matcher)? {
            heap.push(Head {
                position: next.position,
                reader,
                forward: plan.forward,
            });
            heads[reader] = Some(next);
        }
    }
    Ok((out, false))
}

impl Store {
    /// Run a query. Errors: [`Error::InvalidRange`] when `from > to`,
    /// [`Error::InvalidRegex`], [`Error::InvalidCursor`], and I/O or
    /// corruption errors of the segments read.
    pub fn query(&self, q: &Query) -> Result<Page> {
        let (from, to) = (
            q.from.unwrap_or(Timestamp::MIN),
            q.to.unwrap_or(Timestamp::MAX),
        );
        if from > to {
            return Err(Error::InvalidRange {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let matcher = Matcher::compile(q.filter.as_ref())?;
        let after = q.cursor.as_deref().map(Position::from_cursor).transpose()?;
        let forward = q.direction == Direction::Forward;
        let mut span = Span {
            ts_lo: from.0,
            ts_hi: to.0,
            ..Span::ALL
        };
        if let Some(a) = after {
            if forward {
                span.ts_lo = span.ts_lo.max(a.ts.0);
            } else {
                span.ts_hi = span.ts_hi.min(a.ts.0.saturating_add(1));
            }
        }
        let plan = Plan {
            selector: &q.selector,
            span,
            seq_bounds: None,
            after,
            forward,
            limit: q.limit,
        };
        let (lines, cut) = run(&self.inner, &plan, &matcher)?;
        let next_cursor = if cut {
            lines.last().map(LogEntry::cursor)
        } else {
            None
        };
        Ok(Page { lines, next_cursor })
    }
}
