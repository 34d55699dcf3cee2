//! Invariant checkers run after every simulated step (reliability.md A9):
//! S1 agreement on executed batches and on commits, gap-free monotone
//! execution, S3 identical hash chains and checkpoint ids, view
//! monotonicity, bounded buffers, no divergence alarms on correct replicas.

use std::collections::BTreeMap;

use fabrik_proto::pbft::RequestBatch;
use fabrik_proto::protos::BlockchainInfo;

use crate::pbft::{Alarm, BufferSizes, batch_digest};

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Simulated time (nanoseconds).
    pub at_nanos: u64,
    /// Instance index.
    pub instance: usize,
    /// What broke.
    pub what: String,
}

/// Cross-replica bookkeeping of what correct instances did.
#[derive(Debug, Default)]
pub struct Checker {
    correct: Vec<bool>,
    executed: BTreeMap<u64, (String, usize)>,
    committed: BTreeMap<u64, (String, usize)>,
    infos: BTreeMap<u64, BlockchainInfo>,
    checkpoints: BTreeMap<u64, String>,
    last_exec: Vec<u64>,
    views: Vec<u64>,
    /// Violations found so far.
    pub violations: Vec<Violation>,
    now: u64,
}

impl Checker {
    /// A checker for instances whose correctness is `correct`.
    pub fn new(correct: Vec<bool>) -> Self {
        let n = correct.len();
        Checker {
            correct,
            last_exec: vec![0; n],
            views: vec![0; n],
            ..Checker::default()
        }
    }

    pub(crate) fn set_time(&mut self, nanos: u64) {
        self.now = nanos;
    }

    fn is_correct(&self, i: usize) -> bool {
        self.correct.get(i).copied().unwrap_or(false)
    }

    fn violate(&mut self, instance: usize, what: String) {
        if self.violations.len() < 20 {
            self.violations.push(Violation {
                at_nanos: self.now,
                instance,
                what,
            });
        }
    }

    /// Distinct non-null sequence numbers executed by correct instances.
    pub fn committed_batches(&self) -> u64 {
        self.executed.len() as u64
    }

    /// Whether `batch` content was executed at `seq` by someone correct.
    pub fn executed_content(&self, seq: u64) -> Option<&str> {
        self.executed.get(&seq).map(|(d, _)| d.as_str())
    }

    pub(crate) fn on_committed(&mut self, i: usize, seq: u64, digest: &str) {
        if !self.is_correct(i) {
            return;
        }
        match self.committed.get(&seq) {
            Some((d, j)) if d != digest => {
                let what = format!(
                    "S1: seq {seq} committed as {digest:.12} here but {d:.12} at instance {j}"
                );
                self.violate(i, what);
            }
            Some(_) => {}
            None => {
                self.committed.insert(seq, (digest.to_owned(), i));
            }
        }
    }

    pub(crate) fn on_execute(&mut self, i: usize, seq: u64, batch: &RequestBatch) {
        if !self.is_correct(i) {
            return;
        }
        let content = batch_digest(batch);
        match self.executed.get(&seq) {
            Some((d, j)) if *d != content => {
                let what = format!(
                    "S1: seq {seq} executed batch {content:.12} here but {d:.12} at instance {j}"
                );
                self.violate(i, what);
            }
            Some(_) => {}
            None => {
                self.executed.insert(seq, (content, i));
            }
        }
        let last = self.last_exec.get(i).copied().unwrap_or(0);
        if seq <= last {
            self.violate(i, format!("execution not monotone: {seq} after {last}"));
        }
        let gap = (last.saturating_add(1)..seq)
            .find(|s| self.committed.get(s).is_none_or(|(d, _)| !d.is_empty()));
        if let Some(s) = gap {
            let known = self
                .committed
                .get(&s)
                .map(|(d, j)| format!("{d:.12} at instance {j}"));
            let what = format!(
                "execution gap: {seq} executed but {s} was not a null request (committed: {known:?}, last {last})"
            );
            self.violate(i, what);
        }
        if let Some(l) = self.last_exec.get_mut(i) {
            *l = seq;
        }
    }

    pub(crate) fn on_executed(&mut self, i: usize, seq: u64, info: &BlockchainInfo) {
        if !self.is_correct(i) {
            return;
        }
        match self.infos.get(&seq) {
            Some(prev) if prev != info => {
                self.violate(i, format!("S3: hash chain differs at seq {seq}"))
            }
            Some(_) => {}
            None => {
                self.infos.insert(seq, info.clone());
            }
        }
    }

    pub(crate) fn on_jump(&mut self, i: usize, seq: u64) {
        if let Some(l) = self.last_exec.get_mut(i) {
            *l = seq;
        }
    }

    pub(crate) fn on_checkpoint(&mut self, i: usize, seq: u64, id: &str) {
        if !self.is_correct(i) {
            return;
        }
        match self.checkpoints.get(&seq) {
            Some(prev) if prev != id => self.violate(i, format!("S3: checkpoint {seq} id differs")),
            Some(_) => {}
            None => {
                self.checkpoints.insert(seq, id.to_owned());
            }
        }
    }

    pub(crate) fn on_alarm(&mut self, i: usize, alarm: &Alarm) {
        if self.is_correct(i) {
            self.violate(i, format!("alarm on a correct replica: {alarm:?}"));
        }
    }

    pub(crate) fn on_view(&mut self, i: usize, view: u64) {
        let prev = self.views.get(i).copied().unwrap_or(0);
        if view < prev && self.is_correct(i) {
            self.violate(i, format!("view went back from {prev} to {view}"));
        }
        if let Some(v) = self.views.get_mut(i) {
            *v = view.max(prev);
        }
    }

    pub(crate) fn on_buffers(
        &mut self,
        i: usize,
        b: BufferSizes,
        n: usize,
        l: u64,
        max_requests: usize,
    ) {
        let l = usize::try_from(l).unwrap_or(usize::MAX);
        // Certificates: our view and one learned view per other replica
        // (`pbft/handle/learn.rs`), each inside the window, plus committed
        // ones not yet executed.
        let ok = b.certs <= l.saturating_mul(n.saturating_add(2))
            && b.batches <= l.saturating_mul(8)
            && b.checkpoints <= n.saturating_mul(l.saturating_add(2))
            && b.view_changes <= n.saturating_mul(2)
            && b.requests <= max_requests
            && b.qset <= l.saturating_mul(4)
            && b.outputs == 0;
        if !ok && self.is_correct(i) {
            self.violate(i, format!("S5: buffer bound exceeded: {b:?}"));
        }
    }
}
