//! [`PeerRing`]: the candidate peers of one transfer, tried in turn (v0.6
//! "peers are tried in turn"), skipping the ones the transport reported
//! down, giving up after every peer failed once without progress.

use std::collections::BTreeSet;

use super::PeerId;

/// Candidate peers and the one currently asked.
#[derive(Debug, Clone)]
pub(crate) struct PeerRing {
    peers: Vec<PeerId>,
    current: usize,
    down: BTreeSet<PeerId>,
    failures: usize,
}

impl PeerRing {
    /// `peers` without duplicates, at most `max` of them.
    pub(crate) fn new(peers: Vec<PeerId>, max: usize) -> Self {
        let mut seen = BTreeSet::new();
        let peers: Vec<PeerId> = peers
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .take(max)
            .collect();
        PeerRing {
            peers,
            current: 0,
            down: BTreeSet::new(),
            failures: 0,
        }
    }

    /// The peer to ask now: the current one, or the next one that is up.
    pub(crate) fn current(&mut self) -> Option<PeerId> {
        let n = self.peers.len();
        for step in 0..n {
            let i = (self.current + step) % n;
            if let Some(p) = self.peers.get(i)
                && !self.down.contains(p)
            {
                self.current = i;
                return Some(p.clone());
            }
        }
        None
    }

    /// Records a failure and moves to the next peer. `false` when every
    /// peer has now failed since the last progress, or none is up.
    pub(crate) fn fail_over(&mut self) -> bool {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= self.peers.len() {
            return false;
        }
        if !self.peers.is_empty() {
            self.current = (self.current + 1) % self.peers.len();
        }
        self.current().is_some()
    }

    /// A peer's reply moved the transfer forward.
    pub(crate) fn progress(&mut self) {
        self.failures = 0;
    }

    /// The transport reported `peer` unreachable.
    pub(crate) fn mark_down(&mut self, peer: &str) {
        if self.peers.iter().any(|p| p == peer) {
            self.down.insert(peer.to_owned());
        }
    }
}
