//! PBFT agreement on one batch, end to end, in memory.
//!
//! Four `fabrik_core::pbft::Replica`s (N = 4, f = 1, v0.6 defaults K = 10,
//! logmultiplier 4) are wired through an in-memory FIFO network. One
//! iteration feeds a batch of `B` client requests (example02-sized
//! marshalled transactions, ~350 bytes each) to the primary, which relays
//! each to the backups and cuts the batch when the B-th arrives; then every
//! message (REQUEST relays, PRE-PREPARE carrying the batch, PREPAREs,
//! COMMITs, and every K-th batch the CHECKPOINTs) is delivered until the
//! network is quiet. Each replica's `Execute{seq}` is answered at once with
//! `Executed{seq, info}` (a hash-chained BlockchainInfo), so an iteration
//! ends when all four replicas have executed the batch and been told so.
//!
//! Why: this is the pure consensus cost per batch (protobuf encoding of the
//! batch digest, request digests and dedup, quorum bookkeeping, watermark
//! moves) that the io layer pays on top of transport, storage and
//! chaincode. Those are measured separately (`io/benches/frame.rs`,
//! `io/benches/store_commit.rs`, `chaincode_roundtrip.rs`); `Persist`
//! outputs are dropped here, not applied.
//!
//! Signatures: on this path the replica signs nothing (only VIEW-CHANGE is
//! signed). Client-request verification is an optional hook
//! (`Config::request_verifier`); the `verified` group turns it on with an
//! Ed25519 check of each request's payload, which every replica runs on
//! every request (4 verifications per request), so its cost shows as the
//! difference to the `plain` group. Signing by the client happens in setup,
//! outside the timed section.
//!
//! Run: `cargo bench -p fabrik-core --bench pbft_batch` (add `-- --quick`).

mod common;

use std::collections::VecDeque;
use std::sync::OnceLock;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::crypto::{SigningKey, VerifyingKey, hash};
use fabrik_core::machine::Machine;
use fabrik_core::pbft::{Config, Input, Keys, Output, PeerMsg, Replica, ReplicaId};
use fabrik_core::time::{Duration, Instant};
use fabrik_proto::pbft::Request;
use fabrik_proto::protos::BlockchainInfo;
use fabrik_proto::{ProstMessage, Timestamp};

const N: usize = 4;
const PRIMARY: usize = 0;

/// The client key whose signatures the `verified` variant checks.
fn client_key() -> &'static (SigningKey, VerifyingKey) {
    static KEY: OnceLock<(SigningKey, VerifyingKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let sk = SigningKey::from_bytes(&[42; 32]);
        let vk = sk.verifying_key();
        (sk, vk)
    })
}

/// `Config::request_verifier`: Ed25519 over the request payload.
fn verify_request(req: &Request) -> bool {
    client_key().1.verify(&req.payload, &req.signature).is_ok()
}

/// Four replicas, their ledger heads, and the in-flight messages.
struct Cluster {
    replicas: Vec<Replica>,
    heads: Vec<BlockchainInfo>,
    queue: VecDeque<(ReplicaId, ReplicaId, PeerMsg)>,
    now: Instant,
}

impl Cluster {
    fn new(batch: usize, verified: bool) -> Self {
        let genesis = BlockchainInfo {
            height: 1,
            current_block_hash: hash(b"genesis").to_vec(),
            previous_block_hash: Vec::new(),
        };
        let replicas = (0..N as u64)
            .map(|id| {
                let mut c = Config::new(id, N, 1, Keys::from_seed(7, N, id));
                // Cut exactly when the B-th request arrives, never on a timer.
                c.batch_size = batch;
                c.adaptive_batching = false;
                c.timeout_batch = Duration::from_secs(3600);
                if verified {
                    c.request_verifier = Some(verify_request);
                }
                Replica::new(c, 0, &genesis, Instant::ZERO).expect("valid config")
            })
            .collect();
        Cluster {
            replicas,
            heads: vec![genesis; N],
            queue: VecDeque::new(),
            now: Instant::ZERO,
        }
    }

