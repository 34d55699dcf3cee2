//! Fuzz oracles (feature `fuzzing`; style.md 10.6): pure functions over
//! `&[u8]` shared by the cargo-fuzz targets in `fuzz/fuzz_targets/` and the
//! corpus replay test `tests/tests/fuzz_corpus.rs`. Each oracle either
//! returns normally or panics on a violated property, which is exactly what
//! libFuzzer and the replay test detect.
//!
//! - wire oracles ([`wire_peer`], [`wire_chaincode`], [`wire_block`],
//!   [`wire_transaction`], [`wire_pbft`], [`state_delta`]): decode must not
//!   panic; whatever decodes must re-encode and decode to an equal value
//!   with byte-identical canonical encoding;
//! - machine oracles ([`chaincode_handler`], [`shim_handler`],
//!   [`peer_handler`], [`pbft_replica`]): the bytes are read by [`Reader`]
//!   as a sequence of operations fed to one machine; no panic plus the
//!   machine's documented guarantees are checked after every operation;
//! - [`pbft_cluster`]: the bytes schedule a four-replica cluster (which
//!   message next, drop, duplicate, timer, client request) and the
//!   simulator's [`crate::sim::Checker`] must report no violation.

// Oracles exist to panic on violations: that is how the fuzzer sees them.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{
    self, BatchMessage, Checkpoint, Commit, FetchRequestBatch, NewView, PrePrepare, Prepare,
    Request, RequestBatch, ViewChange,
};
use fabrik_proto::protos::{
    self, Block, BlockchainInfo, ChaincodeId, ChaincodeInput, ChaincodeMessage, ChaincodeSpec,
    HelloMessage, PeerEndpoint, PeerId, PeersMessage, PutStateInfo, RangeQueryState,
    RangeQueryStateKeyValue, RangeQueryStateNext, RangeQueryStateResponse, SyncBlockRange,
    SyncBlocks, Transaction,
};
use prost::Message as _;

use crate::ledger::StateDelta;
use crate::machine::Machine;
use crate::pbft::{self as core_pbft, PeerMsg, Replica, batch_digest};
use crate::sim::{Chain, Checker, genesis};
use crate::time::{Duration, Instant};
use crate::{chaincode, peer, shim};

/// Most operations one machine oracle runs (keeps each input well under
/// the 1 s libFuzzer timeout).
const MAX_OPS: usize = 400;

// ───────────────────────────── byte reader ─────────────────────────────

/// Reads fuzz bytes as small structured choices; past the end every read
/// returns zero / empty, so any input is a valid operation sequence.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u16()) % n
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `max` raw bytes (length from one byte).
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max.saturating_add(1)).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head.to_vec()
    }

    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

// ───────────────────────────── wire oracles ─────────────────────────────

/// decode → encode → decode: equal values and identical canonical bytes.
fn roundtrip<M: prost::Message + Default + PartialEq + Debug>(data: &[u8]) -> Option<M> {
    let first = M::decode(data).ok()?;
    let bytes = first.encode_to_vec();
    let second = M::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("re-decoding our own encoding failed: {e}; value {first:?}"));
    assert_eq!(first, second, "decode(encode(x)) != x");
    assert_eq!(
        bytes,
        second.encode_to_vec(),
        "encoding is not canonical for {second:?}"
    );
    Some(first)
}

