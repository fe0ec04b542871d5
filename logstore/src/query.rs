//! Reading: a time range over the streams a selector picks, filtered by a
//! keyword or a regular expression, merged across streams in time order
//! (k-way merge on [`Position`]), paged with an opaque cursor.
//!
//! Each stream is read only where it overlaps the range: binary search over
//! its segments, then over the chosen segments' sparse indexes, then inside
//! each decompressed block. A keyword rejects whole blocks with one `memmem`
//! over their text column before any line is looked at.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memchr::memmem;

use crate::directory::CountingReader;
use crate::error::is_not_found;
use crate::index::{self, Span};
use crate::key::{StreamKey, StreamSelector};
use crate::line::{LogEntry, Position};
use crate::segment::block::DecodedBlock;
use crate::segment::{self, SealedSegment};
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
    /// How much work the query may do before it answers with what it found.
    pub budget: Budget,
}

/// Limits on one query's work. Past one, the query stops and its page is marked
/// [`Partial`]: the lines found so far, all of them correct and complete up to where it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Wall time from the query's start (checked before each block is read).
    pub time: Option<Duration>,
    /// Uncompressed line text looked at, in bytes (blocks read, whether they matched or not).
    pub bytes: Option<u64>,
}

/// Which limit a query reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    Time,
    Bytes,
}

/// A page that stopped at its [`Budget`]: `reached` is the first timestamp (the last, for a
/// backward query) that may hold lines not searched — everything before it (after it) was
/// searched; `Page::next_cursor` goes on from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub exhausted: Exhausted,
    pub reached: Timestamp,
    /// Line text looked at, in bytes.
    pub scanned: u64,
}

/// A query's account of its work against its budget (one per query; readers share it).
pub(crate) struct Meter {
    budget: Budget,
    started: Instant,
    scanned: Cell<u64>,
    exhausted: Cell<Option<Exhausted>>,
}

impl Meter {
    pub fn new(budget: Budget) -> Meter {
        Meter {
            budget,
            started: Instant::now(),
            scanned: Cell::new(0),
            exhausted: Cell::new(None),
        }
    }

    pub fn unlimited() -> Meter {
        Meter::new(Budget::default())
    }

    /// May another block be read?
    fn allows(&self) -> bool {
        if self.exhausted.get().is_some() {
            return false;
        }
        let out = if self
            .budget
            .time
            .is_some_and(|t| self.started.elapsed() >= t)
        {
            Some(Exhausted::Time)
        } else if self.budget.bytes.is_some_and(|b| self.scanned.get() >= b) {
            Some(Exhausted::Bytes)
        } else {
            None
        };
        self.exhausted.set(out);
        out.is_none()
    }

    fn add(&self, bytes: usize) {
        self.scanned
            .set(self.scanned.get().saturating_add(bytes as u64));
    }
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

    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }
}

