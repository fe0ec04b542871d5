//! Resuming a stream without loss or duplicates.
//!
//! A collector that restarts (or whose log stream broke) asks the source again
//! from a time it already has and drops what it already stored:
//!
//! 1. `let p = store.resume_point(&key)` gives the stream's last stored
//!    timestamp `p.last` and how many stored lines carry exactly that
//!    timestamp, `p.lines_at_last`.
//! 2. Ask the source for lines from `p.last` or earlier (the Kubernetes API's
//!    `sinceTime` has one-second precision: ask from `p.last` rounded *down*
//!    to the second, with `timestamps=true`).
//! 3. Feed every received line's timestamp to a [`ResumeFilter`] built from
//!    `p`, and append only the lines it admits. It drops lines older than
//!    `p.last`, drops the first `p.lines_at_last` lines stamped exactly
//!    `p.last` (the ones already stored: the source repeats them in the same
//!    order), and admits everything after.
//!
//! This is exact as long as the source's timestamps never go backwards within
//! a stream and the source returns the same lines in the same order when
//! asked again (true of the kubelet's files and of the Kubernetes log API).
//! Limits: if a source emits a timestamp *earlier* than one it already
//! emitted, the store clamps it to the later one, and a resume whose cut falls
//! among such lines may drop or repeat them. Lines the source no longer has
//! (rotated away) cannot be recovered by anyone.

use crate::time::Timestamp;

/// Where a stream stands; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// Timestamp of the newest stored line.
    pub last: Timestamp,
    /// How many stored lines carry exactly `last`.
    pub lines_at_last: u64,
    /// Sequence number the next line will get.
    pub next_seq: u64,
}

/// Admits only the lines of a resumed source that are not stored yet.
#[derive(Debug, Clone, Default)]
pub struct ResumeFilter {
    last: Option<Timestamp>,
    skip_at_last: u64,
}

impl ResumeFilter {
    /// A filter for a stream at `point` (`None`: nothing stored, admit all).
    pub fn new(point: Option<ResumePoint>) -> Self {
        match point {
            Some(p) => ResumeFilter {
                last: Some(p.last),
                skip_at_last: p.lines_at_last,
            },
            None => ResumeFilter::default(),
        }
    }

    /// Should the next source line, stamped `ts`, be appended?
    pub fn admit(&mut self, ts: Timestamp) -> bool {
        let Some(last) = self.last else { return true };
        if ts < last {
            false
        } else if ts == last && self.skip_at_last > 0 {
            self.skip_at_last -= 1;
            false
        } else {
            // Past the seam: everything from here on is new.
            self.last = None;
            true
        }
    }

    /// True once the filter has seen the first new line.
    pub fn is_past_seam(&self) -> bool {
        self.last.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_stored_lines_sharing_the_last_timestamp() {
        let p = ResumePoint {
            last: Timestamp(10),
            lines_at_last: 2,
            next_seq: 5,
        };
        let mut f = ResumeFilter::new(Some(p));
        let admitted: Vec<bool> = [9, 10, 10, 10, 10, 11, 10]
            .iter()
            .map(|&t| f.admit(Timestamp(t)))
            .collect();
        assert_eq!(admitted, [false, false, false, true, true, true, true]);
        let mut all = ResumeFilter::new(None);
        assert!(all.admit(Timestamp(0)));
    }
}
