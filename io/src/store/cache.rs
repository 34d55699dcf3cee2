//! A bounded, write-through read cache of the State partition.
//!
//! Every block reads the same few kinds of State entries again and again:
//! the bucket-tree internal nodes on the paths of the keys it writes, the
//! data nodes of their leaf buckets (one small range per bucket) and the
//! values chaincodes read. fjall answers each from its memtable skiplist or
//! its segments, which under load cost more than the hashing they feed
//! (BENCHMARKS.md, "Where the time goes"). This cache answers repeated point
//! reads and complete small ranges from memory.
//!
//! It never serves a value fjall no longer holds: [`StateCache::committed`]
//! runs after every committed batch and writes each written key through,
//! into the point cache and into the cached range holding it (the keys a
//! block writes are the ones the next block reads: the nodes on the same
//! paths). A reader fills the cache only if no batch was committed between
//! its lookup and its fill (the epoch check), so a value read just before
//! a commit never replaces what that commit wrote through. Ranges are
//! cached only while they do not overlap another cached range, so a written
//! key has at most one range to update.

use quick_cache::Weighter;
use quick_cache::unsync::Cache;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Bytes of State entries the point cache holds at most.
pub const POINT_BYTES: u64 = 48 << 20;
/// Bytes of State entries the range cache holds at most.
pub const RANGE_BYTES: usize = 16 << 20;
/// Longest range (in entries) worth caching: leaf buckets hold a few keys.
pub const RANGE_ENTRIES: usize = 64;
/// Bookkeeping charged per cached entry on top of its bytes.
const ENTRY_OVERHEAD: usize = 64;

use fabrik_core::ledger::kv::KvPairs as Pairs;

/// A snapshot of the commit count, taken when a lookup misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(u64);

#[derive(Clone)]
struct ByBytes;

impl Weighter<Vec<u8>, Option<Vec<u8>>> for ByBytes {
    fn weight(&self, key: &Vec<u8>, value: &Option<Vec<u8>>) -> u64 {
        (key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD) as u64
    }
}

/// Complete results of non-overlapping ranges, by start key.
#[derive(Default)]
struct Ranges {
    by_start: BTreeMap<Vec<u8>, (Vec<u8>, Pairs)>,
    bytes: usize,
    /// Where eviction goes on from (round robin over the key space).
    cursor: Vec<u8>,
}

fn weight(start: &[u8], end: &[u8], pairs: &Pairs) -> usize {
    let entries: usize = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    start.len() + end.len() + entries + ENTRY_OVERHEAD
}

impl Ranges {
    fn get(&self, start: &[u8], end: &[u8]) -> Option<&Pairs> {
        self.by_start
            .get(start)
            .filter(|(e, _)| e.as_slice() == end)
            .map(|(_, pairs)| pairs)
    }

    /// The cached range holding `key`, if any.
    fn holding(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (start, (end, _)) = self.by_start.range(..=key.to_vec()).next_back()?;
        (key < end.as_slice()).then(|| start.clone())
    }

    fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        let before = self.by_start.range(..=start.to_vec()).next_back();
        let after = self.by_start.range(start.to_vec()..).next();
        before.is_some_and(|(_, (e, _))| e.as_slice() > start)
            || after.is_some_and(|(s, _)| s.as_slice() < end)
    }

    fn insert(&mut self, start: &[u8], end: &[u8], pairs: Pairs) {
        if end <= start || self.overlaps(start, end) {
            return;
        }
        let w = weight(start, end, &pairs);
        if w > RANGE_BYTES / 4 {
            return;
        }
        while self.bytes + w > RANGE_BYTES && self.evict_one() {}
        self.bytes += w;
        self.by_start.insert(start.to_vec(), (end.to_vec(), pairs));
    }

    /// Writes `key` (`None`: deleted) through into the range holding it.
    fn write_through(&mut self, key: &[u8], value: Option<&[u8]>) {
        let Some(start) = self.holding(key) else {
            return;
        };
        let Some((_, pairs)) = self.by_start.get_mut(&start) else {
            return;
        };
        let at = pairs.binary_search_by(|(k, _)| k.as_slice().cmp(key));
        let (added, removed) = match (at, value) {
            (Ok(i), Some(v)) => {
                let old = std::mem::replace(&mut pairs[i].1, v.to_vec());
                (v.len(), old.len())
            }
            (Ok(i), None) => {
                let (k, v) = pairs.remove(i);
                (0, k.len() + v.len())
            }
            (Err(i), Some(v)) => {
                pairs.insert(i, (key.to_vec(), v.to_vec()));
                (key.len() + v.len(), 0)
            }
            (Err(_), None) => (0, 0),
        };
        let too_long = pairs.len() > RANGE_ENTRIES;
        self.bytes = (self.bytes + added).saturating_sub(removed);
        if too_long {
            self.remove(&start);
        }
        while self.bytes > RANGE_BYTES && self.evict_one() {}
    }

    fn remove(&mut self, start: &[u8]) {
        if let Some((end, pairs)) = self.by_start.remove(start) {
            self.bytes = self.bytes.saturating_sub(weight(start, &end, &pairs));
        }
    }

    fn evict_one(&mut self) -> bool {
        let next = self
            .by_start
            .range(self.cursor.clone()..)
            .next()
            .or_else(|| self.by_start.iter().next())
            .map(|(s, _)| s.clone());
        let Some(start) = next else {
            return false;
        };
        self.remove(&start);
        self.cursor = start;
        true
    }
}

