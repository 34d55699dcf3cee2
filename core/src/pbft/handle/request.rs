//! Request intake and primary batching: v0.6 `obcBatch` (`batch.go`:
//! `submitToLeader`, `processMessage` for requests, `sendBatch`, the batch
//! timer) and `pbftCore.sendPrePrepare` (Castro–Liskov §4.2 "pre-prepare").
//! fabrik adds adaptive batching: an idle primary cuts at once.

use fabrik_proto::pbft::{PrePrepare, Request, RequestBatch, message};

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::input::PeerMsg;
use crate::pbft::output::{Output, PersistOp};
use crate::pbft::replica::{Replica, batch_digest};
use crate::pbft::state::Timer;

impl Replica {
    /// A client request submitted at this peer: v0.6 `submitToLeader`
    /// broadcasts it to every replica and keeps it outstanding.
    pub(crate) fn on_local_request(&mut self, req: Request) -> Result<(), RejectReason> {
        if req.replica_id != self.cfg.id {
            return Err(RejectReason::UnexpectedInput(
                "local request must carry our replica id",
            ));
        }
        if let Err(reason) = self.check_local_request(&req) {
            if reason.refuses_request() {
                self.emit(Output::RequestRefused {
                    request: req,
                    reason: reason.clone(),
                });
            }
            return Err(reason);
        }
        self.emit(Output::Broadcast(PeerMsg::Request(req.clone())));
        self.admit_request(req);
        Ok(())
    }

    /// [`Self::check_request`], and this replica's own admission bound: a
    /// new client request waits for room while half the share every replica
    /// keeps for this origin is taken.
    fn check_local_request(&self, req: &Request) -> Result<(), RejectReason> {
        self.check_request(req)?;
        if self.reqs.outstanding_of(self.cfg.id) >= self.cfg.local_admission_limit() {
            return Err(RejectReason::BufferFull(
                "outstanding requests of this peer",
            ));
        }
        Ok(())
    }

    /// A request relayed by its origin replica (v0.6 `processMessage`).
    pub(crate) fn on_peer_request(
        &mut self,
        from: ReplicaId,
        req: Request,
    ) -> Result<(), RejectReason> {
        if req.replica_id != from {
            return Err(RejectReason::WrongReplicaId {
                claimed: req.replica_id,
                actual: from,
            });
        }
        self.check_request(&req)?;
        self.admit_request(req);
        Ok(())
    }

    /// The deduplicator and the outstanding-request bounds (in all, and of
    /// the request's origin).
    fn check_request(&self, req: &Request) -> Result<(), RejectReason> {
        if self.cfg.request_verifier.is_some_and(|verify| !verify(req)) {
            return Err(RejectReason::BadRequestSignature);
        }
        if !self.dedup.is_new(req) {
            return Err(RejectReason::StaleRequest);
        }
        if self.reqs.contains(req) {
            return Err(RejectReason::Duplicate);
        }
        if self.reqs.len() >= self.cfg.max_outstanding_requests {
            return Err(RejectReason::BufferFull("outstanding requests"));
        }
        if self.reqs.outstanding_of(req.replica_id) >= self.cfg.origin_limit() {
            return Err(RejectReason::BufferFull(
                "outstanding requests of one origin",
            ));
        }
        Ok(())
    }

    fn admit_request(&mut self, req: Request) {
        self.reqs.insert(req);
        self.start_timer_if_outstanding();
        self.maybe_cut_batch(false);
    }

    /// v0.6 `startTimerIfOutstandingRequests`: soft-start the request timer
    /// while requests or batches wait and nothing is executing.
    pub(crate) fn start_timer_if_outstanding(&mut self) {
        if self.xfer.skip || self.current_exec.is_some() || !self.active_view {
            return;
        }
        let waiting_batch = self.log.certs.iter().any(|((_, n), c)| {
            *n > self.last_exec
                && c.pre_prepared
                && c.digest.as_deref().is_some_and(|d| !d.is_empty())
        });
        if self.reqs.len() > 0 || waiting_batch {
            self.soft_start_timer(Timer::Request, self.cfg.timeout_request);
        }
    }

    /// Nothing pre-prepared is waiting for execution.
    fn idle(&self) -> bool {
        self.seq_no <= self.last_exec && self.current_exec.is_none()
    }

