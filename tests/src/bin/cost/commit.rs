//! The `commit` workload: blocks of kv100 transactions through one
//! replica's execute-and-commit path (`TxBatch`, `TxBatch::commit`,
//! `Store::apply` on fjall with fsync), with no chaincode process and no
//! consensus, so the figure is the ledger's own cost per transaction.

use super::{CHAINCODE, key, measured, report, value};
use fabrik_core::ledger::batch::{CommitParams, TxBatch};
use fabrik_core::ledger::buckettree::BucketTreeConfig;
use fabrik_io::store::Store;
use fabrik_proto::pbft::Metadata;
use fabrik_proto::protos::{
    ChaincodeEvent, ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec,
    Transaction, transaction,
};
use prost::Message as _;
use std::time::Instant;

/// Runs the workload and prints its units, wall time and final state hash.
pub fn run(state_keys: u64, txs: u64, blocks: u64) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path()).expect("open fjall store");
    let config = BucketTreeConfig::default();
    let mut seq = 0;
    for chunk in (0..state_keys).collect::<Vec<_>>().chunks(5_000) {
        let writes = chunk.iter().map(|&i| (i, value(i, 0)));
        seq += 1;
        commit_block(&store, &config, seq, block_of(seq, writes.collect()));
    }
    let work: Vec<_> = (1..=blocks)
        .map(|block| {
            let writes = (0..txs)
                .map(|j| {
                    let i = (block * txs + j) * 7919 % state_keys.max(1);
                    (i, value(i, block))
                })
                .collect();
            block_of(seq + block, writes)
        })
        .collect();
    let start = Instant::now();
    let hash = measured(|| {
        let mut hash = Vec::new();
        for (n, block) in work.into_iter().enumerate() {
            hash = commit_block(&store, &config, seq + 1 + n as u64, block);
        }
        hash
    });
    report(blocks * txs, "committed transaction", start);
    println!("block hash {}", hex::encode(hash));
}

/// One kv100 transaction per entry: (key index, new value).
fn block_of(seq: u64, writes: Vec<(u64, Vec<u8>)>) -> Vec<(Transaction, u64, Vec<u8>)> {
    writes
        .into_iter()
        .enumerate()
        .map(|(n, (i, v))| (invoke(&format!("tx-{seq}-{n}"), i), i, v))
        .collect()
}

pub(super) fn invoke(txid: &str, i: u64) -> Transaction {
    let spec = ChaincodeInvocationSpec {
        chaincode_spec: Some(ChaincodeSpec {
            chaincode_id: Some(ChaincodeId {
                name: CHAINCODE.to_owned(),
                ..Default::default()
            }),
            ctor_msg: Some(ChaincodeInput {
                args: vec![b"put".to_vec(), key(i).into_bytes(), vec![b'v'; 100]],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Transaction {
        r#type: transaction::Type::ChaincodeInvoke as i32,
        chaincode_id: CHAINCODE.as_bytes().to_vec(),
        payload: spec.encode_to_vec(),
        txid: txid.to_owned(),
        ..Default::default()
    }
}

/// Executes and commits one block as the committer does: each transaction
/// reads its key and writes the new value, then the block is committed
/// and written durably. Returns the block hash.
fn commit_block(
    store: &Store,
    config: &BucketTreeConfig,
    seq: u64,
    txs: Vec<(Transaction, u64, Vec<u8>)>,
) -> Vec<u8> {
    let mut batch = TxBatch::new();
    let mut done = Vec::with_capacity(txs.len());
    for (tx, i, v) in txs {
        let k = key(i);
        batch.tx_begin(&tx.txid).expect("begin");
        let _ = batch.get(store, CHAINCODE, &k).expect("read");
        batch.set(store, CHAINCODE, &k, v).expect("write");
        batch.tx_finished(&tx.txid, true).expect("finish");
        done.push(tx);
    }
    let events = vec![ChaincodeEvent::default(); done.len()];
    let params = CommitParams {
        transactions: done,
        chaincode_events: events,
        consensus_metadata: Some(Metadata { seq_no: seq }.encode_to_vec()),
        commit_timestamp: fabrik_proto::Timestamp {
            seconds: 1_700_000_000 + seq as i64,
            nanos: 0,
        },
        ..CommitParams::empty(Default::default(), config)
    };
    let committed = batch.commit(store, params).expect("commit");
    store.apply(&committed.writes).expect("fjall commit");
    committed.block_hash.to_vec()
}
