//! Per-txid execution contexts (v0.6 `txCtxs`) and range-query iterators.
//!
//! The busy phase (v0.6 `busyinit` / `busyxact`) lives here, per txid, as
//! [`TxCtx::pending`]: one outstanding state/range/invoke request per txid,
//! exactly the "one outstanding request per txid" rule of v0.6, without
//! blocking other txids on the same stream.

use super::types::ExecKind;
use fabrik_proto::protos::ChaincodeMessage;

/// The kind of an execution that has a context (READY completes at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtxKind {
    Init,
    Transaction,
    Query,
}

impl CtxKind {
    /// Whether writes and chaincode invocations are allowed.
    pub(crate) fn is_transaction(self) -> bool {
        !matches!(self, CtxKind::Query)
    }

    pub(crate) fn from_exec(kind: ExecKind) -> Option<Self> {
        match kind {
            ExecKind::Init => Some(CtxKind::Init),
            ExecKind::Transaction => Some(CtxKind::Transaction),
            ExecKind::Query => Some(CtxKind::Query),
            ExecKind::Ready => None,
        }
    }
}

/// Where an execution is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    /// Waiting for the stream's transaction slot; the message to send then.
    Queued(Box<ChaincodeMessage>),
    /// Sent to the chaincode.
    Running,
}

/// The request a txid is waiting on io for (the busy phase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    Read,
    Write,
    Range { id: String },
    Invoke,
}

/// One execution in flight.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TxCtx {
    pub(crate) kind: CtxKind,
    pub(crate) phase: Phase,
    pub(crate) pending: Option<Pending>,
}

/// An open range-query iterator: its range and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeIter {
    pub(crate) txid: String,
    pub(crate) start_key: String,
    pub(crate) end_key: String,
    /// The last key returned; the next page starts after it.
    pub(crate) last_key: Option<String>,
}
