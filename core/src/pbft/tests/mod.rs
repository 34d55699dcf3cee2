//! Unit tests of the replica: golden outputs per handler (`golden.rs`),
//! quorum and watermark arithmetic (`arithmetic.rs`), and the v0.6
//! scenario tests over a tiny in-process network (`scenarios.rs`).

mod admission;
mod arithmetic;
mod catch_up;
mod fuzz;
mod golden;
mod learning;
mod scenarios;
mod staleness;

use std::collections::{BTreeMap, VecDeque};

use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{
    Checkpoint, Commit, Message, PrePrepare, Prepare, Request, RequestBatch, message,
};
use fabrik_proto::protos::BlockchainInfo;

use super::{
    Config, Input, Keys, Output, PeerMsg, PersistedState, Reject, Replica, ReplicaId, batch_digest,
};
use crate::crypto::{b64, hash};
use crate::machine::Machine;
use crate::time::{Duration, Instant};

pub(super) const T0: Instant = Instant::ZERO;

pub(super) fn cfg(id: ReplicaId) -> Config {
    let mut c = Config::new(id, 4, 1, Keys::from_seed(7, 4, id));
    c.k = 2;
    c.log_multiplier = 4;
    c.batch_size = 2;
    c
}

pub(super) fn genesis() -> BlockchainInfo {
    BlockchainInfo {
        height: 1,
        current_block_hash: vec![1],
        previous_block_hash: vec![],
    }
}

pub(super) fn info(height: u64) -> BlockchainInfo {
    BlockchainInfo {
        height,
        current_block_hash: vec![height as u8],
        previous_block_hash: vec![],
    }
}

pub(super) fn replica(id: ReplicaId) -> Replica {
    Replica::new(cfg(id), 0, &genesis(), T0).unwrap()
}

pub(super) fn with_cfg(c: Config) -> Replica {
    Replica::new(c, 0, &genesis(), T0).unwrap()
}

pub(super) fn drain(r: &mut Replica) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

pub(super) fn req(origin: ReplicaId, ts: i64) -> Request {
    Request {
        timestamp: Some(Timestamp {
            seconds: ts,
            nanos: 0,
        }),
        payload: vec![ts as u8],
        replica_id: origin,
        signature: vec![],
    }
}

pub(super) fn batch(reqs: &[Request]) -> RequestBatch {
    RequestBatch {
        batch: reqs.to_vec(),
    }
}

pub(super) fn pbft(p: message::Payload) -> PeerMsg {
    PeerMsg::Pbft(Message { payload: Some(p) })
}

pub(super) fn deliver(r: &mut Replica, from: ReplicaId, p: message::Payload) -> Result<(), Reject> {
    r.handle(T0, Input::Peer { from, msg: pbft(p) })
}

pub(super) fn pre_prepare(
    view: u64,
    seq: u64,
    b: &RequestBatch,
    from: ReplicaId,
) -> message::Payload {
    message::Payload::PrePrepare(PrePrepare {
        view,
        sequence_number: seq,
        batch_digest: batch_digest(b),
        request_batch: Some(b.clone()),
        replica_id: from,
    })
}

pub(super) fn prepare(view: u64, seq: u64, digest: &str, from: ReplicaId) -> message::Payload {
    message::Payload::Prepare(Prepare {
        view,
        sequence_number: seq,
        batch_digest: digest.into(),
        replica_id: from,
    })
}

pub(super) fn commit(view: u64, seq: u64, digest: &str, from: ReplicaId) -> message::Payload {
    message::Payload::Commit(Commit {
        view,
        sequence_number: seq,
        batch_digest: digest.into(),
        replica_id: from,
    })
}

pub(super) fn checkpoint(seq: u64, from: ReplicaId, id: &str) -> message::Payload {
    message::Payload::Checkpoint(Checkpoint {
        sequence_number: seq,
        replica_id: from,
        id: id.into(),
    })
}

pub(super) fn id_of(i: &BlockchainInfo) -> String {
    use prost::Message as _;
    b64(&i.encode_to_vec())
}

/// Decides which (from, to, message) deliveries are dropped.
pub(super) type DropFilter = Box<dyn Fn(ReplicaId, ReplicaId, &PeerMsg) -> bool>;

/// A tiny lossless network of replicas with an executor that hash-chains
/// batches; messages can be filtered per (from, to).
pub(super) struct Net {
    pub(super) replicas: Vec<Option<Replica>>,
    pub(super) stores: Vec<PersistedState>,
    pub(super) chains: Vec<BTreeMap<u64, BlockchainInfo>>,
    queue: VecDeque<(ReplicaId, ReplicaId, PeerMsg)>,
    pub(super) now: Instant,
    pub(super) drop: DropFilter,
    /// Deliveries held back until everything else was delivered (to make
    /// one message overtake another).
    pub(super) hold: DropFilter,
    held: Vec<(ReplicaId, ReplicaId, PeerMsg)>,
    pub(super) outputs: Vec<(ReplicaId, Output)>,
}