/// `protos::Message` (peer stream) and the payload its type announces.
pub fn wire_peer(data: &[u8]) {
    let Some(msg) = roundtrip::<protos::Message>(data) else {
        return;
    };
    use protos::message::Type;
    let p = msg.payload.as_slice();
    match Type::try_from(msg.r#type) {
        Ok(Type::DiscHello) => {
            roundtrip::<HelloMessage>(p);
        }
        Ok(Type::DiscPeers) => {
            roundtrip::<PeersMessage>(p);
        }
        Ok(Type::DiscNewmsg) => {
            let _ = peer::decode_peers_addresses(p);
        }
        Ok(Type::ChainTransaction) => {
            roundtrip::<Transaction>(p);
        }
        Ok(Type::SyncGetBlocks) => {
            roundtrip::<SyncBlockRange>(p);
        }
        Ok(Type::SyncBlocks) => {
            roundtrip::<SyncBlocks>(p);
        }
        Ok(Type::SyncStateGetSnapshot) => {
            roundtrip::<protos::SyncStateSnapshotRequest>(p);
        }
        Ok(Type::SyncStateSnapshot) => {
            if let Some(s) = roundtrip::<protos::SyncStateSnapshot>(p) {
                state_delta(&s.delta);
            }
        }
        Ok(Type::SyncStateGetDeltas) => {
            roundtrip::<protos::SyncStateDeltasRequest>(p);
        }
        Ok(Type::SyncStateDeltas) => {
            if let Some(d) = roundtrip::<protos::SyncStateDeltas>(p) {
                d.deltas.iter().for_each(|x| state_delta(x));
            }
        }
        Ok(Type::Response) => {
            roundtrip::<protos::Response>(p);
        }
        Ok(Type::Consensus) => wire_pbft(p),
        _ => {}
    }
    let _ = peer::kind_name(msg.r#type);
}

/// `protos::ChaincodeMessage` and the payload its type announces.
pub fn wire_chaincode(data: &[u8]) {
    let Some(msg) = roundtrip::<ChaincodeMessage>(data) else {
        return;
    };
    use protos::chaincode_message::Type;
    let p = msg.payload.as_slice();
    match Type::try_from(msg.r#type) {
        Ok(Type::Register) => {
            roundtrip::<ChaincodeId>(p);
        }
        Ok(Type::Init | Type::Transaction | Type::Query | Type::Ready) => {
            roundtrip::<ChaincodeInput>(p);
        }
        Ok(Type::PutState) => {
            roundtrip::<PutStateInfo>(p);
        }
        Ok(Type::RangeQueryState) => {
            roundtrip::<RangeQueryState>(p);
        }
        Ok(Type::RangeQueryStateNext) => {
            roundtrip::<RangeQueryStateNext>(p);
        }
        Ok(Type::RangeQueryStateClose) => {
            roundtrip::<protos::RangeQueryStateClose>(p);
        }
        Ok(Type::InvokeChaincode | Type::InvokeQuery) => {
            roundtrip::<ChaincodeSpec>(p);
        }
        Ok(Type::Response) => {
            roundtrip::<RangeQueryStateResponse>(p);
        }
        _ => {}
    }
}

/// `protos::Block` (and its `BlockState` envelope).
pub fn wire_block(data: &[u8]) {
    roundtrip::<Block>(data);
    if let Some(bs) = roundtrip::<protos::BlockState>(data) {
        state_delta(&bs.state_delta);
    }
}

/// `protos::Transaction` and the deployment/invocation spec it carries.
pub fn wire_transaction(data: &[u8]) {
    let Some(tx) = roundtrip::<Transaction>(data) else {
        return;
    };
    roundtrip::<protos::ChaincodeDeploymentSpec>(&tx.payload);
    roundtrip::<protos::ChaincodeInvocationSpec>(&tx.payload);
    roundtrip::<ChaincodeId>(&tx.chaincode_id);
}

/// `pbft::BatchMessage` → [`PeerMsg`] → `BatchMessage` → [`PeerMsg`], and
/// the same bytes as a bare `pbft::Message`.
pub fn wire_pbft(data: &[u8]) {
    if let Some(bm) = roundtrip::<BatchMessage>(data)
        && let Ok(pm) = PeerMsg::from_batch_message(bm)
    {
        let again = PeerMsg::from_batch_message(pm.to_batch_message())
            .unwrap_or_else(|e| panic!("our own envelope was refused: {e}; {pm:?}"));
        assert_eq!(pm, again, "PeerMsg envelope round trip");
    }
    if let Some(m) = roundtrip::<pbft::Message>(data)
        && let Some(pbft::message::Payload::PrePrepare(pp)) = &m.payload
        && let Some(b) = &pp.request_batch
    {
        let _ = batch_digest(b);
    }
}

/// The v0.6 state-delta encoding: decode → encode → decode equal.
pub fn state_delta(data: &[u8]) {
    let Ok(d) = StateDelta::decode(data) else {
        return;
    };
    let bytes = d.encode();
    let again = StateDelta::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-decoding our own delta failed: {e}; {d:?}"));
    assert_eq!(d, again, "delta round trip");
    assert_eq!(bytes, again.encode(), "delta encoding not canonical");
    let _ = d.crypto_hash();
}

// ───────────────────── peer-side chaincode handler ─────────────────────

const TXIDS: [&str; 4] = ["tx0", "tx1", "tx2", "tx3"];

fn ts(r: &mut Reader<'_>) -> Option<Timestamp> {
    r.bool().then(|| Timestamp {
        seconds: i64::from(r.u8()),
        nanos: i32::from(r.u8()),
    })
}

/// A payload shaped like one the chaincode stream carries.
fn cc_payload(r: &mut Reader<'_>) -> Vec<u8> {
    let key = |r: &mut Reader<'_>| r.pick(&["a", "b", "k1", "", "zz"]).to_owned();
    match r.u8() % 8 {
        0 => ChaincodeId {
            path: String::new(),
            name: r.pick(&["mycc", "cc", ""]).to_owned(),
        }
        .encode_to_vec(),
        1 => PutStateInfo {
            key: key(r),
            value: r.bytes(8),
        }
        .encode_to_vec(),
        2 => RangeQueryState {
            start_key: key(r),
            end_key: key(r),
        }
        .encode_to_vec(),
        3 => RangeQueryStateNext {
            id: r.pick(&["0", "1", "2", "x"]).to_owned(),
        }
        .encode_to_vec(),
        4 => ChaincodeSpec {
            chaincode_id: Some(ChaincodeId {
                path: String::new(),
                name: r.pick(&["other", "mycc"]).to_owned(),
            }),
            ctor_msg: Some(ChaincodeInput {
                args: vec![r.bytes(4)],
            }),
            ..ChaincodeSpec::default()
        }
        .encode_to_vec(),
        5 => key(r).into_bytes(),
        6 => RangeQueryStateResponse {
            keys_and_values: vec![RangeQueryStateKeyValue {
                key: key(r),
                value: r.bytes(4),
            }],
            has_more: r.bool(),
            id: r.pick(&["0", "1"]).to_owned(),
        }
        .encode_to_vec(),
        _ => r.bytes(16),
    }
}

fn cc_message(r: &mut Reader<'_>) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: i32::from(r.u8() % 22),
        timestamp: None,
        txid: r.pick(&TXIDS).to_owned(),
        payload: cc_payload(r),
        security_context: None,
        chaincode_event: None,
    }
}

