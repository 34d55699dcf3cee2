//! Malformed-input corpus, peer messages (issue #8 item 3): v0.6 `Message`
//! envelopes a peer connection's [`Handler`] must refuse — unknown types,
//! messages before the HELLO exchange or after the close, undecodable or
//! truncated HELLO / DISC_PEERS payloads, a HELLO whose id is not the
//! certificate's (sender ≠ identity) or is our own, a second HELLO.
//!
//! Each named row checks the typed [`Reject`], the handler's rejection
//! counter (what the io connection driver adds to `Network::rejected`)
//! moved by one, no panic, and either no state change at all (the
//! connection stays usable, as v0.6's chat loop does) or, for a HELLO that
//! cannot be used, exactly one `Close` output and the `Closed` state.
//! Run: `cargo nextest run -p fabrik-core --test malformed_peer`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fabrik_core::machine::Machine;
use fabrik_core::peer::{Config, Direction, Handler, Input, Output, Reject, State, message};
use fabrik_core::time::{Duration, Instant};
use fabrik_proto::protos::{
    BlockchainInfo, HelloMessage, Message, PeerEndpoint, PeerId, PeersMessage, message::Type,
    peer_endpoint,
};
use prost::Message as _;

/// Documented in tests/MALFORMED.md.
const PEER_CASES: usize = 36;
const T0: Instant = Instant::ZERO;

fn endpoint(id: &str) -> PeerEndpoint {
    PeerEndpoint {
        id: Some(PeerId { name: id.into() }),
        address: "127.0.0.1:7051".into(),
        r#type: peer_endpoint::Type::Validator as i32,
        pki_id: Vec::new(),
    }
}

fn config(certified: &str) -> Config {
    Config {
        local: endpoint("vp0"),
        direction: Direction::Inbound,
        certified_id: certified.into(),
        blockchain_info: BlockchainInfo::default(),
        discovery_period: Duration::from_secs(5),
        hello_timeout: Duration::from_secs(10),
    }
}

fn hello_of(ep: Option<PeerEndpoint>) -> Vec<u8> {
    HelloMessage {
        peer_endpoint: ep,
        blockchain_info: Some(BlockchainInfo::default()),
    }
    .encode_to_vec()
}

fn hello(id: &str) -> Message {
    message(Type::DiscHello, hello_of(Some(endpoint(id))))
}

fn raw(kind: i32, payload: &[u8]) -> Message {
    Message {
        r#type: kind,
        timestamp: None,
        payload: payload.to_vec(),
        signature: Vec::new(),
    }
}

fn of(kind: Type, payload: &[u8]) -> Message {
    raw(kind as i32, payload)
}

#[derive(Debug, Clone, Copy)]
enum Fx {
    /// Inbound connection from a peer certified as vp1, no HELLO yet.
    Created,
    /// The same after vp1's HELLO.
    Established,
    /// The same after its HELLO timed out.
    Closed,
    /// A connection whose certificate names our own id (vp0).
    Mirror,
}

