//! One test per FSM transition of the peer [`Handler`].

use crate::machine::Machine;
use crate::peer::{Config, Direction, Handler, Input, Output, Reject, State, message};
use crate::time::{Duration, Instant};
use fabrik_proto::protos::{
    BlockchainInfo, HelloMessage, Message, PeerEndpoint, PeerId, PeersMessage, message::Type,
    peer_endpoint,
};
use prost::Message as _;

fn endpoint(id: &str, port: u16) -> PeerEndpoint {
    PeerEndpoint {
        id: Some(PeerId { name: id.into() }),
        address: format!("127.0.0.1:{port}"),
        r#type: peer_endpoint::Type::Validator as i32,
        pki_id: Vec::new(),
    }
}

fn info() -> BlockchainInfo {
    BlockchainInfo {
        height: 3,
        current_block_hash: vec![1; 64],
        previous_block_hash: vec![2; 64],
    }
}

fn config(direction: Direction, certified: &str) -> Config {
    Config {
        local: endpoint("vp0", 7051),
        direction,
        certified_id: certified.into(),
        blockchain_info: info(),
        discovery_period: Duration::from_secs(5),
        hello_timeout: Duration::from_secs(10),
    }
}

fn hello(ep: PeerEndpoint) -> Message {
    let hello = HelloMessage {
        peer_endpoint: Some(ep),
        blockchain_info: Some(BlockchainInfo::default()),
    };
    message(Type::DiscHello, hello.encode_to_vec())
}

fn our_hello() -> Output {
    let hello = HelloMessage {
        peer_endpoint: Some(endpoint("vp0", 7051)),
        blockchain_info: Some(info()),
    };
    Output::Send(message(Type::DiscHello, hello.encode_to_vec()))
}

fn get_peers() -> Output {
    Output::Send(message(Type::DiscGetPeers, Vec::new()))
}

fn drain(h: &mut Handler) -> Vec<Output> {
    std::iter::from_fn(|| h.poll_output()).collect()
}

const T0: Instant = Instant::ZERO;

fn established(direction: Direction) -> Handler {
    let mut h = Handler::new(config(direction, "vp1"), T0);
    h.handle(T0, Input::FromPeer(hello(endpoint("vp1", 7061))))
        .unwrap();
    drain(&mut h);
    h
}

#[test]
fn outbound_sends_hello_at_once_and_inbound_waits() {
    let mut out = Handler::new(config(Direction::Outbound, "vp1"), T0);
    assert_eq!(drain(&mut out), vec![our_hello()]);
    let mut inb = Handler::new(config(Direction::Inbound, "vp1"), T0);
    assert_eq!(drain(&mut inb), vec![]);
    assert_eq!(inb.poll_timeout(), Some(T0 + Duration::from_secs(10)));
}

#[test]
fn inbound_hello_replies_registers_and_asks_for_peers() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    h.handle(T0, Input::FromPeer(hello(endpoint("vp1", 7061))))
        .unwrap();
    assert_eq!(
        drain(&mut h),
        vec![
            our_hello(),
            Output::Registered(endpoint("vp1", 7061)),
            get_peers()
        ]
    );
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.poll_timeout(), Some(T0 + Duration::from_secs(5)));
}

#[test]
fn outbound_hello_reply_registers_without_second_hello() {
    let mut h = Handler::new(config(Direction::Outbound, "vp1"), T0);
    drain(&mut h);
    h.handle(T0, Input::FromPeer(hello(endpoint("vp1", 7061))))
        .unwrap();
    assert_eq!(
        drain(&mut h),
        vec![Output::Registered(endpoint("vp1", 7061)), get_peers()]
    );
}

#[test]
fn hello_claiming_another_id_closes_with_both_ids() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    let err = h
        .handle(T0, Input::FromPeer(hello(endpoint("vp2", 7061))))
        .unwrap_err();
    assert_eq!(
        err,
        Reject::WrongIdentity {
            claimed: "vp2".into(),
            certified: "vp1".into()
        }
    );
    let out = drain(&mut h);
    assert!(
        matches!(&out[..], [Output::Close(r)] if r.contains("\"vp2\"") && r.contains("\"vp1\""))
    );
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn hello_claiming_our_own_id_closes() {
    let mut h = Handler::new(config(Direction::Inbound, "vp0"), T0);
    assert!(
        h.handle(T0, Input::FromPeer(hello(endpoint("vp0", 7061))))
            .is_err()
    );
    assert!(matches!(&drain(&mut h)[..], [Output::Close(_)]));
}

#[test]
fn garbage_hello_closes_and_counts() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    let bad = message(Type::DiscHello, vec![0xff, 0xff, 0xff]);
    let err = h.handle(T0, Input::FromPeer(bad)).unwrap_err();
    assert!(matches!(err, Reject::Malformed { .. }));
    assert!(matches!(&drain(&mut h)[..], [Output::Close(_)]));
    assert_eq!(h.rejected(), 1);
}

