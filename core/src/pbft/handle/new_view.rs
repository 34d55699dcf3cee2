//! NEW-VIEW: v0.6 `viewchange.go` `sendNewView`, `recvNewView`,
//! `processNewView`, `processNewView2`, `selectInitialCheckpoint`,
//! `assignSequenceNumbers` (Castro–Liskov §4.4 and the TOCS paper's rules
//! A1/A2 for choosing the request of each sequence number).

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::{FetchRequestBatch, NewView, ViewChange, message, view_change::Pq};

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::output::{Output, PersistOp};
use crate::pbft::replica::Replica;
use crate::pbft::state::{Target, Timer};

/// The initial checkpoint of a new view and the replicas vouching for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InitialCheckpoint {
    pub(crate) seq: u64,
    pub(crate) id: String,
    pub(crate) replicas: Vec<ReplicaId>,
}

/// v0.6 `selectInitialCheckpoint`: the highest checkpoint that f+1
/// VIEW-CHANGEs carry and that is at or above the low watermark of Q of
/// them. Duplicate C entries within one VIEW-CHANGE count once.
pub(crate) fn select_initial_checkpoint(
    vset: &[ViewChange],
    f: usize,
    quorum: usize,
) -> Option<InitialCheckpoint> {
    let mut vouchers: BTreeMap<(u64, &str), BTreeSet<ReplicaId>> = BTreeMap::new();
    for vc in vset {
        for c in &vc.cset {
            vouchers
                .entry((c.sequence_number, c.id.as_str()))
                .or_default()
                .insert(vc.replica_id);
        }
    }
    let mut best: Option<InitialCheckpoint> = None;
    for ((seq, id), reps) in vouchers {
        if reps.len() <= f {
            continue;
        }
        if vset.iter().filter(|vc| vc.h <= seq).count() < quorum {
            continue;
        }
        if best.as_ref().is_none_or(|b| b.seq <= seq) {
            best = Some(InitialCheckpoint {
                seq,
                id: id.to_owned(),
                replicas: reps.into_iter().collect(),
            });
        }
    }
    best
}

/// v0.6 `assignSequenceNumbers`: for h < n ≤ h+L pick the digest with a
/// prepared certificate that no Q-quorum contradicts (A1) and that f+1
/// replicas pre-prepared (A2), else a null request if Q replicas have no
/// P entry for n; `None` if some n can be decided neither way. Trailing
/// nulls above the highest real entry are dropped.
pub(crate) fn assign_sequence_numbers(
    vset: &[ViewChange],
    h: u64,
    l: u64,
    f: usize,
    quorum: usize,
) -> Option<BTreeMap<u64, String>> {
    let psets: Vec<BTreeMap<u64, Vec<&Pq>>> = vset.iter().map(|vc| by_seq(&vc.pset)).collect();
    let qsets: Vec<BTreeMap<u64, Vec<&Pq>>> = vset.iter().map(|vc| by_seq(&vc.qset)).collect();
    let mut xset = BTreeMap::new();
    let mut max_n = h.saturating_add(1);
    for n in h.saturating_add(1)..=h.saturating_add(l) {
        if let Some(d) = select_prepared(vset, &psets, &qsets, n, f, quorum) {
            xset.insert(n, d);
            max_n = n;
            continue;
        }
        let without_p = psets.iter().filter(|p| !p.contains_key(&n)).count();
        if without_p < quorum {
            tracing::warn!(n, without_p, "cannot assign sequence number");
            return None;
        }
        xset.insert(n, String::new());
    }
    xset.retain(|n, d| *n <= max_n || !d.is_empty());
    Some(xset)
}

fn by_seq(set: &[Pq]) -> BTreeMap<u64, Vec<&Pq>> {
    let mut m: BTreeMap<u64, Vec<&Pq>> = BTreeMap::new();
    for p in set {
        m.entry(p.sequence_number).or_default().push(p);
    }
    m
}

fn select_prepared(
    vset: &[ViewChange],
    psets: &[BTreeMap<u64, Vec<&Pq>>],
    qsets: &[BTreeMap<u64, Vec<&Pq>>],
    n: u64,
    f: usize,
    quorum: usize,
) -> Option<String> {
    let candidates = psets.iter().filter_map(|p| p.get(&n)).flatten();
    for em in candidates {
        // A1: Q view-changes with h < n whose P entries for n do not contradict.
        let a1 = vset
            .iter()
            .zip(psets)
            .filter(|(mp, _)| mp.h < n)
            .filter(|(_, p)| {
                p.get(&n).is_none_or(|es| {
                    es.iter().all(|e| {
                        e.view < em.view || (e.view == em.view && e.batch_digest == em.batch_digest)
                    })
                })
            })
            .count();
        if a1 < quorum {
            continue;
        }
        // A2: f+1 view-changes pre-prepared the digest at view >= v.
        let a2 = qsets
            .iter()
            .filter(|q| {
                q.get(&n).is_some_and(|es| {
                    es.iter()
                        .any(|e| e.view >= em.view && e.batch_digest == em.batch_digest)
                })
            })
            .count();
        if a2 > f {
            return Some(em.batch_digest.clone());
        }
    }
    None
}