impl Fx {
    fn build(self) -> Handler {
        let mut h = Handler::new(
            config(if matches!(self, Fx::Mirror) {
                "vp0"
            } else {
                "vp1"
            }),
            T0,
        );
        match self {
            Fx::Established => h.handle(T0, Input::FromPeer(hello("vp1"))).expect("hello"),
            Fx::Closed => h.handle_timeout(T0 + Duration::from_secs(11)),
            Fx::Created | Fx::Mirror => {}
        }
        while h.poll_output().is_some() {}
        h
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    CannotHandle,
    Malformed,
    WrongIdentity,
}

/// After the rejection: unchanged, or closed with one `Close` output.
#[derive(Debug, Clone, Copy, PartialEq)]
enum After {
    Unchanged,
    Closed,
}

struct Case {
    name: &'static str,
    fx: Fx,
    msg: Message,
    kind: Kind,
    after: After,
}

fn c(name: &'static str, fx: Fx, msg: Message, kind: Kind, after: After) -> Case {
    Case {
        name,
        fx,
        msg,
        kind,
        after,
    }
}

/// The handler's state without its rejection counter.
fn snapshot(h: &Handler) -> String {
    let s = format!("{h:?}");
    let at = s
        .find("rejected: ")
        .expect("Handler's Debug names `rejected`");
    s[..at].to_string()
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use After::{Closed as Closes, Unchanged as Same};
    use Fx::*;
    use Kind::*;
    let valid_peers = PeersMessage { peers: vec![endpoint("vp2")] }.encode_to_vec();
    let valid_hello = hello_of(Some(endpoint("vp1")));
    vec![
        // ---- before the HELLO exchange ----
        c("created_undefined_type", Created, of(Type::Undefined, b""), CannotHandle, Same),
        c("created_unknown_type_999", Created, raw(999, b"x"), CannotHandle, Same),
        c("created_negative_type", Created, raw(-1, b""), CannotHandle, Same),
        c("created_type_between_ranges_7", Created, raw(7, b""), CannotHandle, Same),
        c("created_get_peers_before_hello", Created, of(Type::DiscGetPeers, b""), CannotHandle, Same),
        c("created_peers_before_hello", Created, of(Type::DiscPeers, &valid_peers), CannotHandle, Same),
        c("created_consensus_before_hello", Created, of(Type::Consensus, b"\x1a\x00"), CannotHandle, Same),
        c("created_sync_get_blocks_before_hello", Created, of(Type::SyncGetBlocks, b""), CannotHandle, Same),
        c("created_sync_blocks_before_hello", Created, of(Type::SyncBlocks, b""), CannotHandle, Same),
        c("created_sync_block_added_before_hello", Created, of(Type::SyncBlockAdded, b""), CannotHandle, Same),
        c("created_sync_get_snapshot_before_hello", Created, of(Type::SyncStateGetSnapshot, b""), CannotHandle, Same),
        c("created_sync_get_deltas_before_hello", Created, of(Type::SyncStateGetDeltas, b""), CannotHandle, Same),
        c("created_sync_deltas_before_hello", Created, of(Type::SyncStateDeltas, b""), CannotHandle, Same),
        c("created_disconnect", Created, of(Type::DiscDisconnect, b""), CannotHandle, Same),
        // ---- unusable HELLOs (the connection is refused) ----
        c("hello_payload_garbage", Created, of(Type::DiscHello, &[0xff, 0xff, 0xff]), Malformed, Closes),
        c("hello_payload_truncated", Created, of(Type::DiscHello, &valid_hello[..valid_hello.len() / 2]), Malformed, Closes),
        c("hello_length_prefix_overruns", Created, of(Type::DiscHello, &[0x0a, 0x7f, 0x0a]), Malformed, Closes),
        c("hello_empty_payload_no_endpoint", Created, of(Type::DiscHello, b""), Malformed, Closes),
        c("hello_without_endpoint", Created, of(Type::DiscHello, &hello_of(None)), Malformed, Closes),
        c("hello_claims_other_peer", Created, hello("vp2"), WrongIdentity, Closes),
        c("hello_claims_empty_id", Created, hello(""), WrongIdentity, Closes),
        c("hello_endpoint_without_id", Created, of(Type::DiscHello, &hello_of(Some(PeerEndpoint { id: None, ..endpoint("x") }))), WrongIdentity, Closes),
        c("hello_claims_id_differing_in_case", Created, hello("VP1"), WrongIdentity, Closes),
        c("hello_claims_our_own_id", Mirror, hello("vp0"), Malformed, Closes),
        // ---- established connection ----
        c("established_second_hello", Established, hello("vp1"), CannotHandle, Same),
        c("established_hello_of_other_peer", Established, hello("vp2"), CannotHandle, Same),
        c("established_unknown_type", Established, raw(42, b""), CannotHandle, Same),
        c("established_undefined_type", Established, of(Type::Undefined, b""), CannotHandle, Same),
        c("established_disconnect", Established, of(Type::DiscDisconnect, b""), CannotHandle, Same),
        c("established_newmsg", Established, of(Type::DiscNewmsg, b""), CannotHandle, Same),
        c("established_chain_transaction", Established, of(Type::ChainTransaction, b"tx"), CannotHandle, Same),
        c("established_response", Established, of(Type::Response, b""), CannotHandle, Same),
        c("established_peers_garbage", Established, of(Type::DiscPeers, &[0x0a, 0xff]), Malformed, Same),
        c("established_peers_truncated", Established, of(Type::DiscPeers, &valid_peers[..valid_peers.len() - 1]), Malformed, Same),
        // ---- after the close ----
        c("closed_consensus", Closed, of(Type::Consensus, b""), CannotHandle, Same),
        c("closed_hello", Closed, hello("vp1"), CannotHandle, Same),
    ]
}

fn check(c: Case) -> Result<(), String> {
    let mut h = c.fx.build();
    let (before, state, rejected) = (snapshot(&h), h.state(), h.rejected());
    let reject = match h.handle(T0, Input::FromPeer(c.msg)) {
        Ok(()) => return Err("accepted; expected a rejection".into()),
        Err(r) => r,
    };
    let kind = match &reject {
        Reject::CannotHandle { state: s, .. } if *s == state => Kind::CannotHandle,
        Reject::CannotHandle { .. } => return Err(format!("{reject:?} names the wrong state")),
        Reject::Malformed { peer, .. } if peer == "vp1" || peer == "vp0" => Kind::Malformed,
        Reject::Malformed { .. } => return Err(format!("{reject:?} names the wrong peer")),
        Reject::WrongIdentity { .. } => Kind::WrongIdentity,
    };
    if kind != c.kind {
        return Err(format!("got {reject:?}, expected {:?}", c.kind));
    }
    if h.rejected() != rejected + 1 {
        return Err("rejection counter did not move by one".into());
    }
    let outs: Vec<Output> = std::iter::from_fn(|| h.poll_output()).collect();
    match c.after {
        After::Unchanged if !outs.is_empty() => Err(format!("outputs {outs:?}")),
        After::Unchanged if snapshot(&h) != before => Err("state changed".into()),
        After::Closed if !matches!(outs.as_slice(), [Output::Close(_)]) => {
            Err(format!("outputs {outs:?}, expected one Close"))
        }
        After::Closed if h.state() != State::Closed || h.poll_timeout().is_some() => {
            Err("not closed".into())
        }
        After::Closed if h.remote().is_some() => Err("remote registered".into()),
        _ => Ok(()),
    }
}

#[test]
fn peer_message_corpus() {
    let cases = cases();
    assert!(cases.len() >= PEER_CASES, "{} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for case in cases {
        assert!(names.insert(case.name), "duplicate case {}", case.name);
        let name = case.name;
        match catch_unwind(AssertUnwindSafe(|| check(case))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{name}: {why}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Controls: the well-formed versions are accepted by the same fixtures.
#[test]
fn controls_are_accepted() {
    let mut h = Fx::Created.build();
    h.handle(T0, Input::FromPeer(hello("vp1"))).expect("hello");
    let peers = PeersMessage {
        peers: vec![endpoint("vp2")],
    }
    .encode_to_vec();
    let mut h = Fx::Established.build();
    h.handle(T0, Input::FromPeer(of(Type::DiscPeers, &peers)))
        .expect("peers");
    h.handle(T0, Input::FromPeer(of(Type::Consensus, b"")))
        .expect("consensus");
    assert_eq!(h.rejected(), 0);
}
