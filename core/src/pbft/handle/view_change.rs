//! VIEW-CHANGE: v0.6 `viewchange.go` `sendViewChange`, `recvViewChange`,
//! `correctViewChange` and the timer events (Castro–Liskov §4.4 view
//! changes, §4.5.2 liveness: f+1 join rule and doubling timeouts).
//! VIEW-CHANGEs are signed with Ed25519 over the message with an empty
//! signature field, as v0.6 signs them.

use fabrik_proto::pbft::{ViewChange, message, view_change::C};
use prost::Message as _;

use crate::pbft::ReplicaId;
use crate::pbft::config::PlantedBug;
use crate::pbft::error::RejectReason;
use crate::pbft::log::MAX_QSET_PER_SEQ;
use crate::pbft::output::PersistOp;
use crate::pbft::replica::Replica;
use crate::pbft::state::Timer;

/// The bytes a VIEW-CHANGE signature covers.
pub(crate) fn signing_bytes(vc: &ViewChange) -> Vec<u8> {
    let mut unsigned = vc.clone();
    unsigned.signature.clear();
    unsigned.encode_to_vec()
}

impl Replica {
    /// Leaves the current view for `view`: stop the normal-case timers,
    /// forget per-view state, keep committed-but-unexecuted certificates.
    pub(crate) fn leave_view(&mut self, view: u64) {
        for t in [Timer::Request, Timer::NullRequest, Timer::Batch] {
            self.timers.stop(&t);
        }
        self.view = view;
        self.active_view = false;
        self.vc.new_view = None;
        self.vc.quorum_reached = false;
        self.vc.new_view_sent_to.clear();
        self.vc.missing.clear();
        self.reqs.clear_pending();
        let (q, cq, last_exec) = (self.quorum(), self.commit_quorum(), self.last_exec);
        let learned = self.live_views();
        self.log.certs.retain(|(v, n), c| {
            *v >= view || learned.contains(v) || (*n > last_exec && c.committed(q, cq))
        });
        self.vc.store.retain(|(_, v), _| *v >= view);
    }

    /// v0.6 `sendViewChange`: move to view + 1 and broadcast a signed
    /// VIEW-CHANGE carrying our checkpoints (C), prepared (P) and
    /// pre-prepared (Q) entries, persisted first.
    pub(crate) fn send_view_change(&mut self) {
        let view = self.view.saturating_add(1);
        self.leave_view(view);
        let mut vc = ViewChange {
            view,
            h: self.h,
            cset: self
                .log
                .chkpts
                .iter()
                .map(|(n, id)| C {
                    sequence_number: *n,
                    id: id.clone(),
                })
                .collect(),
            pset: self.log.pset.values().cloned().collect(),
            qset: self.log.qset.values().cloned().collect(),
            replica_id: self.cfg.id,
            signature: Vec::new(),
        };
        if self.cfg.bug(PlantedBug::ForgetPSet) {
            vc.pset.clear();
        }
        vc.signature = self.signer.sign(&signing_bytes(&vc)).to_vec();
        tracing::info!(replica = self.cfg.id, view, "sending view change");
        self.persist(PersistOp::ViewChange(vc.clone()));
        self.broadcast(message::Payload::ViewChange(vc.clone()));
        self.set_timer(Timer::ResendViewChange, self.cfg.timeout_resend_view_change);
        // fabrik: the new-view timer also runs before a quorum forms, so
        // replicas split across two views cannot wait for each other forever
        // (v0.6 starts it only at N−f VIEW-CHANGEs).
        self.soft_start_timer(Timer::NewView, self.vc.last_timeout);
        self.vc.insert(vc);
        self.catch_up_to_weak_checkpoint();
        self.check_view_change_quorum();
    }

    /// fabrik: a replica whose execution is behind a checkpoint with a weak
    /// certificate, and that cannot get there from committed certificates,
    /// state-transfers while the view changes. Otherwise, when the other
    /// replicas garbage-collected below that checkpoint, no initial
    /// checkpoint has both f+1 vouchers and Q low watermarks below it, and
    /// the view change can never complete.
    fn catch_up_to_weak_checkpoint(&mut self) {
        let Some(target) = self.xfer.high_target.clone() else {
            return;
        };
        let exec = self.current_exec.unwrap_or(self.last_exec);
        if target.seq <= exec || self.can_execute_to(exec, target.seq) {
            return;
        }
        self.state_transfer(Some(target));
    }