    /// v0.6: the primary issues only n ≤ h + L/2 (and inside the window).
    fn can_issue(&self, seq: u64) -> bool {
        self.in_window(seq) && seq <= self.h.saturating_add(self.cfg.log_size() / 2)
    }

    /// Primary batching: cut when `batchsize` requests wait, when the batch
    /// timer fired, or (adaptive) at once when nothing is in flight.
    pub(crate) fn maybe_cut_batch(&mut self, timer_fired: bool) {
        let mut timer_fired = timer_fired;
        if !self.is_primary() || !self.active_view || self.xfer.skip {
            return;
        }
        loop {
            let unassigned = self.reqs.unassigned();
            if unassigned == 0 {
                self.timers.stop(&Timer::Batch);
                return;
            }
            let full = unassigned >= self.cfg.batch_size;
            if !(full || timer_fired || (self.cfg.adaptive_batching && self.idle())) {
                self.soft_start_timer(Timer::Batch, self.cfg.timeout_batch);
                return;
            }
            if !self.can_issue(self.seq_no.saturating_add(1)) {
                tracing::debug!(
                    replica = self.cfg.id,
                    seq_no = self.seq_no,
                    h = self.h,
                    "window full, batch waits"
                );
                return;
            }
            let batch = RequestBatch {
                batch: self
                    .reqs
                    .take_unassigned(self.cfg.batch_size, self.cfg.max_batch_bytes),
            };
            self.timers.stop(&Timer::Batch);
            self.send_pre_prepare(Some(batch));
            timer_fired = false;
        }
    }

    /// v0.6 `sendPrePrepare`: assign n = seqNo + 1, store and persist the
    /// batch and the Q-set entry, then broadcast PRE-PREPARE. `None` sends
    /// a null request.
    pub(crate) fn send_pre_prepare(&mut self, batch: Option<RequestBatch>) {
        let digest = batch.as_ref().map(batch_digest).unwrap_or_default();
        if !digest.is_empty() && self.log.digest_in_use(self.view, &digest) {
            tracing::warn!(
                replica = self.cfg.id,
                "batch already pre-prepared under another number"
            );
            return;
        }
        let (view, seq) = (self.view, self.seq_no.saturating_add(1));
        self.seq_no = seq;
        if let Some(b) = batch
            .as_ref()
            .filter(|_| !self.log.batches.contains_key(&digest))
        {
            self.log.batches.insert(digest.clone(), b.clone());
            self.persist(PersistOp::StoreBatch {
                digest: digest.clone(),
                batch: b.clone(),
            });
        }
        let cert = self.log.cert_mut(view, seq);
        cert.digest = Some(digest.clone());
        cert.pre_prepared = true;
        if self.log.add_qset(seq, &digest, view) {
            self.persist_qset();
        }
        if !digest.is_empty() {
            self.soft_start_timer(Timer::Request, self.cfg.timeout_request);
        }
        let pp = PrePrepare {
            view,
            sequence_number: seq,
            batch_digest: digest,
            request_batch: batch,
            replica_id: self.cfg.id,
        };
        tracing::debug!(replica = self.cfg.id, view, seq, "sending pre-prepare");
        self.broadcast(message::Payload::PrePrepare(pp));
        self.null_request_timer_reset();
        self.maybe_send_commit(view, seq);
    }

    /// v0.6 `nullReqTimerReset`: the primary sends a null request after
    /// `nullrequest` of silence; a backup waits `nullrequest + request`.
    pub(crate) fn null_request_timer_reset(&mut self) {
        if self.cfg.timeout_null_request.is_zero() || !self.active_view {
            return;
        }
        let mut timeout = self.cfg.timeout_null_request;
        if !self.is_primary() {
            timeout = timeout.saturating_add(self.cfg.timeout_request);
        }
        self.set_timer(Timer::NullRequest, timeout);
    }

    /// v0.6 `nullRequestHandler`.
    pub(crate) fn on_null_request_timeout(&mut self) {
        if !self.active_view {
            return;
        }
        if !self.is_primary() {
            tracing::info!(
                replica = self.cfg.id,
                "null request timer expired, sending view change"
            );
            self.send_view_change();
        } else if self.can_issue(self.seq_no.saturating_add(1)) {
            self.send_pre_prepare(None);
        } else {
            self.null_request_timer_reset();
        }
    }
}
