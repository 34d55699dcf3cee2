//! Machine oracles for the chaincode (peer and shim side) and peer handlers.

use super::*;
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

/// Txids of stream messages, including the REGISTER / REGISTERED marker of
/// every fabrik extension.
const CC_TXIDS: [&str; 5] = [
    "tx0",
    "tx1",
    "tx2",
    "tx3",
    "fabrik:concurrent-transactions+unacked-writes",
];

fn cc_message(r: &mut Reader<'_>) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: i32::from(r.u8() % 22),
        timestamp: None,
        txid: r.pick(&CC_TXIDS).to_owned(),
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
        features: chaincode::Features::ALL,
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
    let config = shim::Config {
        max_in_flight: 3,
        features: chaincode::Features::ALL,
    };
    let mut h = shim::Handler::with_config("mycc", config);
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
        let input = match r.u8() % 5 {
            0 | 1 => shim::Input::FromPeer(cc_message(&mut r)),
            // Never answered, so not counted as a call.
            4 => shim::Input::StubPost {
                txid,
                call: stub_call(&mut r),
            },
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