/// One page of results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// In time order for `Forward`, reverse time order for `Backward`.
    pub lines: Vec<LogEntry>,
    /// Set when the limit or the budget was reached: pass it as `Query::cursor`
    /// (same query otherwise) for the next page. `None`: there is no more.
    pub next_cursor: Option<String>,
    /// Set when the query stopped at its budget before the end of its range.
    pub partial: Option<Partial>,
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
    /// What is left to read, in stream order: taken from the front (forward)
    /// or the back (backward); a sealed segment is replaced by its blocks there.
    blocks: VecDeque<PlannedBlock>,
    forward: bool,
    span: Span,
    /// Exclusive bound from a cursor.
    after: Option<Position>,
    current: Option<(Arc<DecodedBlock>, usize, usize)>,
    reader: Option<(Arc<str>, CountingReader)>,
    /// Stopped by the budget: every line of this stream before (forward) or after
    /// (backward) this timestamp was looked at.
    stopped_at: Option<i64>,
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
        StreamReader {
            shared,
            key,
            stream_id,
            blocks: blocks.into(),
            forward,
            span,
            after,
            current: None,
            reader: None,
            stopped_at: None,
        }
    }

    /// Put the blocks of sealed segment `seg` that overlap the span where it
    /// was taken from, reading its index first if no query has yet.
    fn expand(&mut self, seg: Arc<SealedSegment>) -> Result<()> {
        let blocks = match seg.loaded_blocks() {
            Some(b) => b.clone(),
            None => {
                let opened = self.shared.sealed_reader(&seg.path, seg.meta.bytes);
                let read = opened.and_then(|r| Ok((seg.blocks(&r)?, r)));
                let (blocks, reader) = match read {
                    Ok(read) => read,
                    // Deleted by retention since the query was planned: those lines are gone.
                    Err(e) if is_not_found(&e) => return Ok(()),
                    Err(e) => return Err(e),
                };
                self.reader = Some((seg.path.clone(), reader));
                blocks
            }
        };
        let planned = blocks[index::blocks_overlapping(&blocks, &self.span)]
            .iter()
            .map(|b| PlannedBlock::Disk {
                path: seg.path.clone(),
                meta: *b,
                sealed: Some(seg.meta.bytes),
            });
        if self.forward {
            for p in planned.rev() {
                self.blocks.push_front(p);
            }
        } else {
            self.blocks.extend(planned);
        }
        Ok(())
    }

    fn load(&mut self, planned: PlannedBlock) -> Result<Option<Arc<DecodedBlock>>> {
        match planned {
            PlannedBlock::Memory(b) => Ok(Some(b)),
            PlannedBlock::Segment(seg) => {
                self.expand(seg)?;
                Ok(None)
            }
            PlannedBlock::Disk { path, meta, sealed } => {
                if self.reader.as_ref().is_none_or(|(p, _)| *p != path) {
                    let reader = match sealed {
                        Some(len) => self.shared.sealed_reader(&path, len),
                        None => self.shared.reader(&path),
                    };
                    match reader {
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
                match with_decompressor(|d| segment::read_block(reader, &path, &meta, d)) {
                    Ok(block) => Ok(Some(Arc::new(block))),
                    // Deleted by retention since the query was planned: those lines are gone.
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Reads on to the next line that passes bounds and filter, loading at most one block: a
    /// line, or how far the stream got when a block held none (so a merge can advance the
    /// streams in time order), its end, or a stop when `meter` allows no more blocks (then
    /// `stopped_at` says how far the stream was read).
    fn step(&mut self, matcher: &Matcher, meter: &Meter) -> Result<Step> {
        let mut loaded = false;
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
                    return Ok(Step::Line(LogEntry {
                        key: self.key.clone(),
                        position,
                        stream: flags.stream(),
                        truncated: flags.truncated(),
                        text: text.to_vec(),
                    }));
                }
                self.current = None;
            }
            if self.blocks.is_empty() {
                return Ok(Step::End);
            }
            if loaded {
                return Ok(Step::Scanned(self.progress()));
            }
            if !meter.allows() {
                self.stopped_at = Some(self.progress());
                return Ok(Step::Stopped);
            }
            let planned = if self.forward {
                self.blocks.pop_front()
            } else {
                self.blocks.pop_back()
            };
            let Some(planned) = planned else {
                return Ok(Step::End);
            };
            if let PlannedBlock::Segment(seg) = planned {
                self.expand(seg)?;
                continue;
            }
            loaded = true;
            let Some(block) = self.load(planned)? else {
                continue;
            };
            meter.add(block.texts().len());
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

/// What one [`StreamReader::step`] found.
enum Step {
    Line(LogEntry),
    /// A block without a matching line: the stream's next line is no earlier (forward) or
    /// later (backward) than this timestamp.
    Scanned(i64),
    End,
    Stopped,
}

impl StreamReader<'_> {
    /// How far this stream was read: the least timestamp of a line not yet looked at
    /// (forward), or the greatest (backward).
    fn progress(&self) -> i64 {
        let block_ts = |b: &PlannedBlock, first: bool| match b {
            PlannedBlock::Memory(d) => {
                if d.is_empty() {
                    return None;
                }
                Some(d.timestamp(if first { 0 } else { d.len() - 1 }).0)
            }
            PlannedBlock::Disk { meta, .. } => {
                Some(if first { meta.first_ts } else { meta.last_ts })
            }
            PlannedBlock::Segment(seg) => Some(if first {
                seg.meta.first_ts
            } else {
                seg.meta.last_ts
            }),
        };
        if self.forward {
            self.blocks
                .front()
                .and_then(|b| block_ts(b, true))
                .unwrap_or(self.span.ts_hi)
                .max(self.span.ts_lo)
        } else {
            self.blocks
                .back()
                .and_then(|b| block_ts(b, false))
                .unwrap_or(self.span.ts_lo)
                .min(self.span.ts_hi.saturating_sub(1))
        }
    }
}

/// A stream's place in the merge: its next line, or (`line: false`) the least (forward)
/// position its next line can have.
struct Head {
    position: Position,
    reader: usize,
    forward: bool,
    line: bool,
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
    let (lines, cut, _) = run_metered(inner, plan, matcher, &Meter::unlimited())?;
    Ok((lines, cut))
}

/// [`run`] within a budget: also says where it stopped, when `meter` ran out first.
///
/// Once any stream is stopped, the merge stops: every line emitted was the smallest of all
/// streams' next lines (forward), so the page is exactly the full answer up to the stopped
/// stream's progress, and `reached` is the least of that and the other streams' next lines.
pub(crate) fn run_metered(
    inner: &Inner,
    plan: &Plan<'_>,
    matcher: &Matcher,
    meter: &Meter,
) -> Result<(Vec<LogEntry>, bool, Option<Partial>)> {
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
        return Ok((out, false, None));
    }
    let forward = plan.forward;
    let mut heads: Vec<Option<LogEntry>> = (0..readers.len()).map(|_| None).collect();
    let mut heap = BinaryHeap::with_capacity(readers.len());
    // One step of reader `i`, its result put in the merge; false when the budget stopped it.
    let advance = |i: usize,
                   readers: &mut Vec<StreamReader<'_>>,
                   heap: &mut BinaryHeap<Head>,
                   heads: &mut Vec<Option<LogEntry>>|
     -> Result<bool> {
        match readers[i].step(matcher, meter)? {
            Step::Line(e) => {
                heap.push(Head {
                    position: e.position,
                    reader: i,
                    forward,
                    line: true,
                });
                heads[i] = Some(e);
            }
            Step::Scanned(ts) => heap.push(Head {
                // NB: before (forward) any line of the same timestamp, so the stream is read
                // on before such a line is taken as the least
                position: if forward {
                    Position {
                        ts: Timestamp(ts),
                        stream_id: 0,
                        seq: 0,
                    }
                } else {
                    Position {
                        ts: Timestamp(ts),
                        stream_id: u64::MAX,
                        seq: u64::MAX,
                    }
                },
                reader: i,
                forward,
                line: false,
            }),
            Step::End => {}
            Step::Stopped => return Ok(false),
        }
        Ok(true)
    };
    let partial = |readers: &[StreamReader<'_>], heap: &BinaryHeap<Head>| {
        let exhausted = meter.exhausted.get()?;
        let stops = readers.iter().filter_map(|r| r.stopped_at);
        let heads = heap.iter().map(|h| h.position.ts.0);
        let all = stops.chain(heads);
        let reached = if forward { all.min() } else { all.max() }?;
        Some(Partial {
            exhausted,
            reached: Timestamp(reached),
            scanned: meter.scanned.get(),
        })
    };
    for i in 0..readers.len() {
        if !advance(i, &mut readers, &mut heap, &mut heads)? {
            return Ok((out, false, partial(&readers, &heap)));
        }
    }
    while let Some(head) = heap.pop() {
        let reader = head.reader;
        if head.line {
            let Some(entry) = heads[reader].take() else {
                continue;
            };
            if out.len() >= limit {
                // a line beyond the page: the page is cut
                return Ok((out, true, None));
            }
            out.push(entry);
        }
        if !advance(reader, &mut readers, &mut heap, &mut heads)? {
            if out.len() >= limit {
                // stopped while looking past a full page: the next page goes on
                return Ok((out, true, None));
            }
            return Ok((out, false, partial(&readers, &heap)));
        }
    }
    Ok((out, false, None))
}

/// The cursor position from which a query going on after a partial page reads: every line
/// at or after `reached` (forward), at or before it (backward).
pub(crate) fn resume_at(reached: Timestamp, forward: bool) -> Position {
    if forward {
        Position {
            ts: Timestamp(reached.0.saturating_sub(1)),
            stream_id: u64::MAX,
            seq: u64::MAX,
        }
    } else {
        Position {
            ts: Timestamp(reached.0.saturating_add(1)),
            stream_id: 0,
            seq: 0,
        }
    }
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
        // A page that stops at its budget must still get past where it began, or paging
        // would ask for the same page for ever (e.g. a budget smaller than one block of each
        // stream): until it does, it runs again with twice the budget.
        let start = after.unwrap_or(match forward {
            true => resume_at(from, true),
            false => resume_at(Timestamp(to.0.saturating_sub(1)), false),
        });
        let mut budget = q.budget;
        let (lines, next_cursor, partial) = loop {
            let meter = Meter::new(budget);
            let (lines, cut, partial) = run_metered(&self.inner, &plan, &matcher, &meter)?;
            let next = match partial {
                // on from where the search got: after the last line found, or from `reached`
                Some(p) => Some(match lines.last() {
                    Some(l) if l.position.ts == p.reached => l.position,
                    _ => resume_at(p.reached, forward),
                }),
                None if cut => lines.last().map(|l| l.position),
                None => None,
            };
            let stuck = partial.is_some()
                && next.is_some_and(|n| if forward { n <= start } else { n >= start });
            let more = Budget {
                time: budget.time.map(|t| t * 2),
                bytes: budget.bytes.map(|b| b.saturating_mul(2)),
            };
            // NB: a budget of nothing stays nothing: that caller asked for no work at all
            if !stuck || more == budget {
                break (lines, next.map(|n| n.cursor()), partial);
            }
            budget = more;
        };
        Ok(Page {
            lines,
            next_cursor,
            partial,
        })
    }
}
