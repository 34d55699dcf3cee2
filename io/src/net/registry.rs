//! The connection registry: peer id → the registered connection's sender,
//! with the deterministic rule that settles a simultaneous dial and accept,
//! and removal that never removes a newer replacement.
//!
//! Written over [`crate::sync`] and generic over the sender type so a loom
//! model can check it (dial and accept racing for one id,
//! replace-on-reconnect, removal while a send is in flight).
//!
//! Dedupe rule: two live connections to the same peer keep the one opened by
//! the lower peer id (string order); both sides compute the same answer. A
//! new connection opened by the same side as the registered one replaces it
//! (a reconnect: the old one is stale).

use crate::sync::{Mutex, lock};
use fabrik_proto::protos::PeerEndpoint;
use std::collections::BTreeMap;

/// One registered connection.
#[derive(Debug, Clone)]
pub struct Entry<S> {
    /// Unique id of the connection (for removal and logs).
    pub conn: u64,
    /// The id of the peer that opened the connection.
    pub initiator: String,
    /// The remote's endpoint from its HELLO.
    pub endpoint: PeerEndpoint,
    /// Where messages for the remote go.
    pub sender: S,
}

/// What [`Registry::register`] decided.
#[derive(Debug)]
pub enum Registration<S> {
    /// Registered; no connection was there before.
    New,
    /// Registered in place of this older connection (close it).
    Replaced(Entry<S>),
    /// Refused in favour of the registered connection `kept` (close the new one).
    Refused {
        /// The registered connection's id.
        kept: u64,
    },
}

/// The registry of one node.
#[derive(Debug)]
pub struct Registry<S> {
    own_id: String,
    peers: Mutex<BTreeMap<String, Entry<S>>>,
}

impl<S: Clone> Registry<S> {
    /// An empty registry for the node `own_id`.
    pub fn new(own_id: String) -> Self {
        Self {
            own_id,
            peers: Mutex::new(BTreeMap::new()),
        }
    }

    /// The node's own id.
    pub fn own_id(&self) -> &str {
        &self.own_id
    }

    /// Registers `entry` as the connection to peer `id`.
    pub fn register(&self, id: &str, entry: Entry<S>) -> Registration<S> {
        let mut peers = lock(&self.peers);
        let Some(existing) = peers.get(id) else {
            peers.insert(id.to_string(), entry);
            return Registration::New;
        };
        let winner = self.own_id.as_str().min(id);
        let new_wins = entry.initiator == existing.initiator || entry.initiator == winner;
        if new_wins {
            match peers.insert(id.to_string(), entry) {
                Some(old) => Registration::Replaced(old),
                None => Registration::New,
            }
        } else {
            Registration::Refused {
                kept: existing.conn,
            }
        }
    }

    /// Removes peer `id` if its registered connection is `conn`; returns
    /// whether it did.
    pub fn remove(&self, id: &str, conn: u64) -> bool {
        let mut peers = lock(&self.peers);
        if peers.get(id).is_some_and(|e| e.conn == conn) {
            peers.remove(id);
            true
        } else {
            false
        }
    }

    /// The sender of peer `id`.
    pub fn sender(&self, id: &str) -> Option<S> {
        lock(&self.peers).get(id).map(|e| e.sender.clone())
    }

    /// Ids and senders of the peers whose endpoint satisfies `keep`.
    pub fn senders(&self, keep: impl Fn(&PeerEndpoint) -> bool) -> Vec<(String, S)> {
        lock(&self.peers)
            .iter()
            .filter(|(_, e)| keep(&e.endpoint))
            .map(|(id, e)| (id.clone(), e.sender.clone()))
            .collect()
    }

    /// The registered endpoints, in id order.
    pub fn endpoints(&self) -> Vec<PeerEndpoint> {
        lock(&self.peers)
            .values()
            .map(|e| e.endpoint.clone())
            .collect()
    }

    /// Whether peer `id` is registered.
    pub fn contains(&self, id: &str) -> bool {
        lock(&self.peers).contains_key(id)
    }

    /// Number of registered peers.
    pub fn len(&self) -> usize {
        lock(&self.peers).len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(feature = "loom-models")))]
mod tests {
    use super::*;
    use fabrik_proto::protos::PeerId;

    fn entry(conn: u64, initiator: &str, id: &str) -> Entry<u64> {
        Entry {
            conn,
            initiator: initiator.into(),
            endpoint: PeerEndpoint {
                id: Some(PeerId { name: id.into() }),
                ..Default::default()
            },
            sender: conn,
        }
    }

    #[test]
    fn simultaneous_connections_keep_the_lower_ids_on_both_sides() {
        // vp0 and vp1 dial each other at once: connection 1 opened by vp0,
        // connection 2 opened by vp1, registered in opposite orders.
        let on_vp0 = Registry::new("vp0".into());
        assert!(matches!(
            on_vp0.register("vp1", entry(2, "vp1", "vp1")),
            Registration::New
        ));
        assert!(matches!(
            on_vp0.register("vp1", entry(1, "vp0", "vp1")),
            Registration::Replaced(old) if old.conn == 2
        ));
        let on_vp1 = Registry::new("vp1".into());
        assert!(matches!(
            on_vp1.register("vp0", entry(1, "vp0", "vp0")),
            Registration::New
        ));
        assert!(matches!(
            on_vp1.register("vp0", entry(2, "vp1", "vp0")),
            Registration::Refused { kept: 1 }
        ));
        assert_eq!(on_vp0.sender("vp1"), Some(1));
        assert_eq!(on_vp1.sender("vp0"), Some(1));
    }

    #[test]
    fn reconnect_from_the_same_side_replaces_and_stale_removal_is_ignored() {
        let r = Registry::new("vp0".into());
        r.register("vp2", entry(1, "vp2", "vp2"));
        assert!(matches!(
            r.register("vp2", entry(5, "vp2", "vp2")),
            Registration::Replaced(_)
        ));
        assert!(!r.remove("vp2", 1));
        assert_eq!(r.sender("vp2"), Some(5));
        assert!(r.remove("vp2", 5));
        assert!(r.is_empty());
    }
}
