//! The committed fuzz seed corpora (`fuzz/corpus/<target>/`): replays every
//! file through the oracle of its target (`fabrik_core::fuzzing`) as an
//! ordinary test, so crashers found by fuzzing stay fixed; and, behind
//! `#[ignore]`, the deterministic generator that writes the seeds
//! (`cargo test -p fabrik-tests --test fuzz_corpus -- --ignored generate`).
//!
//! Wire seeds are valid encodings of representative messages: every peer
//! message type, every chaincode message type, every PBFT message kind
//! (captured from a four-replica run that commits, checkpoints and changes
//! view), blocks with transactions, transactions, state deltas. Machine
//! seeds are operation byte strings for the oracles' readers.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use fabrik_core::fuzzing;
use fabrik_core::ledger::StateDelta;
use fabrik_core::machine::Machine;
use fabrik_core::pbft::{Config, Input, Keys, Output, PeerMsg, Replica};
use fabrik_core::sim::{Chain, Rng, genesis};
use fabrik_core::time::{Duration, Instant};
use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{self, BatchMessage, Request, batch_message};
use fabrik_proto::protos::{
    self, Block, BlockState, BlockchainInfo, ChaincodeDeploymentSpec, ChaincodeEvent, ChaincodeId,
    ChaincodeInput, ChaincodeInvocationSpec, ChaincodeMessage, ChaincodeSpec, HelloMessage,
    NonHashData, PeerEndpoint, PeerId, PeersMessage, PutStateInfo, RangeQueryState,
    RangeQueryStateKeyValue, RangeQueryStateNext, RangeQueryStateResponse, SyncBlockRange,
    SyncBlocks, Transaction, TransactionResult,
};
use prost::Message as _;

type Oracle = fn(&[u8]);

const TARGETS: [(&str, Oracle, bool); 11] = [
    ("wire_peer", fuzzing::wire_peer, true),
    ("wire_chaincode", fuzzing::wire_chaincode, true),
    ("wire_block", fuzzing::wire_block, true),
    ("wire_transaction", fuzzing::wire_transaction, true),
    ("wire_pbft", fuzzing::wire_pbft, true),
    ("state_delta", fuzzing::state_delta, true),
    ("chaincode_handler", fuzzing::chaincode_handler, false),
    ("shim_handler", fuzzing::shim_handler, false),
    ("peer_handler", fuzzing::peer_handler, false),
    ("pbft_replica", fuzzing::pbft_replica, false),
    ("pbft_cluster", fuzzing::pbft_cluster, false),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

#[test]
fn every_committed_seed_passes_its_oracle() {
    let root = corpus_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fuzz/corpus exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            TARGETS.iter().any(|(t, _, _)| *t == name),
            "corpus directory {name} has no oracle"
        );
    }
    for (target, oracle, wire) in TARGETS {
        let seeds = files(&root.join(target));
        let min = if wire { 20 } else { 10 };
        assert!(
            seeds.len() >= min,
            "{target}: {} seeds, want at least {min}",
            seeds.len()
        );
        for path in seeds {
            let data = std::fs::read(&path).expect("readable seed");
            let result = std::panic::catch_unwind(|| oracle(&data));
            assert!(result.is_ok(), "{target}: seed {} fails", path.display());
        }
    }
}

// ───────────────────────────── generator ─────────────────────────────

struct Out {
    dir: PathBuf,
    count: usize,
}

impl Out {
    fn new(target: &str) -> Self {
        let dir = corpus_dir().join(target);
        std::fs::create_dir_all(&dir).expect("mkdir corpus");
        Out { dir, count: 0 }
    }

    fn put(&mut self, kind: &str, bytes: &[u8]) {
        let path = self.dir.join(format!("{kind}.{:03}.bin", self.count));
        std::fs::write(path, bytes).expect("write seed");
        self.count += 1;
    }
}

fn ts(s: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: 1_700_000_000 + s,
        nanos: 0,
    })
}

fn endpoint(i: u64) -> PeerEndpoint {
    PeerEndpoint {
        id: Some(PeerId {
            name: format!("vp{i}"),
        }),
        address: format!("172.17.0.{}:7051", i + 2),
        r#type: 1,
        pki_id: vec![i as u8; 4],
    }
}