impl Replica {
    fn current_vset(&self) -> Vec<ViewChange> {
        self.vc
            .store
            .values()
            .filter(|m| m.view == self.view)
            .cloned()
            .collect()
    }

    /// v0.6 `sendNewView` (new primary, after N−f VIEW-CHANGEs).
    pub(crate) fn send_new_view(&mut self) {
        if self.vc.new_view.is_some() || self.active_view {
            return;
        }
        let vset = self.current_vset();
        let Some(cp) = select_initial_checkpoint(&vset, self.cfg.f, self.quorum()) else {
            tracing::debug!(replica = self.cfg.id, "no initial checkpoint yet");
            return;
        };
        let l = self.cfg.log_size();
        let Some(xset) = assign_sequence_numbers(&vset, cp.seq, l, self.cfg.f, self.quorum())
        else {
            return;
        };
        let nv = NewView {
            view: self.view,
            vset,
            xset,
            replica_id: self.cfg.id,
        };
        tracing::info!(replica = self.cfg.id, view = self.view, "sending new view");
        self.broadcast(message::Payload::NewView(nv.clone()));
        self.vc.new_view = Some(nv);
        self.process_new_view();
    }

    /// v0.6 `recvNewView`, hardened: the vset must hold N−f distinct,
    /// correctly signed VIEW-CHANGEs for the view, and it must come from
    /// (or be relayed on behalf of) the view's primary. A valid NEW-VIEW for a
    /// later view moves us there (fabrik: lets restarted or cut-off
    /// replicas rejoin).
    pub(crate) fn on_new_view(
        &mut self,
        _from: ReplicaId,
        nv: NewView,
    ) -> Result<(), RejectReason> {
        if nv.view == 0 || nv.replica_id != self.cfg.primary(nv.view) {
            return Err(RejectReason::NotPrimary {
                from: nv.replica_id,
                view: nv.view,
            });
        }
        if nv.view < self.view {
            return Err(RejectReason::WrongView {
                view: nv.view,
                current: self.view,
            });
        }
        if nv.view == self.view && (self.active_view || self.vc.new_view.is_some()) {
            return Err(RejectReason::Duplicate);
        }
        self.verify_vset(&nv)?;
        // Persisted first: a restart must not fall back below this view.
        self.persist(PersistOp::NewView(nv.clone()));
        if nv.view > self.view {
            tracing::info!(
                replica = self.cfg.id,
                view = nv.view,
                "adopting later view from its NEW-VIEW"
            );
            self.leave_view(nv.view);
            self.set_timer(Timer::NewView, self.vc.last_timeout);
        }
        self.vc.new_view = Some(nv);
        self.process_new_view();
        Ok(())
    }

    fn verify_vset(&self, nv: &NewView) -> Result<(), RejectReason> {
        if nv.vset.len() < self.cfg.all_correct_quorum() || nv.vset.len() > self.cfg.n {
            return Err(RejectReason::InvalidViewChange("vset size"));
        }
        let ids: BTreeSet<ReplicaId> = nv.vset.iter().map(|vc| vc.replica_id).collect();
        if ids.len() != nv.vset.len() {
            return Err(RejectReason::InvalidViewChange("vset repeats a replica"));
        }
        if nv.vset.iter().any(|vc| vc.view != nv.view) {
            return Err(RejectReason::InvalidViewChange("vset view"));
        }
        nv.vset
            .iter()
            .try_for_each(|vc| self.verify_view_change(vc))
    }

    /// v0.6 `processNewView`: recompute the initial checkpoint and xset,
    /// reach the checkpoint (by execution or state transfer), fetch missing
    /// batches, then install the view.
    pub(crate) fn process_new_view(&mut self) {
        if self.active_view || self.halted {
            return;
        }
        let Some(nv) = self.vc.new_view.clone().filter(|nv| nv.view == self.view) else {
            return;
        };
        let (f, q, l) = (self.cfg.f, self.quorum(), self.cfg.log_size());
        let Some(cp) = select_initial_checkpoint(&nv.vset, f, q) else {
            self.reject_new_view(&nv);
            return;
        };
        let speculative = self.current_exec.unwrap_or(self.last_exec);
        if speculative < cp.seq && self.can_execute_to(speculative, cp.seq) {
            return; // executions are better than state transfer; retried after each execution
        }
        let xset = assign_sequence_numbers(&nv.vset, cp.seq, l, f, q);
        if xset.as_ref() != Some(&nv.xset) {
            self.reject_new_view(&nv);
            return;
        }
        if self.h < cp.seq {
            self.move_watermarks(cp.seq);
        }
        if speculative < cp.seq {
            let target = Target {
                seq: cp.seq,
                id: cp.id.clone(),
                replicas: cp.replicas.clone(),
            };
            self.update_high_target(target.clone());
            self.state_transfer(Some(target));
        }
        self.fetch_missing_or_install(nv);
    }

