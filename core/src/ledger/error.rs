//! [`LedgerError`]: every way a ledger read, batch operation or commit can
//! fail, each naming the block, txid, key or node concerned.

use super::delta::DeltaDecodeError;
use super::kv::StoreError;

/// A ledger failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No block with this number is stored.
    #[error("block {number} not found")]
    BlockNotFound {
        /// Block number.
        number: u64,
    },
    /// No block with this hash is indexed.
    #[error("no block with hash {hash_b64}")]
    BlockHashNotFound {
        /// The hash, base64.
        hash_b64: String,
    },
    /// No transaction with this txid is indexed.
    #[error("transaction {txid} not found")]
    TransactionNotFound {
        /// Transaction id.
        txid: String,
    },
    /// No state delta is kept for this block.
    #[error("state delta of block {number} not found")]
    StateDeltaNotFound {
        /// Block number.
        number: u64,
    },
    /// A stored block does not decode.
    #[error("block {number} is corrupt: {reason}")]
    CorruptBlock {
        /// Block number.
        number: u64,
        /// Why.
        reason: String,
    },
    /// The stored height is not 8 bytes.
    #[error("blockCount is corrupt: {len} bytes instead of 8")]
    CorruptBlockCount {
        /// Length found.
        len: usize,
    },
    /// An index entry does not decode or points nowhere.
    #[error("index entry {key_hex} is corrupt: {reason}")]
    CorruptIndex {
        /// The index key, hex.
        key_hex: String,
        /// Why.
        reason: String,
    },
    /// A stored state delta does not decode.
    #[error("state delta of block {number} is corrupt: {source}")]
    CorruptStateDelta {
        /// Block number.
        number: u64,
        /// Decoding failure.
        source: DeltaDecodeError,
    },
    /// A stored bucket-tree node does not decode.
    #[error("bucket node level {level} bucket {bucket} is corrupt: {reason}")]
    CorruptBucketNode {
        /// Tree level (0 = root).
        level: u32,
        /// Bucket number.
        bucket: u64,
        /// Why.
        reason: String,
    },
    /// A stored state entry (data node or index entry) does not decode.
    #[error("state entry {key_hex} is corrupt: {reason}")]
    CorruptStateEntry {
        /// The State partition key, hex.
        key_hex: String,
        /// Why.
        reason: String,
    },
    /// `tx_begin` while another transaction is open.
    #[error("cannot begin transaction {requested}: transaction {open} is still open")]
    TxAlreadyOpen {
        /// The open transaction.
        open: String,
        /// The one asked for.
        requested: String,
    },
    /// A state change or `tx_finished` with no transaction open.
    #[error("no transaction is open ({operation})")]
    NoTxOpen {
        /// What was attempted.
        operation: &'static str,
    },
    /// `tx_finished` for a transaction other than the open one.
    #[error("transaction {finished} finished but {open} is open")]
    TxMismatch {
        /// The open transaction.
        open: String,
        /// The one reported finished.
        finished: String,
    },
    /// `commit` while a transaction is still open.
    #[error("cannot commit: transaction {txid} is still open")]
    TxStillOpen {
        /// The open transaction.
        txid: String,
    },
    /// v0.6 refuses an empty key or a nil (empty) value in `SetState`; the
    /// text is v0.6's, verbatim, as the peer returns it to the chaincode.
    #[error("An empty string key or a nil value is not supported")]
    EmptyKeyOrValue {
        /// Chaincode id.
        chaincode: String,
        /// Key.
        key: String,
    },
    /// A counter would overflow (block height, bucket numbers).
    #[error("{what} overflows")]
    Overflow {
        /// What overflowed.
        what: &'static str,
    },
}

impl LedgerError {
    /// Whether the error means "no such block / transaction / delta" (REST
    /// turns these into 404), as opposed to corruption or store failure.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            LedgerError::BlockNotFound { .. }
                | LedgerError::BlockHashNotFound { .. }
                | LedgerError::TransactionNotFound { .. }
                | LedgerError::StateDeltaNotFound { .. }
        )
    }

    pub(crate) fn corrupt_state(key: &[u8], reason: impl Into<String>) -> Self {
        LedgerError::CorruptStateEntry {
            key_hex: hex::encode(key),
            reason: reason.into(),
        }
    }
}
