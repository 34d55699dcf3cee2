//! [`Output`]: what the driver must do for the state-transfer machine, in
//! order; a [`Output::Write`] must be durable (and acknowledged with
//! `Input::Applied`) before the machine emits its next write.

use fabrik_proto::ProstMessage;
use fabrik_proto::protos::message::Type as MsgType;
use fabrik_proto::protos::{
    BlockchainInfo, Message, SyncBlockRange, SyncStateDeltasRequest, SyncStateSnapshotRequest,
};

use super::PeerId;
use super::error::TransferError;
use crate::ledger::kv::WriteBatch;

/// A request for a peer (v0.6 `SYNC_GET_BLOCKS`, `SYNC_STATE_GET_DELTAS`,
/// `SYNC_STATE_GET_SNAPSHOT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncRequest {
    /// Blocks `range.start` down to `range.end`.
    Blocks(SyncBlockRange),
    /// The state deltas of `range`.
    Deltas(SyncStateDeltasRequest),
    /// The full state.
    Snapshot(SyncStateSnapshotRequest),
}

impl SyncRequest {
    /// The request's correlation id.
    pub fn correlation_id(&self) -> u64 {
        match self {
            SyncRequest::Blocks(r) => r.correlation_id,
            SyncRequest::Deltas(r) => r.range.map_or(0, |r| r.correlation_id),
            SyncRequest::Snapshot(r) => r.correlation_id,
        }
    }

    /// The v0.6 envelope (no timestamp or signature; the transport may add them).
    pub fn to_message(&self) -> Message {
        let (kind, payload) = match self {
            SyncRequest::Blocks(r) => (MsgType::SyncGetBlocks, r.encode_to_vec()),
            SyncRequest::Deltas(r) => (MsgType::SyncStateGetDeltas, r.encode_to_vec()),
            SyncRequest::Snapshot(r) => (MsgType::SyncStateGetSnapshot, r.encode_to_vec()),
        };
        Message {
            r#type: kind as i32,
            timestamp: None,
            payload,
            signature: Vec::new(),
        }
    }
}

/// What a write holds (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The state is wiped before a snapshot.
    WipeState,
    /// One snapshot chunk.
    SnapshotChunk {
        /// Its sequence number.
        sequence: u64,
    },
    /// The snapshot is complete; the state is that after `block`.
    SnapshotDone {
        /// The snapshot's block.
        block: u64,
    },
    /// Verified blocks `high` down to `low`.
    Blocks {
        /// Highest block.
        high: u64,
        /// Lowest block.
        low: u64,
    },
    /// The state delta of `block`, replayed and checked.
    Delta {
        /// Block number.
        block: u64,
    },
    /// The state matches the head again: the marker is removed.
    Finish,
}

/// Milestones, for logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A transfer began.
    Started {
        /// Target block.
        target: u64,
        /// Local chain height.
        height: u64,
        /// Whether a full snapshot is needed.
        snapshot: bool,
    },
    /// A snapshot is complete (its state is checked once the blocks are in).
    SnapshotReceived {
        /// The peer.
        peer: PeerId,
        /// Its block.
        block: u64,
        /// Chunks applied.
        chunks: u64,
    },
    /// Verified blocks were stored.
    BlocksStored {
        /// Highest block.
        high: u64,
        /// Lowest block.
        low: u64,
    },
    /// The state matches the stateHash of block `height − 1`.
    StateVerified {
        /// State height (blocks whose changes the state holds).
        height: u64,
    },
    /// The local state does not match its block; a snapshot follows.
    LocalStateMismatch {
        /// Block number.
        block: u64,
    },
    /// The delta of `block` was replayed and its state hash checked.
    DeltaApplied {
        /// Block number.
        block: u64,
    },
}

/// One effect for the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `request` to `to_peer`. If it cannot be sent, feed
    /// `Input::PeerUnavailable`.
    Request {
        /// Destination (`PeerID.name`).
        to_peer: PeerId,
        /// The request.
        request: SyncRequest,
    },
    /// Apply `batch` atomically and durably, then feed
    /// `Input::Applied { write: id }` (or `Input::WriteFailed`). No further
    /// write comes before that.
    Write {
        /// Write id (increasing).
        id: u64,
        /// The writes.
        batch: WriteBatch,
        /// What they are.
        what: WriteKind,
    },
    /// For logging.
    Progress(Progress),
    /// `peer` was dropped for this transfer; the io layer may count it as
    /// misbehaviour when the error says the peer sent bad data.
    PeerFailed {
        /// The peer.
        peer: PeerId,
        /// Why.
        error: TransferError,
    },
    /// The ledger is at the target and its state checked: `info` is the
    /// chain head. Queries may be served again.
    Done {
        /// The chain after the transfer.
        info: BlockchainInfo,
    },
    /// The transfer ended without reaching the target. `retry`: v0.6's
    /// "recoverable" (the executor retries with all peers); a
    /// non-retriable failure needs a new target.
    Failed {
        /// Why.
        error: TransferError,
        /// Whether retrying the same target may succeed.
        retry: bool,
    },
}