fn spec(name: &str, args: &[&str]) -> ChaincodeSpec {
    ChaincodeSpec {
        r#type: 1,
        chaincode_id: Some(ChaincodeId {
            path: "github.com/example02".into(),
            name: name.into(),
        }),
        ctor_msg: Some(ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }),
        ..ChaincodeSpec::default()
    }
}

fn transaction(i: u64) -> Transaction {
    let kind = (i % 4 + 1) as i32;
    let s = spec("mycc", &["invoke", "a", "b", &i.to_string()]);
    let payload = if kind == 1 {
        ChaincodeDeploymentSpec {
            chaincode_spec: Some(s.clone()),
            code_package: vec![0x1f, 0x8b, i as u8],
            ..ChaincodeDeploymentSpec::default()
        }
        .encode_to_vec()
    } else {
        ChaincodeInvocationSpec {
            chaincode_spec: Some(s.clone()),
            ..ChaincodeInvocationSpec::default()
        }
        .encode_to_vec()
    };
    Transaction {
        r#type: kind,
        chaincode_id: s
            .chaincode_id
            .map(|c| c.encode_to_vec())
            .unwrap_or_default(),
        payload,
        txid: format!("tx-{i:04}"),
        timestamp: ts(i as i64),
        nonce: vec![i as u8; 3],
        ..Transaction::default()
    }
}

fn delta(i: u64) -> StateDelta {
    let mut d = StateDelta::new();
    for c in 0..(i % 3) + 1 {
        for k in 0..(i % 4) {
            let cc = format!("cc{c}");
            let key = format!("k{k}");
            if (i + k).is_multiple_of(3) {
                d.delete(&cc, &key, Some(vec![k as u8]));
            } else {
                let prev = (k % 2 == 0).then(|| b"old".to_vec());
                d.set(&cc, &key, format!("v{i}{k}").into_bytes(), prev);
            }
        }
    }
    d
}

fn block(i: u64) -> Block {
    Block {
        version: 0,
        timestamp: ts(i as i64),
        transactions: (0..i % 5).map(|t| transaction(i * 10 + t)).collect(),
        state_hash: vec![i as u8; 64],
        previous_block_hash: if i == 0 {
            vec![]
        } else {
            vec![i as u8 ^ 0x5a; 64]
        },
        consensus_metadata: pbft::Metadata { seq_no: i }.encode_to_vec(),
        non_hash_data: (i % 2 == 1).then(|| NonHashData {
            local_ledger_commit_timestamp: ts(i as i64),
            chaincode_events: vec![ChaincodeEvent {
                chaincode_id: "mycc".into(),
                tx_id: format!("tx-{i}"),
                event_name: "evt".into(),
                payload: vec![1, 2, 3],
            }],
        }),
    }
}

