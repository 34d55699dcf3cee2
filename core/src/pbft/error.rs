//! Typed rejections. Where v0.6 panics or silently trusts a peer (an unknown
//! sender, a forged replica id, f+2 checkpoint ids, a bad signature), the
//! replica returns a [`Reject`] naming the sender and the reason, counts
//! it, and stays usable.

use super::ReplicaId;

/// Why one input was refused. The replica's state is unchanged except for
/// rejection counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected input from {from:?}: {reason}")]
pub struct Reject {
    /// The authenticated sender, or `None` for local inputs.
    pub from: Option<ReplicaId>,
    /// What was wrong.
    pub reason: RejectReason,
}

/// The reasons an input can be refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The transport delivered a message from an id outside `0..N`.
    #[error("unknown replica {0}")]
    UnknownReplica(ReplicaId),
    /// The message's `replica_id` is not the authenticated sender.
    #[error("message claims replica {claimed} but came from {actual}")]
    WrongReplicaId {
        /// The id in the message.
        claimed: ReplicaId,
        /// The id the transport authenticated.
        actual: ReplicaId,
    },
    /// The message could not be decoded or has no payload.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message type fabrik does not accept from peers.
    #[error("unsupported message type {0}")]
    Unsupported(&'static str),
    /// A PRE-PREPARE or NEW-VIEW from a replica that is not the primary.
    #[error("replica {from} is not the primary of view {view}")]
    NotPrimary {
        /// The sender.
        from: ReplicaId,
        /// The view concerned.
        view: u64,
    },
    /// A PREPARE from the primary (the primary never prepares).
    #[error("the primary does not send PREPARE")]
    PrepareFromPrimary,
    /// A message for a view other than the current one.
    #[error("message for view {view}, current view {current}")]
    WrongView {
        /// The message's view.
        view: u64,
        /// Our view.
        current: u64,
    },
    /// A normal-case message while a view change is in progress.
    #[error("view {0} is not active")]
    ViewNotActive(u64),
    /// A sequence number outside (h, h+L].
    #[error("sequence number {seq} outside ({low}, {high}]")]
    OutOfWindow {
        /// The sequence number.
        seq: u64,
        /// The low watermark h.
        low: u64,
        /// The high watermark h+L.
        high: u64,
    },
    /// The batch does not hash to the claimed digest.
    #[error("batch digest mismatch")]
    DigestMismatch,
    /// A non-null PRE-PREPARE without its batch, or a null one with a batch.
    #[error("incomplete or inconsistent payload")]
    IncompletePayload,
    /// A second, different message from the same sender for the same slot
    /// (equivocation).
    #[error("conflicting message for view {view} seq {seq}")]
    Conflict {
        /// The view.
        view: u64,
        /// The sequence number.
        seq: u64,
    },
    /// Already received.
    #[error("duplicate")]
    Duplicate,
    /// The request verifier hook refused the request.
    #[error("request signature does not verify")]
    BadRequestSignature,
    /// A request not newer than what was already executed from its origin.
    #[error("stale request timestamp")]
    StaleRequest,
    /// A VIEW-CHANGE signature does not verify.
    #[error("bad signature from replica {0}")]
    BadSignature(ReplicaId),
    /// A VIEW-CHANGE or NEW-VIEW that breaks the protocol's structural rules.
    #[error("invalid view change: {0}")]
    InvalidViewChange(&'static str),
    /// A NEW-VIEW whose xset does not match our recomputation.
    #[error("new-view xset does not match")]
    XsetMismatch,
    /// A bounded buffer is full.
    #[error("buffer full: {0}")]
    BufferFull(&'static str),
    /// A batch we did not ask for.
    #[error("unsolicited batch")]
    Unsolicited,
    /// A local input that does not fit the replica's state (driver bug).
    #[error("unexpected local input: {0}")]
    UnexpectedInput(&'static str),
    /// The replica halted after detecting divergence.
    #[error("replica halted after divergence")]
    Halted,
}

impl RejectReason {
    /// A short, fixed label for metrics (`fabrik_consensus_rejected_total{reason=..}`).
    pub fn label(&self) -> &'static str {
        #[allow(clippy::match_same_arms)]
        match self {
            RejectReason::UnknownReplica { .. } => "unknown_replica",
            RejectReason::WrongReplicaId { .. } => "wrong_replica_id",
            RejectReason::Malformed { .. } => "malformed",
            RejectReason::Unsupported { .. } => "unsupported",
            RejectReason::NotPrimary { .. } => "not_primary",
            RejectReason::PrepareFromPrimary => "prepare_from_primary",
            RejectReason::WrongView { .. } => "wrong_view",
            RejectReason::ViewNotActive { .. } => "view_not_active",
            RejectReason::OutOfWindow { .. } => "out_of_window",
            RejectReason::DigestMismatch => "digest_mismatch",
            RejectReason::IncompletePayload => "incomplete_payload",
            RejectReason::Conflict { .. } => "conflict",
            RejectReason::Duplicate => "duplicate",
            RejectReason::BadRequestSignature => "bad_request_signature",
            RejectReason::StaleRequest => "stale_request",
            RejectReason::BadSignature { .. } => "bad_signature",
            RejectReason::InvalidViewChange { .. } => "invalid_view_change",
            RejectReason::XsetMismatch => "xset_mismatch",
            RejectReason::BufferFull { .. } => "buffer_full",
            RejectReason::Unsolicited => "unsolicited",
            RejectReason::UnexpectedInput { .. } => "unexpected_input",
            RejectReason::Halted => "halted",
        }
    }
    /// Whether this rejection proves the sender misbehaved (rather than
    /// being late, duplicated or out of window, which honest peers cause).
    pub fn is_misbehavior(&self) -> bool {
        matches!(
            self,
            RejectReason::WrongReplicaId { .. }
                | RejectReason::Malformed(_)
                | RejectReason::NotPrimary { .. }
                | RejectReason::PrepareFromPrimary
                | RejectReason::DigestMismatch
                | RejectReason::IncompletePayload
                | RejectReason::Conflict { .. }
                | RejectReason::BadSignature(_)
                | RejectReason::BadRequestSignature
                | RejectReason::InvalidViewChange(_)
                | RejectReason::XsetMismatch
        )
    }

    /// Whether a client request refused for this reason will never be
    /// ordered (so its client must be told). A duplicate or an already
    /// executed request is refused too, but its first copy goes on.
    pub fn refuses_request(&self) -> bool {
        matches!(
            self,
            RejectReason::BufferFull(_) | RejectReason::BadRequestSignature
        )
    }
}
