//! Replica state other than the log: timers, the outstanding-request store
//! of v0.6's batch layer (`obcBatch.reqStore`), the per-replica timestamp
//! deduplicator (`deduplicator.go`), and the view-change and state-transfer
//! bookkeeping.

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::{NewView, Request, ViewChange};
use prost::Message as _;

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

/// Outstanding requests in arrival order; `pending` are those assigned to
/// a pre-prepare in the current view.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestStore {
    next: u64,
    order: BTreeMap<u64, String>,
    reqs: BTreeMap<String, (u64, Request)>,
    /// Digests by a cheap hash of the request's fields, so a request seen
    /// again (in a PRE-PREPARE, at execution) finds its digest without a
    /// second SHAKE-256 (three quarters of the ordering cost in
    /// `cost order` before). Always confirmed by comparing the request.
    by_content: BTreeMap<u64, Vec<String>>,
    pending: BTreeSet<String>,
    /// Outstanding requests per origin replica (the admission bounds).
    per_origin: BTreeMap<ReplicaId, usize>,
}

impl RequestStore {
    pub(crate) fn len(&self) -> usize {
        self.reqs.len()
    }

    /// Outstanding requests whose origin is `replica`.
    pub(crate) fn outstanding_of(&self, replica: ReplicaId) -> usize {
        self.per_origin.get(&replica).copied().unwrap_or(0)
    }

    pub(crate) fn contains(&self, digest: &str) -> bool {
        self.reqs.contains_key(digest)
    }

    pub(crate) fn insert(&mut self, digest: String, req: Request) {
        let at = self.next;
        self.next = self.next.saturating_add(1);
        self.order.insert(at, digest.clone());
        *self.per_origin.entry(req.replica_id).or_default() += 1;
        let key = content_key(&req);
        if let Some((old_at, old)) = self.reqs.insert(digest.clone(), (at, req)) {
            self.order.remove(&old_at);
            self.forget_origin(old.replica_id);
        } else {
            self.by_content.entry(key).or_default().push(digest);
        }
    }

    pub(crate) fn remove(&mut self, digest: &str) {
        if let Some((at, req)) = self.reqs.remove(digest) {
            self.order.remove(&at);
            self.forget_origin(req.replica_id);
            let key = content_key(&req);
            if let Some(digests) = self.by_content.get_mut(&key) {
                digests.retain(|d| d != digest);
                if digests.is_empty() {
                    self.by_content.remove(&key);
                }
            }
        }
        self.pending.remove(digest);
    }

    /// The digest of `req` if it is outstanding here (no hashing beyond a
    /// SipHash of its fields and one comparison).
    pub(crate) fn known_digest(&self, req: &Request) -> Option<String> {
        self.by_content
            .get(&content_key(req))?
            .iter()
            .find(|d| self.reqs.get(*d).is_some_and(|(_, r)| r == req))
            .cloned()
    }

    fn forget_origin(&mut self, replica: ReplicaId) {
        if let Some(count) = self.per_origin.get_mut(&replica) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_origin.remove(&replica);
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = RequestStore {
            next: self.next,
            ..RequestStore::default()
        };
    }

    pub(crate) fn mark_pending(&mut self, digest: &str) {
        if self.reqs.contains_key(digest) {
            self.pending.insert(digest.to_owned());
        }
    }

    pub(crate) fn clear_pending(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn unassigned(&self) -> usize {
        self.reqs.len().saturating_sub(self.pending.len())
    }

    /// Up to `max` unassigned requests in arrival order, marked pending.
    /// Up to `max` unassigned requests in arrival order, stopping before
    /// the one that would take their encoded size past `max_bytes` (the
    /// first is always taken).
    pub(crate) fn take_unassigned(&mut self, max: usize, max_bytes: usize) -> Vec<Request> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut picked = Vec::new();
        for d in self.order.values().filter(|d| !self.pending.contains(*d)) {
            if out.len() >= max {
                break;
            }
            let Some((_, r)) = self.reqs.get(d) else {
                picked.push(d.clone());
                continue;
            };
            let size = r.encoded_len();
            if !out.is_empty() && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(r.clone());
            picked.push(d.clone());
        }
        self.pending.extend(picked);
        out
    }
}

/// A cheap, deterministic hash of every field of a request (std's SipHash
/// with its fixed keys: no randomness, and collisions only cost a
/// comparison).
fn content_key(req: &Request) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.replica_id.hash(&mut h);
    req.timestamp.map(|t| (t.seconds, t.nanos)).hash(&mut h);
    req.payload.hash(&mut h);
    req.signature.hash(&mut h);
    h.finish()
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

    #[test]
    fn request_store_hands_out_unassigned_in_arrival_order() {
        let mut s = RequestStore::default();
        s.insert("b".into(), req(0, 2));
        s.insert("a".into(), req(0, 1));
        let first = s.take_unassigned(1, usize::MAX);
        assert_eq!(first, vec![req(0, 2)]);
        assert_eq!(s.unassigned(), 1);
        s.clear_pending();
        assert_eq!(s.unassigned(), 2);
        s.remove("b");
        assert_eq!(s.take_unassigned(5, usize::MAX), vec![req(0, 1)]);
    }

    #[test]
    fn a_batch_stops_before_the_request_that_would_pass_the_byte_bound() {
        let big = |ts: i64, len: usize| Request {
            payload: vec![7; len],
            ..req(0, ts)
        };
        let mut s = RequestStore::default();
        s.insert("a".into(), big(1, 600));
        s.insert("b".into(), big(2, 300));
        s.insert("c".into(), big(3, 300));
        let one = big(1, 600).encoded_len();
        let two = one + big(2, 300).encoded_len();
        assert_eq!(s.take_unassigned(10, two), vec![big(1, 600), big(2, 300)]);
        // A request larger than the bound still goes, alone.
        assert_eq!(s.take_unassigned(10, 1), vec![big(3, 300)]);
        assert_eq!(s.unassigned(), 0);
    }
}