fn gen_wire_peer() {
    use protos::message::Type;
    let mut out = Out::new("wire_peer");
    let info = BlockchainInfo {
        height: 3,
        current_block_hash: vec![7; 64],
        previous_block_hash: vec![6; 64],
    };
    for i in 0..2u64 {
        let range = SyncBlockRange {
            correlation_id: i + 1,
            start: i,
            end: i + 3,
        };
        let payloads: Vec<(Type, Vec<u8>)> = vec![
            (
                Type::DiscHello,
                HelloMessage {
                    peer_endpoint: Some(endpoint(i)),
                    blockchain_info: Some(info.clone()),
                }
                .encode_to_vec(),
            ),
            (Type::DiscDisconnect, vec![]),
            (Type::DiscGetPeers, vec![]),
            (
                Type::DiscPeers,
                PeersMessage {
                    peers: (0..i + 2).map(endpoint).collect(),
                }
                .encode_to_vec(),
            ),
            (
                Type::DiscNewmsg,
                protos::PeersAddresses {
                    addresses: vec!["172.17.0.2:7051".into()],
                }
                .encode_to_vec(),
            ),
            (Type::ChainTransaction, transaction(i).encode_to_vec()),
            (Type::SyncGetBlocks, range.encode_to_vec()),
            (
                Type::SyncBlocks,
                SyncBlocks {
                    range: Some(range),
                    blocks: vec![block(i + 1), block(i + 2)],
                }
                .encode_to_vec(),
            ),
            (Type::SyncBlockAdded, block(i + 3).encode_to_vec()),
            (
                Type::SyncStateGetSnapshot,
                protos::SyncStateSnapshotRequest { correlation_id: i }.encode_to_vec(),
            ),
            (
                Type::SyncStateSnapshot,
                protos::SyncStateSnapshot {
                    delta: delta(i + 2).encode(),
                    sequence: i,
                    block_number: 4,
                    request: Some(protos::SyncStateSnapshotRequest { correlation_id: i }),
                }
                .encode_to_vec(),
            ),
            (
                Type::SyncStateGetDeltas,
                protos::SyncStateDeltasRequest { range: Some(range) }.encode_to_vec(),
            ),
            (
                Type::SyncStateDeltas,
                protos::SyncStateDeltas {
                    range: Some(range),
                    deltas: vec![delta(i).encode(), delta(i + 5).encode()],
                }
                .encode_to_vec(),
            ),
            (
                Type::Response,
                protos::Response {
                    status: if i == 0 { 200 } else { 500 },
                    msg: b"ok".to_vec(),
                }
                .encode_to_vec(),
            ),
            (Type::Consensus, pbft_request(i).encode_to_vec()),
            (Type::Undefined, vec![1, 2, 3]),
        ];
        for (kind, payload) in payloads {
            let m = protos::Message {
                r#type: kind as i32,
                timestamp: ts(i as i64),
                payload,
                signature: vec![i as u8; 8],
            };
            out.put(kind.as_str_name(), &m.encode_to_vec());
        }
    }
}

fn gen_wire_chaincode() {
    use protos::chaincode_message::Type;
    let mut out = Out::new("wire_chaincode");
    for i in 0..2u64 {
        for t in 0..=20 {
            let Ok(kind) = Type::try_from(t) else {
                continue;
            };
            let payload = match kind {
                Type::Register => ChaincodeId {
                    path: String::new(),
                    name: "mycc".into(),
                }
                .encode_to_vec(),
                Type::Init | Type::Transaction | Type::Query | Type::Ready => ChaincodeInput {
                    args: vec![b"init".to_vec(), b"a".to_vec(), b"100".to_vec()],
                }
                .encode_to_vec(),
                Type::PutState => PutStateInfo {
                    key: format!("k{i}"),
                    value: b"v".to_vec(),
                }
                .encode_to_vec(),
                Type::GetState | Type::DelState => format!("k{i}").into_bytes(),
                Type::RangeQueryState => RangeQueryState {
                    start_key: "a".into(),
                    end_key: "z".into(),
                }
                .encode_to_vec(),
                Type::RangeQueryStateNext => RangeQueryStateNext { id: "1".into() }.encode_to_vec(),
                Type::RangeQueryStateClose => {
                    protos::RangeQueryStateClose { id: "1".into() }.encode_to_vec()
                }
                Type::InvokeChaincode | Type::InvokeQuery => {
                    spec("other", &["query", "a"]).encode_to_vec()
                }
                Type::Response if i == 1 => RangeQueryStateResponse {
                    keys_and_values: vec![RangeQueryStateKeyValue {
                        key: "a".into(),
                        value: b"1".to_vec(),
                    }],
                    has_more: true,
                    id: "1".into(),
                }
                .encode_to_vec(),
                Type::Error | Type::QueryError => b"chaincode error".to_vec(),
                _ => b"100".to_vec(),
            };
            let m = ChaincodeMessage {
                r#type: t,
                timestamp: ts(i as i64),
                payload,
                txid: format!("tx-{i}"),
                security_context: None,
                chaincode_event: (kind == Type::Completed).then(|| ChaincodeEvent {
                    chaincode_id: "mycc".into(),
                    tx_id: format!("tx-{i}"),
                    event_name: "e".into(),
                    payload: vec![],
                }),
            };
            out.put(kind.as_str_name(), &m.encode_to_vec());
        }
    }
}

