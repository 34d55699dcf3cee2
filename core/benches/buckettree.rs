//! Incremental bucket-tree state hash (`fabrik_core::ledger::buckettree`).
//!
//! A state of 100,000 keys (one chaincode, 24-byte keys, 100-byte values)
//! is committed into an in-memory `MemKv` with the v0.6 default tree shape
//! (1,000,003 buckets, grouping 5, so 10 levels). One iteration applies a
//! delta of D updated keys (D = 1, 100, 1000, spread over the key space) with
//! `buckettree::apply_delta`: it reads the touched leaves' data nodes and
//! the internal nodes on their paths to the root, recomputes those hashes
//! and returns the new state hash plus the writes. The writes are not
//! applied, so every iteration sees the same 100k-key tree.
//!
//! Why: v0.6 recomputes the state hash for every block (`temp_state_hash`
//! and `commit`), so this is per-block CPU on every replica. Reads come from
//! an in-memory BTreeMap here; against fjall (`io/benches/store_commit.rs`)
//! each read is a point or range lookup on disk-backed tables.
//!
//! Run: `cargo bench -p fabrik-core --bench buckettree` (add `-- --quick`).

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::ledger::StateDelta;
use fabrik_core::ledger::buckettree::{self, BucketTreeConfig};
use fabrik_core::ledger::kv::MemKv;

const STATE_KEYS: u64 = 100_000;
const CHAINCODE: &str = "bench_cc";

fn key(i: u64) -> String {
    format!("account-{i:016}")
}

fn value(i: u64, version: u8) -> Vec<u8> {
    let mut v = vec![version; 100];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// A store holding `STATE_KEYS` keys, committed in chunks as blocks would.
fn populated(config: &BucketTreeConfig) -> MemKv {
    let mut kv = MemKv::new();
    for chunk in (0..STATE_KEYS).collect::<Vec<_>>().chunks(10_000) {
        let mut delta = StateDelta::new();
        for &i in chunk {
            delta.set(CHAINCODE, &key(i), value(i, 0), None);
        }
        let update = buckettree::apply_delta(&kv, config, &delta).expect("apply");
        kv.apply(&update.writes);
    }
    kv
}

/// `size` updates to existing keys, spread evenly over the state.
fn delta_of(size: u64) -> StateDelta {
    let stride = STATE_KEYS / size;
    let mut delta = StateDelta::new();
    for j in 0..size {
        let i = j * stride;
        delta.set(CHAINCODE, &key(i), value(i, 1), Some(value(i, 0)));
    }
    delta
}

fn benches(c: &mut Criterion) {
    let config = BucketTreeConfig::default();
    let kv = populated(&config);
    let before = buckettree::committed_state_hash(&kv, &config).expect("hash");
    let mut group = c.benchmark_group("buckettree_apply_delta_100k");
    for size in [1u64, 100, 1000] {
        let delta = delta_of(size);
        let after = buckettree::apply_delta(&kv, &config, &delta)
            .expect("apply")
            .state_hash;
        assert_ne!(before, after, "the delta must change the state hash");
        group.throughput(Throughput::Elements(size));
        group.bench_with_input(BenchmarkId::from_parameter(size), &delta, |b, delta| {
            b.iter(|| {
                buckettree::apply_delta(&kv, &config, delta)
                    .expect("apply")
                    .state_hash
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
