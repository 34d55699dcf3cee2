//! fabrik: following the decisions of a view we are not in.
//!
//! v0.6 drops every PRE-PREPARE, PREPARE and COMMIT whose view is not the
//! replica's own. Two replicas then fall behind for good while the others
//! commit: one that changed view alone (it was cut off, its request timer
//! fired, the others never followed) and one that restarted in an older
//! view (a killed primary). Each could catch up only by state transfer,
//! every L sequence numbers, and stay up to K blocks behind forever.
//!
//! Here such a replica keeps certificates for the view each other replica
//! is in, without ever voting in it, and executes what they commit: Q
//! matching COMMITs (after a pre-prepare from that view's primary and Q−1
//! prepares) prove a decision whatever view it was made in (Castro–Liskov
//! §4.2: committed requests survive every later view change). Not voting
//! keeps the VIEW-CHANGE this replica already sent truthful: it never
//! prepares anything its P-set does not show.
//!
//! And a replica that sees a decision committed in a later view than its
//! own knows f+1 correct replicas are there (a stronger form of the f+1
//! join rule of §4.5.2): it asks for that view with a VIEW-CHANGE, which
//! the others answer with their NEW-VIEW.
//!
//! Bounds: one view per other replica (the latest it used), so at most
//! N−1 learned views of at most L certificates each.

use std::collections::BTreeSet;

use fabrik_proto::pbft::PrePrepare;

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::output::PersistOp;
use crate::pbft::replica::{Replica, batch_digest};

/// A normal-case vote from a view that is not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vote {
    Prepare,
    Commit,
}

impl Replica {
    /// Whether a message for `view` from `from` is to be learned from
    /// rather than handled: a view other than ours that is the latest the
    /// sender used. Older views of a sender are refused as v0.6 does.
    pub(crate) fn learnable(&self, from: ReplicaId, view: u64) -> Result<bool, RejectReason> {
        if view == self.view {
            return Ok(false);
        }
        let latest = self.vc.peer_views.get(&from).copied().unwrap_or(0);
        if view < latest {
            return Err(RejectReason::WrongView {
                view,
                current: self.view,
            });
        }
        Ok(true)
    }

    /// A PRE-PREPARE from another view: checked as in our own view (its
    /// primary, the window, the digest), then recorded, never prepared.
    pub(crate) fn learn_pre_prepare(
        &mut self,
        from: ReplicaId,
        pp: PrePrepare,
    ) -> Result<(), RejectReason> {
        let (view, seq) = (pp.view, pp.sequence_number);
        if from != self.cfg.primary(view) {
            return Err(RejectReason::NotPrimary { from, view });
        }
        if !self.in_window(seq) {
            return Err(self.out_of_window(seq));
        }
        let digest = pp.batch_digest.clone();
        match (&pp.request_batch, digest.is_empty()) {
            (Some(b), true) if !b.batch.is_empty() => return Err(RejectReason::IncompletePayload),
            (None, false) => return Err(RejectReason::IncompletePayload),
            (Some(b), false) if batch_digest(b) != digest => {
                return Err(RejectReason::DigestMismatch);
            }
            _ => {}
        }
        if let Some(stored) = self.log.cert(view, seq).and_then(|c| c.digest.as_ref()) {
            return Err(if *stored == digest {
                RejectReason::Duplicate
            } else {
                RejectReason::Conflict { view, seq }
            });
        }
        self.note_peer_view(from, view);
        let cert = self.log.cert_mut(view, seq);
        cert.digest = Some(digest.clone());
        cert.pre_prepared = true;
        cert.learned = true;
        if let Some(batch) = pp.request_batch.filter(|_| !digest.is_empty())
            && !self.log.batches.contains_key(&digest)
        {
            self.log.batches.insert(digest.clone(), batch.clone());
            self.persist(PersistOp::StoreBatch { digest, batch });
        }
        self.check_learned_committed(view, seq);
        Ok(())
    }

