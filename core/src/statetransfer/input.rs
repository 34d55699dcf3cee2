//! [`Input`]: what the driver feeds the state-transfer machine, and who
//! feeds each variant.

use fabrik_proto::protos::{Block, BlockchainInfo};

use super::PeerId;

/// The block a transfer must reach: PBFT's agreed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Block number (height − 1).
    pub number: u64,
    /// That block's v0.6 hash.
    pub hash: Vec<u8>,
}

impl Target {
    /// The head block of `info` (`None` for an empty chain or an empty hash).
    pub fn from_info(info: &BlockchainInfo) -> Option<Target> {
        let number = info.height.checked_sub(1)?;
        if info.current_block_hash.is_empty() {
            return None;
        }
        Some(Target {
            number,
            hash: info.current_block_hash.clone(),
        })
    }
}

/// An inclusive block range as v0.6 `SyncBlockRange` has it: `start > end`
/// means descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRange {
    /// First block.
    pub start: u64,
    /// Last block (inclusive).
    pub end: u64,
}

impl BlockRange {
    /// Number of blocks in the range.
    pub fn len(&self) -> u64 {
        self.start.abs_diff(self.end).saturating_add(1)
    }

    /// Never empty (both ends are inclusive); for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `i`-th block number of the range, in its direction.
    pub fn nth(&self, i: u64) -> Option<u64> {
        if i >= self.len() {
            return None;
        }
        if self.start >= self.end {
            self.start.checked_sub(i)
        } else {
            self.start.checked_add(i)
        }
    }
}

/// One event for the machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Fed by the executor (v0.6 `UpdateState`, from PBFT's
    /// `Output::StateTransfer`): bring the ledger to `target`, asking
    /// `peers` in turn. Replaces any running transfer (which then ends with
    /// `Failed { Superseded }`).
    Start {
        /// The block to reach.
        target: Target,
        /// Candidate peers (`PeerID.name`, e.g. `vp1`), tried in this order.
        peers: Vec<PeerId>,
    },
    /// Fed by the peer handler for a `SYNC_BLOCKS` message.
    Blocks {
        /// The sender (authenticated transport identity).
        from_peer: PeerId,
        /// `range.correlationId`.
        correlation_id: u64,
        /// The blocks' numbers, in order.
        range: BlockRange,
        /// The blocks.
        blocks: Vec<Block>,
    },
    /// Fed by the peer handler for a `SYNC_STATE_DELTAS` message.
    Deltas {
        /// The sender.
        from_peer: PeerId,
        /// `range.correlationId`.
        correlation_id: u64,
        /// The deltas' block numbers, in order.
        range: BlockRange,
        /// Encoded `StateDelta`s (v0.6 encoding, reference §5.4).
        deltas: Vec<Vec<u8>>,
    },
    /// Fed by the peer handler for a `SYNC_STATE_SNAPSHOT` message.
    SnapshotChunk {
        /// The sender.
        from_peer: PeerId,
        /// `request.correlationId`.
        correlation_id: u64,
        /// Encoded `StateDelta`; empty terminates the snapshot.
        delta: Vec<u8>,
        /// Chunk sequence number, from 0.
        sequence: u64,
        /// The block the snapshot corresponds to.
        block_number: u64,
    },
    /// Fed by the driver once the `Output::Write` with this id is durable.
    Applied {
        /// The write's id.
        write: u64,
    },
    /// Fed by the driver when the `Output::Write` with this id failed (the
    /// store guarantees none of it is visible).
    WriteFailed {
        /// The write's id.
        write: u64,
        /// The store's message.
        reason: String,
    },
    /// Fed by the transport when a peer disconnects or a send to it fails.
    PeerUnavailable {
        /// The peer.
        peer: PeerId,
    },
}