    pub(crate) fn on_view_change(
        &mut self,
        from: ReplicaId,
        vc: ViewChange,
    ) -> Result<(), RejectReason> {
        self.verify_view_change(&vc)?;
        if vc.view <= self.view && self.maybe_resend_new_view(from) {
            return Ok(());
        }
        if vc.view < self.view {
            return Err(RejectReason::WrongView {
                view: vc.view,
                current: self.view,
            });
        }
        if self.vc.store.contains_key(&(from, vc.view)) {
            return Err(RejectReason::Duplicate);
        }
        let view = vc.view;
        self.vc.insert(vc);
        if self.join_higher_view() {
            return Ok(());
        }
        if view == self.view {
            self.check_view_change_quorum();
            if self.vc.quorum_reached && !self.active_view && self.is_primary() {
                self.send_new_view();
            }
        }
        Ok(())
    }

    /// Signature, sender and structure of a VIEW-CHANGE.
    pub(crate) fn verify_view_change(&self, vc: &ViewChange) -> Result<(), RejectReason> {
        let key = self
            .cfg
            .keys
            .public_key(vc.replica_id)
            .ok_or(RejectReason::UnknownReplica(vc.replica_id))?;
        key.verify(&signing_bytes(vc), &vc.signature)
            .map_err(|_| RejectReason::BadSignature(vc.replica_id))?;
        self.correct_view_change(vc)
    }

    /// v0.6 `correctViewChange`, plus size bounds: P/Q entries from earlier
    /// views inside (h, h+L], checkpoints inside [h, h+L].
    fn correct_view_change(&self, vc: &ViewChange) -> Result<(), RejectReason> {
        let l = self.cfg.log_size();
        let high = vc.h.saturating_add(l);
        if vc.view == 0 {
            return Err(RejectReason::InvalidViewChange("view 0"));
        }
        let max_pq = usize::try_from(l).unwrap_or(usize::MAX);
        if vc.pset.len() > max_pq || vc.qset.len() > max_pq.saturating_mul(MAX_QSET_PER_SEQ) {
            return Err(RejectReason::InvalidViewChange("oversized P or Q set"));
        }
        if vc.cset.len()
            > usize::try_from(l / self.cfg.k)
                .unwrap_or(usize::MAX)
                .saturating_add(1)
        {
            return Err(RejectReason::InvalidViewChange("oversized C set"));
        }
        let pq_ok = vc
            .pset
            .iter()
            .chain(vc.qset.iter())
            .all(|p| p.view < vc.view && p.sequence_number > vc.h && p.sequence_number <= high);
        if !pq_ok {
            return Err(RejectReason::InvalidViewChange("P/Q entry out of range"));
        }
        if !vc
            .cset
            .iter()
            .all(|c| c.sequence_number >= vc.h && c.sequence_number <= high)
        {
            return Err(RejectReason::InvalidViewChange("checkpoint out of range"));
        }
        Ok(())
    }

    /// fabrik: a replica still in an older view (or re-announcing after a
    /// restart) gets our NEW-VIEW, at most once per resend period (it may
    /// have lost the last one in a crash); it is self-certifying (signed
    /// VIEW-CHANGEs), so it can jump to our view.
    fn maybe_resend_new_view(&mut self, to: ReplicaId) -> bool {
        if !self.active_view {
            return false;
        }
        let period = self.cfg.timeout_resend_view_change;
        if let Some(at) = self.vc.new_view_sent_to.get(&to)
            && self.now < *at + period
        {
            return false;
        }
        let Some(nv) = self.vc.new_view.clone() else {
            return false;
        };
        self.vc.new_view_sent_to.insert(to, self.now);
        self.send(to, message::Payload::NewView(nv));
        true
    }

