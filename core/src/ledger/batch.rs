//! The transaction/batch context of v0.6 `statemgmt/state` (reference §5.3)
//! and the batch commit of `Ledger.CommitTxBatch`.
//!
//! A [`TxBatch`] holds the batch delta and at most one open transaction
//! delta. Reads look at the open transaction, then the batch, then committed
//! state. [`TxBatch::commit`] turns the batch into one [`WriteBatch`]: the
//! block, `blockCount`, the block-hash and txid indexes, the bucket-tree
//! state (data nodes, internal nodes, ordered index), the block's state delta
//! and the pruning of the delta that falls out of the history window. The
//! caller applies it atomically and durably before announcing the block.
//! Dropping a `TxBatch` is v0.6's `RollbackTxBatch`.

use std::collections::BTreeMap;

use fabrik_proto::Timestamp;
use fabrik_proto::protos::{Block, BlockchainInfo, ChaincodeEvent, NonHashData, Transaction};

use super::block::encode_and_hash;
use super::buckettree::{self, BucketTreeConfig, StateUpdate};
use super::chain::{CommittedRange, Ledger, index_writes};
use super::delta::StateDelta;
use super::error::LedgerError;
use super::keys::{BLOCK_COUNT_KEY, block_key, state_delta_key};
use super::kv::{KvRead, Partition, WriteBatch};
use crate::crypto::Hash;

/// v0.6 `ledger.state.deltaHistorySize`.
pub const DEFAULT_DELTA_HISTORY_SIZE: u64 = 500;

/// The uncommitted changes of one batch of transactions.
#[derive(Debug, Clone, Default)]
pub struct TxBatch {
    delta: StateDelta,
    open: Option<OpenTx>,
    tx_delta_hashes: BTreeMap<String, Option<Hash>>,
    /// Bucket-tree update of `delta` over the committed store, kept from
    /// [`TxBatch::temp_state_hash`] for [`TxBatch::commit`].
    cached: Option<StateUpdate>,
}

#[derive(Debug, Clone)]
struct OpenTx {
    txid: String,
    delta: StateDelta,
}

/// What a commit needs besides the batch.
#[derive(Debug, Clone)]
pub struct CommitParams<'a> {
    /// The transactions that succeeded, in execution order.
    pub transactions: Vec<Transaction>,
    /// One event per executed transaction (failed ones included), an empty
    /// event when it raised none; see [`super::block::events_from_results`].
    pub chaincode_events: Vec<ChaincodeEvent>,
    /// Consensus metadata (PBFT: marshalled `Metadata{seqNo}`; NOOPS: `None`).
    pub consensus_metadata: Option<Vec<u8>>,
    /// The commit time, stored in `nonHashData.localLedgerCommitTimestamp`.
    pub commit_timestamp: Timestamp,
    /// Number of per-block state deltas to keep (0 keeps none).
    pub delta_history_size: u64,
    /// The state's bucket-tree shape.
    pub state_config: &'a BucketTreeConfig,
}

impl<'a> CommitParams<'a> {
    /// An empty commit (no transactions, events or metadata), as v0.6 makes
    /// the genesis block.
    pub fn empty(commit_timestamp: Timestamp, state_config: &'a BucketTreeConfig) -> Self {
        CommitParams {
            transactions: Vec::new(),
            chaincode_events: Vec::new(),
            consensus_metadata: None,
            commit_timestamp,
            delta_history_size: DEFAULT_DELTA_HISTORY_SIZE,
            state_config,
        }
    }
}

/// A committed batch, ready to be persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The new block, with nonHashData.
    pub block: Block,
    /// Its number.
    pub block_number: u64,
    /// Its v0.6 hash.
    pub block_hash: Hash,
    /// The chain after the commit.
    pub info: BlockchainInfo,
    /// The state hash after the commit (the block's stateHash).
    pub state_hash: Option<Hash>,
    /// Everything to write, atomically.
    pub writes: WriteBatch,
}