struct Inner {
    epoch: u64,
    points: Cache<Vec<u8>, Option<Vec<u8>>, ByBytes>,
    ranges: Ranges,
}

/// The State partition's read cache (see the module docs).
pub struct StateCache {
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for StateCache {
    fn default() -> Self {
        Self::new(POINT_BYTES)
    }
}

/// What a lookup found: the value, or the epoch to fill the cache with.
pub enum Lookup<T> {
    /// Served from memory.
    Hit(T),
    /// Not cached; read the store, then fill with this epoch.
    Miss(Epoch),
}

impl StateCache {
    /// A cache holding about `point_bytes` of point entries.
    pub fn new(point_bytes: u64) -> Self {
        let estimated_items = usize::try_from(point_bytes / 256).unwrap_or(usize::MAX);
        let points = Cache::with_weighter(estimated_items.max(16), point_bytes, ByBytes);
        Self {
            inner: Mutex::new(Inner {
                epoch: 0,
                points,
                ranges: Ranges::default(),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Lookups answered from memory and lookups passed on, since start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn count<T>(&self, lookup: Lookup<T>) -> Lookup<T> {
        let counter = match lookup {
            Lookup::Hit(_) => &self.hits,
            Lookup::Miss(_) => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        lookup
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached value at `key` (`Hit(None)`: cached as absent).
    pub fn get(&self, key: &[u8]) -> Lookup<Option<Vec<u8>>> {
        let inner = self.lock();
        self.count(match inner.points.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(Epoch(inner.epoch)),
        })
    }

    /// Remembers what the store held at `key` when read after `epoch`.
    pub fn fill(&self, epoch: Epoch, key: &[u8], value: Option<&[u8]>) {
        let mut inner = self.lock();
        if inner.epoch == epoch.0 {
            inner.points.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        }
    }

    /// The first `limit` entries of the cached range `start..end`.
    pub fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Lookup<Pairs> {
        let inner = self.lock();
        self.count(match inner.ranges.get(start, end) {
            Some(pairs) => Lookup::Hit(pairs.iter().take(limit).cloned().collect()),
            None => Lookup::Miss(Epoch(inner.epoch)),
        })
    }

    /// Remembers the store's range `start..end` (a bounded range), read
    /// after `epoch` with `limit`: kept only if it is complete and short.
    pub fn fill_range(&self, epoch: Epoch, start: &[u8], end: &[u8], limit: usize, pairs: &Pairs) {
        let complete = pairs.len() < limit;
        if end.is_empty() || !complete || pairs.len() > RANGE_ENTRIES {
            return;
        }
        let mut inner = self.lock();
        if inner.epoch == epoch.0 {
            inner.ranges.insert(start, end, pairs.clone());
        }
    }

    /// A batch was committed that wrote `writes` (key, new value or `None`
    /// for a delete): write them through, and refuse fills from reads that
    /// started before.
    pub fn committed<'a>(&self, writes: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>) {
        let mut inner = self.lock();
        inner.epoch += 1;
        for (key, value) in writes {
            inner.points.insert(key.to_vec(), value.map(<[u8]>::to_vec));
            inner.ranges.write_through(key, value);
        }
    }

    /// Forgets everything (a commit failed: what fjall holds is unknown).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.points.clear();
        inner.ranges = Ranges::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(keys: &[&str]) -> Pairs {
        keys.iter()
            .map(|k| (k.as_bytes().to_vec(), b"v".to_vec()))
            .collect()
    }

    fn miss<T>(l: Lookup<T>) -> Epoch {
        match l {
            Lookup::Miss(e) => e,
            Lookup::Hit(_) => panic!("expected a miss"),
        }
    }

    fn hit<T>(l: Lookup<T>) -> T {
        match l {
            Lookup::Hit(v) => v,
            Lookup::Miss(_) => panic!("expected a hit"),
        }
    }

    fn commit(cache: &StateCache, writes: &[(&str, Option<&str>)]) {
        cache.committed(
            writes
                .iter()
                .map(|(k, v)| (k.as_bytes(), v.map(str::as_bytes))),
        );
    }

    #[test]
    fn a_committed_write_replaces_what_was_cached() {
        let cache = StateCache::default();
        let e = miss(cache.get(b"k"));
        cache.fill(e, b"k", Some(b"1"));
        assert_eq!(hit(cache.get(b"k")), Some(b"1".to_vec()));
        cache.fill(miss(cache.get(b"gone")), b"gone", None);
        assert_eq!(hit(cache.get(b"gone")), None, "absence is cached too");
        commit(
            &cache,
            &[("k", Some("2")), ("new", Some("3")), ("gone", None)],
        );
        assert_eq!(hit(cache.get(b"k")), Some(b"2".to_vec()));
        assert_eq!(hit(cache.get(b"new")), Some(b"3".to_vec()));
        commit(&cache, &[("k", None)]);
        assert_eq!(hit(cache.get(b"k")), None, "a delete is written through");
        assert_eq!(cache.counts(), (5, 2), "five hits, two misses");
    }

    #[test]
    fn a_read_that_raced_a_commit_does_not_replace_its_write() {
        let cache = StateCache::default();
        let before = miss(cache.get(b"k"));
        commit(&cache, &[("k", Some("new"))]);
        cache.fill(before, b"k", Some(b"old"));
        assert_eq!(hit(cache.get(b"k")), Some(b"new".to_vec()));
        let before = miss(cache.get(b"other"));
        commit(&cache, &[]);
        cache.fill(before, b"other", Some(b"old"));
        miss(cache.get(b"other"));
        let range_before = miss(cache.range(b"a", b"c", usize::MAX));
        commit(&cache, &[]);
        cache.fill_range(range_before, b"a", b"c", usize::MAX, &pairs(&["a"]));
        miss(cache.range(b"a", b"c", usize::MAX));
    }

    #[test]
    fn writes_inside_a_cached_range_are_written_through_in_order() {
        let cache = StateCache::default();
        let e = miss(cache.range(b"b", b"d", usize::MAX));
        cache.fill_range(e, b"b", b"d", usize::MAX, &pairs(&["b", "c"]));
        assert_eq!(hit(cache.range(b"b", b"d", 1)), pairs(&["b"]));
        commit(&cache, &[("d", Some("v")), ("a", Some("v"))]);
        assert_eq!(
            hit(cache.range(b"b", b"d", 9)),
            pairs(&["b", "c"]),
            "d and a lie outside"
        );
        commit(&cache, &[("bz", Some("v")), ("b", None), ("c", Some("w"))]);
        let expected = vec![
            (b"bz".to_vec(), b"v".to_vec()),
            (b"c".to_vec(), b"w".to_vec()),
        ];
        assert_eq!(hit(cache.range(b"b", b"d", usize::MAX)), expected);
    }

    #[test]
    fn a_range_grown_past_its_bound_is_dropped() {
        let cache = StateCache::default();
        let e = miss(cache.range(b"k", b"l", usize::MAX));
        cache.fill_range(e, b"k", b"l", usize::MAX, &Vec::new());
        let keys: Vec<String> = (0..=RANGE_ENTRIES).map(|i| format!("k{i:03}")).collect();
        let writes: Vec<(&str, Option<&str>)> =
            keys.iter().map(|k| (k.as_str(), Some("v"))).collect();
        commit(&cache, &writes);
        miss(cache.range(b"k", b"l", usize::MAX));
    }

    #[test]
    fn only_complete_short_bounded_non_overlapping_ranges_are_kept() {
        let cache = StateCache::default();
        let e = miss(cache.range(b"a", b"z", 2));
        cache.fill_range(e, b"a", b"z", 2, &pairs(&["a", "b"]));
        miss(cache.range(b"a", b"z", 2));
        cache.fill_range(e, b"a", b"", usize::MAX, &pairs(&["a"]));
        miss(cache.range(b"a", b"", usize::MAX));
        cache.fill_range(e, b"c", b"f", usize::MAX, &pairs(&["d"]));
        cache.fill_range(e, b"e", b"g", usize::MAX, &pairs(&["e"]));
        miss(cache.range(b"e", b"g", usize::MAX));
        cache.fill_range(e, b"a", b"d", usize::MAX, &pairs(&["a"]));
        miss(cache.range(b"a", b"d", usize::MAX));
        cache.fill_range(e, b"f", b"g", usize::MAX, &pairs(&["f"]));
        hit(cache.range(b"f", b"g", usize::MAX));
        hit(cache.range(b"c", b"f", usize::MAX));
    }

    #[test]
    fn written_through_ranges_keep_their_byte_count() {
        let mut ranges = Ranges::default();
        ranges.insert(b"a", b"m", pairs(&["b", "d"]));
        ranges.write_through(b"c", Some(b"long value"));
        ranges.write_through(b"b", Some(b"other"));
        ranges.write_through(b"d", None);
        ranges.write_through(b"z", Some(b"outside"));
        let (end, held) = ranges.by_start.get(b"a".as_slice()).expect("cached");
        assert_eq!(ranges.bytes, weight(b"a", end, held));
        ranges.remove(b"a");
        assert_eq!(ranges.bytes, 0);
    }

    #[test]
    fn the_range_cache_stays_within_its_bytes() {
        let mut ranges = Ranges::default();
        let value = vec![0u8; 4096];
        for i in 0u32..20_000 {
            let start = i.to_be_bytes().to_vec();
            let end = (i + 1).to_be_bytes().to_vec();
            ranges.insert(&start, &end, vec![(start.clone(), value.clone())]);
            assert!(ranges.bytes <= RANGE_BYTES);
        }
        assert!(ranges.by_start.len() > 1000);
    }
}