fn cc_input(r: &mut Reader<'_>, now: Instant) -> chaincode::Input {
    use chaincode::{ExecKind, Input};
    let txid = r.pick(&TXIDS).to_owned();
    match r.u8() % 12 {
        0..=2 => Input::FromChaincode(cc_message(r)),
        3 => Input::FromChaincode(
            ChaincodeMessage::decode(r.bytes(32).as_slice()).unwrap_or_default(),
        ),
        4 => Input::RegisterAccepted,
        5 => Input::RegisterRefused {
            reason: "dup".into(),
        },
        6 | 7 => Input::Execute {
            txid,
            kind: r.pick(&[
                ExecKind::Init,
                ExecKind::Ready,
                ExecKind::Transaction,
                ExecKind::Query,
            ]),
            input: ChaincodeInput {
                args: vec![r.bytes(4)],
            },
            tx_timestamp: ts(r),
            deadline: now + Duration::from_millis(u64::from(r.u8()) * 10),
        },
        8 => Input::StateValue {
            txid,
            value: r.bool().then(|| r.bytes(4)),
        },
        9 => Input::WriteDone {
            txid,
            result: if r.bool() { Ok(()) } else { Err("io".into()) },
        },
        10 => Input::RangePage {
            txid,
            result: if r.bool() {
                Ok((vec![("a".into(), r.bytes(3))], r.bool()))
            } else {
                Err("io".into())
            },
        },
        _ => Input::InvokeDone {
            txid,
            result: if r.bool() {
                Ok(cc_message(r))
            } else {
                Err("io".into())
            },
        },
    }
}