    fn reject_new_view(&mut self, nv: &NewView) {
        tracing::warn!(
            replica = self.cfg.id,
            view = nv.view,
            "new view does not check, next view"
        );
        self.emit(Output::Misbehavior {
            from: nv.replica_id,
            reason: RejectReason::XsetMismatch,
        });
        self.send_view_change();
    }

    pub(crate) fn can_execute_to(&self, from: u64, to: u64) -> bool {
        let (q, cq) = (self.quorum(), self.commit_quorum());
        (from.saturating_add(1)..=to).all(|n| self.log.committed_digest(n, q, cq).is_some())
    }

    /// Every xset batch above h is needed, even one we executed: we are
    /// about to PREPARE it, and others may fetch it from us.
    fn fetch_missing_or_install(&mut self, nv: NewView) {
        let needed: BTreeSet<String> = nv
            .xset
            .iter()
            .filter(|(n, d)| **n > self.h && !d.is_empty() && !self.log.batches.contains_key(*d))
            .map(|(_, d)| d.clone())
            .collect();
        let fresh: Vec<String> = needed.difference(&self.vc.missing).cloned().collect();
        self.vc.missing = needed;
        if self.vc.missing.is_empty() {
            self.install_new_view(nv);
            return;
        }
        self.fetch_batches(fresh);
    }

    fn fetch_batches(&mut self, digests: Vec<String>) {
        if digests.is_empty() {
            return;
        }
        self.vc.missing_asked_at = Some(self.now);
        for batch_digest in digests {
            let fetch = FetchRequestBatch {
                batch_digest,
                replica_id: self.cfg.id,
            };
            self.broadcast(message::Payload::FetchRequestBatch(fetch));
        }
    }

    /// fabrik: v0.6 asks for a missing batch once; if nobody had it yet
    /// (the replica that will have it is still fetching it itself), the
    /// new view never installs here. Ask again, at most once per resend
    /// period, while messages keep arriving.
    pub(crate) fn refetch_missing_batches(&mut self) {
        if self.active_view || self.vc.missing.is_empty() {
            return;
        }
        let due = self
            .vc
            .missing_asked_at
            .is_none_or(|at| self.now >= at + self.cfg.timeout_resend_view_change);
        if due {
            let digests = self.vc.missing.iter().cloned().collect();
            self.fetch_batches(digests);
        }
    }

    /// v0.6 `processNewView2`: activate the view, install a pre-prepare for
    /// each xset entry above h, backups PREPARE them, the primary re-batches
    /// what is still outstanding.
    fn install_new_view(&mut self, nv: NewView) {
        for t in [
            Timer::Request,
            Timer::NullRequest,
            Timer::NewView,
            Timer::ResendViewChange,
        ] {
            self.timers.stop(&t);
        }
        self.active_view = true;
        self.persist(PersistOp::NewView(nv.clone()));
        let view = self.view;
        let entries: Vec<(u64, String)> = nv
            .xset
            .iter()
            .filter(|(n, _)| **n > self.h)
            .map(|(n, d)| (*n, d.clone()))
            .collect();
        self.seq_no = self.h;
        for (n, d) in &entries {
            let cert = self.log.cert_mut(view, *n);
            cert.digest = Some(d.clone());
            cert.pre_prepared = true;
            cert.learned = false;
            self.log.add_qset(*n, d, view);
            self.seq_no = self.seq_no.max(*n);
            self.mark_batch_pending(d);
        }
        self.persist_qset();
        self.update_view_change_seq_no();
        if !self.is_primary() {
            for (n, d) in &entries {
                self.send_prepare(view, *n, d.clone());
            }
        }
        let primary = self.primary();
        tracing::info!(replica = self.cfg.id, view, primary, "new view active");
        self.emit(Output::ViewChanged { view, primary });
        self.vc.new_view = Some(nv);
        for (n, _) in &entries {
            self.maybe_send_commit(view, *n);
        }
        self.take_up_learned(view);
        self.null_request_timer_reset();
        self.maybe_cut_batch(false);
        self.start_timer_if_outstanding();
        self.execute_outstanding();
    }

    fn mark_batch_pending(&mut self, digest: &str) {
        let Some(batch) = self.log.batches.get(digest) else {
            return;
        };
        for r in &batch.batch {
            self.reqs.mark_pending(r);
        }
    }

    /// Installs the persisted NEW-VIEW again after a restart.
    pub(crate) fn reinstall_new_view(&mut self, nv: NewView) {
        self.vc.new_view = Some(nv);
        self.process_new_view();
    }

    /// Called once a missing batch arrived.
    pub(crate) fn missing_batch_arrived(&mut self) {
        if self.vc.missing.is_empty() {
            self.process_new_view();
        }
    }
}
