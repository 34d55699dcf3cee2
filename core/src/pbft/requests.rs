//! The outstanding requests of v0.6's batch layer (`obcBatch.reqStore`):
//! every request received and not yet executed, in arrival order, with
//! those assigned to a pre-prepare of the current view marked pending.
//!
//! v0.6 keys the store by the request's SHAKE-256 digest. The digest never
//! leaves the replica, and hashing each request at intake, again in every
//! PRE-PREPARE and again at execution was three quarters of the ordering
//! cost (`cost order`, BENCHMARKS.md). Here a request is found by a SipHash
//! of its fields and confirmed by comparing it, so identity is still the
//! request's whole content and no cryptographic hash is computed at all.

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::Request;
use prost::Message as _;

use super::ReplicaId;

/// Outstanding requests by arrival number.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestStore {
    next: u64,
    reqs: BTreeMap<u64, Request>,
    /// Arrival numbers by [`content_key`]; collisions share a bucket.
    by_content: BTreeMap<u64, Vec<u64>>,
    pending: BTreeSet<u64>,
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

    pub(crate) fn contains(&self, req: &Request) -> bool {
        self.find(req).is_some()
    }

    /// Adds `req` unless it is outstanding already.
    pub(crate) fn insert(&mut self, req: Request) {
        let key = content_key(&req);
        if self.find_by(key, &req).is_some() {
            return;
        }
        let at = self.next;
        self.next = self.next.saturating_add(1);
        *self.per_origin.entry(req.replica_id).or_default() += 1;
        self.by_content.entry(key).or_default().push(at);
        self.reqs.insert(at, req);
    }

    /// Forgets `req` (it executed).
    pub(crate) fn remove(&mut self, req: &Request) {
        let key = content_key(req);
        let Some(at) = self.find_by(key, req) else {
            return;
        };
        self.reqs.remove(&at);
        self.pending.remove(&at);
        self.forget_origin(req.replica_id);
        if let Some(bucket) = self.by_content.get_mut(&key) {
            bucket.retain(|a| *a != at);
            if bucket.is_empty() {
                self.by_content.remove(&key);
            }
        }
    }

    /// `req` is assigned to a pre-prepare (if it is outstanding here).
    pub(crate) fn mark_pending(&mut self, req: &Request) {
        if let Some(at) = self.find(req) {
            self.pending.insert(at);
        }
    }

    fn find(&self, req: &Request) -> Option<u64> {
        self.find_by(content_key(req), req)
    }

    /// `find` with the request's [`content_key`] already computed.
    fn find_by(&self, key: u64, req: &Request) -> Option<u64> {
        self.by_content
            .get(&key)?
            .iter()
            .copied()
            .find(|at| self.reqs.get(at) == Some(req))
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

    pub(crate) fn clear_pending(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn unassigned(&self) -> usize {
        self.reqs.len().saturating_sub(self.pending.len())
    }

    /// Up to `max` unassigned requests in arrival order, marked pending,
    /// stopping before the one that would take their encoded size past
    /// `max_bytes` (the first is always taken).
    pub(crate) fn take_unassigned(&mut self, max: usize, max_bytes: usize) -> Vec<Request> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut picked = Vec::new();
        for (at, r) in self
            .reqs
            .iter()
            .filter(|(at, _)| !self.pending.contains(at))
        {
            if out.len() >= max {
                break;
            }
            let size = r.encoded_len();
            if !out.is_empty() && bytes.saturating_add(size) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(size);
            out.push(r.clone());
            picked.push(*at);
        }
        self.pending.extend(picked);
        out
    }
}

/// A cheap, deterministic hash of every field of a request (std's SipHash
/// with its fixed keys: no randomness; a collision costs one comparison).
fn content_key(req: &Request) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.replica_id.hash(&mut h);
    req.timestamp.map(|t| (t.seconds, t.nanos)).hash(&mut h);
    req.payload.hash(&mut h);
    req.signature.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::Timestamp;

    fn req(origin: ReplicaId, ts: i64, payload: &[u8]) -> Request {
        Request {
            timestamp: Some(Timestamp {
                seconds: ts,
                nanos: 0,
            }),
            payload: payload.to_vec(),
            replica_id: origin,
            signature: vec![],
        }
    }

    #[test]
    fn a_request_is_found_by_its_whole_content() {
        let mut s = RequestStore::default();
        s.insert(req(1, 1, b"a"));
        assert!(s.contains(&req(1, 1, b"a")));
        assert!(
            !s.contains(&req(1, 1, b"b")),
            "same origin and time, other payload"
        );
        s.insert(req(1, 1, b"a"));
        assert_eq!(s.len(), 1, "a duplicate is not stored twice");
    }

    #[test]
    fn pending_and_removal_follow_the_request() {
        let mut s = RequestStore::default();
        for ts in 1..=3 {
            s.insert(req(2, ts, b"x"));
        }
        s.mark_pending(&req(2, 2, b"x"));
        assert_eq!(s.unassigned(), 2);
        let taken = s.take_unassigned(10, usize::MAX);
        assert_eq!(
            taken,
            vec![req(2, 1, b"x"), req(2, 3, b"x")],
            "arrival order"
        );
        s.remove(&req(2, 2, b"x"));
        assert_eq!((s.len(), s.unassigned(), s.outstanding_of(2)), (2, 0, 2));
        s.clear_pending();
        assert_eq!(s.unassigned(), 2);
    }

    #[test]
    fn colliding_keys_are_told_apart_by_comparison() {
        let mut s = RequestStore::default();
        let (a, b) = (req(1, 1, b"a"), req(1, 2, b"b"));
        s.insert(a.clone());
        s.insert(b.clone());
        // Force both into one bucket, as a SipHash collision would.
        let (ka, kb) = (content_key(&a), content_key(&b));
        let moved = s.by_content.remove(&kb).unwrap_or_default();
        s.by_content.entry(ka).or_default().extend(moved);
        s.by_content.insert(kb, s.by_content[&ka].clone());
        s.remove(&a);
        assert!(!s.contains(&a));
        assert!(s.contains(&b));
    }

    #[test]
    fn unassigned_requests_are_handed_out_in_arrival_order() {
        let mut s = RequestStore::default();
        s.insert(req(0, 2, b""));
        s.insert(req(0, 1, b""));
        let first = s.take_unassigned(1, usize::MAX);
        assert_eq!(first, vec![req(0, 2, b"")]);
        assert_eq!(s.unassigned(), 1);
        s.clear_pending();
        assert_eq!(s.unassigned(), 2);
        s.remove(&req(0, 2, b""));
        assert_eq!(s.take_unassigned(5, usize::MAX), vec![req(0, 1, b"")]);
    }

    #[test]
    fn a_batch_stops_before_the_request_that_would_pass_the_byte_bound() {
        let big = |ts: i64, len: usize| req(0, ts, &vec![7; len]);
        let mut s = RequestStore::default();
        s.insert(big(1, 600));
        s.insert(big(2, 300));
        s.insert(big(3, 300));
        let one = big(1, 600).encoded_len();
        let two = one + big(2, 300).encoded_len();
        assert_eq!(s.take_unassigned(10, two), vec![big(1, 600), big(2, 300)]);
        // A request larger than the bound still goes, alone.
        assert_eq!(s.take_unassigned(10, 1), vec![big(3, 300)]);
        assert_eq!(s.unassigned(), 0);
    }
}