impl TxBatch {
    /// An empty batch (v0.6 `BeginTxBatch`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The txid of the open transaction, if any.
    pub fn open_txid(&self) -> Option<&str> {
        self.open.as_ref().map(|tx| tx.txid.as_str())
    }

    /// The batch delta (changes of the transactions finished so far).
    pub fn delta(&self) -> &StateDelta {
        &self.delta
    }

    /// v0.6 `txStateDeltaHash`: per successful transaction, the hash of its
    /// delta (`None` if it changed nothing).
    pub fn tx_delta_hashes(&self) -> &BTreeMap<String, Option<Hash>> {
        &self.tx_delta_hashes
    }

    /// Opens transaction `txid`.
    ///
    /// # Errors
    /// [`LedgerError::TxAlreadyOpen`] if one is open.
    pub fn tx_begin(&mut self, txid: &str) -> Result<(), LedgerError> {
        if let Some(open) = &self.open {
            return Err(LedgerError::TxAlreadyOpen {
                open: open.txid.clone(),
                requested: txid.to_owned(),
            });
        }
        self.open = Some(OpenTx {
            txid: txid.to_owned(),
            delta: StateDelta::new(),
        });
        Ok(())
    }

    /// The value of `key` as the open transaction sees it: its own changes,
    /// then the batch's, then committed state.
    ///
    /// # Errors
    /// Store failure.
    pub fn get<S: KvRead + ?Sized>(
        &self,
        store: &S,
        chaincode: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        if let Some(update) = self.uncommitted(chaincode, key) {
            return Ok(update.value.clone());
        }
        Ledger::new(store).state(chaincode, key)
    }

    fn uncommitted(&self, chaincode: &str, key: &str) -> Option<&super::delta::UpdatedValue> {
        let in_tx = self
            .open
            .as_ref()
            .and_then(|tx| tx.delta.get(chaincode, key));
        in_tx.or_else(|| self.delta.get(chaincode, key))
    }

    /// Sets `key` in the open transaction, recording the committed value as
    /// the previous value.
    ///
    /// # Errors
    /// [`LedgerError::NoTxOpen`]; [`LedgerError::EmptyKeyOrValue`] (v0.6
    /// refuses an empty key or a nil value); store failure.
    pub fn set<S: KvRead + ?Sized>(
        &mut self,
        store: &S,
        chaincode: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), LedgerError> {
        if key.is_empty() || value.is_empty() {
            return Err(empty_key_or_value(chaincode, key));
        }
        let previous = self.previous_value(store, chaincode, key, "set")?;
        if let Some(tx) = self.open.as_mut() {
            tx.delta.set(chaincode, key, value, previous);
        }
        Ok(())
    }

    /// Deletes `key` in the open transaction, recording the committed value
    /// as the previous value.
    ///
    /// # Errors
    /// [`LedgerError::NoTxOpen`]; store failure. (As in v0.6, an empty key
    /// is accepted here; it can never have been set.)
    pub fn delete<S: KvRead + ?Sized>(
        &mut self,
        store: &S,
        chaincode: &str,
        key: &str,
    ) -> Result<(), LedgerError> {
        let previous = self.previous_value(store, chaincode, key, "delete")?;
        if let Some(tx) = self.open.as_mut() {
            tx.delta.delete(chaincode, key, previous);
        }
        Ok(())
    }

    /// The committed value of `key`, looked up only when the open
    /// transaction has not touched it yet (otherwise it is ignored). The
    /// batch delta already knows it if an earlier transaction touched the key.
    fn previous_value<S: KvRead + ?Sized>(
        &self,
        store: &S,
        chaincode: &str,
        key: &str,
        operation: &'static str,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        let tx = self
            .open
            .as_ref()
            .ok_or(LedgerError::NoTxOpen { operation })?;
        if tx.delta.get(chaincode, key).is_some() {
            return Ok(None);
        }
        if let Some(update) = self.delta.get(chaincode, key) {
            return Ok(update.previous_value.clone());
        }
        Ledger::new(store).state(chaincode, key)
    }

