//! COMMIT and in-order execution: v0.6 `pbftCore.recvCommit`,
//! `executeOutstanding`, `executeOne`, `execDoneSync` (Castro–Liskov §4.2:
//! committed-local, execute in sequence order; §4.3 checkpoints every K).

use fabrik_proto::pbft::Commit;
use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::handle::learn::Vote;
use crate::pbft::output::Output;
use crate::pbft::replica::Replica;
use crate::pbft::state::Timer;

impl Replica {
    pub(crate) fn on_commit(&mut self, from: ReplicaId, c: &Commit) -> Result<(), RejectReason> {
        if self.learnable(from, c.view)? {
            let vote = (c.view, c.sequence_number, c.batch_digest.as_str());
            return self.learn_vote(from, Vote::Commit, vote);
        }
        if !self.in_window(c.sequence_number) {
            return Err(self.out_of_window(c.sequence_number));
        }
        let (view, seq) = (c.view, c.sequence_number);
        if let Some(prev) = self
            .log
            .cert(view, seq)
            .and_then(|cert| cert.commits.get(&from))
        {
            return Err(if *prev == c.batch_digest {
                RejectReason::Duplicate
            } else {
                RejectReason::Conflict { view, seq }
            });
        }
        self.log
            .cert_mut(view, seq)
            .commits
            .insert(from, c.batch_digest.clone());
        self.check_committed(view, seq);
        Ok(())
    }

    /// On committed: report it, stop the request timer, reset the new-view
    /// timeout (v0.6 `lastNewViewTimeout = newViewTimeout`), execute.
    pub(crate) fn check_committed(&mut self, view: u64, seq: u64) {
        let (q, cq) = (self.quorum(), self.commit_quorum());
        let Some(cert) = self.log.certs.get_mut(&(view, seq)) else {
            return;
        };
        if cert.reported || !cert.committed(q, cq) {
            return;
        }
        cert.reported = true;
        let digest = cert.digest.clone().unwrap_or_default();
        tracing::debug!(replica = self.cfg.id, view, seq, "committed");
        self.emit(Output::Committed { seq, digest });
        self.timers.stop(&Timer::Request);
        self.vc.last_timeout = self.cfg.timeout_view_change;
        self.execute_outstanding();
    }

    /// The committed digest at `seq` (any view), reporting `Committed` first
    /// if that certificate has not been reported yet, so reports always
    /// precede the executions they allow.
    fn report_committed(&mut self, seq: u64) -> Option<String> {
        let (q, cq) = (self.quorum(), self.commit_quorum());
        let (_, cert) = self
            .log
            .certs
            .iter_mut()
            .find(|((_, n), c)| *n == seq && c.committed(q, cq))?;
        let digest = cert.digest.clone()?;
        if !cert.reported {
            cert.reported = true;
            self.emit(Output::Committed {
                seq,
                digest: digest.clone(),
            });
        }
        Some(digest)
    }

    /// Executes committed sequence numbers strictly in order, one at a time.
    pub(crate) fn execute_outstanding(&mut self) {
        while self.current_exec.is_none() && !self.xfer.skip && !self.halted {
            let seq = self.last_exec.saturating_add(1);
            let Some(digest) = self.report_committed(seq) else {
                break;
            };
            if digest.is_empty() {
                // Null requests are not executed and make no block.
                self.last_exec = seq;
                self.after_exec(seq);
                continue;
            }
            let Some(batch) = self.log.batches.get(&digest).cloned() else {
                tracing::warn!(
                    replica = self.cfg.id,
                    seq,
                    "committed batch missing from store"
                );
                break;
            };
            self.current_exec = Some(seq);
            self.emit(Output::Execute { seq, batch });
        }
        self.after_progress();
    }

    /// The executor committed the block for `seq`.
    pub(crate) fn on_executed(
        &mut self,
        seq: u64,
        info: &BlockchainInfo,
    ) -> Result<(), RejectReason> {
        if self.current_exec != Some(seq) {
            return Err(RejectReason::UnexpectedInput(
                "Executed for a sequence number not being executed",
            ));
        }
        self.current_exec = None;
        self.last_exec = seq;
        self.head = info.encode_to_vec();
        self.forget_executed_requests(seq);
        self.after_exec(seq);
        self.execute_outstanding();
        Ok(())
    }

    fn forget_executed_requests(&mut self, seq: u64) {
        let (q, cq) = (self.quorum(), self.commit_quorum());
        let Some(digest) = self.log.committed_digest(seq, q, cq) else {
            return;
        };
        let Some(batch) = self.log.batches.get(&digest) else {
            return;
        };
        for req in &batch.batch {
            self.dedup.executed(req);
            self.reqs.remove(req);
        }
    }

    /// Checkpoint every K, and the periodic view change (v0.6
    /// `viewChangeSeqNo`).
    fn after_exec(&mut self, seq: u64) {
        if seq.is_multiple_of(self.cfg.k) {
            let head = self.head.clone();
            self.checkpoint(seq, head);
        }
        if self.view_change_seq_no != 0 && seq >= self.view_change_seq_no && self.active_view {
            tracing::info!(replica = self.cfg.id, seq, "periodic view change");
            self.view_change_seq_no = 0;
            self.send_view_change();
        }
    }

    /// After any progress: restart the request timer, retry a pending state
    /// transfer or new view, let the primary cut the next batch.
    fn after_progress(&mut self) {
        if self.halted {
            return;
        }
        self.start_timer_if_outstanding();
        if self.xfer.skip {
            self.retry_state_transfer(None);
        }
        self.process_new_view();
        self.maybe_cut_batch(false);
    }
}
