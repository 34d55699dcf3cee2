//! The durable store: one fjall database under `<fileSystemPath>/db` with a
//! keyspace per ledger [`Partition`]. It moves bytes only; the key layout is
//! decided by `fabrik_core::ledger`. A [`WriteBatch`] is committed as one
//! atomic fjall batch with `PersistMode::SyncAll`, so when [`Store::apply`]
//! returns the whole batch is on disk (fsynced) or none of it is.
//!
//! Every durable write of a peer passes through [`Store::apply`], which is
//! therefore where what a batch wrote is written through into the State
//! partition's read cache ([`cache`]), and where the test-only crash points of [`crate::crashpoint`]
//! (`FABRIK_CRASH_AT_WRITE`, debug builds only) number and interrupt them.

pub mod cache;

use cache::{Lookup, StateCache};
use fabrik_core::ledger::kv::{KvPairs, KvRead, Partition, StoreError, WriteBatch};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::{Path, PathBuf};

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot open the ledger store at {path}: {source}. If another peerd uses this \
     directory stop it first; if the files are damaged, move the directory away and resync from peers"
)]
pub struct OpenError {
    path: PathBuf,
    source: fjall::Error,
}

/// The fjall-backed store.
pub struct Store {
    db: Database,
    blocks: Keyspace,
    state: Keyspace,
    state_delta: Keyspace,
    indexes: Keyspace,
    persist: Keyspace,
    path: PathBuf,
    cache: StateCache,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// [`OpenError`] naming the directory when fjall cannot open or recover it.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        crate::crashpoint::init();
        let err = |source| OpenError {
            path: dir.to_path_buf(),
            source,
        };
        let db = Database::builder(dir).open().map_err(err)?;
        let open = |p: Partition| db.keyspace(p.name(), KeyspaceCreateOptions::default);
        Ok(Self {
            blocks: open(Partition::Blocks).map_err(err)?,
            state: open(Partition::State).map_err(err)?,
            state_delta: open(Partition::StateDelta).map_err(err)?,
            indexes: open(Partition::Indexes).map_err(err)?,
            persist: open(Partition::Persist).map_err(err)?,
            db,
            path: dir.to_path_buf(),
            cache: StateCache::default(),
        })
    }

    /// The State read cache's hits and misses since the store was opened.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache.counts()
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn keyspace(&self, partition: Partition) -> &Keyspace {
        match partition {
            Partition::Blocks => &self.blocks,
            Partition::State => &self.state,
            Partition::StateDelta => &self.state_delta,
            Partition::Indexes => &self.indexes,
            Partition::Persist => &self.persist,
        }
    }

    /// Commits `batch` atomically and durably (fsync) before returning.
    ///
    /// # Errors
    /// When the write or the fsync fails; then nothing of the batch is visible
    /// after a restart.
    pub fn apply(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let crash_point = crate::crashpoint::before(|| describe(batch));
        let mut fb = self.db.batch().durability(Some(PersistMode::SyncAll));
        for w in &batch.writes {
            let ks = self.keyspace(w.partition);
            match &w.value {
                Some(v) => fb.insert(ks, w.key.as_slice(), v.as_slice()),
                None => fb.remove(ks, w.key.as_slice()),
            }
        }
        if let Err(e) = fb.commit() {
            self.cache.clear();
            return Err(StoreError(format!(
                "commit to {}: {e}",
                self.path.display()
            )));
        }
        let state_writes = batch
            .writes
            .iter()
            .filter(|w| w.partition == Partition::State)
            .map(|w| (w.key.as_slice(), w.value.as_deref()));
        self.cache.committed(state_writes);
        crate::crashpoint::after(crash_point);
        Ok(())
    }
}

