//! Golden-output tests of [`Discovery`]: root nodes, persistence, touch
//! service and back-off.

use crate::ledger::kv::{Partition, WriteBatch};
use crate::machine::Machine;
use crate::peer::{
    DISCOVERY_KEY, Discovery, DiscoveryConfig, DiscoveryInput as Input, DiscoveryOutput as Output,
};
use crate::time::{Duration, Instant};
use fabrik_proto::protos::{PeerEndpoint, PeerId, PeersAddresses};
use prost::Message as _;

const T0: Instant = Instant::ZERO;

fn config() -> DiscoveryConfig {
    DiscoveryConfig {
        self_id: "vp1".into(),
        self_address: "127.0.0.1:7061".into(),
        rootnodes: vec!["127.0.0.1:7051".into(), "127.0.0.1:7061".into()],
        persist: true,
        touch_period: Duration::from_secs(6),
        touch_max_nodes: 100,
        backoff_base: Duration::from_millis(250),
        backoff_max: Duration::from_secs(8),
    }
}

fn ep(id: &str, address: &str) -> PeerEndpoint {
    PeerEndpoint {
        id: Some(PeerId { name: id.into() }),
        address: address.into(),
        ..Default::default()
    }
}

fn drain(d: &mut Discovery) -> Vec<Output> {
    std::iter::from_fn(|| d.poll_output()).collect()
}

fn dial(a: &str) -> Output {
    Output::Dial(a.into())
}

fn persist(addresses: &[&str]) -> Output {
    let mut b = WriteBatch::new();
    let list = PeersAddresses {
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
    };
    b.put(
        Partition::Persist,
        DISCOVERY_KEY.to_vec(),
        list.encode_to_vec(),
    );
    Output::Persist(b)
}

#[test]
fn start_dials_root_nodes_but_not_itself() {
    let mut d = Discovery::new(config(), T0);
    assert_eq!(drain(&mut d), vec![dial("127.0.0.1:7051")]);
    assert_eq!(d.poll_timeout(), Some(T0 + Duration::from_secs(6)));
}

#[test]
fn loaded_list_is_dialed_once_while_in_flight() {
    let mut d = Discovery::new(config(), T0);
    drain(&mut d);
    d.handle(
        T0,
        Input::Loaded(vec!["127.0.0.1:7051".into(), "127.0.0.1:7071".into()]),
    )
    .unwrap();
    assert_eq!(drain(&mut d), vec![dial("127.0.0.1:7071")]);
}

#[test]
fn registration_persists_new_addresses_only() {
    let mut d = Discovery::new(config(), T0);
    drain(&mut d);
    d.handle(T0, Input::Registered(ep("vp0", "127.0.0.1:7051")))
        .unwrap();
    assert_eq!(drain(&mut d), vec![persist(&["127.0.0.1:7051"])]);
    d.handle(T0, Input::Registered(ep("vp0", "127.0.0.1:7051")))
        .unwrap();
    assert_eq!(drain(&mut d), vec![]);
    d.handle(T0, Input::Registered(ep("vp2", "127.0.0.1:7071")))
        .unwrap();
    assert_eq!(
        drain(&mut d),
        vec![persist(&["127.0.0.1:7051", "127.0.0.1:7071"])]
    );
}

#[test]
fn no_persist_when_disabled() {
    let mut d = Discovery::new(
        DiscoveryConfig {
            persist: false,
            ..config()
        },
        T0,
    );
    drain(&mut d);
    d.handle(T0, Input::Registered(ep("vp0", "127.0.0.1:7051")))
        .unwrap();
    assert_eq!(drain(&mut d), vec![]);
}

#[test]
fn discovered_dials_unknown_ids_only() {
    let mut d = Discovery::new(config(), T0);
    drain(&mut d);
    d.handle(
        T0,
        Input::DialDone {
            address: "127.0.0.1:7051".into(),
            id: Some("vp0".into()),
        },
    )
    .unwrap();
    d.handle(T0, Input::Registered(ep("vp0", "127.0.0.1:7051")))
        .unwrap();
    drain(&mut d);
    d.handle(
        T0,
        Input::Discovered(vec![
            ep("vp0", "127.0.0.1:7051"),
            ep("vp1", "127.0.0.1:7061"),
            ep("vp2", "127.0.0.1:7071"),
        ]),
    )
    .unwrap();
    assert_eq!(drain(&mut d), vec![dial("127.0.0.1:7071")]);
}

#[test]
fn failed_dials_back_off_exponentially_up_to_the_cap() {
    let touch_period = Duration::from_secs(600);
    let mut d = Discovery::new(
        DiscoveryConfig {
            touch_period,
            ..config()
        },
        T0,
    );
    drain(&mut d);
    let mut now = T0;
    for expected_ms in [250u64, 500, 1000, 2000, 4000, 8000, 8000] {
        d.handle(
            now,
            Input::DialDone {
                address: "127.0.0.1:7051".into(),
                id: None,
            },
        )
        .unwrap();
        let at = now + Duration::from_millis(expected_ms);
        assert_eq!(d.poll_timeout(), Some(at), "{expected_ms}");
        d.handle_timeout(Instant::from_nanos(at.as_nanos() - 1_000_000));
        assert_eq!(drain(&mut d), vec![], "early at {expected_ms}");
        d.handle_timeout(at);
        assert_eq!(drain(&mut d), vec![dial("127.0.0.1:7051")]);
        now = at;
    }
}

#[test]
fn touch_redials_known_addresses_that_dropped() {
    let mut d = Discovery::new(config(), T0);
    drain(&mut d);
    d.handle(
        T0,
        Input::DialDone {
            address: "127.0.0.1:7051".into(),
            id: Some("vp0".into()),
        },
    )
    .unwrap();
    d.handle(T0, Input::Registered(ep("vp0", "127.0.0.1:7051")))
        .unwrap();
    d.handle(T0, Input::Registered(ep("vp2", "127.0.0.1:7071")))
        .unwrap();
    drain(&mut d);
    let touch = T0 + Duration::from_secs(6);
    d.handle_timeout(touch);
    assert_eq!(drain(&mut d), vec![]);
    d.handle(touch, Input::Disconnected("vp2".into())).unwrap();
    d.handle_timeout(touch + Duration::from_secs(6));
    assert_eq!(drain(&mut d), vec![dial("127.0.0.1:7071")]);
}

#[test]
fn touch_respects_max_nodes() {
    let mut d = Discovery::new(
        DiscoveryConfig {
            touch_max_nodes: 1,
            rootnodes: vec![],
            ..config()
        },
        T0,
    );
    d.handle(T0, Input::Registered(ep("vp0", "a:1"))).unwrap();
    d.handle(T0, Input::Registered(ep("vp2", "b:1"))).unwrap();
    d.handle(T0, Input::Disconnected("vp0".into())).unwrap();
    d.handle(T0, Input::Disconnected("vp2".into())).unwrap();
    drain(&mut d);
    d.handle_timeout(T0 + Duration::from_secs(6));
    assert_eq!(drain(&mut d), vec![dial("a:1")]);
}
