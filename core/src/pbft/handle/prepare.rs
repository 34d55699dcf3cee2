//! PREPARE: v0.6 `pbftCore.recvPrepare` and `maybeSendCommit`
//! (Castro–Liskov §4.2: prepared(m, v, n, i) = pre-prepare plus 2f matching
//! prepares; v0.6 uses Q−1 with Q = ⌊(N+f+2)/2⌋).

use fabrik_proto::pbft::{Commit, Prepare, message};

use crate::pbft::ReplicaId;
use crate::pbft::error::RejectReason;
use crate::pbft::handle::learn::Vote;
use crate::pbft::replica::Replica;

impl Replica {
    pub(crate) fn on_prepare(&mut self, from: ReplicaId, p: &Prepare) -> Result<(), RejectReason> {
        if from == self.cfg.primary(p.view) {
            return Err(RejectReason::PrepareFromPrimary);
        }
        if self.learnable(from, p.view)? {
            let vote = (p.view, p.sequence_number, p.batch_digest.as_str());
            return self.learn_vote(from, Vote::Prepare, vote);
        }
        if !self.in_window(p.sequence_number) {
            return Err(self.out_of_window(p.sequence_number));
        }
        let (view, seq) = (p.view, p.sequence_number);
        if let Some(prev) = self.log.cert(view, seq).and_then(|c| c.prepares.get(&from)) {
            return Err(if *prev == p.batch_digest {
                RejectReason::Duplicate
            } else {
                RejectReason::Conflict { view, seq }
            });
        }
        self.log
            .cert_mut(view, seq)
            .prepares
            .insert(from, p.batch_digest.clone());
        self.maybe_send_commit(view, seq);
        Ok(())
    }

    /// v0.6 `maybeSendCommit`: once prepared, persist the P-set entry, count
    /// our own COMMIT and broadcast it.
    pub(crate) fn maybe_send_commit(&mut self, view: u64, seq: u64) {
        let quorum = self.quorum();
        let Some(cert) = self.log.cert(view, seq) else {
            return;
        };
        if !cert.prepared(quorum) || cert.sent_commit || cert.learned {
            self.check_committed(view, seq);
            return;
        }
        let Some(digest) = cert.digest.clone() else {
            return;
        };
        let id = self.cfg.id;
        let cert = self.log.cert_mut(view, seq);
        cert.sent_commit = true;
        cert.commits.insert(id, digest.clone());
        if self.log.add_pset(seq, &digest, view) {
            self.persist_pset();
        }
        let commit = Commit {
            view,
            sequence_number: seq,
            batch_digest: digest,
            replica_id: id,
        };
        self.broadcast(message::Payload::Commit(commit));
        self.check_committed(view, seq);
    }
}