/// What a batch writes, for the crash-point log: its partitions and, in the
/// persist partition, its keys (`consensus.pset`, `discovery…`), each once.
fn describe(batch: &WriteBatch) -> String {
    let mut parts: Vec<String> = Vec::new();
    for w in &batch.writes {
        let part = match w.partition {
            Partition::Persist => {
                let key = String::from_utf8_lossy(&w.key);
                // consensus.batch.<digest>, consensus.chkpt.<seq>: keep the family.
                let family: String = key.split('.').take(2).collect::<Vec<_>>().join(".");
                format!("persist:{family}")
            }
            p => p.name().to_string(),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    format!("{} ops [{}]", batch.writes.len(), parts.join(" "))
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("read from {}: {e}", path.display()))
}

impl Store {
    fn get_uncached(
        &self,
        partition: Partition,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .keyspace(partition)
            .get(key)
            .map_err(|e| read_err(&self.path, e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn range_uncached(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<KvPairs, StoreError> {
        let ks = self.keyspace(partition);
        let iter = if end.is_empty() {
            ks.range(start..)
        } else {
            ks.range(start..end)
        };
        let mut out = Vec::new();
        for guard in iter.take(limit) {
            let (k, v) = guard.into_inner().map_err(|e| read_err(&self.path, e))?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

impl KvRead for Store {
    fn get(&self, partition: Partition, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if partition != Partition::State {
            return self.get_uncached(partition, key);
        }
        match self.cache.get(key) {
            Lookup::Hit(value) => Ok(value),
            Lookup::Miss(epoch) => {
                let value = self.get_uncached(partition, key)?;
                self.cache.fill(epoch, key, value.as_deref());
                Ok(value)
            }
        }
    }

    fn range(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<KvPairs, StoreError> {
        if partition != Partition::State || end.is_empty() {
            return self.range_uncached(partition, start, end, limit);
        }
        match self.cache.range(start, end, limit) {
            Lookup::Hit(pairs) => Ok(pairs),
            Lookup::Miss(epoch) => {
                let pairs = self.range_uncached(partition, start, end, limit)?;
                self.cache.fill_range(epoch, start, end, limit, &pairs);
                Ok(pairs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_survives_reopen_and_ranges_respect_bounds() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut b = WriteBatch::new();
            b.put(Partition::State, b"a".to_vec(), b"1".to_vec());
            b.put(Partition::State, b"b".to_vec(), b"2".to_vec());
            b.put(Partition::Blocks, b"a".to_vec(), b"block".to_vec());
            store.apply(&b).unwrap();
            let mut d = WriteBatch::new();
            d.delete(Partition::State, b"a".to_vec());
            store.apply(&d).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get(Partition::State, b"a").unwrap(), None);
        assert_eq!(
            store.get(Partition::Blocks, b"a").unwrap(),
            Some(b"block".to_vec())
        );
        let all = store.range(Partition::State, b"", b"", 10).unwrap();
        assert_eq!(all, vec![(b"b".to_vec(), b"2".to_vec())]);
        assert!(
            store
                .range(Partition::State, b"", b"b", 10)
                .unwrap()
                .is_empty()
        );
    }

    /// One step of the cache property test.
    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, u8),
        Delete(u8),
        Get(u8),
        Range(u8, u8),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..24, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
            (0u8..24).prop_map(Op::Delete),
            (0u8..24).prop_map(Op::Get),
            (0u8..24, 0u8..24).prop_map(|(a, b)| Op::Range(a.min(b), a.max(b))),
        ]
    }

    fn k(i: u8) -> Vec<u8> {
        vec![b'k', i / 4, i % 4]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever mix of batches, point reads and ranges, the cached store
        /// answers exactly what an uncached in-memory store answers.
        #[test]
        fn the_cached_store_reads_what_was_committed(
            batches in proptest::collection::vec(proptest::collection::vec(op(), 1..12), 1..12)
        ) {
            use fabrik_core::ledger::kv::MemKv;
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let mut model = MemKv::new();
            for ops in batches {
                let mut batch = WriteBatch::new();
                for op in ops {
                    match op {
                        Op::Put(i, v) => batch.put(Partition::State, k(i), vec![v]),
                        Op::Delete(i) => batch.delete(Partition::State, k(i)),
                        Op::Get(i) => proptest::prop_assert_eq!(
                            store.get(Partition::State, &k(i)).unwrap(),
                            model.get(Partition::State, &k(i)).unwrap()
                        ),
                        Op::Range(a, b) => {
                            for limit in [1, 3, usize::MAX] {
                                proptest::prop_assert_eq!(
                                    store.range(Partition::State, &k(a), &k(b), limit).unwrap(),
                                    model.range(Partition::State, &k(a), &k(b), limit).unwrap()
                                );
                            }
                        }
                    }
                }
                store.apply(&batch).unwrap();
                model.apply(&batch);
            }
        }
    }
}
