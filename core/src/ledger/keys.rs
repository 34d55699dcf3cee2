//! The v0.6 key layout of every ledger partition (reference §5.2), plus our
//! one addition, the ordered state index.
//!
//! | partition | key | value |
//! |---|---|---|
//! | Blocks | 8-byte big-endian block number | marshalled `Block` (with nonHashData) |
//! | Blocks | `"blockCount"` | 8-byte big-endian height |
//! | Indexes | `0x01 ‖ blockHash` | varint(blockNumber) |
//! | Indexes | `0x02 ‖ txid` | varint(blockNumber) ‖ varint(txIndex) |
//! | StateDelta | 8-byte big-endian block number | `StateDelta` (v0.6 encoding, §5.4) |
//! | State | ordered-varint(bucket) ‖ compositeKey | value (bucket-tree data node) |
//! | State | `0x00 ‖ varint(level) ‖ varint(bucket)` | bucket node: its child hashes |
//! | State | `0xFF ‖ compositeKey` | value (**ours**: ordered index for range reads) |
//!
//! compositeKey = chaincodeID ‖ 0x00 ‖ key. Data-node keys start with a byte
//! in 1..=8 (the ordered varint of a bucket number ≥ 1), so the three State
//! key families never collide. Bucket-tree data nodes are ordered by bucket,
//! not by key, so range reads and snapshots use the `0xFF` index instead; it
//! is written in the same batch as the data nodes and holds the same values.

use super::codec::{ordered_varint, put_varint};

/// Blocks partition key holding the chain height.
pub const BLOCK_COUNT_KEY: &[u8] = b"blockCount";
/// Indexes partition prefix of the block-hash index.
pub const BLOCK_HASH_INDEX_PREFIX: u8 = 0x01;
/// Indexes partition prefix of the txid index.
pub const TXID_INDEX_PREFIX: u8 = 0x02;
/// State partition prefix of bucket-tree nodes.
pub const BUCKET_NODE_PREFIX: u8 = 0x00;
/// State partition prefix of the ordered state index (ours).
pub const STATE_INDEX_PREFIX: u8 = 0xFF;

/// Blocks partition key of block `number`.
pub fn block_key(number: u64) -> Vec<u8> {
    number.to_be_bytes().to_vec()
}

/// StateDelta partition key of block `number`.
pub fn state_delta_key(number: u64) -> Vec<u8> {
    number.to_be_bytes().to_vec()
}

/// Indexes partition key of the block-hash index.
pub fn block_hash_index_key(block_hash: &[u8]) -> Vec<u8> {
    prefixed(BLOCK_HASH_INDEX_PREFIX, block_hash)
}

/// Indexes partition key of the txid index.
pub fn txid_index_key(txid: &str) -> Vec<u8> {
    prefixed(TXID_INDEX_PREFIX, txid.as_bytes())
}

/// v0.6 composite key: `chaincodeID ‖ 0x00 ‖ key`.
pub fn composite_key(chaincode: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(chaincode.len() + 1 + key.len());
    out.extend_from_slice(chaincode.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Splits a composite key at its first 0x00 (v0.6 `DecodeCompositeKey`).
pub fn split_composite_key(composite: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = composite.iter().position(|b| *b == 0)?;
    let chaincode = composite.get(..at)?;
    let key = composite.get(at + 1..)?;
    Some((chaincode, key))
}

/// State partition prefix of every data node in leaf `bucket`.
pub fn data_node_prefix(bucket: u64) -> Vec<u8> {
    ordered_varint(bucket)
}

/// State partition key of a data node.
pub fn data_node_key(bucket: u64, composite: &[u8]) -> Vec<u8> {
    let prefix = ordered_varint(bucket);
    let mut out = Vec::with_capacity(prefix.len() + composite.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(composite);
    out
}

/// State partition key of a bucket-tree node.
pub fn bucket_node_key(level: u32, bucket: u64) -> Vec<u8> {
    // Prefix plus two varints of at most 5 and 10 bytes: one allocation.
    let mut out = Vec::with_capacity(16);
    out.push(BUCKET_NODE_PREFIX);
    put_varint(&mut out, u64::from(level));
    put_varint(&mut out, bucket);
    out
}

/// State partition key of the ordered index entry of `composite`.
pub fn state_index_key(composite: &[u8]) -> Vec<u8> {
    prefixed(STATE_INDEX_PREFIX, composite)
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + rest.len());
    out.push(prefix);
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_v06() {
        assert_eq!(block_key(258), vec![0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(block_hash_index_key(b"h"), b"\x01h".to_vec());
        assert_eq!(txid_index_key("t1"), b"\x02t1".to_vec());
        assert_eq!(composite_key("cc", "k"), b"cc\x00k".to_vec());
        assert_eq!(
            data_node_key(300, b"cc\x00k"),
            b"\x02\x01\x2ccc\x00k".to_vec()
        );
        assert_eq!(bucket_node_key(2, 300), vec![0, 2, 0xac, 0x02]);
        assert_eq!(state_index_key(b"cc\x00k"), b"\xffcc\x00k".to_vec());
        assert_eq!(
            split_composite_key(b"cc\x00k\x00x"),
            Some((&b"cc"[..], &b"k\x00x"[..]))
        );
        assert_eq!(split_composite_key(b"cck"), None);
    }
}