    /// Up to `limit` key/values of `chaincode` with `start <= key <= end`
    /// (empty `end`: unbounded) and `key > after` (if given), ascending, as
    /// the open transaction sees them: uncommitted writes merged over
    /// committed state, deleted keys left out.
    ///
    /// # Errors
    /// Store failure or a corrupt index entry.
    pub fn range<S: KvRead + ?Sized>(
        &self,
        store: &S,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, LedgerError> {
        let overlay = self.overlay(chaincode, start, end, after);
        let mut overlay = overlay.into_iter().peekable();
        let mut committed = CommittedRange::new(store, chaincode, start, end, after, limit);
        let mut out = Vec::new();
        while out.len() < limit {
            let next_committed = committed.peek_key()?;
            let take_overlay = match (overlay.peek(), next_committed) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((o, _)), Some(c)) => *o <= c,
            };
            if !take_overlay {
                if let Some(entry) = committed.next_entry()? {
                    out.push(entry);
                }
                continue;
            }
            if let Some((key, value)) = overlay.next() {
                if committed.peek_key()? == Some(key) {
                    committed.next_entry()?;
                }
                if let Some(value) = value {
                    out.push((key.to_owned(), value.to_vec()));
                }
            }
        }
        Ok(out)
    }

    /// Uncommitted updates of `chaincode` within the range, the open
    /// transaction's over the batch's; `None` marks a delete.
    fn overlay<'s>(
        &'s self,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
    ) -> BTreeMap<&'s str, Option<&'s [u8]>> {
        let in_range =
            |k: &str| k >= start && (end.is_empty() || k <= end) && after.is_none_or(|a| k > a);
        let mut overlay = BTreeMap::new();
        let tx_delta = self.open.as_ref().map(|tx| &tx.delta);
        for delta in [Some(&self.delta), tx_delta].into_iter().flatten() {
            for (key, update) in delta.updates(chaincode).into_iter().flatten() {
                if in_range(key) {
                    overlay.insert(key.as_str(), update.value.as_deref());
                }
            }
        }
        overlay
    }

    /// Closes transaction `txid`: if `ok`, merges its changes into the batch
    /// and records its delta hash; otherwise discards them.
    ///
    /// # Errors
    /// [`LedgerError::NoTxOpen`] or [`LedgerError::TxMismatch`] (the open
    /// transaction stays open).
    pub fn tx_finished(&mut self, txid: &str, ok: bool) -> Result<(), LedgerError> {
        let open = self.open.as_ref().ok_or(LedgerError::NoTxOpen {
            operation: "tx_finished",
        })?;
        if open.txid != txid {
            return Err(LedgerError::TxMismatch {
                open: open.txid.clone(),
                finished: txid.to_owned(),
            });
        }
        let Some(tx) = self.open.take() else {
            return Ok(());
        };
        if ok {
            let tx_hash = tx.delta.crypto_hash();
            if !tx.delta.is_empty() {
                self.delta.apply_changes(tx.delta);
                self.cached = None;
            }
            self.tx_delta_hashes.insert(tx.txid, tx_hash);
        }
        Ok(())
    }

    /// v0.6 `GetTempStateHash`: the state hash committed state would have
    /// with the batch applied. The result is kept for [`TxBatch::commit`],
    /// which must then be given the same, unchanged store.
    ///
    /// # Errors
    /// Store failure or corrupt state nodes.
    pub fn temp_state_hash<S: KvRead + ?Sized>(
        &mut self,
        store: &S,
        config: &BucketTreeConfig,
    ) -> Result<Option<Hash>, LedgerError> {
        if let Some(update) = &self.cached {
            return Ok(update.state_hash);
        }
        let update = buckettree::apply_delta(store, config, &self.delta)?;
        let state_hash = update.state_hash;
        self.cached = Some(update);
        Ok(state_hash)
    }

    /// v0.6 `CommitTxBatch`: builds block number `height` chained to the
    /// current head and returns it with every write of the commit, in one
    /// batch. Nothing is written here; the caller persists `writes`.
    ///
    /// # Errors
    /// [`LedgerError::TxStillOpen`]; store failure; corrupt head block or
    /// state nodes; height overflow.
    pub fn commit<S: KvRead + ?Sized>(
        mut self,
        store: &S,
        params: CommitParams<'_>,
    ) -> Result<Committed, LedgerError> {
        if let Some(open) = &self.open {
            return Err(LedgerError::TxStillOpen {
                txid: open.txid.clone(),
            });
        }
        let ledger = Ledger::new(store);
        let number = ledger.height()?;
        let height = number.checked_add(1).ok_or(LedgerError::Overflow {
            what: "block height",
        })?;
        let previous_block_hash = match number.checked_sub(1) {
            Some(last) => ledger.block_hash(last)?.to_vec(),
            None => Vec::new(),
        };
        let update = match self.cached.take() {
            Some(update) => update,
            None => buckettree::apply_delta(store, params.state_config, &self.delta)?,
        };
        let block = new_block(
            params.transactions,
            previous_block_hash,
            update.state_hash,
            params.consensus_metadata,
            params.commit_timestamp,
            params.chaincode_events,
        );
        let (bytes, block_hash) = encode_and_hash(&block);
        let mut writes = WriteBatch::new();
        writes.put(Partition::Blocks, block_key(number), bytes);
        writes.put(
            Partition::Blocks,
            BLOCK_COUNT_KEY.to_vec(),
            height.to_be_bytes().to_vec(),
        );
        index_writes(&mut writes, number, &block_hash, &block);
        writes.extend(update.writes);
        record_state_delta(&mut writes, number, &self.delta, params.delta_history_size);
        let info = BlockchainInfo {
            height,
            current_block_hash: block_hash.to_vec(),
            previous_block_hash: block.previous_block_hash.clone(),
        };
        Ok(Committed {
            block,
            block_number: number,
            block_hash,
            info,
            state_hash: update.state_hash,
            writes,
        })
    }
}

