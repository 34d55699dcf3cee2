//! loom models of the peer connection registry (style.md 10.5): dial and
//! accept racing for one peer id, and removal of a closed connection racing
//! with its replacement. Run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test -p fabrik-io --features loom-models --test loom_registry`.
#![cfg(feature = "loom-models")]

use fabrik_io::net::registry::{Entry, Registry};
use fabrik_proto::protos::PeerEndpoint;
use loom::sync::Arc;
use loom::thread;

fn entry(conn: u64, initiator: &str) -> Entry<u64> {
    Entry {
        conn,
        initiator: initiator.into(),
        endpoint: PeerEndpoint::default(),
        sender: conn,
    }
}

#[test]
fn dial_and_accept_race_keeps_the_connection_opened_by_the_lower_id() {
    loom::model(|| {
        let registry = Arc::new(Registry::<u64>::new("vp1".into()));
        let dialed = {
            let r = Arc::clone(&registry);
            thread::spawn(move || {
                r.register("vp0", entry(1, "vp1"));
            })
        };
        let accepted = {
            let r = Arc::clone(&registry);
            thread::spawn(move || {
                r.register("vp0", entry(2, "vp0"));
            })
        };
        dialed.join().unwrap();
        accepted.join().unwrap();
        assert_eq!(registry.sender("vp0"), Some(2));
    });
}

#[test]
fn removal_of_a_closed_connection_never_removes_its_replacement() {
    loom::model(|| {
        let registry = Arc::new(Registry::<u64>::new("vp0".into()));
        registry.register("vp1", entry(1, "vp1"));
        let closing = {
            let r = Arc::clone(&registry);
            thread::spawn(move || {
                r.remove("vp1", 1);
            })
        };
        let reconnect = {
            let r = Arc::clone(&registry);
            thread::spawn(move || {
                r.register("vp1", entry(2, "vp1"));
            })
        };
        closing.join().unwrap();
        reconnect.join().unwrap();
        assert_eq!(registry.sender("vp1"), Some(2));
    });
}