fn gen_blocks_txs_deltas() {
    let mut b = Out::new("wire_block");
    for i in 0..16u64 {
        b.put("Block", &block(i).encode_to_vec());
    }
    for i in 0..6u64 {
        let bs = BlockState {
            block: Some(block(i)),
            state_delta: delta(i).encode(),
        };
        b.put("BlockState", &bs.encode_to_vec());
    }
    let mut t = Out::new("wire_transaction");
    for i in 0..24u64 {
        t.put("Transaction", &transaction(i).encode_to_vec());
    }
    let r = TransactionResult {
        txid: "tx-1".into(),
        result: vec![1],
        error_code: 0,
        error: String::new(),
        chaincode_event: None,
    };
    t.put("TransactionResult", &r.encode_to_vec());
    let mut d = Out::new("state_delta");
    for i in 0..24u64 {
        d.put("StateDelta", &delta(i).encode());
    }
}

fn pbft_request(i: u64) -> BatchMessage {
    BatchMessage {
        payload: Some(batch_message::Payload::Request(Request {
            timestamp: ts(i as i64),
            payload: transaction(i).encode_to_vec(),
            replica_id: i % 4,
            signature: Vec::new(),
        })),
    }
}

/// Captures every PBFT message of a four-replica run: requests commit and
/// checkpoint, then the primary falls silent and the others change view.
fn gen_wire_pbft() {
    let mut out = Out::new("wire_pbft");
    let n = 4usize;
    let mut now = Instant::ZERO;
    let mut reps: Vec<Replica> = (0..n as u64)
        .map(|i| {
            let mut c = Config::new(i, n, 1, Keys::from_seed(7, n, i));
            c.k = 2;
            c.batch_size = 2;
            Replica::new(c, 0, &genesis(), now).expect("replica")
        })
        .collect();
    let mut chains = vec![Chain::default(); n];
    let mut net: VecDeque<(usize, usize, PeerMsg)> = VecDeque::new();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    let mut feed: Vec<(usize, Input)> = Vec::new();
    let mut silent: Option<usize> = None;
    let mut last_new_view: Option<pbft::NewView> = None;
    for step in 0..4000usize {
        if step < 60 || (400..406).contains(&step) {
            let req = Request {
                timestamp: ts(step as i64),
                payload: transaction(step as u64).encode_to_vec(),
                replica_id: (1 + step % 3) as u64,
                signature: Vec::new(),
            };
            feed.push((1 + step % 3, Input::Request(req)));
        }
        if step == 400 {
            silent = Some(reps[0].primary() as usize);
        }
        if let Some((from, to, msg)) = net.pop_front() {
            if Some(to) != silent && Some(from) != silent {
                feed.push((
                    to,
                    Input::Peer {
                        from: from as u64,
                        msg,
                    },
                ));
            }
        } else if silent.is_some() {
            now = now + Duration::from_millis(500);
            for r in &mut reps {
                r.handle_timeout(now);
            }
        }
        loop {
            for (i, input) in std::mem::take(&mut feed) {
                let _ = reps[i].handle(now, input);
            }
            for (i, rep) in reps.iter_mut().enumerate() {
                while let Some(o) = rep.poll_output() {
                    let mut capture = |msg: &PeerMsg| {
                        if let PeerMsg::Pbft(pbft::Message {
                            payload: Some(pbft::message::Payload::NewView(v)),
                        }) = msg
                        {
                            last_new_view = Some(v.clone());
                        }
                        let kind = kind_of(msg);
                        let c = seen.entry(kind.clone()).or_default();
                        if *c < 24 {
                            *c += 1;
                            out.put(&kind, &msg.to_batch_message().encode_to_vec());
                        }
                    };
                    match o {
                        Output::Broadcast(msg) => {
                            capture(&msg);
                            for to in (0..n).filter(|t| *t != i) {
                                net.push_back((i, to, msg.clone()));
                            }
                        }
                        Output::Send { to, msg } => {
                            capture(&msg);
                            net.push_back((i, to as usize, msg));
                        }
                        Output::Execute { seq, batch } => {
                            let d = fabrik_core::pbft::batch_digest(&batch);
                            let info = chains[i].append(seq, &d);
                            feed.push((i, Input::Executed { seq, info }));
                        }
                        _ => {}
                    }
                }
            }
            if feed.is_empty() {
                break;
            }
        }
    }
    for r in &reps {
        println!(
            "replica {}: view {} active {} last_exec {} outstanding {} timeout {:?} now {:?}",
            r.id(),
            r.view(),
            r.is_view_active(),
            r.last_exec(),
            r.outstanding_requests(),
            r.poll_timeout(),
            now
        );
    }
    // Kinds a healthy run rarely sends: NEW-VIEW variants of the captured
    // one, FETCH-REQUEST-BATCH / RETURN-REQUEST-BATCH built from the run's
    // requests; and bare pbft::Message encodings (the CONSENSUS payload).
    use pbft::message::Payload;
    let nv = last_new_view.unwrap_or_default();
    for k in 0..24u64 {
        let mut v = nv.clone();
        v.view += k;
        v.replica_id = v.view % 4;
        let m = pbft::Message {
            payload: Some(Payload::NewView(v)),
        };
        out.put(
            "NewView",
            &PeerMsg::Pbft(m.clone()).to_batch_message().encode_to_vec(),
        );
        let batch = pbft::RequestBatch {
            batch: (0..k % 3 + 1)
                .filter_map(|j| match pbft_request(k + j).payload {
                    Some(batch_message::Payload::Request(r)) => Some(r),
                    _ => None,
                })
                .collect(),
        };
        let fetch = pbft::Message {
            payload: Some(Payload::FetchRequestBatch(pbft::FetchRequestBatch {
                batch_digest: fabrik_core::pbft::batch_digest(&batch),
                replica_id: k % 4,
            })),
        };
        out.put(
            "FetchRequestBatch",
            &PeerMsg::Pbft(fetch).to_batch_message().encode_to_vec(),
        );
        let ret = pbft::Message {
            payload: Some(Payload::ReturnRequestBatch(batch)),
        };
        out.put(
            "ReturnRequestBatch",
            &PeerMsg::Pbft(ret).to_batch_message().encode_to_vec(),
        );
        if k < 6 {
            out.put("BareMessage", &m.encode_to_vec());
        }
    }
    let kinds: Vec<String> = seen.keys().cloned().collect();
    println!("captured pbft kinds: {seen:?}");
    assert!(kinds.len() >= 5, "expected most PBFT kinds, got {kinds:?}");
}

