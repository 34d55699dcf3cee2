//! Blocks (reference §5.1): the v0.6 block hash (protobuf of the block with
//! `nonHashData` cleared, hashed with SHAKE-256), the genesis block,
//! [`BlockchainInfo`] of a head block, and a copy of a block with the code
//! packages of its deploy transactions removed (for REST and events).

use fabrik_proto::protos::transaction::Type as TxType;
use fabrik_proto::protos::{
    Block, BlockchainInfo, ChaincodeDeploymentSpec, ChaincodeEvent, NonHashData, TransactionResult,
};
use fabrik_proto::{ProstMessage, Timestamp};

use super::codec::put_varint;
use crate::crypto::{Hash, hash};

/// Protobuf key of `Block.nonHashData` (field 7, length-delimited).
const NON_HASH_DATA_TAG: u8 = (7 << 3) | 2;

/// v0.6 `Block.GetHash`: the hash of the marshalled block without its
/// `nonHashData`.
pub fn block_hash(block: &Block) -> Hash {
    if block.non_hash_data.is_none() {
        return hash(&block.encode_to_vec());
    }
    let mut copy = block.clone();
    copy.non_hash_data = None;
    hash(&copy.encode_to_vec())
}

/// Marshals `block` and hashes it in one pass: the bytes are those of the
/// block without `nonHashData` (hashed) followed by field 7, exactly as prost
/// (fields in tag order) marshals the whole block.
pub fn encode_and_hash(block: &Block) -> (Vec<u8>, Hash) {
    let mut bytes = Vec::with_capacity(block.encoded_len());
    encode_hash_part(block, &mut bytes);
    let digest = hash(&bytes);
    if let Some(nhd) = &block.non_hash_data {
        bytes.push(NON_HASH_DATA_TAG);
        put_varint(&mut bytes, nhd.encoded_len() as u64);
        nhd.encode_raw(&mut bytes);
    }
    (bytes, digest)
}

/// Encodes fields 1..=6 of `block` in tag order without cloning its
/// transactions.
fn encode_hash_part(block: &Block, out: &mut Vec<u8>) {
    // Fields 1 and 2 (version, timestamp).
    let head = Block {
        version: block.version,
        timestamp: block.timestamp,
        ..Block::default()
    };
    head.encode_raw(out);
    // Field 3, repeated: each transaction as `0x1A ‖ varint(len) ‖ tx`.
    for tx in &block.transactions {
        out.push((3 << 3) | 2);
        put_varint(out, tx.encoded_len() as u64);
        tx.encode_raw(out);
    }
    // Fields 4..=6.
    let tail = Block {
        state_hash: block.state_hash.clone(),
        previous_block_hash: block.previous_block_hash.clone(),
        consensus_metadata: block.consensus_metadata.clone(),
        ..Block::default()
    };
    tail.encode_raw(out);
}

/// The v0.6 genesis block: block 0 with no transactions, nil state hash,
/// nil previous hash, nil consensus metadata, and nonHashData holding the
/// commit time and no events. Its hash does not depend on `commit_time`.
pub fn genesis_block(commit_time: Timestamp) -> Block {
    Block {
        non_hash_data: Some(NonHashData {
            local_ledger_commit_timestamp: Some(commit_time),
            chaincode_events: Vec::new(),
        }),
        ..Block::default()
    }
}

/// v0.6 `BlockchainInfo` for a chain of `height` blocks whose last block is
/// `head` with hash `head_hash`.
pub fn blockchain_info(height: u64, head: &Block, head_hash: &Hash) -> BlockchainInfo {
    BlockchainInfo {
        height,
        current_block_hash: head_hash.to_vec(),
        previous_block_hash: head.previous_block_hash.clone(),
    }
}

/// One chaincode event per executed transaction, an empty event when it
/// raised none (v0.6 `CommitTxBatch`).
pub fn events_from_results(results: &[TransactionResult]) -> Vec<ChaincodeEvent> {
    results
        .iter()
        .map(|r| r.chaincode_event.clone().unwrap_or_default())
        .collect()
}