    /// PBFT §4.5.2: f+1 VIEW-CHANGEs for views above ours make us send one
    /// for the smallest of them.
    fn join_higher_view(&mut self) -> bool {
        let higher: Vec<(ReplicaId, u64)> = self
            .vc
            .store
            .keys()
            .filter(|(_, v)| *v > self.view)
            .copied()
            .collect();
        let replicas: std::collections::BTreeSet<ReplicaId> =
            higher.iter().map(|(r, _)| *r).collect();
        if replicas.len() < self.cfg.weak_quorum() {
            return false;
        }
        let Some(min) = higher.iter().map(|(_, v)| *v).min() else {
            return false;
        };
        tracing::info!(replica = self.cfg.id, view = min, "joining view change");
        self.view = min.saturating_sub(1);
        self.send_view_change();
        true
    }

    /// N−f VIEW-CHANGEs for our view: start the (doubling) new-view timer;
    /// the new primary sends NEW-VIEW, backups try to process one.
    fn check_view_change_quorum(&mut self) {
        if self.active_view || self.vc.quorum_reached {
            return;
        }
        let count = self
            .vc
            .store
            .values()
            .filter(|m| m.view == self.view)
            .count();
        if count < self.cfg.all_correct_quorum() {
            return;
        }
        self.vc.quorum_reached = true;
        self.timers.stop(&Timer::ResendViewChange);
        self.set_timer(Timer::NewView, self.vc.last_timeout);
        self.double_new_view_timeout();
        if self.is_primary() {
            self.send_new_view();
        } else {
            self.process_new_view();
        }
    }

    /// v0.6 `lastNewViewTimeout = 2 * lastNewViewTimeout`, capped.
    fn double_new_view_timeout(&mut self) {
        self.vc.last_timeout = self
            .vc
            .last_timeout
            .saturating_mul(2)
            .min(self.cfg.max_view_change_timeout);
    }

    /// v0.6 `viewChangeResendTimerEvent`: resend our VIEW-CHANGE.
    pub(crate) fn on_resend_view_change(&mut self) {
        if self.active_view {
            return;
        }
        let Some(own) = self.vc.store.get(&(self.cfg.id, self.view)).cloned() else {
            return;
        };
        self.broadcast(message::Payload::ViewChange(own));
        self.set_timer(Timer::ResendViewChange, self.cfg.timeout_resend_view_change);
    }

    /// The request timer (active view) or the new-view timer (view change)
    /// expired: v0.6 `viewChangeTimerEvent`.
    pub(crate) fn on_progress_timeout(&mut self, timer: Timer) {
        let relevant = match timer {
            Timer::Request => self.active_view,
            _ => !self.active_view,
        };
        if relevant && timer == Timer::NewView && !self.vc.quorum_reached {
            self.double_new_view_timeout();
            if self.alone_in_view_change() {
                self.wait_for_others_in_view_change();
                return;
            }
        }
        if relevant {
            tracing::info!(
                replica = self.cfg.id,
                ?timer,
                view = self.view,
                "timer expired, view change"
            );
            self.send_view_change();
        }
    }

    /// fabrik: fewer than f other replicas asked for our view or a later
    /// one. Escalating further would only widen the gap: the others reach a
    /// view by their own timers or the f+1 join rule, and a replica that
    /// keeps moving on alone (its new-view timer runs before any quorum,
    /// see [`Self::send_view_change`]) stays ahead of them for ever (sim
    /// seed 64510: one replica down, one two views ahead of the other two,
    /// every view one VIEW-CHANGE short of a quorum). Castro–Liskov §4.5.2
    /// start the timer only with 2f+1 VIEW-CHANGEs for the view, so there a
    /// replica alone never escalates either.
    fn alone_in_view_change(&self) -> bool {
        let others: std::collections::BTreeSet<ReplicaId> = self
            .vc
            .store
            .keys()
            .filter(|(r, v)| *r != self.cfg.id && *v >= self.view)
            .map(|(r, _)| *r)
            .collect();
        others.len() < self.cfg.f
    }

    /// Stays in the view it asked for: its VIEW-CHANGE again, and the
    /// (doubled) new-view timer once more.
    fn wait_for_others_in_view_change(&mut self) {
        tracing::info!(
            replica = self.cfg.id,
            view = self.view,
            "no other replica is this far in the view change; waiting for them"
        );
        if let Some(own) = self.vc.store.get(&(self.cfg.id, self.view)).cloned() {
            self.broadcast(message::Payload::ViewChange(own));
        }
        self.set_timer(Timer::NewView, self.vc.last_timeout);
    }
}
