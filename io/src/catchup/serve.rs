//! The serving side of catch-up (reference §3.1): answers to
//! `SYNC_GET_BLOCKS`, `SYNC_STATE_GET_DELTAS` and `SYNC_STATE_GET_SNAPSHOT`
//! read from any [`KvRead`] store, as the v0.6 `Message` envelopes to send
//! back, each request bounded by [`ServeLimits`].
//!
//! Snapshot consistency: `Store` reads are not one fjall snapshot. The
//! snapshot walk reads the chain height first and re-reads it after every
//! page; every ledger commit changes the height in the same atomic batch,
//! so an unchanged height after a page proves that no commit became visible
//! before that page was read, and the pages together are the state after
//! block `height − 1`. If the height moved, the stream ends with
//! [`ServeError::StateChanged`] and sends no terminator; the requester's
//! chunk timeout moves it to another peer (and it would catch a torn
//! snapshot anyway: the state hash is checked against the block). A peer
//! whose own state is apart from its head (the catch-up marker is set)
//! refuses snapshots. If `Store` grows a `snapshot()` returning a
//! `KvRead` over one `fjall::Snapshot`, pass that here instead; the check
//! then never fires.

use fabrik_core::ledger::chain::SnapshotCursor;
use fabrik_core::ledger::keys::state_delta_key;
use fabrik_core::ledger::kv::{KvRead, Partition};
use fabrik_core::ledger::{Ledger, LedgerError};
use fabrik_core::statetransfer::{BlockRange, StateBasis, state_basis};
use fabrik_proto::protos::message::Type as MsgType;
use fabrik_proto::protos::{
    Message, SyncBlockRange, SyncBlocks, SyncStateDeltas, SyncStateDeltasRequest,
    SyncStateSnapshot, SyncStateSnapshotRequest,
};
use prost::Message as _;

use super::driver::{SyncTransport, TransportError};
use crate::exec::now_timestamp;

/// Bounds of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most blocks sent for one `SYNC_GET_BLOCKS`.
    pub max_blocks: u64,
    /// Most deltas sent for one `SYNC_STATE_GET_DELTAS`.
    pub max_deltas: u64,
    /// Keys per `SYNC_STATE_SNAPSHOT` chunk (v0.6 sends one).
    pub snapshot_chunk_keys: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_blocks: 500,
            max_deltas: 500,
            snapshot_chunk_keys: 100,
        }
    }
}

