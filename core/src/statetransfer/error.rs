//! Typed failures of a catch-up: [`TransferError`] (why a peer was dropped
//! or the transfer failed, naming the peer and the block) and [`Reject`]
//! (an input refused without any effect).

use super::PeerId;
use crate::ledger::LedgerError;

/// Why a peer was abandoned, or the whole transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// A block's hash is not the one the chain above it (or the target) vouches for.
    #[error("peer {peer} sent block {block} with hash {got_b64}, expected {expected_b64}")]
    BlockHashMismatch {
        /// The peer.
        peer: PeerId,
        /// Block number.
        block: u64,
        /// Expected hash, base64.
        expected_b64: String,
        /// Hash of what was received, base64.
        got_b64: String,
    },
    /// A reply skipped the block that was due next.
    #[error("peer {peer} skipped block {block} (sent {got})")]
    BlockSkipped {
        /// The peer.
        peer: PeerId,
        /// The block that was due.
        block: u64,
        /// The block it sent instead.
        got: u64,
    },
    /// A reply is not shaped as requested (range, count, direction).
    #[error("peer {peer} sent a malformed {what} reply: {reason}")]
    MalformedReply {
        /// The peer.
        peer: PeerId,
        /// Reply kind.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A state delta does not decode.
    #[error("peer {peer} sent an undecodable state delta for block {block}: {reason}")]
    DeltaDecode {
        /// The peer.
        peer: PeerId,
        /// Block number.
        block: u64,
        /// Decoder message.
        reason: String,
    },
    /// Applying a delta would give a state hash other than the block's.
    #[error(
        "state delta of block {block} from peer {peer} gives state hash {got_b64}, block says {expected_b64}; not applied"
    )]
    DeltaStateHashMismatch {
        /// The peer.
        peer: PeerId,
        /// Block number.
        block: u64,
        /// The block's stateHash, base64.
        expected_b64: String,
        /// The hash the delta would give, base64.
        got_b64: String,
    },
    /// A snapshot chunk is out of sequence, changes block or does not decode.
    #[error("peer {peer} sent a bad snapshot chunk {sequence}: {reason}")]
    BadSnapshotChunk {
        /// The peer.
        peer: PeerId,
        /// Chunk sequence number.
        sequence: u64,
        /// What is wrong.
        reason: String,
    },
    /// The state built from a snapshot does not match its block's stateHash.
    #[error(
        "snapshot from peer {peer} for block {block} gives state hash {got_b64}, block says {expected_b64}"
    )]
    SnapshotStateMismatch {
        /// The peer.
        peer: PeerId,
        /// The snapshot's block.
        block: u64,
        /// The block's stateHash, base64.
        expected_b64: String,
        /// The state's hash, base64.
        got_b64: String,
    },
    /// v0.6: "Cannot validate its state, because its current state
    /// corresponds to a higher block number". Not retried.
    #[error(
        "the state corresponds to block {state_block}, above the target block {target}; cannot validate it (snapshot from {peer})"
    )]
    SnapshotAheadOfTarget {
        /// The peer that sent the snapshot.
        peer: PeerId,
        /// The snapshot's block.
        state_block: u64,
        /// The target block.
        target: u64,
    },
    /// The local state or chain is already past the target. Not retried.
    #[error("the local {what} (height {height}) is past the target block {target}")]
    AheadOfTarget {
        /// "state" or "chain".
        what: &'static str,
        /// Local height.
        height: u64,
        /// Target block.
        target: u64,
    },
    /// A request got no (further) answer in time.
    #[error("peer {peer} did not answer {what} from block {block} in time")]
    Timeout {
        /// The peer.
        peer: PeerId,
        /// The request kind.
        what: &'static str,
        /// The block the transfer was waiting for (the snapshot's sequence for snapshots).
        block: u64,
    },
    /// The transport says the peer cannot be reached.
    #[error("peer {peer} is unavailable")]
    PeerUnavailable {
        /// The peer.
        peer: PeerId,
    },
    /// `Start` named no peer.
    #[error("no peer to catch up from for target block {target}")]
    NoPeers {
        /// Target block.
        target: u64,
    },
    /// Every candidate failed in turn without progress; retry later.
    #[error("every peer failed to bring the ledger to block {target}; last: {last}")]
    AllPeersFailed {
        /// Target block.
        target: u64,
        /// The last failure.
        last: Box<TransferError>,
    },
    /// The local ledger could not be read or a write computed.
    #[error("local ledger while {during}: {source}")]
    Ledger {
        /// What the transfer was doing.
        during: &'static str,
        /// The failure.
        source: LedgerError,
    },
    /// The driver could not make a write durable.
    #[error("write {write} failed: {reason}")]
    WriteFailed {
        /// Write id.
        write: u64,
        /// Driver message.
        reason: String,
    },
    /// A newer `Start` replaced this transfer.
    #[error("superseded by a transfer to block {target}")]
    Superseded {
        /// The new target block.
        target: u64,
    },
}

/// Why an input was refused. The machine is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rejected input from {peer:?}: {reason}")]
pub struct Reject {
    /// The peer the input came from, if any.
    pub peer: Option<PeerId>,
    /// Why.
    pub reason: RejectReason,
}

/// The reasons of a [`Reject`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// No transfer is running.
    #[error("no state transfer is running")]
    NotRunning,
    /// The correlation id is not the one of the outstanding request (a late
    /// reply to an earlier request, or an unsolicited one).
    #[error("stale correlation id {got} (outstanding: {outstanding:?})")]
    Stale {
        /// The reply's id.
        got: u64,
        /// The outstanding request's id.
        outstanding: Option<u64>,
    },
    /// The reply came from a peer other than the one asked.
    #[error("reply from a peer that was not asked (asked {asked})")]
    WrongPeer {
        /// The peer asked.
        asked: PeerId,
    },
    /// The reply is of another kind than the outstanding request.
    #[error("{got} reply to a {asked} request")]
    WrongKind {
        /// Reply kind.
        got: &'static str,
        /// Request kind.
        asked: &'static str,
    },
    /// Already received (a duplicate block, delta or chunk).
    #[error("duplicate {what} {number}")]
    Duplicate {
        /// Item kind.
        what: &'static str,
        /// Block number or chunk sequence.
        number: u64,
    },
    /// `Applied`/`WriteFailed` for a write that is not in flight.
    #[error("write {write} is not in flight")]
    UnknownWrite {
        /// Write id.
        write: u64,
    },
    /// A buffer is full.
    #[error("{what} buffer full ({max})")]
    Overflow {
        /// Which buffer.
        what: &'static str,
        /// Its capacity.
        max: usize,
    },
    /// `Start` with a target of height 0 or an empty hash.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
}

impl Reject {
    pub(crate) fn new(peer: Option<&str>, reason: RejectReason) -> Self {
        Reject {
            peer: peer.map(str::to_owned),
            reason,
        }
    }
}
