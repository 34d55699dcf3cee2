//! [`Ledger`]: reads of committed data over any [`KvRead`], in the v0.6 key
//! layout of [`super::keys`]: height, blockchain info, blocks and their
//! hashes, transactions by txid, committed state (single keys, ranges and
//! snapshot pages) and per-block state deltas; plus the writes of a block
//! received by state transfer (v0.6 `PutRawBlock`) and of a state wipe.
//!
//! Range reads use the ordered state index (`0xFF ‖ compositeKey`), since
//! bucket-tree data nodes are ordered by bucket, not by key. As in v0.6,
//! ranges include both `start` and `end`; an empty `end` means no upper
//! bound. Unlike v0.6 (bucket order), results are in ascending key order.

use std::collections::VecDeque;

use fabrik_proto::ProstMessage;
use fabrik_proto::protos::{Block, BlockchainInfo, Transaction};

use super::block::{blockchain_info, encode_and_hash};
use super::buckettree::{BucketTreeConfig, committed_state_hash};
use super::codec::{Reader, varint};
use super::delta::StateDelta;
use super::error::LedgerError;
use super::keys::{
    BLOCK_COUNT_KEY, STATE_INDEX_PREFIX, block_hash_index_key, block_key, composite_key,
    split_composite_key, state_delta_key, state_index_key, txid_index_key,
};
use super::kv::{KvRead, Partition, WriteBatch};
use super::scan::{self, successor};
use crate::crypto::{Hash, b64, hash};

/// A read-only view of the committed ledger in `store`.
#[derive(Debug)]
pub struct Ledger<'a, S: KvRead + ?Sized> {
    store: &'a S,
}

impl<S: KvRead + ?Sized> Clone for Ledger<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: KvRead + ?Sized> Copy for Ledger<'_, S> {}

/// One page of a full-state snapshot (for state transfer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPage {
    /// The page's key/values as a delta of sets (no previous values), the
    /// form v0.6 `SyncStateSnapshot.delta` carries.
    pub delta: StateDelta,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<SnapshotCursor>,
}

/// An opaque position in a snapshot walk (the last composite key returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotCursor(Vec<u8>);

impl<'a, S: KvRead + ?Sized> Ledger<'a, S> {
    /// A view of `store`.
    pub fn new(store: &'a S) -> Self {
        Ledger { store }
    }

    /// Number of blocks (0 before genesis).
    ///
    /// # Errors
    /// Store failure, or a `blockCount` that is not 8 bytes.
    pub fn height(&self) -> Result<u64, LedgerError> {
        match self.store.get(Partition::Blocks, BLOCK_COUNT_KEY)? {
            None => Ok(0),
            Some(bytes) => {
                let len = bytes.len();
                let be: [u8; 8] = bytes
                    .try_into()
                    .map_err(|_| LedgerError::CorruptBlockCount { len })?;
                Ok(u64::from_be_bytes(be))
            }
        }
    }

    /// v0.6 `BlockchainInfo`: height, hash of the last block and that
    /// block's previous hash (all empty on an empty chain).
    ///
    /// # Errors
    /// Store failure, or a missing or corrupt head block.
    pub fn blockchain_info(&self) -> Result<BlockchainInfo, LedgerError> {
        let height = self.height()?;
        let Some(last) = height.checked_sub(1) else {
            return Ok(BlockchainInfo::default());
        };
        let mut head = self.block(last)?;
        head.non_hash_data = None;
        let head_hash = hash(&head.encode_to_vec());
        Ok(blockchain_info(height, &head, &head_hash))
    }

    /// Block `number`, with its nonHashData.
    ///
    /// # Errors
    /// [`LedgerError::BlockNotFound`], [`LedgerError::CorruptBlock`], store failure.
    pub fn block(&self, number: u64) -> Result<Block, LedgerError> {
        let bytes = self
            .store
            .get(Partition::Blocks, &block_key(number))?
            .ok_or(LedgerError::BlockNotFound { number })?;
        Block::decode(bytes.as_slice()).map_err(|e| LedgerError::CorruptBlock {
            number,
            reason: e.to_string(),
        })
    }

    /// The v0.6 hash of block `number`.
    ///
    /// # Errors
    /// As [`Ledger::block`].
    pub fn block_hash(&self, number: u64) -> Result<Hash, LedgerError> {
        let mut block = self.block(number)?;
        block.non_hash_data = None;
        Ok(hash(&block.encode_to_vec()))
    }

    /// The number of the block with hash `block_hash`.
    ///
    /// # Errors
    /// [`LedgerError::BlockHashNotFound`], a corrupt index entry, store failure.
    pub fn block_number_by_hash(&self, block_hash: &[u8]) -> Result<u64, LedgerError> {
        let key = block_hash_index_key(block_hash);
        let bytes = self.store.get(Partition::Indexes, &key)?.ok_or_else(|| {
            LedgerError::BlockHashNotFound {
                hash_b64: b64(block_hash),
            }
        })?;
        let mut r = Reader::new(&bytes);
        let number = r.varint().map_err(|e| corrupt_index(&key, e.to_string()))?;
        expect_end(&r, &key)?;
        Ok(number)
    }