/// Drives a peer-side chaincode [`chaincode::Handler`] with a byte-chosen
/// sequence of chaincode messages, executions, io answers and timeouts.
/// Checks: no panic, bounded maps, never more `Finished` than `Execute`s
/// per txid, and after the stream closes exactly one per `Execute`.
pub fn chaincode_handler(data: &[u8]) {
    let mut r = Reader::new(data);
    let config = chaincode::Config {
        keepalive: r.bool().then(|| Duration::from_millis(500)),
        max_in_flight: 3,
        max_iterators: 2,
        range_page_size: 2,
    };
    let (max_in_flight, max_iterators) = (config.max_in_flight, config.max_iterators);
    let mut h = chaincode::Handler::new(config);
    let mut now = Instant::ZERO;
    let mut executes: BTreeMap<String, u64> = BTreeMap::new();
    let mut finished: BTreeMap<String, u64> = BTreeMap::new();
    let drain = |h: &mut chaincode::Handler,
                 executes: &BTreeMap<String, u64>,
                 finished: &mut BTreeMap<String, u64>| {
        while let Some(out) = h.poll_output() {
            if let chaincode::Output::Finished { txid, .. } = out {
                let f = finished.entry(txid.clone()).or_default();
                *f += 1;
                let e = executes.get(&txid).copied().unwrap_or(0);
                assert!(*f <= e, "{f} Finished for {txid} but {e} Execute");
            }
        }
    };
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        if r.u8().is_multiple_of(8) {
            now = now + Duration::from_millis(u64::from(r.u8()) * 20);
            h.handle_timeout(now);
        } else {
            let input = cc_input(&mut r, now);
            if let chaincode::Input::Execute { txid, .. } = &input {
                *executes.entry(txid.clone()).or_default() += 1;
            }
            let _ = h.handle(now, input);
        }
        drain(&mut h, &executes, &mut finished);
        assert!(h.in_flight() <= max_in_flight, "in flight over the cap");
        assert!(h.open_iterators() <= max_iterators, "iterators over cap");
    }
    let _ = h.handle(now, chaincode::Input::StreamClosed);
    h.handle_timeout(now + Duration::from_secs(3600));
    drain(&mut h, &executes, &mut finished);
    for (txid, e) in &executes {
        let f = finished.get(txid).copied().unwrap_or(0);
        assert_eq!(*e, f, "txid {txid}: {e} Execute but {f} Finished");
    }
}

// ───────────────────── shim-side chaincode handler ─────────────────────

fn stub_call(r: &mut Reader<'_>) -> shim::StubCall {
    use shim::StubCall;
    let key = r.pick(&["a", "b", ""]).to_owned();
    match r.u8() % 8 {
        0 => StubCall::GetState(key),
        1 => StubCall::PutState(key, r.bytes(4)),
        2 => StubCall::DelState(key),
        3 => StubCall::RangeQuery {
            start: key,
            end: "z".into(),
        },
        4 => StubCall::RangeNext {
            id: r.pick(&["0", "1"]).to_owned(),
        },
        5 => StubCall::RangeClose {
            id: r.pick(&["0", "1"]).to_owned(),
        },
        6 => StubCall::InvokeChaincode {
            name: "other".into(),
            args: vec![r.bytes(3)],
        },
        _ => StubCall::QueryChaincode {
            name: "other".into(),
            args: vec![r.bytes(3)],
        },
    }
}

/// Drives a shim [`shim::Handler`] with byte-chosen peer messages, user-code
/// returns and stub calls. Checks: no panic, never more `StubReply` than
/// `StubCall` per txid, and once stopped every call was answered.
pub fn shim_handler(data: &[u8]) {
    let mut r = Reader::new(data);
    let mut h = shim::Handler::with_config("mycc", shim::Config { max_in_flight: 3 });
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    let mut replies: BTreeMap<String, u64> = BTreeMap::new();
    let now = Instant::ZERO;
    let drain = |h: &mut shim::Handler,
                 calls: &BTreeMap<String, u64>,
                 replies: &mut BTreeMap<String, u64>| {
        while let Some(out) = h.poll_output() {
            if let shim::Output::StubReply { txid, .. } = out {
                let n = replies.entry(txid.clone()).or_default();
                *n += 1;
                let c = calls.get(&txid).copied().unwrap_or(0);
                assert!(*n <= c, "{n} StubReply for {txid} but {c} StubCall");
            }
        }
    };
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        let txid = r.pick(&TXIDS).to_owned();
        let input = match r.u8() % 4 {
            0 | 1 => shim::Input::FromPeer(cc_message(&mut r)),
            // The SDK contract: user code blocked in a stub call cannot
            // return, so no Returned while a call of that txid is
            // unanswered. (Fed anyway, the shim drops the pending call
            // without a StubReply: `shim::run::on_returned` removes the
            // context; see fuzz/corpus/shim_handler/crash-2f2b9ff0*.)
            2 if calls.get(&txid).copied().unwrap_or(0)
                > replies.get(&txid).copied().unwrap_or(0) =>
            {
                continue;
            }
            2 => shim::Input::Returned {
                txid,
                result: if r.bool() {
                    Ok(r.bytes(4))
                } else {
                    Err("boom".into())
                },
                event: None,
            },
            _ => {
                *calls.entry(txid.clone()).or_default() += 1;
                shim::Input::StubCall {
                    txid,
                    call: stub_call(&mut r),
                }
            }
        };
        let _ = h.handle(now, input);
        drain(&mut h, &calls, &mut replies);
        assert!(h.in_flight() <= 3, "shim in flight over the cap");
    }
    // An UNDEFINED message stops the shim; outstanding calls then fail.
    let _ = h.handle(now, shim::Input::FromPeer(ChaincodeMessage::default()));
    drain(&mut h, &calls, &mut replies);
    if h.is_stopped() {
        for (txid, c) in &calls {
            let n = replies.get(txid).copied().unwrap_or(0);
            assert_eq!(*c, n, "txid {txid}: {c} StubCall but {n} StubReply");
        }
    }
}

