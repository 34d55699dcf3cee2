//! What the replica asks the driver to do. Outputs are performed in order;
//! a [`Output::Persist`] must be durable before any later output is
//! performed, because the messages after it depend on it (style.md 10.2 rule 4).

use fabrik_proto::pbft::{NewView, PQset, RequestBatch, ViewChange};

use super::ReplicaId;
use super::error::RejectReason;
use super::input::PeerMsg;

/// One effect for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write to the consensus store (v0.6 `persistCF`, keys `consensus.*`)
    /// and wait until it is durable before performing the next output.
    Persist(PersistOp),
    /// Send to every other replica (never to ourselves).
    Broadcast(PeerMsg),
    /// Send to one replica.
    Send {
        /// Destination.
        to: ReplicaId,
        /// The message.
        msg: PeerMsg,
    },
    /// Execute the batch agreed at `seq` and commit one block for it, then
    /// feed [`super::Input::Executed`]. At most one execution is
    /// outstanding; they come strictly in sequence order. Null requests are
    /// never executed. The executor must skip transactions it already
    /// committed (a request may be re-ordered after a view change).
    Execute {
        /// The sequence number (block metadata `Metadata{seqNo}`).
        seq: u64,
        /// The agreed batch.
        batch: RequestBatch,
    },
    /// `seq` committed with `digest` ("" for a null request). Informational.
    Committed {
        /// Sequence number.
        seq: u64,
        /// Batch digest.
        digest: String,
    },
    /// The state is out of date: queries must be refused ("state may be
    /// inconsistent") until [`Output::StateValid`]. Given during a state
    /// transfer (v0.6) and while the replica knows the network committed
    /// past it (fabrik, `handle/staleness.rs`); once per change.
    StateInvalid,
    /// The state is valid again: queries may be answered.
    StateValid,
    /// Bring the ledger to the checkpoint `seq` whose id is `id` (base64 of
    /// the marshalled BlockchainInfo), fetching from `replicas`; then feed
    /// [`super::Input::StateTransferred`] or
    /// [`super::Input::StateTransferFailed`].
    StateTransfer {
        /// Target sequence number.
        seq: u64,
        /// Target checkpoint id.
        id: String,
        /// Replicas that vouched for it.
        replicas: Vec<ReplicaId>,
    },
    /// A client request submitted here ([`super::Input::Request`]) was
    /// refused: it will never be ordered, so whoever submitted it must be
    /// told (the io layer publishes a rejection event for its transaction).
    RequestRefused {
        /// The refused request.
        request: fabrik_proto::pbft::Request,
        /// Why.
        reason: RejectReason,
    },
    /// A new view is active.
    ViewChanged {
        /// The view.
        view: u64,
        /// Its primary.
        primary: ReplicaId,
    },
    /// `from` sent something only a faulty replica sends; the io layer may
    /// count it or disconnect.
    Misbehavior {
        /// The sender.
        from: ReplicaId,
        /// What it did.
        reason: RejectReason,
    },
    /// Something v0.6 panics on. The replica keeps running unless the alarm
    /// says it halted.
    Alarm(Alarm),
}

/// Conditions that need an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alarm {
    /// Our checkpoint differs from a weak (f+1) certificate: our ledger
    /// diverged. The replica halts (rejects every further input).
    OwnCheckpointDiverged {
        /// Sequence number.
        seq: u64,
        /// Our id.
        own: String,
        /// The certified id.
        certified: String,
    },
    /// f+2 distinct checkpoint ids for one sequence number: no stable
    /// certificate can ever form for it.
    NoStableCertificate {
        /// Sequence number.
        seq: u64,
    },
}

/// A write to the consensus store. [`super::PersistedState::apply`] shows
/// the intended effect of each.
#[derive(Debug, Clone, PartialEq)]
pub enum PersistOp {
    /// Replace `consensus.pset`.
    PSet(PQset),
    /// Replace `consensus.qset`.
    QSet(PQset),
    /// Store `consensus.reqBatch.<digest>`.
    StoreBatch {
        /// Digest.
        digest: String,
        /// Batch.
        batch: RequestBatch,
    },
    /// Delete `consensus.reqBatch.<digest>`.
    DeleteBatch {
        /// Digest.
        digest: String,
    },
    /// Delete every stored batch.
    DeleteAllBatches,
    /// Store `consensus.chkpt.<seq>` = raw BlockchainInfo bytes.
    Checkpoint {
        /// Sequence number.
        seq: u64,
        /// Marshalled BlockchainInfo (not base64).
        info: Vec<u8>,
    },
    /// Delete `consensus.chkpt.<seq>`.
    DeleteCheckpoint {
        /// Sequence number.
        seq: u64,
    },
    /// fabrik: our latest signed VIEW-CHANGE (it fixes the view we promised
    /// to move to; v0.6 did not persist it).
    ViewChange(ViewChange),
    /// fabrik: the NEW-VIEW we installed last.
    NewView(NewView),
}
