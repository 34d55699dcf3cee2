//! The `order` workload: PBFT ordering alone. Four replicas in one process,
//! joined by a lossless in-order loop, order `batches` batches of
//! `batch-size` requests, each a marshalled kv100 invoke as the peer relays
//! it; every replica executes each batch at once (a fixed ledger head, no
//! chaincode, no ledger), and persistence is skipped (the driver's job). So
//! the figure is the replicas' own protocol work: request intake and
//! dedup, digests, PRE-PREPARE / PREPARE / COMMIT / CHECKPOINT handling and
//! the encoding of what they broadcast. Unit: one request ordered and
//! executed by all four replicas (divide by four for one replica).

use super::{measured, report};
use fabrik_core::machine::Machine;
use fabrik_core::pbft::{Config, Input, Keys, Output, PeerMsg, Replica, ReplicaId};
use fabrik_core::time::Instant as SimInstant;
use fabrik_proto::pbft::Request;
use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;
use std::collections::VecDeque;
use std::time::Instant;

const N: usize = 4;

/// Runs the workload and prints its units and wall time.
pub fn run(batches: u64, batch_size: u64) {
    let head = BlockchainInfo {
        height: 1,
        current_block_hash: vec![7; 64],
        previous_block_hash: vec![],
    };
    let mut replicas: Vec<Replica> = (0..N as ReplicaId)
        .map(|id| {
            let mut c = Config::new(id, N, 1, Keys::from_seed(11, N, id));
            c.batch_size = usize::try_from(batch_size).expect("batch size");
            c.max_outstanding_requests = c.max_outstanding_requests.max(4 * c.batch_size * N);
            Replica::new(c, 0, &head, SimInstant::ZERO).expect("replica")
        })
        .collect();
    let requests: Vec<Request> = (0..batches * batch_size).map(request).collect();
    let start = Instant::now();
    let executed = measured(|| {
        let mut net = Loop::default();
        let mut executed = 0;
        // A wave of requests reaches the replicas before any message moves,
        // as under load: the idle primary cuts the first at once and the
        // rest of the wave into the next batch.
        for wave in requests.chunks(usize::try_from(batch_size).expect("batch size")) {
            for (n, req) in wave.iter().enumerate() {
                let input = Input::Request(req.clone());
                replicas[n % N]
                    .handle(SimInstant::ZERO, input)
                    .expect("request accepted");
            }
            executed += net.drain(&mut replicas, &head);
        }
        executed
    });
    let total = batches * batch_size;
    assert_eq!(
        replicas[0].last_exec() * N as u64,
        executed,
        "every replica executes every batch"
    );
    assert!(
        replicas.iter().all(|r| r.outstanding_requests() == 0),
        "every request executed"
    );
    report(total, "request ordered by 4 replicas", start);
    println!(
        "{} batches of {:.1} requests on average",
        executed / N as u64,
        total as f64 * N as f64 / executed as f64
    );
}

fn request(i: u64) -> Request {
    let tx = super::commit::invoke(&format!("order-{i}"), i);
    Request {
        timestamp: Some(fabrik_proto::Timestamp {
            seconds: 1_700_000_000,
            nanos: i32::try_from(i % 1_000_000_000).expect("nanos"),
        }),
        payload: tx.encode_to_vec(),
        replica_id: i % N as u64,
        signature: vec![],
    }
}

/// Messages in flight, delivered in order; executions answered at once.
#[derive(Default)]
struct Loop {
    queue: VecDeque<(ReplicaId, ReplicaId, PeerMsg)>,
}

impl Loop {
    /// Delivers everything until quiet; how many batches executed.
    fn drain(&mut self, replicas: &mut [Replica], head: &BlockchainInfo) -> u64 {
        let mut executed = 0;
        loop {
            for id in 0..N {
                executed += self.collect(id, replicas, head);
            }
            let Some((from, to, msg)) = self.queue.pop_front() else {
                return executed;
            };
            let index = usize::try_from(to).expect("replica index");
            let _ = replicas[index].handle(SimInstant::ZERO, Input::Peer { from, msg });
        }
    }

    fn collect(&mut self, id: usize, replicas: &mut [Replica], head: &BlockchainInfo) -> u64 {
        let mut executed = 0;
        while let Some(out) = replicas[id].poll_output() {
            let from = id as ReplicaId;
            match out {
                Output::Broadcast(msg) => {
                    for to in (0..N as ReplicaId).filter(|t| *t != from) {
                        self.queue.push_back((from, to, msg.clone()));
                    }
                }
                Output::Send { to, msg } => self.queue.push_back((from, to, msg)),
                Output::Execute { seq, .. } => {
                    executed += 1;
                    let info = BlockchainInfo {
                        height: seq + 1,
                        ..head.clone()
                    };
                    let done = Input::Executed { seq, info };
                    replicas[id]
                        .handle(SimInstant::ZERO, done)
                        .expect("executed");
                }
                _ => {}
            }
        }
        executed
    }
}