// ───────────────────────────── peer handler ─────────────────────────────

fn endpoint(name: &str) -> PeerEndpoint {
    PeerEndpoint {
        id: Some(PeerId { name: name.into() }),
        address: format!("{name}:7051"),
        r#type: 1,
        pki_id: Vec::new(),
    }
}

fn peer_message(r: &mut Reader<'_>) -> protos::Message {
    use protos::message::Type;
    let kinds = [
        Type::DiscHello,
        Type::DiscHello,
        Type::DiscDisconnect,
        Type::DiscGetPeers,
        Type::DiscPeers,
        Type::DiscNewmsg,
        Type::ChainTransaction,
        Type::SyncGetBlocks,
        Type::SyncBlocks,
        Type::SyncBlockAdded,
        Type::SyncStateGetSnapshot,
        Type::SyncStateSnapshot,
        Type::SyncStateGetDeltas,
        Type::SyncStateDeltas,
        Type::Response,
        Type::Consensus,
        Type::Undefined,
    ];
    let kind = r.pick(&kinds);
    let payload = match (kind, r.u8() % 4) {
        (_, 0) => r.bytes(24),
        (Type::DiscHello, _) => HelloMessage {
            peer_endpoint: r
                .bool()
                .then(|| endpoint(r.pick(&["vp1", "vp1", "vp2", ""]))),
            blockchain_info: Some(BlockchainInfo {
                height: u64::from(r.u8()),
                ..BlockchainInfo::default()
            }),
        }
        .encode_to_vec(),
        (Type::DiscPeers, _) => PeersMessage {
            peers: (0..r.u8() % 4)
                .map(|i| endpoint(&format!("vp{i}")))
                .collect(),
        }
        .encode_to_vec(),
        _ => r.bytes(8),
    };
    protos::Message {
        r#type: if r.u8() == 255 { 99 } else { i32::from(kind) },
        timestamp: None,
        payload,
        signature: Vec::new(),
    }
}

/// Drives a peer [`peer::Handler`] (either direction) with byte-chosen
/// messages, registry answers and timeouts. Checks: no panic; never
/// `Established` or routing consensus/sync traffic without a HELLO having
/// arrived; registered only as the certified id; `Closed` is final;
/// discovery lists bounded.
pub fn peer_handler(data: &[u8]) {
    let mut r = Reader::new(data);
    let direction = if r.bool() {
        peer::Direction::Inbound
    } else {
        peer::Direction::Outbound
    };
    let config = peer::Config {
        local: endpoint("vp0"),
        direction,
        certified_id: "vp1".into(),
        blockchain_info: genesis(),
        discovery_period: Duration::from_secs(1),
        hello_timeout: Duration::from_secs(5),
    };
    let mut now = Instant::ZERO;
    let mut h = peer::Handler::new(config, now);
    let mut hello_seen = false;
    let mut closed = false;
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        match r.u8() % 6 {
            0 => {
                now = now + Duration::from_millis(u64::from(r.u16()));
                h.handle_timeout(now);
            }
            1 => {
                let list = (0..r.u8() % 5)
                    .map(|i| endpoint(&format!("vp{i}")))
                    .collect();
                let _ = h.handle(now, peer::Input::RegisteredPeers(list));
            }
            _ => {
                let m = peer_message(&mut r);
                hello_seen |= m.r#type == i32::from(protos::message::Type::DiscHello);
                let _ = h.handle(now, peer::Input::FromPeer(m));
            }
        }
        while let Some(out) = h.poll_output() {
            match out {
                peer::Output::Registered(ep) => {
                    assert!(hello_seen, "registered without HELLO");
                    let id = ep.id.map(|i| i.name).unwrap_or_default();
                    assert_eq!(id, "vp1", "registered under a non-certified id");
                }
                peer::Output::Consensus(_) | peer::Output::Sync(_) => {
                    assert!(hello_seen, "routed traffic before HELLO");
                }
                peer::Output::Discovered(list) => {
                    assert!(list.len() <= 1000, "unbounded discovery list");
                }
                peer::Output::Close(_) => closed = true,
                peer::Output::Send(_) | peer::Output::ListPeers => {}
            }
        }
        let state = h.state();
        if state == peer::State::Established {
            assert!(hello_seen, "Established without HELLO");
            assert!(!closed, "Established after Close");
        }
        if closed {
            assert_eq!(state, peer::State::Closed, "Close output but not Closed");
        }
    }
}

