//! `cost`: fixed in-process workloads whose instruction counts measure the
//! CPU cost of a hot path without depending on what else the machine is
//! doing (issue #16 item 1). Run them under callgrind with `tests/cost.sh`,
//! which counts only the instructions of the measured part
//! ([`measured`]) and divides by the units of work this program prints.
//!
//! ```text
//! tests/cost.sh buckettree --state-keys 100000 --delta-keys 1000 --blocks 5
//! ```
//!
//! Run natively it also prints the wall time per unit, which on this shared
//! machine is only a rough guide.

use clap::{Parser, Subcommand};
use fabrik_core::ledger::StateDelta;
use fabrik_core::ledger::buckettree::{self, BucketTreeConfig};
use fabrik_core::ledger::kv::{KvRead, MemKv, WriteBatch};
use fabrik_io::store::Store;
use std::time::Instant;

/// Fixed workloads for instruction counting.
#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Subcommand)]
enum Workload {
    /// Bucket-tree state hash: `blocks` deltas of `delta-keys` updated keys
    /// (spread over the key space, 100-byte values) applied one after the
    /// other to a state of `state-keys` keys in the v0.6 default tree
    /// (1,000,003 buckets, grouping 5). Unit: one written key.
    Buckettree {
        /// Keys in the committed state before the measured blocks.
        #[arg(long, default_value_t = 100_000)]
        state_keys: u64,
        /// Keys each measured block writes.
        #[arg(long, default_value_t = 1000)]
        delta_keys: u64,
        /// Measured blocks.
        #[arg(long, default_value_t = 5)]
        blocks: u64,
        /// Where the state lives: `mem` (the core's in-memory store) or
        /// `fjall` (the peer's store, in a temporary directory, each block
        /// fsynced as a commit is).
        #[arg(long, default_value = "mem")]
        store: StoreKind,
    },
    /// A replica's execute-and-commit path without chaincode: `blocks`
    /// blocks of `txs` kv100 transactions (each reads one key of a
    /// `state-keys` state and writes it back with a new 100-byte value)
    /// through a `TxBatch`, committed with PBFT metadata and written to the
    /// peer's fjall store, fsynced, as the committer does. Unit: one
    /// committed transaction.
    Commit {
        /// Keys in the committed state before the measured blocks.
        #[arg(long, default_value_t = 10_000)]
        state_keys: u64,
        /// Transactions per block.
        #[arg(long, default_value_t = 500)]
        txs: u64,
        /// Measured blocks.
        #[arg(long, default_value_t = 20)]
        blocks: u64,
    },
    /// PBFT ordering alone: four in-process replicas order `batches`
    /// batches of `batch-size` kv100 requests and execute each at once (no
    /// ledger, no persistence, no transport). Unit: one request ordered by
    /// all four replicas.
    Order {
        /// Measured batches.
        #[arg(long, default_value_t = 40)]
        batches: u64,
        /// Requests per batch.
        #[arg(long, default_value_t = 500)]
        batch_size: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StoreKind {
    Mem,
    Fjall,
}

/// The two stores the workloads run on.
trait CostStore: KvRead {
    fn write(&mut self, batch: &WriteBatch);
}

impl CostStore for MemKv {
    fn write(&mut self, batch: &WriteBatch) {
        self.apply(batch);
    }
}

impl CostStore for Store {
    fn write(&mut self, batch: &WriteBatch) {
        self.apply(batch).expect("fjall commit");
    }
}

pub(crate) const CHAINCODE: &str = "cost_cc";

pub(crate) fn key(i: u64) -> String {
    format!("account-{i:016}")
}

pub(crate) fn value(i: u64, version: u64) -> Vec<u8> {
    let mut v = vec![0u8; 100];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..16].copy_from_slice(&version.to_le_bytes());
    v
}

fn main() {
    let args = Args::parse();
    match args.workload {
        Workload::Buckettree {
            state_keys,
            delta_keys,
            blocks,
            store: StoreKind::Mem,
        } => buckettree_cost(&mut MemKv::new(), state_keys, delta_keys, blocks),
        Workload::Buckettree {
            state_keys,
            delta_keys,
            blocks,
            store: StoreKind::Fjall,
        } => {
            let dir = tempfile::tempdir().expect("temporary directory");
            let mut store = Store::open(dir.path()).expect("open fjall store");
            buckettree_cost(&mut store, state_keys, delta_keys, blocks);
        }
        Workload::Commit {
            state_keys,
            txs,
            blocks,
        } => commit::run(state_keys, txs, blocks),
        Workload::Order {
            batches,
            batch_size,
        } => order::run(batches, batch_size),
    }
}

#[path = "cost/commit.rs"]
mod commit;
#[path = "cost/order.rs"]
mod order;

fn buckettree_cost(kv: &mut impl CostStore, state_keys: u64, delta_keys: u64, blocks: u64) {
    let config = BucketTreeConfig::default();
    for chunk in (0..state_keys).collect::<Vec<_>>().chunks(50_000) {
        let mut delta = StateDelta::new();
        for &i in chunk {
            delta.set(CHAINCODE, &key(i), value(i, 0), None);
        }
        let update = buckettree::apply_delta(kv, &config, &delta).expect("populate");
        kv.write(&update.writes);
    }
    let deltas: Vec<StateDelta> = (1..=blocks)
        .map(|block| {
            let stride = (state_keys / delta_keys.max(1)).max(1);
            let mut delta = StateDelta::new();
            for j in 0..delta_keys {
                let i = (j * stride + block) % state_keys.max(1);
                delta.set(CHAINCODE, &key(i), value(i, block), None);
            }
            delta
        })
        .collect();
    let start = Instant::now();
    let root = measured(|| {
        let mut root = None;
        for delta in &deltas {
            let update = buckettree::apply_delta(kv, &config, delta).expect("apply");
            kv.write(&update.writes);
            root = update.state_hash;
        }
        root
    });
    let units = blocks * delta_keys;
    report(units, "written key", start);
    println!("state hash {}", root.map(hex::encode).unwrap_or_default());
}

/// The part `tests/cost.sh` counts (callgrind `--toggle-collect`): keep the
/// name, and keep it out of line.
#[inline(never)]
pub(crate) fn measured<T>(work: impl FnOnce() -> T) -> T {
    std::hint::black_box(work())
}

pub(crate) fn report(units: u64, unit: &str, start: Instant) {
    let micros = start.elapsed().as_secs_f64() * 1e6;
    println!("units {units} ({unit})");
    println!(
        "wall {:.2} us per {unit} (noisy; read the instruction count)",
        micros / units.max(1) as f64
    );
}
