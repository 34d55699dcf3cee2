//! The durable store: one fjall database under `<fileSystemPath>/db` with a
//! keyspace per ledger [`Partition`]. It moves bytes only; the key layout is
//! decided by `fabrik_core::ledger`. A [`WriteBatch`] is committed as one
//! atomic fjall batch with `PersistMode::SyncAll`, so when [`Store::apply`]
//! returns the whole batch is on disk (fsynced) or none of it is.
//!
//! Every durable write of a peer passes through [`Store::apply`], which is
//! therefore where the test-only crash points of [`crate::crashpoint`]
//! (`FABRIK_CRASH_AT_WRITE`, debug builds only) number and interrupt them.

use fabrik_core::ledger::kv::{KvRead, Partition, StoreError, WriteBatch};
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
        })
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
        fb.commit()
            .map_err(|e| StoreError(format!("commit to {}: {e}", self.path.display())))?;
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

impl KvRead for Store {
    fn get(&self, partition: Partition, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .keyspace(partition)
            .get(key)
            .map_err(|e| read_err(&self.path, e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn range(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
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
}