// ───────────────────────────── PBFT replica ─────────────────────────────

const N: usize = 4;

fn pbft_config(id: u64) -> core_pbft::Config {
    let mut cfg = core_pbft::Config::new(id, N, 1, core_pbft::Keys::from_seed(7, N, id));
    cfg.k = 2;
    cfg.log_multiplier = 2;
    cfg.batch_size = 2;
    cfg.timeout_batch = Duration::from_millis(100);
    cfg.timeout_request = Duration::from_millis(400);
    cfg.timeout_view_change = Duration::from_millis(500);
    cfg.timeout_resend_view_change = Duration::from_millis(300);
    cfg.max_outstanding_requests = 16;
    cfg
}

fn request(r: &mut Reader<'_>, origin: u64) -> Request {
    Request {
        timestamp: Some(Timestamp {
            seconds: i64::from(r.u8() % 8),
            nanos: 0,
        }),
        payload: vec![r.u8() % 4],
        replica_id: origin,
        signature: Vec::new(),
    }
}

fn batch(r: &mut Reader<'_>) -> RequestBatch {
    RequestBatch {
        batch: (0..r.u8() % 3).map(|_| request(r, 0)).collect(),
    }
}

fn digest_for(r: &mut Reader<'_>, b: &RequestBatch) -> String {
    match r.u8() % 4 {
        0 => String::new(),
        1 => "bogus".into(),
        _ => batch_digest(b),
    }
}

/// A PBFT message from `from`, mostly well-formed, with byte-chosen view,
/// sequence number, digest and claimed sender.
fn pbft_message(r: &mut Reader<'_>, from: u64) -> PeerMsg {
    use pbft::message::Payload;
    let view = u64::from(r.u8() % 4);
    let seq = u64::from(r.u8() % 12);
    let rid = if r.u8().is_multiple_of(8) {
        u64::from(r.u8() % 6)
    } else {
        from
    };
    let b = batch(r);
    let digest = digest_for(r, &b);
    let payload = match r.u8() % 10 {
        0 => return PeerMsg::Request(request(r, rid)),
        1 => Payload::PrePrepare(PrePrepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            request_batch: Some(b),
            replica_id: rid,
        }),
        2 | 3 => Payload::Prepare(Prepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: rid,
        }),
        4 | 5 => Payload::Commit(Commit {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: rid,
        }),
        6 => Payload::Checkpoint(Checkpoint {
            sequence_number: seq,
            replica_id: rid,
            id: r.pick(&[core_pbft::GENESIS_CHECKPOINT, "x", ""]).to_owned(),
        }),
        7 => Payload::ViewChange(ViewChange {
            view,
            h: seq,
            replica_id: rid,
            signature: r.bytes(64),
            ..ViewChange::default()
        }),
        8 => Payload::NewView(NewView {
            view,
            vset: Vec::new(),
            xset: [(seq, digest)].into_iter().collect(),
            replica_id: rid,
        }),
        _ => {
            if r.bool() {
                Payload::FetchRequestBatch(FetchRequestBatch {
                    batch_digest: digest,
                    replica_id: rid,
                })
            } else {
                Payload::ReturnRequestBatch(b)
            }
        }
    };
    PeerMsg::Pbft(pbft::Message {
        payload: Some(payload),
    })
}

