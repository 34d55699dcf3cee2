//! Durable block commit to the fjall store (`fabrik_io::store::Store`).
//!
//! THIS MEASURES THE DISK: every `Store::apply` is one atomic fjall batch
//! committed with `PersistMode::SyncAll`, i.e. it waits for fsync on the
//! tempdir's filesystem (ext4 on a virtio disk on the reference VM, where
//! one fsync costs ≈0.1 ms). Results move with the disk and with whatever
//! else writes to it; fjall's background flushes and compactions also run
//! during the measurement, as they do in a peer.
//!
//! Each iteration commits the next block of a growing chain on a real
//! store in a fresh tempdir: a block of T example02-style transactions
//! (T = 1 and 500) with a state delta of 2 keys per transaction (100-byte
//! values, keys cycling over a 100k-key space), built by
//! `TxBatch::commit` (bucket-tree update read from fjall, block encode and
//! hash, index and state-delta writes).
//!
//! - `apply/T`: only the durable write of the prepared `WriteBatch` (the
//!   commit's writes are prepared in untimed setup).
//! - `commit_and_apply/T`: `TxBatch::commit` against fjall plus the durable
//!   write: the whole per-block ledger cost on a replica.
//!
//! Run: `cargo bench -p fabrik-io --bench store_commit` (add `-- --quick`).

// One copy of the bench fixtures, shared with the core benches.
#[path = "../../core/benches/common/mod.rs"]
mod common;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::ledger::kv::WriteBatch;
use fabrik_core::ledger::{BucketTreeConfig, CommitParams, TxBatch};
use fabrik_io::store::Store;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::ChaincodeEvent;

const CHAINCODE: &str = "bench_cc";
const KEY_SPACE: u64 = 100_000;

/// Builds the next block of `txs` transactions over `store`; `next_key`
/// walks the key space across blocks.
fn prepare(store: &Store, config: &BucketTreeConfig, txs: u64, next_key: &mut u64) -> WriteBatch {
    let mut batch = TxBatch::new();
    let mut transactions = Vec::with_capacity(txs as usize);
    for t in 0..txs {
        let tx = common::invoke_tx(*next_key + t);
        batch.tx_begin(&tx.txid).expect("tx_begin");
        for _ in 0..2 {
            let k = *next_key % KEY_SPACE;
            *next_key += 1;
            let mut value = vec![0x5a; 100];
            value[..8].copy_from_slice(&next_key.to_le_bytes());
            batch
                .set(store, CHAINCODE, &format!("key-{k:012}"), value)
                .expect("set");
        }
        batch.tx_finished(&tx.txid, true).expect("tx_finished");
        transactions.push(tx);
    }
    let params = CommitParams {
        transactions,
        chaincode_events: vec![ChaincodeEvent::default(); txs as usize],
        consensus_metadata: Some(vec![0x08, 0x01]),
        commit_timestamp: Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        },
        ..CommitParams::empty(Timestamp::default(), config)
    };
    batch.commit(store, params).expect("commit").writes
}

fn benches(c: &mut Criterion) {
    let config = BucketTreeConfig::default();
    let mut group = c.benchmark_group("store_commit");
    for txs in [1u64, 500] {
        group.throughput(Throughput::Elements(txs));
        group.bench_with_input(BenchmarkId::new("apply", txs), &txs, |b, &txs| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = Store::open(dir.path()).expect("open");
            let mut next_key = 0;
            b.iter_batched(
                || prepare(&store, &config, txs, &mut next_key),
                |writes| store.apply(&writes).expect("apply"),
                BatchSize::PerIteration,
            );
        });
        group.bench_with_input(
            BenchmarkId::new("commit_and_apply", txs),
            &txs,
            |b, &txs| {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Store::open(dir.path()).expect("open");
                let mut next_key = 0;
                b.iter(|| {
                    let writes = prepare(&store, &config, txs, &mut next_key);
                    store.apply(&writes).expect("apply");
                });
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
