//! Catch-up by state transfer (v0.6 `core/peer/statetransfer`, reference
//! §4.5), as the pure machine [`StateTransfer`]: it brings a ledger to a
//! target block (PBFT's agreed checkpoint: number and hash) from a list of
//! candidate peers, checking every block hash and every state hash.
//!
//! ```text
//!   executor / PBFT ── Input::Start{target, peers} ──▶ plan: state height h
//!                                                      (marker or chain height)
//!        gap = target+1−h > maxdeltas, or state partial?
//!          yes ─▶ snapshot: Write(wipe) ▶ Request(SyncGetSnapshot{id})
//!                 ◀ SnapshotChunk{seq 0,1,..} ▶ Write(chunk) each ◀ Applied
//!                 ◀ empty terminator ▶ Write(marker = snapshot block + 1)
//!        blocks: Request(SyncGetBlocks{id, hi→lo}) ◀ Blocks ▶ hash == expected?
//!                 ▶ Write(page of raw blocks) ◀ Applied … until a local block
//!                 matches or block 0
//!        check:  state hash == stateHash of block h−1 ? (else snapshot)
//!        deltas: Request(SyncGetDeltas{id, lo→hi}) ◀ Deltas ▶ per block:
//!                 new state hash == block's stateHash ? Write(state+delta)
//!                 : PeerFailed, next peer (nothing written)
//!        Write(remove marker) ◀ Applied ▶ Done{info}
//!   handle_timeout ─ Request / FullState timer ─▶ PeerFailed, next peer
//! ```
//!
//! Design: the machine is generic over the synchronous store `S: KvRead`
//! it reads (height, blocks, state hash, bucket-tree nodes for computing
//! writes); it never writes. Every change is an [`Output::Write`] that the
//! driver applies durably and acknowledges with [`Input::Applied`]; at most
//! one write is in flight and the store is read only when none is, so reads
//! see all earlier writes. Passing facts in inputs instead would move the
//! bucket-tree computation into the io layer; reading inside `handle` keeps
//! the whole algorithm here and testable over [`crate::ledger::kv::MemKv`].
//!
//! Crash safety: every write of a transfer also records the state marker
//! ([`marker`]), so after a crash the next transfer knows what the state
//! corresponds to, and [`state_basis`] tells the node at start-up whether
//! queries must be refused until a transfer completes.
//!
//! Where fabrik differs from v0.6: peers are tried in turn and the transfer
//! gives up (retriably) once every peer failed without progress in
//! between; replies are accepted only from the peer asked, with the
//! outstanding correlation id (others are a [`Reject`]); every buffer is
//! bounded (one page of blocks or deltas, `max_buffered_chunks` chunks).

mod blocks;
mod config;
mod deltas;
mod error;
mod input;
mod machine;
pub mod marker;
mod output;
mod peers;
mod snapshot;

#[cfg(test)]
mod tests;

/// A peer's id (v0.6 `PeerID.name`, e.g. `vp1`).
pub type PeerId = String;

pub use config::Config;
pub use error::{Reject, RejectReason, TransferError};
pub use input::{BlockRange, Input, Target};
pub use machine::StateTransfer;
pub use marker::{STATE_MARKER_KEY, StateBasis, state_basis};
pub use output::{Output, Progress, SyncRequest, WriteKind};
