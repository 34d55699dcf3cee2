//! Pure ledger logic (reference §5): state deltas and their v0.6 encoding,
//! the tx/batch context, the bucket-tree state hash, block building and
//! hashing, the genesis block, chaincode naming. No disk: reads go through
//! [`kv::KvRead`], writes come out as a [`kv::WriteBatch`].

pub mod batch;
pub mod block;
pub mod buckettree;
pub mod chain;
pub mod codec;
pub mod delta;
pub mod error;
pub mod keys;
pub mod kv;
pub mod naming;
mod scan;

pub use batch::{CommitParams, Committed, TxBatch, apply_delta_writes};
pub use buckettree::BucketTreeConfig;
pub use chain::Ledger;
pub use delta::{DeltaDecodeError, StateDelta, UpdatedValue};
pub use error::LedgerError;
