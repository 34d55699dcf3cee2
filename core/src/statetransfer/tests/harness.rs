//! A little network of MemKv peers for driving [`StateTransfer`].

use std::collections::{BTreeMap, VecDeque};

use fabrik_proto::Timestamp;
use fabrik_proto::protos::{Block, Transaction};

use crate::ledger::batch::{CommitParams, TxBatch};
use crate::ledger::keys::state_delta_key;
use crate::ledger::kv::{KvRead, MemKv, Partition};
use crate::ledger::{BucketTreeConfig, Ledger};
use crate::machine::Machine;
use crate::statetransfer::{BlockRange, Config, Input, Output, StateTransfer, SyncRequest, Target};
use crate::time::{Duration, Instant};

/// How a serving peer behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Behaviour {
    Honest,
    /// Answers nothing.
    Silent,
    /// Sends block `n` with a changed transaction.
    TamperBlock(u64),
    /// Sends the delta of block `n` with a changed value.
    TamperDelta(u64),
}

pub(super) struct Peer {
    pub(super) store: MemKv,
    pub(super) behaviour: Behaviour,
}

pub(super) fn config() -> Config {
    Config {
        state_config: BucketTreeConfig::new(101, 5).unwrap(),
        ..Config::default()
    }
}

fn ts(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// Genesis plus `blocks` blocks, each setting two keys and deleting one.
pub(super) fn chain(blocks: u64, history: u64) -> MemKv {
    let cfg = config().state_config;
    let mut kv = genesis_only();
    for n in 1..=blocks {
        let mut batch = TxBatch::new();
        let txid = format!("tx{n}");
        batch.tx_begin(&txid).unwrap();
        batch
            .set(&kv, "cc", &format!("k{n}"), format!("v{n}").into_bytes())
            .unwrap();
        batch
            .set(&kv, "cc", "counter", n.to_string().into_bytes())
            .unwrap();
        if n > 2 {
            batch.delete(&kv, "cc", &format!("k{}", n - 2)).unwrap();
        }
        batch.tx_finished(&txid, true).unwrap();
        let tx = Transaction {
            txid,
            ..Transaction::default()
        };
        let mut params = CommitParams::empty(ts(n as i64), &cfg);
        params.transactions = vec![tx];
        params.delta_history_size = history;
        let committed = batch.commit(&kv, params).unwrap();
        kv.apply(&committed.writes);
    }
    kv
}

pub(super) fn genesis_only() -> MemKv {
    let cfg = config().state_config;
    let mut kv = MemKv::new();
    let genesis = TxBatch::new()
        .commit(&kv, CommitParams::empty(ts(0), &cfg))
        .unwrap();
    kv.apply(&genesis.writes);
    kv
}

pub(super) fn target_of(kv: &MemKv) -> Target {
    Target::from_info(&Ledger::new(kv).blockchain_info().unwrap()).unwrap()
}

/// The machine, its peers, and the replies in flight.
pub(super) struct Net {
    pub(super) st: StateTransfer<MemKv>,
    pub(super) peers: BTreeMap<String, Peer>,
    pub(super) queue: VecDeque<Input>,
    pub(super) now: Instant,
    /// Every output seen, in order.
    pub(super) log: Vec<Output>,
    pub(super) rejects: Vec<crate::statetransfer::Reject>,
}

impl Net {
    pub(super) fn new(local: MemKv, config: Config) -> Self {
        Net {
            st: StateTransfer::new(local, config),
            peers: BTreeMap::new(),
            queue: VecDeque::new(),
            now: Instant::from_nanos(1_000),
            log: Vec::new(),
            rejects: Vec::new(),
        }
    }

    pub(super) fn peer(mut self, id: &str, store: MemKv, behaviour: Behaviour) -> Self {
        self.peers.insert(id.into(), Peer { store, behaviour });
        self
    }

    pub(super) fn start(&mut self, target: Target, peers: &[&str]) {
        let peers = peers.iter().map(|p| p.to_string()).collect();
        self.feed(Input::Start { target, peers });
    }

    pub(super) fn feed(&mut self, input: Input) {
        if let Err(r) = self.st.handle(self.now, input) {
            self.rejects.push(r);
        }
        self.drain();
    }

    /// Performs outputs: writes are applied and acknowledged, requests are
    /// answered into the queue.
    pub(super) fn drain(&mut self) {
        while let Some(out) = self.st.poll_output() {
            self.log.push(out.clone());
            match out {
                Output::Write { id, batch, .. } => {
                    self.st.store_mut().apply(&batch);
                    self.queue.push_back(Input::Applied { write: id });
                }
                Output::Request { to_peer, request } => self.answer(&to_peer, &request),
                _ => {}
            }
        }
    }

    /// Runs until nothing is queued and the machine waits; fires timers
    /// when it is stuck. Returns the final output (Done or Failed).
    pub(super) fn run(&mut self) -> Output {
        for _ in 0..100_000 {
            if let Some(input) = self.queue.pop_front() {
                self.feed(input);
                continue;
            }
            if let Some(end) = self.finished() {
                return end;
            }
            match self.st.poll_timeout() {
                Some(at) => {
                    self.now = at;
                    self.st.handle_timeout(self.now);
                    self.drain();
                }
                None => panic!("stuck with no timer: {:?}", self.log.last()),
            }
        }
        panic!("did not finish");
    }

    fn finished(&self) -> Option<Output> {
        if self.st.is_running() {
            return None;
        }
        self.log
            .iter()
            .rev()
            .find(|o| matches!(o, Output::Done { .. } | Output::Failed { .. }))
            .cloned()
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    fn answer(&mut self, to: &str, request: &SyncRequest) {
        let Some(peer) = self.peers.get(to) else {
            return;
        };
        let replies = match &peer.behaviour {
            Behaviour::Silent => Vec::new(),
            b => serve(to, &peer.store, b, request),
        };
        self.queue.extend(replies);
    }
}

/// An in-test server: v0.6 §3.1 shapes, one message per block/delta.
pub(super) fn serve(from: &str, kv: &MemKv, b: &Behaviour, request: &SyncRequest) -> Vec<Input> {
    let ledger = Ledger::new(kv);
    let from_peer = from.to_string();
    match request {
        SyncRequest::Blocks(r) => {
            let range = BlockRange {
                start: r.start,
                end: r.end,
            };
            let mut out = Vec::new();
            for i in 0..range.len() {
                let n = range.nth(i).unwrap();
                let Ok(mut block) = ledger.block(n) else {
                    break;
                };
                if *b == Behaviour::TamperBlock(n) {
                    tamper_block(&mut block);
                }
                out.push(Input::Blocks {
                    from_peer: from_peer.clone(),
                    correlation_id: r.correlation_id,
                    range: BlockRange { start: n, end: n },
                    blocks: vec![block],
                });
            }
            out
        }
        SyncRequest::Deltas(d) => {
            let r = d.range.unwrap();
            let mut out = Vec::new();
            for n in r.start..=r.end {
                let Some(mut bytes) = kv.get(Partition::StateDelta, &state_delta_key(n)).unwrap()
                else {
                    break;
                };
                if *b == Behaviour::TamperDelta(n) {
                    bytes = tamper_delta(&bytes);
                }
                out.push(Input::Deltas {
                    from_peer: from_peer.clone(),
                    correlation_id: r.correlation_id,
                    range: BlockRange { start: n, end: n },
                    deltas: vec![bytes],
                });
            }
            out
        }
        SyncRequest::Snapshot(s) => snapshot(&from_peer, kv, s.correlation_id),
    }
}

fn snapshot(from: &str, kv: &MemKv, correlation_id: u64) -> Vec<Input> {
    let ledger = Ledger::new(kv);
    let block_number = ledger.height().unwrap() - 1;
    let mut out = Vec::new();
    let mut cursor = None;
    let mut sequence = 0;
    loop {
        let page = ledger.state_snapshot(cursor.as_ref(), 3).unwrap();
        if !page.delta.is_empty() {
            out.push(Input::SnapshotChunk {
                from_peer: from.into(),
                correlation_id,
                delta: page.delta.encode(),
                sequence,
                block_number,
            });
            sequence += 1;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    out.push(Input::SnapshotChunk {
        from_peer: from.into(),
        correlation_id,
        delta: Vec::new(),
        sequence,
        block_number,
    });
    out
}

fn tamper_block(block: &mut Block) {
    if let Some(tx) = block.transactions.first_mut() {
        tx.txid.push_str("-forged");
    } else {
        block.consensus_metadata = b"forged".to_vec();
    }
}

fn tamper_delta(bytes: &[u8]) -> Vec<u8> {
    let mut delta = crate::ledger::StateDelta::decode(bytes).unwrap();
    delta.set("cc", "counter", b"forged".to_vec(), None);
    delta.encode()
}

/// Asserts `a` and `b` hold the same chain and state.
pub(super) fn assert_same_ledger(a: &MemKv, b: &MemKv) {
    let (la, lb) = (Ledger::new(a), Ledger::new(b));
    let height = la.height().unwrap();
    assert_eq!(height, lb.height().unwrap(), "heights differ");
    for n in 0..height {
        assert_eq!(
            la.block_hash(n).unwrap(),
            lb.block_hash(n).unwrap(),
            "block {n}"
        );
    }
    let cfg = config().state_config;
    assert_eq!(la.state_hash(&cfg).unwrap(), lb.state_hash(&cfg).unwrap());
    assert_eq!(la.blockchain_info().unwrap(), lb.blockchain_info().unwrap());
}
