//! The full-snapshot path (reference §4.5 step 1): wipe the state, ask one
//! peer for `SYNC_STATE_GET_SNAPSHOT`, apply its chunks in sequence order
//! as they arrive, and on the empty terminator record the snapshot's block
//! as the state's basis. The state is checked against that block's
//! stateHash once the blocks are in (see `deltas::check_state`).

use std::collections::VecDeque;

use fabrik_proto::protos::SyncStateSnapshotRequest;

use super::PeerId;
use super::blocks::BlocksPhase;
use super::error::{Reject, RejectReason, TransferError};
use super::machine::{Ctx, Fault, Job, Phase, ReqKind, Step, StepResult, Timer};
use super::marker::{StateBasis, put_basis};
use super::output::{Progress, SyncRequest, WriteKind};
use crate::ledger::StateDelta;
use crate::ledger::apply_delta_writes;
use crate::ledger::kv::KvRead;

/// The snapshot phase.
#[derive(Debug)]
pub(crate) struct SnapshotPhase {
    step: SnapStep,
}

#[derive(Debug)]
enum SnapStep {
    /// Wipe the state (again, after a failed attempt).
    Wipe,
    /// Ask the current peer.
    Request,
    /// Apply chunks as they come.
    Receiving(Receiving),
}

#[derive(Debug)]
struct Receiving {
    peer: PeerId,
    /// Sequence number of the next chunk expected from the peer.
    next_receive: u64,
    /// The snapshot's block, from its first chunk.
    block: Option<u64>,
    /// Received, not yet applied.
    chunks: VecDeque<Received>,
    applied: u64,
}

#[derive(Debug)]
enum Received {
    Delta { sequence: u64, delta: StateDelta },
    End { block: u64 },
}

/// A `SYNC_STATE_SNAPSHOT` message's fields.
pub(crate) struct Chunk<'a> {
    pub(crate) correlation_id: u64,
    pub(crate) delta: &'a [u8],
    pub(crate) sequence: u64,
    pub(crate) block_number: u64,
}

impl SnapshotPhase {
    pub(crate) fn new() -> Self {
        SnapshotPhase {
            step: SnapStep::Wipe,
        }
    }

    /// After a failed attempt: wipe and ask the next peer.
    pub(crate) fn restart(&mut self) {
        self.step = SnapStep::Wipe;
    }

    /// Sequence number awaited (for timeout messages).
    pub(crate) fn next_sequence(&self) -> u64 {
        match &self.step {
            SnapStep::Receiving(r) => r.next_receive,
            _ => 0,
        }
    }
}

fn phase(job: &mut Job) -> Option<&mut SnapshotPhase> {
    match &mut job.phase {
        Phase::Snapshot(s) => Some(s),
        _ => None,
    }
}

/// One pump step of the snapshot phase.
pub(crate) fn step<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let Job {
        target,
        peers,
        state,
        snapshot_peer,
        phase,
        outstanding,
    } = job;
    let Phase::Snapshot(snap) = phase else {
        return Ok(Step::Wait);
    };
    match &mut snap.step {
        SnapStep::Wipe => {
            let mut batch = ctx
                .ledger()
                .wipe_state_writes()
                .map_err(Fault::ledger("listing the state to wipe"))?;
            put_basis(&mut batch, StateBasis::Unknown);
            ctx.out.write(batch, WriteKind::WipeState);
            snap.step = SnapStep::Request;
            *state = None;
            *snapshot_peer = None;
            Ok(Step::Continue)
        }
        SnapStep::Request => {
            let peer = peers.current().ok_or(Fault::Fatal {
                error: TransferError::NoPeers {
                    target: target.number,
                },
                retry: true,
            })?;
            let out = ctx.out.request(peer.clone(), ReqKind::Snapshot, |id| {
                SyncRequest::Snapshot(SyncStateSnapshotRequest { correlation_id: id })
            });
            let timers = &mut ctx.out.timers;
            timers.set(
                Timer::Request,
                ctx.now + ctx.config.timeout_single_state_delta,
            );
            timers.set(Timer::FullState, ctx.now + ctx.config.timeout_full_state);
            *outstanding = Some(out);
            snap.step = SnapStep::Receiving(Receiving {
                peer,
                next_receive: 0,
                block: None,
                chunks: VecDeque::new(),
                applied: 0,
            });
            Ok(Step::Wait)
        }
        SnapStep::Receiving(r) => match r.chunks.pop_front() {
            None => Ok(Step::Wait),
            Some(Received::Delta { sequence, delta }) => {
                let (_, batch) = apply_delta_writes(ctx.store, &delta, &ctx.config.state_config)
                    .map_err(Fault::ledger("applying a snapshot chunk"))?;
                ctx.out.write(batch, WriteKind::SnapshotChunk { sequence });
                r.applied = r.applied.saturating_add(1);
                Ok(Step::Continue)
            }
            Some(Received::End { block }) => {
                let (peer, chunks) = (r.peer.clone(), r.applied);
                complete(job, ctx, peer, block, chunks)
            }
        },
    }
}

