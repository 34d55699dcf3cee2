//! The message log: per-(view, seq) certificates (v0.6 `certStore`), stored
//! batches (`reqBatchStore`), the P and Q sets, our own checkpoints
//! (`chkpts`) and the checkpoints others sent (`checkpointStore`). It knows
//! how to count quorums but takes no protocol decisions.

use std::collections::{BTreeMap, BTreeSet};

use fabrik_proto::pbft::RequestBatch;
use fabrik_proto::pbft::view_change::Pq;

use super::ReplicaId;

/// Most Q-set entries kept per sequence number (highest views win).
pub(crate) const MAX_QSET_PER_SEQ: usize = 4;

/// What one replica knows about one (view, seq) slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cert {
    /// The digest fixed by the pre-prepare ("" = null request).
    pub(crate) digest: Option<String>,
    /// A pre-prepare was accepted, sent or installed by a new view.
    pub(crate) pre_prepared: bool,
    /// PREPAREs by sender (the primary never prepares).
    pub(crate) prepares: BTreeMap<ReplicaId, String>,
    /// COMMITs by sender.
    pub(crate) commits: BTreeMap<ReplicaId, String>,
    pub(crate) sent_prepare: bool,
    pub(crate) sent_commit: bool,
    /// `Committed` was already reported.
    pub(crate) reported: bool,
    /// Recorded while we were in another view (`handle/learn.rs`): we
    /// never vote for it unless we enter its view and take it up.
    pub(crate) learned: bool,
}

impl Cert {
    fn matching(votes: &BTreeMap<ReplicaId, String>, digest: &str) -> usize {
        votes.values().filter(|d| d.as_str() == digest).count()
    }

    /// v0.6 `prepared`: a pre-prepare plus Q−1 matching prepares.
    pub(crate) fn prepared(&self, quorum: usize) -> bool {
        match (&self.digest, self.pre_prepared) {
            (Some(d), true) => Self::matching(&self.prepares, d) >= quorum.saturating_sub(1),
            _ => false,
        }
    }

    /// v0.6 `committed`: prepared plus `commit_quorum` matching commits.
    pub(crate) fn committed(&self, quorum: usize, commit_quorum: usize) -> bool {
        self.prepared(quorum)
            && self
                .digest
                .as_deref()
                .is_some_and(|d| Self::matching(&self.commits, d) >= commit_quorum)
    }
}

/// The replica's log, bounded by the watermark window and the current view.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log {
    pub(crate) certs: BTreeMap<(u64, u64), Cert>,
    pub(crate) batches: BTreeMap<String, RequestBatch>,
    /// seq → (seq, digest, view) prepared here.
    pub(crate) pset: BTreeMap<u64, Pq>,
    /// (seq, digest) → (seq, digest, view) pre-prepared here.
    pub(crate) qset: BTreeMap<(u64, String), Pq>,
    /// Our own checkpoints: seq → id.
    pub(crate) chkpts: BTreeMap<u64, String>,
    /// Checkpoints received (and our own): (seq, replica) → id.
    pub(crate) checkpoints: BTreeMap<(u64, ReplicaId), String>,
}

impl Log {
    pub(crate) fn cert_mut(&mut self, view: u64, seq: u64) -> &mut Cert {
        self.certs.entry((view, seq)).or_default()
    }

    pub(crate) fn cert(&self, view: u64, seq: u64) -> Option<&Cert> {
        self.certs.get(&(view, seq))
    }

    /// The committed digest at `seq` in any view, if any.
    pub(crate) fn committed_digest(
        &self,
        seq: u64,
        quorum: usize,
        commit_quorum: usize,
    ) -> Option<String> {
        self.certs
            .iter()
            .filter(|((_, n), c)| *n == seq && c.committed(quorum, commit_quorum))
            .find_map(|(_, c)| c.digest.clone())
    }

    /// Whether another slot in `view` already carries `digest`.
    pub(crate) fn digest_in_use(&self, view: u64, digest: &str) -> bool {
        self.certs
            .iter()
            .any(|((v, _), c)| *v == view && c.pre_prepared && c.digest.as_deref() == Some(digest))
    }

    /// Records `(seq, digest, view)` in the P-set; true if it changed.
    pub(crate) fn add_pset(&mut self, seq: u64, digest: &str, view: u64) -> bool {
        if self.pset.get(&seq).is_some_and(|p| p.view >= view) {
            return false;
        }
        let pq = Pq {
            sequence_number: seq,
            batch_digest: digest.to_owned(),
            view,
        };
        self.pset.insert(seq, pq);
        true
    }

