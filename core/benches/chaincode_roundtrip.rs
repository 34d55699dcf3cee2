//! One chaincode transaction through both sides of the chaincode stream,
//! in memory: the peer-side `fabrik_core::chaincode::Handler` and the
//! chaincode-side `fabrik_core::shim::Handler`, wired back to back with no
//! socket, no tokio and no threads.
//!
//! One iteration is an example02-style invoke doing one GET_STATE and one
//! PUT_STATE:
//!
//! ```text
//! peer: Execute(TRANSACTION) ─TRANSACTION─▶ shim: Run(invoke)
//! user: GetState("a")        ◀─GET_STATE──  shim
//! peer: ReadState ─▶ TxBatch::get ─RESPONSE─▶ shim: StubReply(State)
//! user: PutState("a", v+1)   ◀─PUT_STATE──  shim
//! peer: WriteState ─▶ TxBatch::set            (no RESPONSE: unacked)
//! user: Returned(Ok)         ◀─COMPLETED──  shim
//! peer: Finished(Completed)  ─▶ TxBatch::tx_finished
//! ```
//!
//! Both machines use their defaults, so writes are unacked (five
//! messages); over v0.6's protocol a RESPONSE answers the PUT_STATE too.
//!
//! The io side's ledger work is real (`TxBatch` over a `MemKv` holding the
//! key; a fresh batch every 500 transactions, as a block would). Two
//! variants: `values` moves `ChaincodeMessage`s between the machines as
//! values; `protobuf` also encodes and decodes each of the messages, as
//! the gRPC stream would (framing and HTTP/2 aside).
//!
//! Why: performance.md names chaincode round trips the first bottleneck.
//! This is the CPU floor of one round trip without the transport; the
//! loopback gRPC version is `io/benches/chaincode_socket.rs`.
//!
//! Run: `cargo bench -p fabrik-core --bench chaincode_roundtrip` (add
//! `-- --quick`).

mod common;

use std::collections::VecDeque;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::chaincode::{self, ExecKind, ExecResult};
use fabrik_core::ledger::StateDelta;
use fabrik_core::ledger::TxBatch;
use fabrik_core::ledger::kv::MemKv;
use fabrik_core::machine::Machine;
use fabrik_core::shim::{self, StubCall, StubValue};
use fabrik_core::time::{Duration, Instant};
use fabrik_proto::protos::{ChaincodeInput, ChaincodeMessage};
use fabrik_proto::{ProstMessage, Timestamp};

const NAME: &str = "bench_cc";
const NOW: Instant = Instant::ZERO;

/// Both machines, the queues between them and the ledger behind the peer.
struct Pair {
    peer: chaincode::Handler,
    shim: shim::Handler,
    to_peer: VecDeque<ChaincodeMessage>,
    to_shim: VecDeque<ChaincodeMessage>,
    store: MemKv,
    batch: TxBatch,
    in_batch: u32,
    codec: bool,
    next_tx: u64,
}

impl Pair {
    /// Registers the shim and takes the stream to `ready` (READY, as on
    /// the first use after a restart).
    fn new(codec: bool) -> Self {
        let mut store = MemKv::new();
        let mut delta = StateDelta::new();
        delta.set(NAME, "a", b"100".to_vec(), None);
        let config = fabrik_core::ledger::BucketTreeConfig::default();
        let update = fabrik_core::ledger::buckettree::apply_delta(&store, &config, &delta)
            .expect("seed state");
        store.apply(&update.writes);
        let mut pair = Pair {
            peer: chaincode::Handler::new(chaincode::Config::default()),
            shim: shim::Handler::new(NAME),
            to_peer: VecDeque::new(),
            to_shim: VecDeque::new(),
            store,
            batch: TxBatch::new(),
            in_batch: 0,
            codec,
            next_tx: 0,
        };
        // REGISTER → Registered → RegisterAccepted → REGISTERED.
        pair.drain_shim();
        pair.deliver();
        assert_eq!(pair.pump_peer("register"), None);
        pair.deliver();
        pair.execute("ready", ExecKind::Ready);
        let done = pair.run_until_finished("ready");
        assert_eq!(pair.peer.state_name(), "ready", "setup: {done:?}");
        pair
    }

    fn execute(&mut self, txid: &str, kind: ExecKind) {
        let input = ChaincodeInput {
            args: vec![
                b"invoke".to_vec(),
                b"a".to_vec(),
                b"b".to_vec(),
                b"10".to_vec(),
            ],
        };
        let exec = chaincode::Input::Execute {
            txid: txid.to_owned(),
            kind,
            input,
            tx_timestamp: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            deadline: NOW + Duration::from_secs(30),
        };
        self.peer.handle(NOW, exec).expect("execute accepted");
    }