#[test]
fn messages_before_hello_are_refused_with_v06_text_and_the_handler_stays() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    let err = h
        .handle(T0, Input::FromPeer(message(Type::Consensus, vec![1, 2])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Peer FSM cannot handle message (CONSENSUS) with payload size (2) while in state: created"
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state(), State::Created);
    h.handle(T0, Input::FromPeer(hello(endpoint("vp1", 7061))))
        .unwrap();
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.rejected(), 1);
}

#[test]
fn second_hello_and_unused_types_are_refused_once_established() {
    let mut h = established(Direction::Inbound);
    for kind in [
        Type::DiscHello,
        Type::Undefined,
        Type::DiscDisconnect,
        Type::DiscNewmsg,
        Type::ChainTransaction,
        Type::Response,
    ] {
        let err = h
            .handle(T0, Input::FromPeer(message(kind, vec![])))
            .unwrap_err();
        assert!(matches!(err, Reject::CannotHandle { .. }), "{kind:?}");
    }
    let unknown = Message {
        r#type: 99,
        ..Default::default()
    };
    let err = h.handle(T0, Input::FromPeer(unknown)).unwrap_err();
    assert!(err.to_string().contains("UNKNOWN(99)"));
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state(), State::Established);
}

#[test]
fn get_peers_asks_the_registry_and_answers_with_disc_peers() {
    let mut h = established(Direction::Inbound);
    h.handle(T0, Input::FromPeer(message(Type::DiscGetPeers, vec![])))
        .unwrap();
    assert_eq!(drain(&mut h), vec![Output::ListPeers]);
    let list = vec![endpoint("vp1", 7061), endpoint("vp2", 7071)];
    h.handle(T0, Input::RegisteredPeers(list.clone())).unwrap();
    let reply = PeersMessage { peers: list };
    assert_eq!(
        drain(&mut h),
        vec![Output::Send(message(
            Type::DiscPeers,
            reply.encode_to_vec()
        ))]
    );
}

#[test]
fn disc_peers_yields_others_only() {
    let mut h = established(Direction::Outbound);
    let peers = PeersMessage {
        peers: vec![
            endpoint("vp0", 7051),
            endpoint("vp1", 7061),
            endpoint("vp2", 7071),
            PeerEndpoint::default(),
        ],
    };
    h.handle(
        T0,
        Input::FromPeer(message(Type::DiscPeers, peers.encode_to_vec())),
    )
    .unwrap();
    assert_eq!(
        drain(&mut h),
        vec![Output::Discovered(vec![endpoint("vp2", 7071)])]
    );
}

#[test]
fn malformed_disc_peers_is_refused_and_the_stream_kept() {
    let mut h = established(Direction::Outbound);
    let err = h
        .handle(T0, Input::FromPeer(message(Type::DiscPeers, vec![0xff; 3])))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed DISC_PEERS from peer vp1")
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state(), State::Established);
}

#[test]
fn sync_and_consensus_are_routed_out_and_block_added_ignored() {
    let mut h = established(Direction::Inbound);
    let c = message(Type::Consensus, vec![7]);
    let s = message(Type::SyncGetBlocks, vec![8]);
    let d = message(Type::SyncStateDeltas, vec![9]);
    for m in [
        c.clone(),
        s.clone(),
        message(Type::SyncBlockAdded, vec![]),
        d.clone(),
    ] {
        h.handle(T0, Input::FromPeer(m)).unwrap();
    }
    assert_eq!(
        drain(&mut h),
        vec![Output::Consensus(c), Output::Sync(s), Output::Sync(d)]
    );
}

#[test]
fn discovery_period_sends_get_peers_again() {
    let mut h = established(Direction::Inbound);
    let at = T0 + Duration::from_secs(5);
    h.handle_timeout(Instant::from_nanos(at.as_nanos() - 1_000_000));
    assert_eq!(drain(&mut h), vec![]);
    h.handle_timeout(at);
    assert_eq!(drain(&mut h), vec![get_peers()]);
    assert_eq!(h.poll_timeout(), Some(at + Duration::from_secs(5)));
}

#[test]
fn missing_hello_times_out_and_closes() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    h.handle_timeout(T0 + Duration::from_secs(10));
    assert!(
        matches!(&drain(&mut h)[..], [Output::Close(r)] if r.contains("no HELLO from peer vp1"))
    );
    assert_eq!(h.state(), State::Closed);
    let err = h
        .handle(T0, Input::FromPeer(hello(endpoint("vp1", 7061))))
        .unwrap_err();
    assert!(err.to_string().contains("state: closed"));
}

#[test]
fn registered_peers_after_close_are_dropped() {
    let mut h = Handler::new(config(Direction::Inbound, "vp1"), T0);
    h.handle_timeout(T0 + Duration::from_secs(10));
    drain(&mut h);
    h.handle(T0, Input::RegisteredPeers(vec![])).unwrap();
    assert_eq!(drain(&mut h), vec![]);
}