/// One replica (id chosen by the input) fed byte-chosen peer messages from
/// the other replicas (which the input controls, so more than f may lie),
/// client requests, execution results, state-transfer answers and timer
/// firings. Checks after every operation: no panic; view, low watermark
/// and executed sequence numbers never go back (except via an explicit
/// state transfer); buffers stay within the simulator's bounds.
pub fn pbft_replica(data: &[u8]) {
    let mut r = Reader::new(data);
    let id = u64::from(r.u8()) % N as u64;
    let cfg = pbft_config(id);
    let (l, max_req) = (cfg.log_size(), cfg.max_outstanding_requests);
    let mut now = Instant::ZERO;
    let Ok(mut rep) = Replica::new(cfg, 0, &genesis(), now) else {
        panic!("valid config refused");
    };
    let mut checker = Checker::new(vec![true]);
    let mut chain = Chain::default();
    let mut pending_exec: Vec<(u64, String)> = Vec::new();
    let mut pending_xfer: Option<u64> = None;
    let (mut view, mut low, mut last_exec_out) = (0u64, 0u64, 0u64);
    for _ in 0..MAX_OPS {
        if r.is_empty() {
            break;
        }
        match r.u8() % 10 {
            0 => {
                let req = request(&mut r, id);
                let _ = rep.handle(now, core_pbft::Input::Request(req));
            }
            1 => {
                now = now + Duration::from_millis(u64::from(r.u8()) * 5);
                rep.handle_timeout(now);
            }
            2 => {
                if let Some(t) = rep.poll_timeout() {
                    now = now.max(t);
                    rep.handle_timeout(now);
                }
            }
            3 => {
                if !pending_exec.is_empty() {
                    let (seq, content) = pending_exec.remove(0);
                    let info = chain.append(seq, &content);
                    checker.on_executed(0, seq, &info);
                    let _ = rep.handle(now, core_pbft::Input::Executed { seq, info });
                }
            }
            4 => {
                if let Some(seq) = pending_xfer.take() {
                    let input = if r.bool() {
                        // The fuzzer plays the donor: it can only hand over
                        // a chain that extends ours.
                        let base = chain.last_seq();
                        for s in base.saturating_add(1)..=seq {
                            chain.append(s, "xfer");
                        }
                        checker.on_jump(0, seq.max(base));
                        pending_exec.clear();
                        last_exec_out = last_exec_out.max(seq);
                        core_pbft::Input::StateTransferred {
                            seq: seq.max(base),
                            info: chain.head(),
                        }
                    } else {
                        core_pbft::Input::StateTransferFailed
                    };
                    let _ = rep.handle(now, input);
                }
            }
            5 => {
                let raw = r.bytes(48);
                if let Ok(bm) = BatchMessage::decode(raw.as_slice())
                    && let Ok(msg) = PeerMsg::from_batch_message(bm)
                {
                    let from = u64::from(r.u8() % 5);
                    let _ = rep.handle(now, core_pbft::Input::Peer { from, msg });
                }
            }
            _ => {
                let from = u64::from(r.u8() % 5);
                let msg = pbft_message(&mut r, from);
                let _ = rep.handle(now, core_pbft::Input::Peer { from, msg });
            }
        }
        while let Some(out) = rep.poll_output() {
            match out {
                core_pbft::Output::Execute { seq, batch } => {
                    assert!(
                        seq > last_exec_out,
                        "execution not monotone: {seq} after {last_exec_out}"
                    );
                    last_exec_out = seq;
                    pending_exec.push((seq, batch_digest(&batch)));
                }
                core_pbft::Output::StateTransfer { seq, .. } => pending_xfer = Some(seq),
                _ => {}
            }
        }
        assert!(rep.view() >= view, "view went back");
        assert!(rep.low_watermark() >= low, "low watermark went back");
        view = rep.view();
        low = rep.low_watermark();
        checker.on_view(0, view);
        checker.on_buffers(0, rep.buffer_sizes(), N, l, max_req);
        assert!(
            checker.violations.is_empty(),
            "replica {id}: {:?}",
            checker.violations
        );
    }
}

// ──────────────────────── fuzz-scheduled cluster ────────────────────────

struct Node {
    rep: Replica,
    chain: Chain,
}