    /// A PREPARE or COMMIT from another view: recorded, never answered.
    pub(crate) fn learn_vote(
        &mut self,
        from: ReplicaId,
        kind: Vote,
        (view, seq, digest): (u64, u64, &str),
    ) -> Result<(), RejectReason> {
        if !self.in_window(seq) {
            return Err(self.out_of_window(seq));
        }
        let votes = self.log.cert(view, seq).map(|c| match kind {
            Vote::Prepare => &c.prepares,
            Vote::Commit => &c.commits,
        });
        if let Some(prev) = votes.and_then(|v| v.get(&from)) {
            return Err(if prev == digest {
                RejectReason::Duplicate
            } else {
                RejectReason::Conflict { view, seq }
            });
        }
        self.note_peer_view(from, view);
        let cert = self.log.cert_mut(view, seq);
        cert.learned |= !cert.sent_prepare && !cert.sent_commit;
        let votes = match kind {
            Vote::Prepare => &mut cert.prepares,
            Vote::Commit => &mut cert.commits,
        };
        votes.insert(from, digest.to_owned());
        self.check_learned_committed(view, seq);
        Ok(())
    }

    /// A learned certificate that became committed is reported and
    /// executed in order like our own; our timers are left alone (they
    /// watch our own view).
    fn check_learned_committed(&mut self, view: u64, seq: u64) {
        let (q, cq) = (self.quorum(), self.commit_quorum());
        let Some(cert) = self.log.certs.get(&(view, seq)) else {
            return;
        };
        if cert.reported || !cert.committed(q, cq) || seq <= self.last_exec {
            return;
        }
        if view > self.view {
            self.join_committing_view(view);
        }
        tracing::debug!(
            replica = self.cfg.id,
            view,
            seq,
            own_view = self.view,
            "learned a decision of another view"
        );
        self.execute_outstanding();
    }

    /// Entering `view` through its NEW-VIEW: the pre-prepares of this view
    /// we recorded while outside it are taken up as if they arrived now
    /// (Q-set entry, PREPARE), so our P-set never holds an entry our Q-set
    /// lacks, and we vote like every other backup.
    pub(crate) fn take_up_learned(&mut self, view: u64) {
        let seqs: Vec<(u64, String)> = self
            .log
            .certs
            .range((view, self.h.saturating_add(1))..=(view, u64::MAX))
            .filter(|(_, c)| c.learned && c.pre_prepared)
            .filter_map(|((_, n), c)| c.digest.clone().map(|d| (*n, d)))
            .collect();
        for (seq, digest) in seqs {
            if let Some(cert) = self.log.certs.get_mut(&(view, seq)) {
                cert.learned = false;
            }
            if !self.is_primary() {
                self.send_prepare(view, seq, digest);
            }
            self.maybe_send_commit(view, seq);
        }
    }

    /// Records that `from` works in `view` (views only grow), forgets the
    /// certificates of views nobody is in any more, and joins a later view
    /// that f+1 replicas work in.
    fn note_peer_view(&mut self, from: ReplicaId, view: u64) {
        let latest = self.vc.peer_views.entry(from).or_insert(0);
        if view <= *latest {
            return;
        }
        *latest = view;
        self.forget_abandoned_views();
    }

    /// Views whose certificates are kept: ours, and each other replica's
    /// latest.
    pub(crate) fn live_views(&self) -> BTreeSet<u64> {
        let mut views: BTreeSet<u64> = self.vc.peer_views.values().copied().collect();
        views.insert(self.view);
        views
    }

    fn forget_abandoned_views(&mut self) {
        let live = self.live_views();
        let (q, cq, last_exec) = (self.quorum(), self.commit_quorum(), self.last_exec);
        self.log
            .certs
            .retain(|(v, n), c| live.contains(v) || (*n > last_exec && c.committed(q, cq)));
    }

    /// Q replicas committed in `view`, later than ours: it is installed
    /// at f+1 correct replicas at least, so ask for it with a VIEW-CHANGE
    /// (answered with the NEW-VIEW, see `maybe_resend_new_view`). Mere
    /// messages of a later view are not enough: a replica that changed view
    /// alone still commits there for what it had, and with one faulty
    /// replica beside it would drag everyone into a view change.
    fn join_committing_view(&mut self, view: u64) {
        if self.vc.store.contains_key(&(self.cfg.id, view)) {
            return; // already asked
        }
        tracing::info!(
            replica = self.cfg.id,
            view = self.view,
            target = view,
            "a later view commits; joining it"
        );
        self.view = view.saturating_sub(1);
        self.send_view_change();
    }
}
