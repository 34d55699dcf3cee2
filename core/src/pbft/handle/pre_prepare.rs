//! PRE-PREPARE at a backup: v0.6 `pbftCore.recvPrePrepare` (Castro–Liskov
//! §4.2: accept if in view v, signed by the primary, inside the watermarks,
//! and no other digest for (v, n); then multicast PREPARE).

use fabrik_proto::pbft::{PrePrepare, Prepare, message};

use crate::pbft::ReplicaId;
use crate::pbft::config::PlantedBug;
use crate::pbft::error::RejectReason;
use crate::pbft::output::{Output, PersistOp};
use crate::pbft::replica::{Replica, batch_digest};
use crate::pbft::state::Timer;

impl Replica {
    pub(crate) fn on_pre_prepare(
        &mut self,
        from: ReplicaId,
        pp: PrePrepare,
    ) -> Result<(), RejectReason> {
        if self.learnable(from, pp.view)? || self.awaiting_new_view_of(pp.view) {
            return self.learn_pre_prepare(from, pp);
        }
        self.check_pre_prepare(from, &pp)?;
        let (view, seq, digest) = (pp.view, pp.sequence_number, pp.batch_digest.clone());
        if let Some(stored) = self.log.cert(view, seq).and_then(|c| c.digest.clone()) {
            if stored != digest {
                // v0.6: a second digest for (v, n) means the primary is faulty.
                tracing::warn!(
                    replica = self.cfg.id,
                    view,
                    seq,
                    "conflicting pre-prepare, starting view change"
                );
                let reason = RejectReason::Conflict { view, seq };
                self.emit(Output::Misbehavior { from, reason });
                self.send_view_change();
                return Ok(());
            }
            if self.log.cert(view, seq).is_some_and(|c| c.pre_prepared) {
                return Err(RejectReason::Duplicate);
            }
        }
        self.accept_pre_prepare(pp);
        Ok(())
    }

    /// fabrik: a PRE-PREPARE of the view we changed to but whose NEW-VIEW
    /// has not arrived. The new primary sends its first PRE-PREPAREs right
    /// after its NEW-VIEW; where they overtake it (separate streams, a
    /// resent NEW-VIEW), v0.6 drops them (`recvPrePrepare` ignores input
    /// while `!activeView`) and nothing resends them, so the new view
    /// cannot prepare them and times out in turn (sim seed 5121: a view
    /// change every request timeout, for ever). It is recorded as learned
    /// instead and taken up when the NEW-VIEW installs
    /// (`take_up_learned`), exactly as if it arrived then.
    fn awaiting_new_view_of(&self, view: u64) -> bool {
        !self.active_view && view == self.view
    }

    fn check_pre_prepare(&self, from: ReplicaId, pp: &PrePrepare) -> Result<(), RejectReason> {
        if !self.active_view {
            return Err(RejectReason::ViewNotActive(self.view));
        }
        if pp.view != self.view {
            return Err(RejectReason::WrongView {
                view: pp.view,
                current: self.view,
            });
        }
        if from != self.cfg.primary(pp.view)
            && !self.cfg.bug(PlantedBug::AcceptNonPrimaryPrePrepare)
        {
            return Err(RejectReason::NotPrimary {
                from,
                view: pp.view,
            });
        }
        if !self.in_window(pp.sequence_number) {
            return Err(self.out_of_window(pp.sequence_number));
        }
        match (&pp.request_batch, pp.batch_digest.is_empty()) {
            (Some(b), true) if !b.batch.is_empty() => Err(RejectReason::IncompletePayload),
            (None, false) => Err(RejectReason::IncompletePayload),
            (Some(b), false)
                if batch_digest(b) != pp.batch_digest
                    && !self.cfg.bug(PlantedBug::SkipDigestCheck) =>
            {
                Err(RejectReason::DigestMismatch)
            }
            _ => Ok(()),
        }
    }

    fn accept_pre_prepare(&mut self, pp: PrePrepare) {
        let (view, seq, digest) = (pp.view, pp.sequence_number, pp.batch_digest);
        let cert = self.log.cert_mut(view, seq);
        cert.digest = Some(digest.clone());
        cert.pre_prepared = true;
        cert.learned = false;
        if let Some(batch) = pp.request_batch.filter(|_| !digest.is_empty()) {
            for req in &batch.batch {
                self.reqs.mark_pending(req);
            }
            if !self.log.batches.contains_key(&digest) {
                self.log.batches.insert(digest.clone(), batch.clone());
                self.persist(PersistOp::StoreBatch {
                    digest: digest.clone(),
                    batch,
                });
            }
            self.soft_start_timer(Timer::Request, self.cfg.timeout_request);
        }
        self.null_request_timer_reset();
        if !self.is_primary() && !self.log.cert(view, seq).is_some_and(|c| c.sent_prepare) {
            self.send_prepare(view, seq, digest);
        }
        self.maybe_send_commit(view, seq);
    }

    /// Persist the Q-set entry, count our own PREPARE, broadcast it.
    pub(crate) fn send_prepare(&mut self, view: u64, seq: u64, digest: String) {
        let id = self.cfg.id;
        let cert = self.log.cert_mut(view, seq);
        cert.sent_prepare = true;
        cert.prepares.insert(id, digest.clone());
        if self.log.add_qset(seq, &digest, view) {
            self.persist_qset();
        }
        let prep = Prepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: id,
        };
        self.broadcast(message::Payload::Prepare(prep));
    }
}
