//! Whether queries may be answered from this replica's state.
//!
//! v0.6 refuses queries ("state may be inconsistent, cannot query") only
//! while `skipInProgress` is set, that is during a state transfer. A replica
//! that restarted after missing a batch and then received later ones holds
//! their commits but cannot execute them: it waits for a checkpoint to
//! transfer to and meanwhile answers queries from a state the network has
//! moved past (issue #17, seen on a real network). fabrik refuses queries
//! there too: whenever the replica *knows* it is behind, because f+1
//! replicas committed or checkpointed a sequence number above what it has
//! executed while its next slot holds nothing it could execute.
//!
//! A replica that is merely slow is not behind in this sense: its next slot
//! is pre-prepared (or committed) and will execute on its own, so under
//! load a healthy backup keeps answering queries, as in v0.6.

use std::collections::{BTreeMap, BTreeSet};

use crate::pbft::ReplicaId;
use crate::pbft::output::Output;
use crate::pbft::replica::Replica;

impl Replica {
    /// Tells the driver to refuse queries (`true`) or answer them again,
    /// once per change.
    pub(crate) fn refuse_queries(&mut self, refuse: bool) {
        if self.xfer.queries_refused == refuse {
            return;
        }
        self.xfer.queries_refused = refuse;
        self.emit(if refuse {
            Output::StateInvalid
        } else {
            Output::StateValid
        });
    }

    /// Brings the driver's query flag up to date after an input.
    pub(crate) fn report_staleness(&mut self) {
        let refuse = self.xfer.skip || self.knows_it_is_behind();
        if refuse != self.xfer.queries_refused {
            tracing::info!(
                replica = self.cfg.id,
                last_exec = self.last_exec,
                refuse,
                "query refusal changed: the replica {}",
                if refuse {
                    "knows the network committed past it"
                } else {
                    "caught up"
                }
            );
        }
        self.refuse_queries(refuse);
    }

    /// f+1 replicas committed or checkpointed a sequence number above the
    /// one this replica executes next, and that next slot holds neither a
    /// pre-prepare nor a commit certificate, so nothing will execute here
    /// until a view change or a state transfer fills it.
    fn knows_it_is_behind(&self) -> bool {
        let exec = self.current_exec.unwrap_or(self.last_exec);
        let next = exec.saturating_add(1);
        if self.next_slot_can_fill(next) {
            return false;
        }
        self.others_committed_above(next) || self.weak_checkpoint_above(exec)
    }

    fn next_slot_can_fill(&self, next: u64) -> bool {
        if self
            .log
            .certs
            .get(&(self.view, next))
            .is_some_and(|c| c.pre_prepared)
        {
            return true;
        }
        let (q, cq) = (self.quorum(), self.commit_quorum());
        self.log
            .certs
            .iter()
            .any(|((_, n), c)| *n == next && (c.pre_prepared || c.committed(q, cq)))
    }

    /// Some slot above `next` holds COMMITs from f+1 other replicas (at
    /// least one of them correct, so that slot prepared in the network; our
    /// own COMMIT says nothing about the others).
    fn others_committed_above(&self, next: u64) -> bool {
        let (weak, me) = (self.cfg.weak_quorum(), self.cfg.id);
        self.log.certs.iter().any(|((_, n), c)| {
            *n > next && c.commits.keys().filter(|from| **from != me).count() >= weak
        })
    }

    /// f+1 replicas vouched for one checkpoint above `exec`, in the window
    /// or above it (a replica counted once, whichever map holds its vote).
    fn weak_checkpoint_above(&self, exec: u64) -> bool {
        let weak = self.cfg.weak_quorum();
        let above = exec.saturating_add(1);
        let in_window = self.log.checkpoints.range((above, 0)..);
        let beyond = self.xfer.evidence.range((above, 0)..);
        let mut vouchers: BTreeMap<(u64, &str), BTreeSet<ReplicaId>> = BTreeMap::new();
        in_window.chain(beyond).any(|((seq, from), id)| {
            let set = vouchers.entry((*seq, id.as_str())).or_default();
            set.insert(*from);
            set.len() >= weak
        })
    }
}
