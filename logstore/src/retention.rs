//! Retention: per tenant (a set of namespaces), drop whole segments older
//! than an age or beyond a size budget, oldest first.
//!
//! Order of work, for crash safety: the segments leave the in-memory lists,
//! the manifest is rewritten with each stream's new `min_segment`, then the
//! catalogs of the streams concerned, and only then are the files deleted. A
//! crash before the manifest write deletes nothing; one after it leaves files
//! (and catalog entries) that the next open skips, and a writer deletes.
//! A stream's active segment is sealed first when all its lines are past the
//! age limit, so an idle stream expires too; otherwise the active segment is
//! never deleted (the size budget may then be exceeded by up to one active
//! segment per stream).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::key::StreamSelector;
use crate::segment::SealedSegment;
use crate::store::Store;
use crate::time::Timestamp;
use crate::Result;

/// One tenant's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// The tenant's namespaces.
    pub namespaces: Vec<String>,
    /// Drop segments whose newest line is older than this.
    pub max_age: Option<Duration>,
    /// Keep the tenant's bytes on disk at or under this, dropping the oldest segments.
    pub max_bytes: Option<u64>,
}

/// What [`Store::apply_retention`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
    pub lines_deleted: u64,
}

impl Store {
    /// Apply every rule, `now` being the reference time for ages.
    pub fn apply_retention(
        &self,
        rules: &[RetentionRule],
        now: Timestamp,
    ) -> Result<RetentionReport> {
        let inner = &self.inner;
        inner.writable("apply retention")?;
        let sh = &inner.shared;
        let mut doomed: Vec<(u64, Arc<SealedSegment>)> = Vec::new();
        for rule in rules {
            let streams =
                inner.select(&StreamSelector::namespaces(rule.namespaces.iter().cloned()));
            if let Some(age) = rule.max_age {
                let cutoff = now
                    .saturating_sub_nanos(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX))
                    .0;
                for s in &streams {
                    let mut st = s.lock();
                    if st.last_ts.is_some_and(|l| l < cutoff) {
                        st.flush_pending(sh)?;
                        st.seal_active(sh)?;
                    }
                    doomed.extend(
                        st.drop_front(|m| m.last_ts < cutoff)
                            .into_iter()
                            .map(|seg| (s.id, seg)),
                    );
                }
            }
            if let Some(budget) = rule.max_bytes {
                let mut total: u64 = streams.iter().map(|s| s.lock().disk_bytes()).sum();
                if total > budget {
                    // Oldest segments of the tenant first, across its streams.
                    let mut candidates: Vec<(i64, u64, usize)> = Vec::new();
                    for (i, s) in streams.iter().enumerate() {
                        for seg in &s.lock().sealed {
                            candidates.push((seg.meta.last_ts, seg.meta.id, i));
                        }
                    }
                    candidates.sort_unstable();
                    for (_, id, i) in candidates {
                        if total <= budget {
                            break;
                        }
                        let s = &streams[i];
                        let dropped = s.lock().drop_front(|m| m.id <= id);
                        for seg in dropped {
                            total = total.saturating_sub(seg.meta.bytes);
                            doomed.push((s.id, seg));
                        }
                    }
                }
            }
        }
        let mut report = RetentionReport::default();
        if doomed.is_empty() {
            return Ok(report);
        }
        {
            let streams = inner.streams_write();
            for (sid, seg) in &doomed {
                if let Some(s) = streams.by_id.get(sid) {
                    s.min_segment.fetch_max(seg.meta.id + 1, Ordering::SeqCst);
                }
            }
            inner.write_manifest(&streams)?;
        }
        // The catalogs of the streams that lost segments, before the files go.
        let touched: std::collections::BTreeSet<u64> = doomed.iter().map(|(sid, _)| *sid).collect();
        for sid in touched {
            let stream = inner.streams_read().by_id.get(&sid).cloned();
            if let Some(s) = stream {
                s.lock().write_catalog(sh)?;
            }
        }
        for (_, seg) in doomed {
            sh.dir.delete(&seg.path)?;
            report.segments_deleted += 1;
            report.bytes_deleted += seg.meta.bytes;
            report.lines_deleted += seg.meta.line_count;
        }
        Ok(report)
    }
}