fn kind_of(msg: &PeerMsg) -> String {
    use pbft::message::Payload;
    match msg {
        PeerMsg::Request(_) => "Request".into(),
        PeerMsg::Pbft(m) => match &m.payload {
            Some(Payload::RequestBatch(_)) => "RequestBatch",
            Some(Payload::PrePrepare(_)) => "PrePrepare",
            Some(Payload::Prepare(_)) => "Prepare",
            Some(Payload::Commit(_)) => "Commit",
            Some(Payload::Checkpoint(_)) => "Checkpoint",
            Some(Payload::ViewChange(_)) => "ViewChange",
            Some(Payload::NewView(_)) => "NewView",
            Some(Payload::FetchRequestBatch(_)) => "FetchRequestBatch",
            Some(Payload::ReturnRequestBatch(_)) => "ReturnRequestBatch",
            None => "Empty",
        }
        .into(),
    }
}

/// Operation byte strings for the machine oracles: deterministic
/// pseudo-random strings of growing length plus a few hand-made ones.
fn gen_machine_seeds() {
    for (target, _, wire) in TARGETS {
        if wire {
            continue;
        }
        let mut out = Out::new(target);
        let mut rng = Rng::new(0xF0_22 ^ target.len() as u64);
        for i in 0..20usize {
            let len = 16 + i * 24;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            out.put("ops", &bytes);
        }
    }
    // chaincode_handler: REGISTER(mycc), RegisterAccepted, Execute Init tx0.
    let mut cc = Out::new("chaincode_handler");
    cc.count = 100;
    cc.put(
        "register-init",
        &[
            0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 4, 1, 0, 0, 6, 0, 1, 0, 0, 0,
        ],
    );
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand when the seed set changes"]
fn generate() {
    gen_wire_peer();
    gen_wire_chaincode();
    gen_blocks_txs_deltas();
    gen_wire_pbft();
    gen_machine_seeds();
}