fn new_block(
    transactions: Vec<Transaction>,
    previous_block_hash: Vec<u8>,
    state_hash: Option<Hash>,
    consensus_metadata: Option<Vec<u8>>,
    commit_timestamp: Timestamp,
    chaincode_events: Vec<ChaincodeEvent>,
) -> Block {
    Block {
        version: 0,
        timestamp: None,
        transactions,
        state_hash: state_hash.map(|h| h.to_vec()).unwrap_or_default(),
        previous_block_hash,
        consensus_metadata: consensus_metadata.unwrap_or_default(),
        non_hash_data: Some(NonHashData {
            local_ledger_commit_timestamp: Some(commit_timestamp),
            chaincode_events,
        }),
    }
}

fn empty_key_or_value(chaincode: &str, key: &str) -> LedgerError {
    LedgerError::EmptyKeyOrValue {
        chaincode: chaincode.to_owned(),
        key: key.to_owned(),
    }
}

/// Stores `delta` as the state delta of block `number` and prunes the delta
/// of block `number - history` (v0.6 `AddChangesForPersistence`); with
/// `history == 0` nothing is kept.
pub fn record_state_delta(writes: &mut WriteBatch, number: u64, delta: &StateDelta, history: u64) {
    if history == 0 {
        return;
    }
    writes.put(
        Partition::StateDelta,
        state_delta_key(number),
        delta.encode(),
    );
    if let Some(old) = number.checked_sub(history) {
        writes.delete(Partition::StateDelta, state_delta_key(old));
    }
}

/// Catch-up replay of a received state delta, without a block (v0.6
/// `ApplyStateDelta` + `CommitStateDelta`): the new state hash and the State
/// writes. The delta itself is not stored; use [`record_state_delta`] to
/// keep it.
///
/// # Errors
/// Store failure or corrupt state nodes.
pub fn apply_delta_writes<S: KvRead + ?Sized>(
    store: &S,
    delta: &StateDelta,
    config: &BucketTreeConfig,
) -> Result<(Option<Hash>, WriteBatch), LedgerError> {
    let update = buckettree::apply_delta(store, config, delta)?;
    Ok((update.state_hash, update.writes))
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
