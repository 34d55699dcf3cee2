//! Replica state other than the log: timers, the per-replica timestamp
//! deduplicator (`deduplicator.go`), and the view-change and state-transfer
//! bookkeeping.

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::{NewView, Request, ViewChange};

use super::ReplicaId;
use crate::time::{Duration, Instant};

/// The replica's timers (style.md 10.2 rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Outstanding requests must execute before this fires (v0.6 request
    /// timeout), else a view change starts.
    Request,
    /// The new view must be installed before this fires (doubles).
    NewView,
    /// Resend our VIEW-CHANGE.
    ResendViewChange,
    /// Primary: send a null request; backup: the primary is silent.
    NullRequest,
    /// Primary: cut a partial batch.
    Batch,
    /// A failed state transfer is tried again (doubling backoff).
    RetryStateTransfer,
}

/// A request's timestamp as a comparable pair.
pub(crate) fn timestamp_of(req: &Request) -> (i64, i32) {
    req.timestamp
        .as_ref()
        .map_or((0, 0), |t| (t.seconds, t.nanos))
}

/// Executed timestamps of one origin replica: everything at or below `low`
/// counts as executed, plus the `recent` ones above it.
#[derive(Debug, Clone, Default)]
struct ExecWindow {
    low: (i64, i32),
    recent: BTreeSet<(i64, i32)>,
}

/// How many executed timestamps above `low` are remembered per origin.
const DEDUP_WINDOW: usize = 1024;

/// v0.6 `deduplicator`, made reorder-tolerant: a request is new unless its
/// timestamp was executed (or is at or below the origin's low mark). v0.6
/// also dropped any request not newer than the last one *received*, which
/// loses requests that the network reorders.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dedup {
    executed: BTreeMap<ReplicaId, ExecWindow>,
}

impl Dedup {
    pub(crate) fn is_new(&self, req: &Request) -> bool {
        let ts = timestamp_of(req);
        self.executed
            .get(&req.replica_id)
            .is_none_or(|w| ts > w.low && !w.recent.contains(&ts))
    }

    pub(crate) fn executed(&mut self, req: &Request) {
        let ts = timestamp_of(req);
        let w = self.executed.entry(req.replica_id).or_default();
        if ts <= w.low {
            return;
        }
        w.recent.insert(ts);
        while w.recent.len() > DEDUP_WINDOW {
            match w.recent.pop_first() {
                Some(first) => w.low = first,
                None => break,
            }
        }
    }
}

/// A state-transfer target: a checkpoint with a weak certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) replicas: Vec<ReplicaId>,
}

/// v0.6 `skipInProgress`, `stateTransferring`, `highStateTarget`, `hChkpts`;
/// and (fabrik) the checkpoints seen above the high watermark with their
/// ids, at most [`EVIDENCE_PER_REPLICA`] per replica, and the failures
/// since the last transfer that succeeded; and whether the driver was last
/// told to refuse queries (`handle/staleness.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Transfer {
    pub(crate) skip: bool,
    pub(crate) queries_refused: bool,
    pub(crate) transferring: bool,
    pub(crate) high_target: Option<Target>,
    pub(crate) hchkpts: BTreeMap<ReplicaId, u64>,
    pub(crate) evidence: BTreeMap<(u64, ReplicaId), String>,
    pub(crate) failures: u32,
}

/// How many checkpoints above the window are kept per replica: enough to
/// find f+1 replicas agreeing on one of the last few, bounded whatever a
/// faulty replica sends.
pub(crate) const EVIDENCE_PER_REPLICA: usize = 8;

/// How many VIEW-CHANGEs (the highest views) are kept per replica.
pub(crate) const VIEW_CHANGES_PER_REPLICA: usize = 2;

/// View-change bookkeeping: the VIEW-CHANGEs of each replica for views at
/// or above ours (at most [`VIEW_CHANGES_PER_REPLICA`] each, so the store is
/// bounded), the NEW-VIEW of the current view, the doubling timeout and the
/// batches a new view still lacks.
#[derive(Debug, Clone)]
pub(crate) struct ViewChanges {
    pub(crate) store: BTreeMap<(ReplicaId, u64), ViewChange>,
    pub(crate) new_view: Option<NewView>,
    pub(crate) last_timeout: Duration,
    pub(crate) quorum_reached: bool,
    pub(crate) missing: BTreeSet<String>,
    /// When the missing batches were last asked for.
    pub(crate) missing_asked_at: Option<Instant>,
    /// When our NEW-VIEW was last sent to each replica (resent at most
    /// once per resend period).
    pub(crate) new_view_sent_to: BTreeMap<ReplicaId, Instant>,
    /// The latest view other than ours each replica sent a normal-case
    /// message in (see `handle/learn.rs`).
    pub(crate) peer_views: BTreeMap<ReplicaId, u64>,
}

impl ViewChanges {
    pub(crate) fn new(timeout: Duration) -> Self {
        ViewChanges {
            store: BTreeMap::new(),
            new_view: None,
            last_timeout: timeout,
            quorum_reached: false,
            missing: BTreeSet::new(),
            missing_asked_at: None,
            new_view_sent_to: BTreeMap::new(),
            peer_views: BTreeMap::new(),
        }
    }

    /// Stores `vc`, keeping only the highest views of its sender.
    pub(crate) fn insert(&mut self, vc: ViewChange) {
        let id = vc.replica_id;
        self.store.insert((id, vc.view), vc);
        let views: Vec<u64> = self
            .store
            .range((id, 0)..=(id, u64::MAX))
            .map(|((_, v), _)| *v)
            .collect();
        let excess = views.len().saturating_sub(VIEW_CHANGES_PER_REPLICA);
        for v in views.into_iter().take(excess) {
            self.store.remove(&(id, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::Timestamp;

    fn req(origin: u64, secs: i64) -> Request {
        Request {
            timestamp: Some(Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            payload: vec![],
            replica_id: origin,
            signature: vec![],
        }
    }

    #[test]
    fn dedup_accepts_reordered_requests_but_not_executed_ones() {
        let mut d = Dedup::default();
        d.executed(&req(1, 5));
        assert!(!d.is_new(&req(1, 5)));
        assert!(
            d.is_new(&req(1, 3)),
            "an older, unexecuted request is still new"
        );
        assert!(d.is_new(&req(2, 5)), "timestamps are per origin");
    }
}
