//! The storage boundary of the ledger: a synchronous read trait over named
//! partitions, and a [`WriteBatch`] the io layer applies atomically and
//! durably. The v0.6 key layout (reference §5.2) is decided in `core::ledger`;
//! the store only moves bytes. [`MemKv`] is the in-memory implementation used
//! by unit tests and the simulator.

use std::collections::BTreeMap;

/// The partitions of the store (v0.6 column families).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Partition {
    /// `blockchainCF`: blocks by 8-byte big-endian number, and `blockCount`.
    Blocks,
    /// `stateCF`: world-state data nodes and bucket-tree nodes.
    State,
    /// `stateDeltaCF`: per-block state deltas by 8-byte big-endian number.
    StateDelta,
    /// `indexesCF`: block-hash and txid indexes.
    Indexes,
    /// `persistCF`: consensus persistence and the discovery list.
    Persist,
}

impl Partition {
    /// Every partition, in a fixed order.
    pub const ALL: [Partition; 5] = [
        Partition::Blocks,
        Partition::State,
        Partition::StateDelta,
        Partition::Indexes,
        Partition::Persist,
    ];

    /// The partition's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Partition::Blocks => "blockchain",
            Partition::State => "state",
            Partition::StateDelta => "statedelta",
            Partition::Indexes => "indexes",
            Partition::Persist => "persist",
        }
    }
}

/// A storage failure, carried as text so the core needs no store types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// Key/value pairs in key order.
pub type KvPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Synchronous reads of committed data.
pub trait KvRead {
    /// The value at `key`, if any.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn get(&self, partition: Partition, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries with `start <= key < end` (an empty `end` means
    /// no upper bound), in ascending key order.
    ///
    /// # Errors
    /// When the store cannot be read.
    fn range(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<KvPairs, StoreError>;
}

/// One write: a value to put, or `None` to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Target partition.
    pub partition: Partition,
    /// Key.
    pub key: Vec<u8>,
    /// New value, or `None` to delete the key.
    pub value: Option<Vec<u8>>,
}

/// Writes that must land together, atomically and durably (fsynced), before
/// anyone is told about them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub writes: Vec<Write>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, partition: Partition, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write {
            partition,
            key,
            value: Some(value),
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, partition: Partition, key: Vec<u8>) {
        self.writes.push(Write {
            partition,
            key,
            value: None,
        });
    }

    /// Appends every write of `other`.
    pub fn extend(&mut self, other: WriteBatch) {
        self.writes.extend(other.writes);
    }

    /// Whether the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// An in-memory store for tests and simulation.
#[derive(Debug, Clone, Default)]
pub struct MemKv {
    data: BTreeMap<(Partition, Vec<u8>), Vec<u8>>,
}

impl MemKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `batch` (atomically, trivially).
    pub fn apply(&mut self, batch: &WriteBatch) {
        for w in &batch.writes {
            let k = (w.partition, w.key.clone());
            match &w.value {
                Some(v) => {
                    self.data.insert(k, v.clone());
                }
                None => {
                    self.data.remove(&k);
                }
            }
        }
    }
}

impl KvRead for MemKv {
    fn get(&self, partition: Partition, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.get(&(partition, key.to_vec())).cloned())
    }

    fn range(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let lower = (partition, start.to_vec());
        Ok(self
            .data
            .range(lower..)
            .take_while(|((p, k), _)| *p == partition && (end.is_empty() || k.as_slice() < end))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_stays_inside_its_partition_and_bounds() {
        let mut kv = MemKv::new();
        let mut b = WriteBatch::new();
        b.put(Partition::State, b"a".to_vec(), b"1".to_vec());
        b.put(Partition::State, b"b".to_vec(), b"2".to_vec());
        b.put(Partition::State, b"c".to_vec(), b"3".to_vec());
        b.put(Partition::StateDelta, b"a".to_vec(), b"x".to_vec());
        kv.apply(&b);
        let got = kv.range(Partition::State, b"b", b"", 10).unwrap();
        assert_eq!(got.len(), 2);
        let got = kv.range(Partition::State, b"", b"c", 10).unwrap();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        let mut d = WriteBatch::new();
        d.delete(Partition::State, b"a".to_vec());
        kv.apply(&d);
        assert_eq!(kv.get(Partition::State, b"a").unwrap(), None);
    }
}