/// A copy of `block` whose deploy transactions carry their
/// `ChaincodeDeploymentSpec` re-encoded without `codePackage` (v0.6 REST
/// `GetBlockByNumber`). A payload that does not decode is left unchanged.
pub fn without_code_packages(block: &Block) -> Block {
    let mut copy = block.clone();
    for tx in &mut copy.transactions {
        if tx.r#type != TxType::ChaincodeDeploy as i32 {
            continue;
        }
        if let Ok(mut spec) = ChaincodeDeploymentSpec::decode(tx.payload.as_slice()) {
            spec.code_package = Vec::new();
            tx.payload = spec.encode_to_vec();
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use fabrik_proto::protos::{ChaincodeSpec, Transaction};

    use super::*;
    use crate::crypto::b64;

    const GENESIS_HASH: &str =
        "RrndKwuojRMjOz/rdD7rJD/NUupiuBuCtQwnZG7Vdi/XXcTd2MDyAMsFAZ1ntZL2/IIcSUeatIZAKS6ss7fEvg==";

    fn ts(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 7 }
    }

    fn sample_block() -> Block {
        let tx = |id: &str| Transaction {
            txid: id.into(),
            payload: b"p".to_vec(),
            r#type: 2,
            ..Transaction::default()
        };
        Block {
            version: 0,
            timestamp: None,
            transactions: vec![tx("t1"), tx("t2")],
            state_hash: vec![1; 64],
            previous_block_hash: vec![2; 64],
            consensus_metadata: vec![8, 5],
            non_hash_data: Some(NonHashData {
                local_ledger_commit_timestamp: Some(ts(1)),
                chaincode_events: vec![
                    ChaincodeEvent::default(),
                    ChaincodeEvent {
                        tx_id: "t2".into(),
                        ..ChaincodeEvent::default()
                    },
                ],
            }),
        }
    }

    #[test]
    fn genesis_hash_is_v06_whatever_the_time() {
        for t in [0, 1_470_000_000, i64::MAX] {
            let g = genesis_block(ts(t));
            assert_eq!(b64(&block_hash(&g)), GENESIS_HASH);
            assert_eq!(b64(&encode_and_hash(&g).1), GENESIS_HASH);
        }
    }

    #[test]
    fn encode_and_hash_equals_prost_and_block_hash() {
        let b = sample_block();
        let (bytes, h) = encode_and_hash(&b);
        assert_eq!(bytes, b.encode_to_vec());
        assert_eq!(h, block_hash(&b));
        let mut cleared = b.clone();
        cleared.non_hash_data = None;
        assert_eq!(h, hash(&cleared.encode_to_vec()));
        // nonHashData does not count toward the hash
        let mut other = b.clone();
        other.non_hash_data = Some(NonHashData::default());
        assert_eq!(block_hash(&other), h);
    }

    #[test]
    fn info_reports_head() {
        let b = sample_block();
        let h = block_hash(&b);
        let info = blockchain_info(5, &b, &h);
        assert_eq!(
            info,
            BlockchainInfo {
                height: 5,
                current_block_hash: h.to_vec(),
                previous_block_hash: vec![2; 64]
            }
        );
    }

    #[test]
    fn events_are_one_per_result() {
        let with = ChaincodeEvent {
            chaincode_id: "cc".into(),
            event_name: "e".into(),
            ..ChaincodeEvent::default()
        };
        let results = vec![
            TransactionResult {
                txid: "a".into(),
                ..TransactionResult::default()
            },
            TransactionResult {
                txid: "b".into(),
                chaincode_event: Some(with.clone()),
                ..TransactionResult::default()
            },
        ];
        assert_eq!(
            events_from_results(&results),
            vec![ChaincodeEvent::default(), with]
        );
    }

    #[test]
    fn code_packages_are_removed_from_deploys_only() {
        let spec = ChaincodeDeploymentSpec {
            chaincode_spec: Some(ChaincodeSpec {
                timeout: 3,
                ..ChaincodeSpec::default()
            }),
            code_package: vec![9; 100],
            ..ChaincodeDeploymentSpec::default()
        };
        let deploy = Transaction {
            r#type: 1,
            payload: spec.encode_to_vec(),
            ..Transaction::default()
        };
        let invoke = Transaction {
            r#type: 2,
            payload: spec.encode_to_vec(),
            ..Transaction::default()
        };
        let broken = Transaction {
            r#type: 1,
            payload: vec![0xff],
            ..Transaction::default()
        };
        let block = Block {
            transactions: vec![deploy, invoke.clone(), broken.clone()],
            ..Block::default()
        };
        let light = without_code_packages(&block);
        let stripped = ChaincodeDeploymentSpec {
            code_package: Vec::new(),
            ..spec
        };
        assert_eq!(light.transactions[0].payload, stripped.encode_to_vec());
        assert_eq!(light.transactions[1], invoke);
        assert_eq!(light.transactions[2], broken);
    }
}