    /// (block number, index in block) of transaction `txid`.
    ///
    /// # Errors
    /// [`LedgerError::TransactionNotFound`], a corrupt index entry, store failure.
    pub fn transaction_location(&self, txid: &str) -> Result<(u64, u64), LedgerError> {
        let key = txid_index_key(txid);
        let bytes = self.store.get(Partition::Indexes, &key)?.ok_or_else(|| {
            LedgerError::TransactionNotFound {
                txid: txid.to_owned(),
            }
        })?;
        let mut r = Reader::new(&bytes);
        let number = r.varint().map_err(|e| corrupt_index(&key, e.to_string()))?;
        let index = r.varint().map_err(|e| corrupt_index(&key, e.to_string()))?;
        expect_end(&r, &key)?;
        Ok((number, index))
    }

    /// Transaction `txid`, found through the txid index.
    ///
    /// # Errors
    /// [`LedgerError::TransactionNotFound`], corrupt index or block, store failure.
    pub fn transaction(&self, txid: &str) -> Result<Transaction, LedgerError> {
        let (number, index) = self.transaction_location(txid)?;
        let block = self.block(number)?;
        let position = usize::try_from(index).ok();
        position
            .and_then(|i| block.transactions.into_iter().nth(i))
            .ok_or_else(|| {
                corrupt_index(
                    &txid_index_key(txid),
                    format!("block {number} has no tx {index}"),
                )
            })
    }

    /// The committed value of `key` of `chaincode`.
    ///
    /// # Errors
    /// Store failure.
    pub fn state(&self, chaincode: &str, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        let index_key = state_index_key(&composite_key(chaincode, key));
        Ok(self.store.get(Partition::State, &index_key)?)
    }

    /// Up to `limit` committed key/values of `chaincode` with
    /// `start <= key <= end` (empty `end`: unbounded) and, if `after` is
    /// given, `key > after`, in ascending key order.
    ///
    /// # Errors
    /// Store failure or a corrupt index entry.
    pub fn range_state(
        &self,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, LedgerError> {
        let mut cursor = CommittedRange::new(self.store, chaincode, start, end, after, limit);
        let mut out = Vec::new();
        while out.len() < limit {
            match cursor.next_entry()? {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        Ok(out)
    }

    /// The stored state delta of block `number`.
    ///
    /// # Errors
    /// [`LedgerError::StateDeltaNotFound`] (never stored or pruned),
    /// [`LedgerError::CorruptStateDelta`], store failure.
    pub fn state_delta(&self, number: u64) -> Result<StateDelta, LedgerError> {
        let bytes = self
            .store
            .get(Partition::StateDelta, &state_delta_key(number))?
            .ok_or(LedgerError::StateDeltaNotFound { number })?;
        StateDelta::decode(&bytes)
            .map_err(|source| LedgerError::CorruptStateDelta { number, source })
    }

    /// The committed state hash (the bucket tree's root).
    ///
    /// # Errors
    /// Store failure or a corrupt root node.
    pub fn state_hash(&self, config: &BucketTreeConfig) -> Result<Option<Hash>, LedgerError> {
        committed_state_hash(self.store, config)
    }

    /// Up to `limit` (at least 1) committed key/values of every chaincode,
    /// in (chaincode, key) order, starting after `cursor`.
    ///
    /// # Errors
    /// Store failure or a corrupt index entry.
    pub fn state_snapshot(
        &self,
        cursor: Option<&SnapshotCursor>,
        limit: usize,
    ) -> Result<SnapshotPage, LedgerError> {
        let limit = limit.max(1);
        let lower = match cursor {
            Some(SnapshotCursor(after)) => successor(&state_index_key(after)),
            None => vec![STATE_INDEX_PREFIX],
        };
        // 0xFF is the highest State prefix, so the walk is unbounded above.
        let entries = self.store.range(Partition::State, &lower, b"", limit)?;
        let full = entries.len() >= limit;
        let mut delta = StateDelta::new();
        let mut last = None;
        for (key, value) in entries {
            let composite = key.get(1..).unwrap_or_default();
            let (chaincode, k) = decode_composite(composite, &key)?;
            delta.set(&chaincode, &k, value, None);
            last = Some(composite.to_vec());
        }
        let next = if full { last.map(SnapshotCursor) } else { None };
        Ok(SnapshotPage { delta, next })
    }

    /// Deletes of every State-partition key (v0.6 wipes the state before
    /// applying a snapshot).
    ///
    /// # Errors
    /// Store failure.
    pub fn wipe_state_writes(&self) -> Result<WriteBatch, LedgerError> {
        let mut writes = WriteBatch::new();
        scan::for_each(
            self.store,
            Partition::State,
            b"",
            b"",
            scan::SCAN_PAGE,
            |key, _| {
                writes.delete(Partition::State, key);
                Ok(())
            },
        )?;
        Ok(writes)
    }

    /// Writes storing `block` as block `number` (v0.6 `PutRawBlock`, used by
    /// state transfer): the block, `blockCount` if the chain grows, the
    /// block-hash index and the txid index.
    ///
    /// # Errors
    /// Store failure, corrupt height, or a height overflow.
    pub fn raw_block_writes(&self, block: &Block, number: u64) -> Result<WriteBatch, LedgerError> {
        let (bytes, digest) = encode_and_hash(block);
        let mut writes = WriteBatch::new();
        let grown = number.checked_add(1).ok_or(LedgerError::Overflow {
            what: "block height",
        })?;
        writes.put(Partition::Blocks, block_key(number), bytes);
        if self.height()? < grown {
            writes.put(
                Partition::Blocks,
                BLOCK_COUNT_KEY.to_vec(),
                grown.to_be_bytes().to_vec(),
            );
        }
        index_writes(&mut writes, number, &digest, block);
        Ok(writes)
    }
}

/// Block-hash and txid index writes of block `number` (v0.6
/// `addIndexDataForPersistence`).
pub(crate) fn index_writes(writes: &mut WriteBatch, number: u64, digest: &Hash, block: &Block) {
    writes.put(
        Partition::Indexes,
        block_hash_index_key(digest),
        varint(number),
    );
    for (index, tx) in block.transactions.iter().enumerate() {
        let mut location = varint(number);
        location.extend(varint(index as u64));
        writes.put(Partition::Indexes, txid_index_key(&tx.txid), location);
    }
}

fn corrupt_index(key: &[u8], reason: String) -> LedgerError {
    LedgerError::CorruptIndex {
        key_hex: hex::encode(key),
        reason,
    }
}

fn expect_end(r: &Reader<'_>, key: &[u8]) -> Result<(), LedgerError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(corrupt_index(
            key,
            format!("{} trailing bytes", r.remaining()),
        ))
    }
}