/// Four correct replicas; the bytes choose the schedule: which in-flight
/// message is delivered next (reordering), drops, duplicates, which
/// replica's timer fires, and client requests. Execution and state transfer
/// (copying a correct donor's chain) are immediate. The simulator's
/// [`Checker`] (agreement on commits and executions, identical hash chains
/// and checkpoint ids, monotone views, bounded buffers, no alarms) must
/// report no violation.
pub fn pbft_cluster(data: &[u8]) {
    let mut r = Reader::new(data);
    let mut now = Instant::ZERO;
    let mut nodes: Vec<Node> = (0..N as u64)
        .map(|i| Node {
            rep: Replica::new(pbft_config(i), 0, &genesis(), now).expect("valid config"),
            chain: Chain::default(),
        })
        .collect();
    let (l, max_req) = (
        nodes[0].rep.config().log_size(),
        nodes[0].rep.config().max_outstanding_requests,
    );
    let mut checker = Checker::new(vec![true; N]);
    let mut net: Vec<(usize, usize, PeerMsg)> = Vec::new();
    let mut drops = 0usize;
    let mut nonce = 0u8;
    for _ in 0..MAX_OPS * 2 {
        if r.is_empty() {
            break;
        }
        checker.set_time(now.as_nanos());
        let mut fed: Vec<(usize, core_pbft::Input)> = Vec::new();
        let mut timed: Option<usize> = None;
        match r.u8() % 16 {
            0..=8 => {
                if !net.is_empty() {
                    let (from, to, msg) = net.remove(r.below(net.len()));
                    fed.push((
                        to,
                        core_pbft::Input::Peer {
                            from: from as u64,
                            msg,
                        },
                    ));
                }
            }
            9 => {
                // At most a few drops, so the run stays interesting.
                if !net.is_empty() && drops < 8 {
                    drops += 1;
                    net.remove(r.below(net.len()));
                }
            }
            10 => {
                if !net.is_empty() {
                    let m = net[r.below(net.len())].clone();
                    net.push(m);
                }
            }
            11 | 12 => timed = Some(r.below(N)),
            _ => {
                nonce = nonce.wrapping_add(1);
                let to = r.below(N);
                let req = Request {
                    timestamp: Some(Timestamp {
                        seconds: i64::from(nonce),
                        nanos: 0,
                    }),
                    payload: vec![nonce, r.u8()],
                    replica_id: to as u64,
                    signature: Vec::new(),
                };
                fed.push((to, core_pbft::Input::Request(req)));
            }
        }
        if let Some(i) = timed {
            if let Some(t) = nodes[i].rep.poll_timeout() {
                now = now.max(t);
            }
            for n in &mut nodes {
                n.rep.handle_timeout(now);
            }
        }
        // Feed, then route outputs; executions and transfers feed back.
        let mut guard = 0;
        loop {
            for (i, input) in fed.drain(..) {
                let _ = nodes[i].rep.handle(now, input);
            }
            for i in 0..N {
                while let Some(out) = nodes[i].rep.poll_output() {
                    route(i, out, &mut nodes, &mut net, &mut checker, &mut fed);
                }
                checker.on_view(i, nodes[i].rep.view());
                checker.on_buffers(i, nodes[i].rep.buffer_sizes(), N, l, max_req);
            }
            guard += 1;
            if fed.is_empty() || guard > 64 {
                break;
            }
        }
        net.truncate(4096);
        assert!(
            checker.violations.is_empty(),
            "cluster violation: {:?}",
            checker.violations
        );
    }
}

fn route(
    i: usize,
    out: core_pbft::Output,
    nodes: &mut [Node],
    net: &mut Vec<(usize, usize, PeerMsg)>,
    checker: &mut Checker,
    fed: &mut Vec<(usize, core_pbft::Input)>,
) {
    use core_pbft::{Input, Output};
    match out {
        Output::Broadcast(msg) => {
            if let PeerMsg::Pbft(pbft::Message {
                payload: Some(pbft::message::Payload::Checkpoint(c)),
            }) = &msg
            {
                checker.on_checkpoint(i, c.sequence_number, &c.id);
            }
            for to in (0..N).filter(|t| *t != i) {
                net.push((i, to, msg.clone()));
            }
        }
        Output::Send { to, msg } => {
            if let Ok(to) = usize::try_from(to)
                && to < N
                && to != i
            {
                net.push((i, to, msg));
            }
        }
        Output::Execute { seq, batch } => {
            checker.on_execute(i, seq, &batch);
            let info = nodes[i].chain.append(seq, &batch_digest(&batch));
            checker.on_executed(i, seq, &info);
            fed.push((i, Input::Executed { seq, info }));
        }
        Output::Committed { seq, digest } => checker.on_committed(i, seq, &digest),
        Output::StateTransfer { seq, id, .. } => {
            let donor = (0..N)
                .find(|j| *j != i && nodes[*j].chain.matches(seq, &id))
                .map(|j| nodes[j].chain.prefix(seq));
            match donor {
                Some(chain) => {
                    let head = chain.info_at(seq);
                    nodes[i].chain = chain;
                    checker.on_jump(i, seq);
                    fed.push((i, Input::StateTransferred { seq, info: head }));
                }
                None => fed.push((i, Input::StateTransferFailed)),
            }
        }
        Output::Alarm(a) => checker.on_alarm(i, &a),
        Output::Persist(_)
        | Output::ViewChanged { .. }
        | Output::StateInvalid
        | Output::StateValid
        | Output::Misbehavior { .. } => {}
    }
}