    /// Records `(seq, digest, view)` in the Q-set, keeping at most
    /// [`MAX_QSET_PER_SEQ`] digests per seq (the highest views); true if it
    /// changed.
    pub(crate) fn add_qset(&mut self, seq: u64, digest: &str, view: u64) -> bool {
        let key = (seq, digest.to_owned());
        if self.qset.get(&key).is_some_and(|q| q.view >= view) {
            return false;
        }
        self.qset.insert(
            key,
            Pq {
                sequence_number: seq,
                batch_digest: digest.to_owned(),
                view,
            },
        );
        let mut at_seq: Vec<(u64, String)> = self
            .qset
            .iter()
            .filter(|((n, _), _)| *n == seq)
            .map(|((_, d), q)| (q.view, d.clone()))
            .collect();
        if at_seq.len() > MAX_QSET_PER_SEQ {
            at_seq.sort();
            if let Some((_, lowest)) = at_seq.first() {
                self.qset.remove(&(seq, lowest.clone()));
            }
        }
        true
    }

    /// Garbage-collects everything at or below `h` (v0.6 `moveWatermarks`);
    /// returns the own checkpoints and batches that were dropped.
    pub(crate) fn gc(
        &mut self,
        h: u64,
        keep_digests: &BTreeSet<String>,
    ) -> (Vec<u64>, Vec<String>) {
        self.certs.retain(|(_, n), _| *n > h);
        self.checkpoints.retain(|(n, _), _| *n > h);
        self.pset.retain(|n, _| *n > h);
        self.qset.retain(|(n, _), _| *n > h);
        let old_chkpts: Vec<u64> = self.chkpts.range(..h).map(|(n, _)| *n).collect();
        for n in &old_chkpts {
            self.chkpts.remove(n);
        }
        let live = self.live_digests(keep_digests);
        let dead: Vec<String> = self
            .batches
            .keys()
            .filter(|d| !live.contains(*d))
            .cloned()
            .collect();
        for d in &dead {
            self.batches.remove(d);
        }
        (old_chkpts, dead)
    }

    fn live_digests(&self, keep: &BTreeSet<String>) -> BTreeSet<String> {
        let mut live = keep.clone();
        live.extend(self.certs.values().filter_map(|c| c.digest.clone()));
        live.extend(self.pset.values().map(|p| p.batch_digest.clone()));
        live.extend(self.qset.values().map(|q| q.batch_digest.clone()));
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_needs_pre_prepare_and_q_minus_one_matching_prepares() {
        let mut c = Cert {
            digest: Some("d".into()),
            ..Cert::default()
        };
        c.prepares.insert(1, "d".into());
        c.prepares.insert(2, "d".into());
        assert!(!c.prepared(3), "no pre-prepare yet");
        c.pre_prepared = true;
        assert!(c.prepared(3));
        c.prepares.insert(2, "x".into());
        assert!(!c.prepared(3), "a mismatching prepare does not count");
    }

    #[test]
    fn committed_needs_q_matching_commits() {
        let mut c = Cert {
            digest: Some("d".into()),
            pre_prepared: true,
            ..Cert::default()
        };
        c.prepares.extend([(1, "d".into()), (2, "d".into())]);
        c.commits.extend([(0, "d".into()), (1, "d".into())]);
        assert!(!c.committed(3, 3));
        c.commits.insert(3, "d".into());
        assert!(c.committed(3, 3));
    }

    #[test]
    fn qset_keeps_the_highest_views_per_seq() {
        let mut log = Log::default();
        for v in 0..6u64 {
            assert!(log.add_qset(5, &format!("d{v}"), v));
        }
        let views: Vec<u64> = log.qset.values().map(|q| q.view).collect();
        assert_eq!(views.len(), MAX_QSET_PER_SEQ);
        assert!(!views.contains(&0) && !views.contains(&1));
    }

    #[test]
    fn gc_drops_everything_at_or_below_h_but_keeps_own_checkpoint_at_h() {
        let mut log = Log::default();
        log.cert_mut(0, 10).digest = Some("a".into());
        log.cert_mut(0, 11).digest = Some("b".into());
        log.batches.insert("a".into(), RequestBatch::default());
        log.batches.insert("b".into(), RequestBatch::default());
        log.chkpts.insert(0, "x".into());
        log.chkpts.insert(10, "y".into());
        let (chk, dead) = log.gc(10, &BTreeSet::new());
        assert_eq!(chk, vec![0]);
        assert_eq!(dead, vec!["a".to_string()]);
        assert!(log.cert(0, 10).is_none() && log.cert(0, 11).is_some());
        assert!(log.chkpts.contains_key(&10));
    }
}
