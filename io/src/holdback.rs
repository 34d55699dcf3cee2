//! Consensus frames for validators that are not connected yet.
//!
//! The transport drops a frame for a peer without a connection. At start-up
//! that loses whatever the first replica up sends before the others have
//! dialled in, a PRE-PREPARE among them, and PBFT would then need a view
//! change to recover the request. Here such frames wait, bounded in number
//! and age, and go out in order once the validator connects; a frame older
//! than [`MAX_AGE`] is dropped instead (PBFT's own timers have taken over by
//! then), and every frame dropped is counted with the transport's drops.

use crate::net::{Lane, Network};
use fabrik_proto::protos::{self, peer_endpoint};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Frames held per validator.
pub const MAX_HELD: usize = 1024;
/// How long a held frame stays worth delivering.
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// How often held frames are checked against new connections.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

type Held = VecDeque<(Instant, protos::Message)>;

/// Sends consensus frames, holding those for validators not connected yet.
pub struct Holdback {
    network: Network,
    validators: Vec<String>,
    held: Mutex<HashMap<String, Held>>,
}

impl Holdback {
    /// A holdback over `network` for the other validators, by peer id.
    pub fn new(network: Network, validators: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            network,
            validators,
            held: Mutex::default(),
        })
    }

    /// Starts delivering held frames as validators connect.
    pub fn spawn_flusher(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            loop {
                tick.tick().await;
                me.flush(Instant::now());
            }
        });
    }

    fn connected(&self) -> Vec<String> {
        self.network
            .validators()
            .into_iter()
            .filter_map(|e| e.id.map(|id| id.name))
            .collect()
    }

    /// Sends `msg` to every connected validator and holds it for the others.
    pub fn broadcast(&self, msg: &protos::Message) {
        self.broadcast_in(msg, Lane::Control);
    }

    /// [`Holdback::broadcast`] with the connected validators' send `lane`.
    pub fn broadcast_in(&self, msg: &protos::Message, lane: Lane) {
        self.network
            .broadcast_in(msg, peer_endpoint::Type::Validator, lane);
        let connected = self.connected();
        for id in &self.validators {
            if !connected.contains(id) {
                self.hold(id, msg.clone(), Instant::now());
            }
        }
    }

    /// Sends `msg` to validator `to`, holding it if `to` is not connected.
    pub fn send(&self, to: &str, msg: protos::Message) {
        match self.network.send(to, msg.clone()) {
            Ok(()) => {}
            Err(crate::net::SendError::NotConnected(_)) => self.hold(to, msg, Instant::now()),
            Err(e) => tracing::debug!("consensus message to {to} not sent: {e}"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hold(&self, to: &str, msg: protos::Message, now: Instant) {
        let mut held = self.lock();
        let queue = held.entry(to.to_string()).or_default();
        if queue.len() >= MAX_HELD {
            queue.pop_front();
            self.network.count_drop();
        }
        queue.push_back((now, msg));
    }

    /// Delivers the held frames of validators that are connected now and
    /// drops frames past [`MAX_AGE`].
    fn flush(&self, now: Instant) {
        let connected = self.connected();
        let due: Vec<(String, Held)> = {
            let mut held = self.lock();
            for queue in held.values_mut() {
                let before = queue.len();
                queue.retain(|(at, _)| now.saturating_duration_since(*at) <= MAX_AGE);
                for _ in queue.len()..before {
                    self.network.count_drop();
                }
            }
            held.retain(|_, q| !q.is_empty());
            let ready: Vec<String> = held
                .keys()
                .filter(|id| connected.contains(id))
                .cloned()
                .collect();
            ready
                .into_iter()
                .filter_map(|id| held.remove(&id).map(|q| (id, q)))
                .collect()
        };
        for (id, queue) in due {
            tracing::debug!(peer = %id, frames = queue.len(), "delivering consensus frames held until it connected");
            for (_, msg) in queue {
                if let Err(e) = self.network.send(&id, msg) {
                    tracing::debug!("held consensus frame to {id} not sent: {e}");
                }
            }
        }
    }

    /// Frames held for `id` (for tests and diagnostics).
    pub fn held_for(&self, id: &str) -> usize {
        self.lock().get(id).map_or(0, VecDeque::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::protos::PeerEndpoint;

    fn offline() -> Network {
        Network::offline(PeerEndpoint::default()).0
    }

    #[tokio::test]
    async fn frames_for_unconnected_validators_are_held_bounded_and_aged_out() {
        let hb = Holdback::new(offline(), vec!["vp1".into(), "vp2".into()]);
        let msg = protos::Message::default();
        hb.broadcast(&msg);
        hb.send("vp1", msg.clone());
        assert_eq!((hb.held_for("vp1"), hb.held_for("vp2")), (2, 1));
        for _ in 0..MAX_HELD + 5 {
            hb.send("vp2", msg.clone());
        }
        assert_eq!(hb.held_for("vp2"), MAX_HELD, "bounded");
        let dropped = hb.network.dropped();
        assert_eq!(
            dropped, 6,
            "the oldest frames beyond the bound are dropped and counted"
        );
        hb.flush(Instant::now() + MAX_AGE + Duration::from_secs(1));
        assert_eq!((hb.held_for("vp1"), hb.held_for("vp2")), (0, 0), "aged out");
        assert_eq!(hb.network.dropped(), dropped + 2 + MAX_HELD as u64);
    }
}
