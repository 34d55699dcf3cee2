//! CHECKPOINT: v0.6 `pbftCore.Checkpoint`, `recvCheckpoint`,
//! `weakCheckpointSetOutOfRange`, `witnessCheckpointWeakCert`
//! (Castro–Liskov §4.3: stable checkpoints and the watermark window).
//! Where v0.6 panics (f+2 ids; own id differs from a weak certificate)
//! fabrik raises an [`Alarm`].

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::{Checkpoint, message};

use crate::crypto::b64;
use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::output::{Alarm, Output, PersistOp};
use crate::pbft::replica::Replica;
use crate::pbft::state::{EVIDENCE_PER_REPLICA, Target, Timer};

impl Replica {
    /// Our own checkpoint at `seq` with the ledger head `info` (marshalled
    /// BlockchainInfo): persist it, broadcast it, count it.
    pub(crate) fn checkpoint(&mut self, seq: u64, info: Vec<u8>) {
        if !seq.is_multiple_of(self.cfg.k) {
            return;
        }
        let id = b64(&info);
        self.log.chkpts.insert(seq, id.clone());
        self.persist(PersistOp::Checkpoint { seq, info });
        let c = Checkpoint {
            sequence_number: seq,
            replica_id: self.cfg.id,
            id: id.clone(),
        };
        self.broadcast(message::Payload::Checkpoint(c));
        if self.in_window(seq) {
            self.record_checkpoint(self.cfg.id, seq, id);
        }
    }

    pub(crate) fn on_checkpoint(
        &mut self,
        from: ReplicaId,
        c: &Checkpoint,
    ) -> Result<(), RejectReason> {
        let seq = c.sequence_number;
        if seq > self.high_watermark() {
            self.keep_evidence(from, seq, &c.id);
        }
        if self.weak_checkpoint_set_out_of_range(from, seq) || seq > self.high_watermark() {
            return Ok(()); // tracked as evidence that we may be behind
        }
        if !self.in_window(seq) {
            return Err(self.out_of_window(seq));
        }
        if let Some(prev) = self.log.checkpoints.get(&(seq, from)) {
            return Err(if *prev == c.id {
                RejectReason::Duplicate
            } else {
                RejectReason::Conflict {
                    view: self.view,
                    seq,
                }
            });
        }
        self.record_checkpoint(from, seq, c.id.clone());
        Ok(())
    }

    fn record_checkpoint(&mut self, from: ReplicaId, seq: u64, id: String) {
        self.log.checkpoints.insert((seq, from), id.clone());
        let ids: Vec<String> = self
            .log
            .checkpoints
            .range((seq, 0)..=(seq, u64::MAX))
            .map(|(_, v)| v.clone())
            .collect();
        let matching = ids.iter().filter(|v| **v == id).count();
        let distinct: BTreeSet<&String> = ids.iter().collect();
        if distinct.len() == self.cfg.f.saturating_add(2) && matching == 1 {
            tracing::error!(
                replica = self.cfg.id,
                seq,
                "no stable checkpoint certificate possible"
            );
            self.emit(Output::Alarm(Alarm::NoStableCertificate { seq }));
        }
        if self.check_own_checkpoint(seq) {
            return;
        }
        if matching == self.cfg.weak_quorum() {
            self.witness_weak_cert(seq, &id);
        }
        if matching < self.quorum() {
            return;
        }
        if !self.log.chkpts.contains_key(&seq) {
            // A stable certificate we have not reached ourselves yet.
            let bound = self.h.saturating_add(self.cfg.log_size() / 2);
            if self.xfer.skip && seq >= bound {
                self.move_watermarks(bound);
            }
            self.catch_up_to_stable_checkpoint(seq, &id);
            return;
        }
        self.move_watermarks(seq);
        self.process_new_view();
    }

    /// v0.6 panics when its own checkpoint differs from a weak certificate;
    /// fabrik raises an alarm and halts. Returns whether it halted.
    fn check_own_checkpoint(&mut self, seq: u64) -> bool {
        let Some(own) = self.log.chkpts.get(&seq).cloned() else {
            return false;
        };
        let weak = self.cfg.weak_quorum();
        let certified = self
            .log
            .checkpoints
            .range((seq, 0)..=(seq, u64::MAX))
            .map(|(_, v)| v)
            .filter(|v| **v != own)
            .find(|v| {
                self.log
                    .checkpoints
                    .range((seq, 0)..=(seq, u64::MAX))
                    .filter(|(_, w)| w == v)
                    .count()
                    >= weak
            })
            .cloned();
        let Some(certified) = certified else {
            return false;
        };
        tracing::error!(
            replica = self.cfg.id,
            seq,
            "own checkpoint differs from weak certificate; halting"
        );
        self.emit(Output::Alarm(Alarm::OwnCheckpointDiverged {
            seq,
            own,
            certified,
        }));
        self.halted = true;
        true
    }