impl Net {
    pub(super) fn new(configs: Vec<Config>) -> Self {
        let n = configs.len();
        Net {
            replicas: configs.into_iter().map(|c| Some(with_cfg(c))).collect(),
            stores: vec![PersistedState::default(); n],
            chains: vec![BTreeMap::new(); n],
            queue: VecDeque::new(),
            now: T0,
            drop: Box::new(|_, _, _| false),
            hold: Box::new(|_, _, _| false),
            held: Vec::new(),
            outputs: Vec::new(),
        }
    }

    pub(super) fn standard() -> Self {
        Net::new((0..4).map(cfg).collect())
    }

    pub(super) fn head(&self, id: usize) -> BlockchainInfo {
        self.chains[id]
            .values()
            .last()
            .cloned()
            .unwrap_or_else(genesis)
    }

    pub(super) fn last_exec(&self, id: usize) -> u64 {
        self.replicas[id].as_ref().map_or(0, |r| r.last_exec())
    }

    fn pump(&mut self, id: usize) {
        let Some(r) = self.replicas[id].as_mut() else {
            return;
        };
        let outs = drain(r);
        for out in outs {
            self.outputs.push((id as u64, out.clone()));
            match out {
                Output::Persist(op) => self.stores[id].apply(&op),
                Output::Broadcast(msg) => {
                    for to in (0..self.replicas.len() as u64).filter(|t| *t != id as u64) {
                        self.queue.push_back((id as u64, to, msg.clone()));
                    }
                }
                Output::Send { to, msg } => self.queue.push_back((id as u64, to, msg)),
                Output::Execute { seq, batch } => {
                    let prev = self.head(id);
                    let next = BlockchainInfo {
                        height: prev.height + 1,
                        current_block_hash: hash(
                            &[
                                prev.current_block_hash.clone(),
                                batch_digest(&batch).into_bytes(),
                            ]
                            .concat(),
                        )
                        .to_vec(),
                        previous_block_hash: prev.current_block_hash,
                    };
                    self.chains[id].insert(seq, next.clone());
                    let r = self.replicas[id].as_mut().unwrap();
                    r.handle(self.now, Input::Executed { seq, info: next })
                        .unwrap();
                    self.pump(id);
                }
                Output::StateTransfer { seq, .. } => {
                    let donor = (0..self.chains.len())
                        .find(|d| *d != id && self.last_exec(*d) >= seq)
                        .unwrap();
                    let chain: BTreeMap<u64, BlockchainInfo> = self.chains[donor]
                        .range(..=seq)
                        .map(|(k, v)| (*k, v.clone()))
                        .collect();
                    self.chains[id] = chain;
                    let head = self.head(id);
                    let r = self.replicas[id].as_mut().unwrap();
                    r.handle(self.now, Input::StateTransferred { seq, info: head })
                        .unwrap();
                    self.pump(id);
                }
                _ => {}
            }
        }
    }

    /// Delivers messages until the network is quiet.
    pub(super) fn settle(&mut self) {
        for id in 0..self.replicas.len() {
            self.pump(id);
        }
        let mut steps = 0;
        loop {
            let Some((from, to, msg)) = self.queue.pop_front() else {
                if self.held.is_empty() {
                    break;
                }
                self.queue.extend(self.held.drain(..));
                self.hold = Box::new(|_, _, _| false);
                continue;
            };
            steps += 1;
            assert!(steps < 200_000, "no quiescence");
            if (self.drop)(from, to, &msg) {
                continue;
            }
            if (self.hold)(from, to, &msg) {
                self.held.push((from, to, msg));
                continue;
            }
            if let Some(r) = self.replicas[to as usize].as_mut() {
                let _ = r.handle(self.now, Input::Peer { from, msg });
                self.pump(to as usize);
            }
        }
    }

    pub(super) fn submit(&mut self, at: usize, r: Request) {
        let now = self.now;
        self.replicas[at]
            .as_mut()
            .unwrap()
            .handle(now, Input::Request(r))
            .unwrap();
        self.settle();
    }

    /// Advances time by `d`, firing due timers, and settles.
    pub(super) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = self
                .replicas
                .iter()
                .flatten()
                .filter_map(|r| r.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    for id in 0..self.replicas.len() {
                        if let Some(r) = self.replicas[id].as_mut() {
                            r.handle_timeout(self.now);
                        }
                        self.pump(id);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    pub(super) fn crash(&mut self, id: usize) {
        self.replicas[id] = None;
    }

    pub(super) fn restart(&mut self, id: usize, c: Config) {
        let head = self.head(id);
        let last = self.chains[id].keys().last().copied().unwrap_or(0);
        let r = Replica::restore(c, &self.stores[id], last, &head, self.now).unwrap();
        self.replicas[id] = Some(r);
        self.settle();
    }

    pub(super) fn views(&self) -> Vec<u64> {
        self.replicas.iter().flatten().map(|r| r.view()).collect()
    }

    pub(super) fn assert_agreement(&self) {
        let mut seen: BTreeMap<u64, BlockchainInfo> = BTreeMap::new();
        for chain in &self.chains {
            for (seq, i) in chain {
                if let Some(prev) = seen.insert(*seq, i.clone()) {
                    assert_eq!(prev, *i, "divergence at {seq}");
                }
            }
        }
    }
}
