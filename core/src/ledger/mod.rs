//! Pure ledger logic (reference §5): state deltas and their v0.6 encoding,
//! the tx/batch context, the bucket-tree state hash, block building and
//! hashing, the genesis block, chaincode naming. No disk: reads go through
//! [`kv::KvRead`], writes come out as a [`kv::WriteBatch`].

pub mod kv;