    /// fabrik: Q replicas checkpointed `seq`; if we cannot execute up to
    /// it and hold no pre-prepare for our next sequence number, it was
    /// decided while we were down or in another view and will never reach
    /// us. Transfer now instead of waiting for
    /// checkpoints above the high watermark (v0.6), which leaves a replica
    /// behind by up to L sequence numbers, and by up to K forever.
    fn catch_up_to_stable_checkpoint(&mut self, seq: u64, id: &str) {
        let exec = self.current_exec.unwrap_or(self.last_exec);
        if self.xfer.skip || seq <= exec || self.can_execute_to(exec, seq) {
            return;
        }
        // Commits may still be on their way; a slot with no pre-prepare in
        // any view will never fill.
        let next = exec.saturating_add(1);
        if self
            .log
            .certs
            .iter()
            .any(|((_, n), c)| *n == next && c.pre_prepared)
        {
            return;
        }
        tracing::info!(
            replica = self.cfg.id,
            seq,
            exec,
            "behind a stable checkpoint it cannot execute to"
        );
        let target = self.checkpoint_target(seq, id);
        self.update_high_target(target.clone());
        self.state_transfer(Some(target));
    }

    /// A state-transfer target: checkpoint `seq` with `id`, and the
    /// replicas that vouched for it.
    fn checkpoint_target(&self, seq: u64, id: &str) -> Target {
        let replicas: Vec<ReplicaId> = self
            .log
            .checkpoints
            .range((seq, 0)..=(seq, u64::MAX))
            .filter(|(_, v)| v.as_str() == id)
            .map(|((_, r), _)| *r)
            .collect();
        Target {
            seq,
            id: id.to_owned(),
            replicas,
        }
    }

    fn witness_weak_cert(&mut self, seq: u64, id: &str) {
        let target = self.checkpoint_target(seq, id);
        self.update_high_target(target.clone());
        if self.xfer.skip {
            self.retry_state_transfer(Some(target));
        }
    }

    /// fabrik: remembers a checkpoint above the window with its id. v0.6
    /// keeps only the sequence numbers, so a replica whose transfer is
    /// overtaken by them moves its window past its target and then waits
    /// for checkpoints that, on a quiet network, never come.
    fn keep_evidence(&mut self, from: ReplicaId, seq: u64, id: &str) {
        let evidence = &mut self.xfer.evidence;
        evidence.insert((seq, from), id.to_owned());
        let own: Vec<u64> = evidence
            .keys()
            .filter(|(_, r)| *r == from)
            .map(|(s, _)| *s)
            .collect();
        if let Some(lowest) = own.first().filter(|_| own.len() > EVIDENCE_PER_REPLICA) {
            evidence.remove(&(*lowest, from));
        }
    }

    /// fabrik: the highest checkpoint at or above the low watermark, and
    /// above what we executed, that f+1 replicas vouched for becomes the
    /// transfer target (the rule of a weak certificate: one of them is
    /// correct), and a transfer to it starts. Whether there was one.
    pub(crate) fn target_from_evidence(&mut self) -> bool {
        let weak = self.cfg.weak_quorum();
        let lowest = self.h.max(self.last_exec.saturating_add(1));
        let mut counts: BTreeMap<(u64, &str), Vec<ReplicaId>> = BTreeMap::new();
        for ((seq, from), id) in self.xfer.evidence.range((lowest, 0)..) {
            counts.entry((*seq, id.as_str())).or_default().push(*from);
        }
        let Some(((seq, id), replicas)) = counts
            .into_iter()
            .rev()
            .find(|(_, replicas)| replicas.len() >= weak)
        else {
            return false;
        };
        let target = Target {
            seq,
            id: id.to_owned(),
            replicas,
        };
        self.update_high_target(target);
        self.retry_state_transfer(None);
        true
    }

    /// v0.6 `weakCheckpointSetOutOfRange`: if f+1 replicas report
    /// checkpoints above our high watermark we fell behind: drop our
    /// batches, move the watermark, mark the state invalid and wait for a
    /// weak certificate to transfer to.
    fn weak_checkpoint_set_out_of_range(&mut self, from: ReplicaId, seq: u64) -> bool {
        let high = self.high_watermark();
        if seq < high {
            self.xfer.hchkpts.remove(&from);
            return false;
        }
        self.xfer.hchkpts.insert(from, seq);
        if self.xfer.hchkpts.len() < self.cfg.weak_quorum() {
            return false;
        }
        let mut seqs: Vec<u64> = self.xfer.hchkpts.values().copied().collect();
        self.xfer.hchkpts.retain(|_, s| *s >= high);
        seqs.sort_unstable();
        let idx = seqs.len().saturating_sub(self.cfg.weak_quorum());
        let Some(m) = seqs.get(idx).copied().filter(|m| *m > high) else {
            return false;
        };
        tracing::warn!(
            replica = self.cfg.id,
            m,
            high,
            "out of date: f+1 checkpoints above the high watermark"
        );
        self.log.batches.clear();
        self.persist(PersistOp::DeleteAllBatches);
        self.move_watermarks(m);
        self.enter_skip();
        self.timers.stop(&Timer::Request);
        true
    }

    pub(crate) fn enter_skip(&mut self) {
        self.xfer.skip = true;
        self.refuse_queries(true);
    }
}