fn decode_composite(composite: &[u8], key: &[u8]) -> Result<(String, String), LedgerError> {
    let (chaincode, k) = split_composite_key(composite)
        .ok_or_else(|| LedgerError::corrupt_state(key, "composite key has no 0x00"))?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec())
            .map_err(|_| LedgerError::corrupt_state(key, "key is not UTF-8"))
    };
    Ok((text(chaincode)?, text(k)?))
}

/// A lazily paged walk over one chaincode's committed keys in a range.
pub(crate) struct CommittedRange<'a, S: KvRead + ?Sized> {
    store: &'a S,
    prefix_len: usize,
    lower: Vec<u8>,
    upper: Vec<u8>,
    page: usize,
    buffer: VecDeque<(String, Vec<u8>)>,
    done: bool,
}

impl<'a, S: KvRead + ?Sized> CommittedRange<'a, S> {
    /// Keys `k` of `chaincode` with `start <= k`, `k <= end` (empty: no
    /// bound) and `k > after`; fetched `page` (at least 1) at a time.
    pub(crate) fn new(
        store: &'a S,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        page: usize,
    ) -> Self {
        let prefix = state_index_key(&composite_key(chaincode, ""));
        let with = |k: &str| [prefix.as_slice(), k.as_bytes()].concat();
        let lower = match after {
            Some(a) if a >= start => successor(&with(a)),
            _ => with(start),
        };
        let upper = if end.is_empty() {
            state_index_key(&[chaincode.as_bytes(), &[1]].concat())
        } else {
            successor(&with(end))
        };
        let done = lower >= upper;
        let prefix_len = prefix.len();
        CommittedRange {
            store,
            prefix_len,
            lower,
            upper,
            page: page.max(1),
            buffer: VecDeque::new(),
            done,
        }
    }

    fn fill(&mut self) -> Result<(), LedgerError> {
        if !self.buffer.is_empty() || self.done {
            return Ok(());
        }
        let entries = self
            .store
            .range(Partition::State, &self.lower, &self.upper, self.page)?;
        self.done = entries.len() < self.page;
        if let Some((last, _)) = entries.last() {
            self.lower = successor(last);
        }
        for (key, value) in entries {
            let k = key.get(self.prefix_len..).unwrap_or_default();
            let k = String::from_utf8(k.to_vec())
                .map_err(|_| LedgerError::corrupt_state(&key, "key is not UTF-8"))?;
            self.buffer.push_back((k, value));
        }
        Ok(())
    }

    /// The next key without consuming it.
    pub(crate) fn peek_key(&mut self) -> Result<Option<&str>, LedgerError> {
        self.fill()?;
        Ok(self.buffer.front().map(|(k, _)| k.as_str()))
    }

    /// The next entry.
    pub(crate) fn next_entry(&mut self) -> Result<Option<(String, Vec<u8>)>, LedgerError> {
        self.fill()?;
        Ok(self.buffer.pop_front())
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
