//! A bounded cache of byte ranges read from the bucket (segment blocks and indexes), least
//! recently used out first. Entries are keyed by the object's ETag as well as its name, so a
//! range of an object that was replaced since (a segment still being written) is never
//! served stale.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub path: Arc<str>,
    pub e_tag: Arc<str>,
    pub offset: u64,
    pub len: usize,
}

/// Shared by every store read from one bucket; cheap to clone.
#[derive(Clone)]
pub struct BlockCache {
    inner: Arc<Mutex<Lru>>,
    max_bytes: usize,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<Key, (Arc<[u8]>, u64)>,
    by_use: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
    hits: u64,
    misses: u64,
}

impl BlockCache {
    /// At most `max_bytes` of cached ranges (0: nothing is kept).
    pub fn new(max_bytes: usize) -> BlockCache {
        BlockCache {
            inner: Arc::default(),
            max_bytes,
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// `(hits, misses)` since it was made.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        let l = self.lock();
        (l.hits, l.misses)
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<[u8]>> {
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        let Some((bytes, used)) = l.entries.get_mut(key) else {
            l.misses += 1;
            return None;
        };
        let (bytes, old) = (bytes.clone(), std::mem::replace(used, tick));
        l.by_use.remove(&old);
        l.by_use.insert(tick, key.clone());
        l.hits += 1;
        Some(bytes)
    }

    pub(crate) fn put(&self, key: Key, bytes: Arc<[u8]>) {
        if bytes.len() > self.max_bytes {
            return;
        }
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        l.bytes += bytes.len();
        if let Some((old, used)) = l.entries.insert(key.clone(), (bytes, tick)) {
            l.bytes -= old.len();
            l.by_use.remove(&used);
        }
        l.by_use.insert(tick, key);
        while l.bytes > self.max_bytes {
            let Some((_, oldest)) = l.by_use.pop_first() else {
                break;
            };
            if let Some((gone, _)) = l.entries.remove(&oldest) {
                l.bytes -= gone.len();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, offset: u64) -> Key {
        Key {
            path: path.into(),
            e_tag: "e1".into(),
            offset,
            len: 10,
        }
    }

    #[test]
    fn the_least_recently_used_goes_first_and_the_bound_holds() {
        let c = BlockCache::new(25);
        c.put(key("a", 0), vec![1; 10].into());
        c.put(key("a", 10), vec![2; 10].into());
        assert!(c.get(&key("a", 0)).is_some()); // a@0 is now the most recent
        c.put(key("b", 0), vec![3; 10].into()); // 30 > 25: a@10 goes
        assert_eq!(c.bytes(), 20);
        assert!(c.get(&key("a", 10)).is_none());
        assert_eq!(c.get(&key("a", 0)).as_deref(), Some(&[1u8; 10][..]));
        assert_eq!(c.get(&key("b", 0)).as_deref(), Some(&[3u8; 10][..]));
        assert_eq!(c.hits_and_misses(), (3, 1));
    }

    #[test]
    fn another_version_of_an_object_is_another_entry() {
        let c = BlockCache::new(100);
        c.put(key("a", 0), vec![1; 10].into());
        let newer = Key {
            e_tag: "e2".into(),
            ..key("a", 0)
        };
        assert!(c.get(&newer).is_none());
        c.put(newer.clone(), vec![2; 10].into());
        c.put(newer.clone(), vec![4; 10].into());
        assert_eq!(c.bytes(), 20);
        assert_eq!(c.get(&newer).as_deref(), Some(&[4u8; 10][..]));
    }

    #[test]
    fn a_range_larger_than_the_whole_cache_is_not_kept() {
        let c = BlockCache::new(5);
        c.put(key("a", 0), vec![1; 10].into());
        assert_eq!(c.bytes(), 0);
    }
}