    /// What crosses the stream: the message itself, or its protobuf bytes
    /// decoded again.
    fn wire(&self, msg: ChaincodeMessage) -> ChaincodeMessage {
        if self.codec {
            ChaincodeMessage::decode(msg.encode_to_vec().as_slice()).expect("decode")
        } else {
            msg
        }
    }

    /// Performs the shim's outputs; the "user code" reads `a` and writes
    /// it back incremented.
    fn drain_shim(&mut self) {
        while let Some(out) = self.shim.poll_output() {
            match out {
                shim::Output::Send(msg) => {
                    let msg = self.wire(msg);
                    self.to_peer.push_back(msg);
                }
                shim::Output::Run { txid, .. } => {
                    let call = StubCall::GetState("a".to_owned());
                    self.shim
                        .handle(NOW, shim::Input::StubCall { txid, call })
                        .expect("stub call");
                }
                shim::Output::StubReply { txid, result } => {
                    let input = match result.expect("stub call succeeds") {
                        StubValue::State(v) => {
                            let n: u64 = String::from_utf8(v.unwrap_or_default())
                                .ok()
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                            let call =
                                StubCall::PutState("a".to_owned(), (n + 1).to_string().into());
                            shim::Input::StubCall { txid, call }
                        }
                        _ => shim::Input::Returned {
                            txid,
                            result: Ok(b"OK".to_vec()),
                            event: None,
                        },
                    };
                    self.shim.handle(NOW, input).expect("shim input");
                }
                shim::Output::Stop { reason } => panic!("shim stopped: {reason}"),
            }
        }
    }

    /// Delivers queued messages to both machines.
    fn deliver(&mut self) {
        while let Some(msg) = self.to_peer.pop_front() {
            self.peer
                .handle(NOW, chaincode::Input::FromChaincode(msg))
                .expect("peer accepts");
        }
        while let Some(msg) = self.to_shim.pop_front() {
            self.shim
                .handle(NOW, shim::Input::FromPeer(msg))
                .expect("shim accepts");
        }
    }

    /// Runs both machines until the peer reports `txid` finished.
    fn run_until_finished(&mut self, txid: &str) -> ExecResult {
        loop {
            if let Some(result) = self.pump_peer(txid) {
                return result;
            }
            self.deliver();
            self.drain_shim();
            self.deliver();
        }
    }

    /// Performs the peer's outputs, answering its ledger requests from the
    /// batch; the result once `txid` finished.
    fn pump_peer(&mut self, txid: &str) -> Option<ExecResult> {
        while let Some(out) = self.peer.poll_output() {
            let reply = match out {
                chaincode::Output::Send(msg) => {
                    let msg = self.wire(msg);
                    self.to_shim.push_back(msg);
                    None
                }
                chaincode::Output::Registered { .. } => Some(chaincode::Input::RegisterAccepted),
                chaincode::Output::ReadState { txid, key } => {
                    let value = self.batch.get(&self.store, NAME, &key).expect("get");
                    Some(chaincode::Input::StateValue { txid, value })
                }
                chaincode::Output::WriteState { txid, key, value } => {
                    let result = self
                        .batch
                        .set(&self.store, NAME, &key, value)
                        .map_err(|e| e.to_string());
                    let unacked = self.peer.features().unacked_writes;
                    (!unacked).then_some(chaincode::Input::WriteDone { txid, result })
                }
                chaincode::Output::Finished { txid: done, result } => {
                    assert_eq!(done, txid);
                    return Some(result);
                }
                other => panic!("unexpected peer output {other:?}"),
            };
            if let Some(input) = reply {
                self.peer.handle(NOW, input).expect("peer input");
            }
        }
        None
    }

    /// One invoke: GET_STATE + PUT_STATE, committed into the batch.
    fn transaction(&mut self) {
        self.next_tx += 1;
        let txid = format!("tx-{:012}", self.next_tx);
        if self.in_batch == 500 {
            self.batch = TxBatch::new();
            self.in_batch = 0;
        }
        self.in_batch += 1;
        self.batch.tx_begin(&txid).expect("tx_begin");
        self.execute(&txid, ExecKind::Transaction);
        let result = self.run_until_finished(&txid);
        let ok = matches!(result, ExecResult::Completed { .. });
        assert!(ok, "{result:?}");
        self.batch.tx_finished(&txid, ok).expect("tx_finished");
    }
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("chaincode_roundtrip_get_put");
    group.throughput(Throughput::Elements(1));
    for (label, codec) in [("values", false), ("protobuf", true)] {
        let mut pair = Pair::new(codec);
        group.bench_function(label, |b| b.iter(|| pair.transaction()));
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
