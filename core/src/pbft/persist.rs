//! The persisted consensus state (v0.6 `pbft-persist.go`, keys
//! `consensus.*` in `persistCF`) and the restart path (v0.6
//! `restoreState`, `restoreLastSeqNo`).

use std::collections::BTreeMap;

use fabrik_proto::pbft::{NewView, RequestBatch, ViewChange, view_change::Pq};
use fabrik_proto::protos::BlockchainInfo;

use super::config::{Config, ConfigError};
use super::output::PersistOp;
use super::replica::Replica;
use super::state::Timer;
use crate::crypto::b64;
use crate::time::Instant;

/// Everything a replica persisted, as the store holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersistedState {
    /// `consensus.pset`.
    pub pset: Vec<Pq>,
    /// `consensus.qset`.
    pub qset: Vec<Pq>,
    /// `consensus.reqBatch.<digest>`.
    pub batches: BTreeMap<String, RequestBatch>,
    /// `consensus.chkpt.<seq>`: raw BlockchainInfo bytes.
    pub checkpoints: BTreeMap<u64, Vec<u8>>,
    /// fabrik: our latest VIEW-CHANGE.
    pub view_change: Option<ViewChange>,
    /// fabrik: the NEW-VIEW installed last.
    pub new_view: Option<NewView>,
}

impl PersistedState {
    /// Applies one persist output, as a store must.
    pub fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::PSet(s) => self.pset = s.set.clone(),
            PersistOp::QSet(s) => self.qset = s.set.clone(),
            PersistOp::StoreBatch { digest, batch } => {
                self.batches.insert(digest.clone(), batch.clone());
            }
            PersistOp::DeleteBatch { digest } => {
                self.batches.remove(digest);
            }
            PersistOp::DeleteAllBatches => self.batches.clear(),
            PersistOp::Checkpoint { seq, info } => {
                self.checkpoints.insert(*seq, info.clone());
            }
            PersistOp::DeleteCheckpoint { seq } => {
                self.checkpoints.remove(seq);
            }
            PersistOp::ViewChange(vc) => self.view_change = Some(vc.clone()),
            PersistOp::NewView(nv) => self.new_view = Some(nv.clone()),
        }
    }
}

impl Replica {
    /// Rebuilds a replica after a restart, as v0.6 `restoreState` does: the
    /// view and seqNo are the highest found in the P/Q sets (and, fabrik,
    /// our persisted VIEW-CHANGE / NEW-VIEW), batches and checkpoints are
    /// reloaded, `last_exec` comes from the head block's
    /// `Metadata{seqNo}`, and h is the lowest stored checkpoint (rounded
    /// down to K). A replica restored into a view it had not installed
    /// re-announces its VIEW-CHANGE; one that had installed it replays the
    /// NEW-VIEW.
    ///
    /// # Errors
    /// The configuration error, naming the v0.6 key.
    pub fn restore(
        config: Config,
        persisted: &PersistedState,
        last_exec: u64,
        head: &BlockchainInfo,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let mut r = Replica::new(config, last_exec, head, now)?;
        r.restore_log(persisted, last_exec);
        let pq_view = persisted
            .pset
            .iter()
            .chain(&persisted.qset)
            .map(|p| p.view)
            .max()
            .unwrap_or(0);
        let vc_view = persisted.view_change.as_ref().map_or(0, |vc| vc.view);
        let nv_view = persisted.new_view.as_ref().map_or(0, |nv| nv.view);
        r.view = pq_view.max(vc_view).max(nv_view);
        r.rebuild_certs();
        if r.view == 0 {
            return Ok(r);
        }
        r.active_view = false;
        match (&persisted.new_view, &persisted.view_change) {
            (Some(nv), _) if nv.view == r.view => r.reinstall_new_view(nv.clone()),
            (_, Some(vc)) if vc.view == r.view => r.reannounce_view_change(vc.clone()),
            _ => r.set_timer(Timer::NewView, r.cfg.timeout_view_change),
        }
        if !r.active_view {
            // A reinstalled NEW-VIEW may wait for batches nobody keeps any
            // more: the timer moves on to the next view rather than wait
            // forever.
            r.soft_start_timer(Timer::NewView, r.cfg.timeout_view_change);
        }
        Ok(r)
    }

    fn restore_log(&mut self, persisted: &PersistedState, last_exec: u64) {
        for p in &persisted.pset {
            self.log.pset.insert(p.sequence_number, p.clone());
        }
        for q in &persisted.qset {
            self.log
                .qset
                .insert((q.sequence_number, q.batch_digest.clone()), q.clone());
        }
        let max_seq = persisted
            .pset
            .iter()
            .chain(&persisted.qset)
            .map(|p| p.sequence_number)
            .max()
            .unwrap_or(0);
        self.seq_no = max_seq.max(last_exec);
        self.log.batches.extend(
            persisted
                .batches
                .iter()
                .map(|(d, b)| (d.clone(), b.clone())),
        );
        let mut low = last_exec;
        for (seq, info) in &persisted.checkpoints {
            self.log.chkpts.insert(*seq, b64(info));
            low = low.min(*seq);
        }
        self.h = 0;
        self.move_watermarks(low);
        self.outputs.clear(); // the GC above only re-persists what is already stored
    }

    /// Slots we pre-prepared in the restored view keep their digest, so a
    /// conflicting PRE-PREPARE is still detected after a restart.
    fn rebuild_certs(&mut self) {
        let view = self.view;
        let entries: Vec<(u64, String)> = self
            .log
            .qset
            .values()
            .filter(|q| q.view == view && q.sequence_number > self.h)
            .map(|q| (q.sequence_number, q.batch_digest.clone()))
            .collect();
        for (n, d) in entries {
            let cert = self.log.cert_mut(view, n);
            cert.digest = Some(d);
            cert.sent_prepare = true;
        }
    }

    fn reannounce_view_change(&mut self, vc: ViewChange) {
        self.vc.insert(vc.clone());
        self.broadcast(fabrik_proto::pbft::message::Payload::ViewChange(vc));
        self.set_timer(Timer::ResendViewChange, self.cfg.timeout_resend_view_change);
        self.set_timer(Timer::NewView, self.cfg.timeout_view_change);
    }
}