/// The terminator: the state is the snapshot's block's (unverified yet).
fn complete<S: KvRead + ?Sized>(
    job: &mut Job,
    ctx: &mut Ctx<'_, S>,
    peer: PeerId,
    block: u64,
    chunks: u64,
) -> StepResult {
    let height = block.saturating_add(1);
    let mut batch = crate::ledger::kv::WriteBatch::new();
    put_basis(&mut batch, StateBasis::Height(height));
    ctx.out.write(batch, WriteKind::SnapshotDone { block });
    ctx.out.timers.stop(&Timer::FullState);
    ctx.out.progress(Progress::SnapshotReceived {
        peer: peer.clone(),
        block,
        chunks,
    });
    job.state = Some(height);
    job.peers.progress();
    if block > job.target.number {
        return Err(Fault::Fatal {
            error: TransferError::SnapshotAheadOfTarget {
                peer,
                state_block: block,
                target: job.target.number,
            },
            retry: false,
        });
    }
    job.snapshot_peer = Some(peer);
    job.phase = Phase::Blocks(BlocksPhase::new(&job.target));
    Ok(Step::Continue)
}

/// A `SYNC_STATE_SNAPSHOT` from `peer`.
pub(crate) fn on_chunk<S: KvRead + ?Sized>(
    job: &mut Job,
    ctx: &mut Ctx<'_, S>,
    peer: &str,
    chunk: Chunk<'_>,
) -> Result<Result<(), Fault>, Reject> {
    job.check_reply(peer, chunk.correlation_id, ReqKind::Snapshot)?;
    let max = ctx.config.max_buffered_chunks;
    let Some(SnapshotPhase {
        step: SnapStep::Receiving(r),
    }) = phase(job)
    else {
        return Err(Reject::new(Some(peer), RejectReason::NotRunning));
    };
    let bad = |reason: String| Fault::Peer {
        peer: peer.to_owned(),
        error: TransferError::BadSnapshotChunk {
            peer: peer.to_owned(),
            sequence: chunk.sequence,
            reason,
        },
    };
    if chunk.sequence < r.next_receive {
        let reason = RejectReason::Duplicate {
            what: "snapshot chunk",
            number: chunk.sequence,
        };
        return Err(Reject::new(Some(peer), reason));
    }
    if chunk.sequence > r.next_receive {
        return Ok(Err(bad(format!("expected chunk {}", r.next_receive))));
    }
    if let Some(block) = r.block.filter(|b| *b != chunk.block_number) {
        let reason = format!(
            "block number changed from {block} to {}",
            chunk.block_number
        );
        return Ok(Err(bad(reason)));
    }
    if r.chunks.len() >= max {
        let reason = RejectReason::Overflow {
            what: "snapshot chunk",
            max,
        };
        return Err(Reject::new(Some(peer), reason));
    }
    let delta = if chunk.delta.is_empty() {
        StateDelta::new()
    } else {
        match StateDelta::decode(chunk.delta) {
            Ok(delta) => delta,
            Err(e) => return Ok(Err(bad(format!("delta does not decode: {e}")))),
        }
    };
    r.block = Some(chunk.block_number);
    r.next_receive = r.next_receive.saturating_add(1);
    if delta.is_empty() {
        r.chunks.push_back(Received::End {
            block: chunk.block_number,
        });
        job.outstanding = None;
        ctx.out.timers.stop(&Timer::Request);
    } else {
        r.chunks.push_back(Received::Delta {
            sequence: chunk.sequence,
            delta,
        });
        let due = ctx.now + ctx.config.timeout_single_state_delta;
        ctx.out.timers.set(Timer::Request, due);
    }
    job.peers.progress();
    Ok(Ok(()))
}