/// Why a request could not be (fully) answered.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request payload does not decode.
    #[error("{kind} request from {peer} does not decode: {source}")]
    Decode {
        /// The requester.
        peer: String,
        /// Message type.
        kind: &'static str,
        /// Decoder error.
        source: prost::DecodeError,
    },
    /// The local ledger could not be read.
    #[error("reading the ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Our state is not the head's (we are catching up ourselves) or empty.
    #[error("cannot serve a state snapshot: {0}")]
    StateNotServable(&'static str),
    /// A commit landed during the snapshot walk.
    #[error("the chain grew from height {from} to {to} during the snapshot; aborted")]
    StateChanged {
        /// Height at the start.
        from: u64,
        /// Height seen after a page.
        to: u64,
    },
    /// The answer could not be sent.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

fn envelope(kind: MsgType, payload: Vec<u8>) -> Message {
    Message {
        r#type: kind as i32,
        timestamp: Some(now_timestamp()),
        payload,
        signature: Vec::new(),
    }
}

/// `SYNC_GET_BLOCKS`: one `SYNC_BLOCKS` per block (range start = end = n,
/// the request's correlation id), in the requested direction, stopping at
/// the first missing block or after `max_blocks`.
///
/// # Errors
/// A store failure or a corrupt block.
pub fn serve_blocks<S: KvRead + ?Sized>(
    store: &S,
    request: &SyncBlockRange,
    limits: &ServeLimits,
) -> Result<Vec<Message>, ServeError> {
    let ledger = Ledger::new(store);
    let range = BlockRange {
        start: request.start,
        end: request.end,
    };
    let mut out = Vec::new();
    for i in 0..range.len().min(limits.max_blocks) {
        let Some(number) = range.nth(i) else { break };
        let block = match ledger.block(number) {
            Ok(block) => block,
            Err(LedgerError::BlockNotFound { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        let reply = SyncBlocks {
            range: Some(single(request.correlation_id, number)),
            blocks: vec![block],
        };
        out.push(envelope(MsgType::SyncBlocks, reply.encode_to_vec()));
    }
    Ok(out)
}

fn single(correlation_id: u64, number: u64) -> SyncBlockRange {
    SyncBlockRange {
        correlation_id,
        start: number,
        end: number,
    }
}

/// `SYNC_STATE_GET_DELTAS`: one `SYNC_STATE_DELTAS` per block with its
/// stored delta, stopping at the first delta no longer kept (pruned beyond
/// `deltaHistorySize`) or after `max_deltas`.
///
/// # Errors
/// A store failure.
pub fn serve_deltas<S: KvRead + ?Sized>(
    store: &S,
    request: &SyncStateDeltasRequest,
    limits: &ServeLimits,
) -> Result<Vec<Message>, ServeError> {
    let r = request.range.unwrap_or_default();
    let range = BlockRange {
        start: r.start,
        end: r.end,
    };
    let mut out = Vec::new();
    for i in 0..range.len().min(limits.max_deltas) {
        let Some(number) = range.nth(i) else { break };
        let key = state_delta_key(number);
        let Some(delta) = store
            .get(Partition::StateDelta, &key)
            .map_err(LedgerError::from)?
        else {
            break;
        };
        let reply = SyncStateDeltas {
            range: Some(single(r.correlation_id, number)),
            deltas: vec![delta],
        };
        out.push(envelope(MsgType::SyncStateDeltas, reply.encode_to_vec()));
    }
    Ok(out)
}

/// A lazy `SYNC_STATE_SNAPSHOT` stream: chunks of up to
/// `snapshot_chunk_keys` keys as StateDeltas of sets, sequence 0, 1, …,
/// blockNumber = height − 1, then the terminator (empty delta, next
/// sequence). See the module doc for consistency.
#[derive(Debug)]
pub struct SnapshotStream<'a, S: KvRead + ?Sized> {
    store: &'a S,
    correlation_id: u64,
    height: u64,
    keys: usize,
    cursor: Option<SnapshotCursor>,
    sequence: u64,
    pages_done: bool,
    finished: bool,
}

/// Starts a snapshot answer.
///
/// # Errors
/// [`ServeError::StateNotServable`] while our own state is apart from the
/// head or the chain is empty; a store failure.
pub fn serve_snapshot<'a, S: KvRead + ?Sized>(
    store: &'a S,
    request: &SyncStateSnapshotRequest,
    limits: &ServeLimits,
) -> Result<SnapshotStream<'a, S>, ServeError> {
    if state_basis(store)? != StateBasis::Head {
        return Err(ServeError::StateNotServable(
            "our own catch-up is in progress",
        ));
    }
    let height = Ledger::new(store).height()?;
    if height == 0 {
        return Err(ServeError::StateNotServable("no blocks"));
    }
    Ok(SnapshotStream {
        store,
        correlation_id: request.correlation_id,
        height,
        keys: limits.snapshot_chunk_keys.max(1),
        cursor: None,
        sequence: 0,
        pages_done: false,
        finished: false,
    })
}

impl<S: KvRead + ?Sized> SnapshotStream<'_, S> {
    fn chunk(&mut self, delta: Vec<u8>) -> Message {
        let reply = SyncStateSnapshot {
            delta,
            sequence: self.sequence,
            block_number: self.height.saturating_sub(1),
            request: Some(SyncStateSnapshotRequest {
                correlation_id: self.correlation_id,
            }),
        };
        self.sequence = self.sequence.saturating_add(1);
        envelope(MsgType::SyncStateSnapshot, reply.encode_to_vec())
    }

    /// The next non-empty page as a chunk, or the terminator after the last.
    fn next_chunk(&mut self) -> Result<Message, ServeError> {
        let ledger = Ledger::new(self.store);
        while !self.pages_done {
            let page = ledger.state_snapshot(self.cursor.as_ref(), self.keys)?;
            let now = ledger.height()?;
            if now != self.height {
                return Err(ServeError::StateChanged {
                    from: self.height,
                    to: now,
                });
            }
            self.pages_done = page.next.is_none();
            self.cursor = page.next;
            if !page.delta.is_empty() {
                return Ok(self.chunk(page.delta.encode()));
            }
        }
        self.finished = true;
        Ok(self.chunk(Vec::new()))
    }
}

impl<S: KvRead + ?Sized> Iterator for SnapshotStream<'_, S> {
    type Item = Result<Message, ServeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.next_chunk();
        if item.is_err() {
            self.finished = true;
        }
        Some(item)
    }
}

/// Answers `msg` from `from` if it is a `SYNC_GET_BLOCKS`,
/// `SYNC_STATE_GET_DELTAS` or `SYNC_STATE_GET_SNAPSHOT`, sending every
/// reply through `transport`. Returns `false` for any other message type.
///
/// # Errors
/// An undecodable request, a ledger read failure, an aborted snapshot or a
/// failed send.
pub async fn answer<S: KvRead + Sync + ?Sized, T: SyncTransport>(
    store: &S,
    transport: &T,
    from: &str,
    msg: &Message,
    limits: &ServeLimits,
) -> Result<bool, ServeError> {
    let decode_err = |kind| {
        move |source| ServeError::Decode {
            peer: from.to_owned(),
            kind,
            source,
        }
    };
    let replies = match MsgType::try_from(msg.r#type) {
        Ok(MsgType::SyncGetBlocks) => {
            let req = SyncBlockRange::decode(msg.payload.as_slice())
                .map_err(decode_err("SYNC_GET_BLOCKS"))?;
            serve_blocks(store, &req, limits)?
        }
        Ok(MsgType::SyncStateGetDeltas) => {
            let req = SyncStateDeltasRequest::decode(msg.payload.as_slice())
                .map_err(decode_err("SYNC_STATE_GET_DELTAS"))?;
            serve_deltas(store, &req, limits)?
        }
        Ok(MsgType::SyncStateGetSnapshot) => {
            let req = SyncStateSnapshotRequest::decode(msg.payload.as_slice())
                .map_err(decode_err("SYNC_STATE_GET_SNAPSHOT"))?;
            for chunk in serve_snapshot(store, &req, limits)? {
                transport.send(from, chunk?).await?;
            }
            return Ok(true);
        }
        _ => return Ok(false),
    };
    for reply in replies {
        transport.send(from, reply).await?;
    }
    Ok(true)
}
