//! Block encoding and the v0.6 block hash (`fabrik_core::ledger::block`).
//!
//! A block of 500 example02-style invoke transactions (~350 bytes each, the
//! v0.6 default PBFT batch size), with a state hash, previous hash, PBFT
//! consensus metadata and nonHashData holding one chaincode event per
//! transaction, as `TxBatch::commit` builds it. Measured:
//!
//! - `encode_and_hash`: the commit path, marshalling the block once and
//!   SHAKE-256 hashing the part without nonHashData;
//! - `block_hash`: `block_hash` alone (clone without nonHashData, encode,
//!   hash), as readers and catch-up verify a received block;
//! - `decode`: unmarshalling the stored bytes, as every block read does.
//!
//! Why: every replica encodes and hashes every block it commits, and
//! catch-up and REST decode them.
//!
//! Run: `cargo bench -p fabrik-core --bench block_hash` (add `-- --quick`).

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::crypto::hash;
use fabrik_core::ledger::block::{block_hash, encode_and_hash};
use fabrik_proto::protos::{Block, ChaincodeEvent, NonHashData};
use fabrik_proto::{ProstMessage, Timestamp};

const TXS: u64 = 500;

fn block() -> Block {
    let transactions: Vec<_> = (0..TXS).map(common::invoke_tx).collect();
    Block {
        version: 0,
        timestamp: None,
        transactions,
        state_hash: hash(b"state").to_vec(),
        previous_block_hash: hash(b"previous").to_vec(),
        // Marshalled pbft `Metadata{seqNo}`.
        consensus_metadata: vec![0x08, 0x2a],
        non_hash_data: Some(NonHashData {
            local_ledger_commit_timestamp: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            chaincode_events: vec![ChaincodeEvent::default(); TXS as usize],
        }),
    }
}

fn benches(c: &mut Criterion) {
    let block = block();
    let (bytes, digest) = encode_and_hash(&block);
    assert_eq!(digest, block_hash(&block));
    assert_eq!(bytes, block.encode_to_vec());
    let mut group = c.benchmark_group("block_500tx");
    group.throughput(Throughput::Elements(TXS));
    group.bench_function("encode_and_hash", |b| b.iter(|| encode_and_hash(&block)));
    group.bench_function("block_hash", |b| b.iter(|| block_hash(&block)));
    group.bench_function("decode", |b| {
        b.iter(|| Block::decode(bytes.as_slice()).expect("decode"))
    });
    group.finish();
    println!("block of {TXS} transactions: {} bytes encoded", bytes.len());
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