    /// Performs every output of replica `id`; executions are acknowledged
    /// at once.
    fn pump(&mut self, id: usize) {
        while let Some(out) = self.replicas[id].poll_output() {
            match out {
                Output::Broadcast(msg) => {
                    for to in (0..N as u64).filter(|t| *t != id as u64) {
                        self.queue.push_back((id as u64, to, msg.clone()));
                    }
                }
                Output::Send { to, msg } => self.queue.push_back((id as u64, to, msg)),
                Output::Execute { seq, batch } => {
                    // A stand-in executor: chain on (previous hash, seq, batch
                    // size); real execution is benched elsewhere.
                    let prev = &self.heads[id];
                    let step = [seq.to_le_bytes(), (batch.batch.len() as u64).to_le_bytes()];
                    let info = BlockchainInfo {
                        height: prev.height + 1,
                        current_block_hash: hash(
                            &[&prev.current_block_hash[..], &step.concat()].concat(),
                        )
                        .to_vec(),
                        previous_block_hash: prev.current_block_hash.clone(),
                    };
                    self.heads[id] = info.clone();
                    self.replicas[id]
                        .handle(self.now, Input::Executed { seq, info })
                        .expect("executed accepted");
                }
                Output::Alarm(a) => panic!("replica {id} alarm: {a:?}"),
                Output::Misbehavior { from, reason } => {
                    panic!("replica {id}: misbehavior of {from}: {reason:?}")
                }
                // Persist (measured in io/benches/store_commit.rs), Committed,
                // view and state notifications: nothing to do in memory.
                _ => {}
            }
        }
    }

    /// Feeds `reqs` to the primary and delivers messages until quiet.
    fn run_batch(&mut self, reqs: Vec<Request>) {
        for req in reqs {
            self.replicas[PRIMARY]
                .handle(self.now, Input::Request(req))
                .expect("request accepted");
            self.pump(PRIMARY);
        }
        while let Some((from, to, msg)) = self.queue.pop_front() {
            let to = to as usize;
            // Rejections (e.g. a late duplicate) are counted by the replica;
            // the executed-check below catches anything that matters.
            let _ = self.replicas[to].handle(self.now, Input::Peer { from, msg });
            self.pump(to);
        }
    }

    fn last_exec(&self) -> Vec<u64> {
        self.replicas.iter().map(Replica::last_exec).collect()
    }
}

fn bench_group(c: &mut Criterion, name: &str, sizes: &[usize], verified: bool) {
    let mut group = c.benchmark_group(name);
    for &size in sizes {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let mut cluster = Cluster::new(size, verified);
            let mut clock = 1_700_000_000_000_000_000u64;
            let mut seq = 0u64;
            b.iter_batched(
                || requests(&mut clock, size, verified),
                |reqs| {
                    cluster.run_batch(reqs);
                    seq += 1;
                    assert_eq!(
                        cluster.last_exec(),
                        vec![seq; N],
                        "batch {seq} not executed"
                    );
                },
                criterion::BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// `count` requests originating at the primary, with strictly increasing
/// timestamps taken from `clock` (nanoseconds), signed when `signed`.
/// Generating them (marshalling, client signing) is setup, not timed.
fn requests(clock: &mut u64, count: usize, signed: bool) -> Vec<Request> {
    (0..count)
        .map(|_| {
            *clock += 1;
            let payload = common::invoke_tx(*clock).encode_to_vec();
            let signature = if signed {
                client_key().0.sign(&payload).to_vec()
            } else {
                Vec::new()
            };
            Request {
                timestamp: Some(Timestamp {
                    seconds: (*clock / 1_000_000_000) as i64,
                    nanos: (*clock % 1_000_000_000) as i32,
                }),
                payload,
                replica_id: PRIMARY as u64,
                signature,
            }
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    bench_group(c, "pbft_batch/plain", &[1, 100, 500], false);
    bench_group(c, "pbft_batch/verified", &[500], true);
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
