//! Checking the state against its block and replaying deltas forwards
//! (reference §4.5 steps 3 and 4): `SYNC_STATE_GET_DELTAS` pages of
//! `blocksperrequest`, each delta applied on its own, the resulting state
//! hash compared with that block's stateHash before anything is written
//! (a mismatch writes nothing: v0.6's rollback), then stored with the
//! delta itself and the new state height.

use std::collections::BTreeMap;

use fabrik_proto::protos::{SyncBlockRange, SyncStateDeltasRequest};

use super::PeerId;
use super::error::{Reject, RejectReason, TransferError};
use super::input::BlockRange;
use super::machine::{Ctx, Fault, Job, Phase, ReqKind, Step, StepResult, Timer};
use super::marker::{StateBasis, put_basis};
use super::output::{Progress, SyncRequest, WriteKind};
use super::snapshot::SnapshotPhase;
use crate::crypto::b64;
use crate::ledger::batch::record_state_delta;
use crate::ledger::kv::KvRead;
use crate::ledger::{StateDelta, apply_delta_writes};

/// The forward replay.
#[derive(Debug)]
pub(crate) struct DeltasPhase {
    /// The block whose delta is applied next.
    next: u64,
    /// The last block of the outstanding request.
    requested_to: u64,
    /// Received deltas by block, with their sender (at most one page).
    buffer: BTreeMap<u64, (PeerId, StateDelta)>,
}

impl DeltasPhase {
    pub(crate) fn new(next: u64) -> Self {
        DeltasPhase {
            next,
            requested_to: next,
            buffer: BTreeMap::new(),
        }
    }

    /// The block awaited (for timeout messages).
    pub(crate) fn next_block(&self) -> u64 {
        self.next
    }

    /// After a failed peer: its deltas are not used.
    pub(crate) fn drop_buffer(&mut self) {
        self.buffer.clear();
    }
}

fn phase(job: &mut Job) -> Option<&mut DeltasPhase> {
    match &mut job.phase {
        Phase::Deltas(d) => Some(d),
        _ => None,
    }
}

/// The stateHash of block `height − 1` (empty for height 0).
fn expected_state_hash<S: KvRead + ?Sized>(
    ctx: &Ctx<'_, S>,
    height: u64,
) -> Result<Vec<u8>, Fault> {
    let Some(number) = height.checked_sub(1) else {
        return Ok(Vec::new());
    };
    let block = ctx
        .ledger()
        .block(number)
        .map_err(Fault::ledger("reading the state's block"))?;
    Ok(block.state_hash)
}

/// v0.6 step 3: the state must equal its block's stateHash.
pub(crate) fn check_state<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let Some(height) = job.state else {
        job.phase = Phase::Snapshot(SnapshotPhase::new());
        return Ok(Step::Continue);
    };
    let expected = expected_state_hash(ctx, height)?;
    let got = ctx
        .ledger()
        .state_hash(&ctx.config.state_config)
        .map_err(Fault::ledger("computing the state hash"))?
        .map(|h| h.to_vec())
        .unwrap_or_default();
    if got == expected {
        ctx.out.progress(Progress::StateVerified { height });
        job.snapshot_peer = None;
        job.phase = Phase::Deltas(DeltasPhase::new(height));
        return Ok(Step::Continue);
    }
    let block = height.saturating_sub(1);
    job.phase = Phase::Snapshot(SnapshotPhase::new());
    match job.snapshot_peer.take() {
        Some(peer) => Err(Fault::Peer {
            peer: peer.clone(),
            error: TransferError::SnapshotStateMismatch {
                peer,
                block,
                expected_b64: b64(&expected),
                got_b64: b64(&got),
            },
        }),
        None => {
            tracing::warn!(
                block,
                "local state does not match its block; taking a snapshot"
            );
            ctx.out.progress(Progress::LocalStateMismatch { block });
            Ok(Step::Continue)
        }
    }
}

/// One pump step of the replay.
pub(crate) fn step<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let target = job.target.number;
    let idle = job.outstanding.is_none();
    let Some(replay) = phase(job) else {
        return Ok(Step::Wait);
    };
    if replay.next > target {
        job.phase = Phase::Finishing;
        return Ok(Step::Continue);
    }
    if let Some((peer, delta)) = replay.buffer.remove(&replay.next) {
        let block = replay.next;
        apply(ctx, &peer, block, &delta)?;
        replay.next = block.saturating_add(1);
        job.state = Some(replay.next);
        return Ok(Step::Continue);
    }
    if !idle {
        return Ok(Step::Wait);
    }
    let start = replay.next;
    let end = start
        .saturating_add(ctx.config.page().saturating_sub(1))
        .min(target);
    replay.requested_to = end;
    let peer = job.peers.current().ok_or(Fault::Fatal {
        error: TransferError::NoPeers { target },
        retry: true,
    })?;
    let out = ctx.out.request(peer, ReqKind::Deltas, |correlation_id| {
        SyncRequest::Deltas(SyncStateDeltasRequest {
            range: Some(SyncBlockRange {
                correlation_id,
                start,
                end,
            }),
        })
    });
    job.outstanding = Some(out);
    let due = ctx.now + ctx.config.timeout_single_state_delta;
    ctx.out.timers.set(Timer::Request, due);
    Ok(Step::Wait)
}

/// Replays the delta of `block` if it yields the block's stateHash.
fn apply<S: KvRead + ?Sized>(
    ctx: &mut Ctx<'_, S>,
    peer: &str,
    block: u64,
    delta: &StateDelta,
) -> Result<(), Fault> {
    let expected = expected_state_hash(ctx, block.saturating_add(1))?;
    let (hash, mut batch) = apply_delta_writes(ctx.store, delta, &ctx.config.state_config)
        .map_err(Fault::ledger("replaying a state delta"))?;
    let got = hash.map(|h| h.to_vec()).unwrap_or_default();
    if got != expected {
        return Err(Fault::Peer {
            peer: peer.to_owned(),
            error: TransferError::DeltaStateHashMismatch {
                peer: peer.to_owned(),
                block,
                expected_b64: b64(&expected),
                got_b64: b64(&got),
            },
        });
    }
    record_state_delta(&mut batch, block, delta, ctx.config.delta_history_size);
    put_basis(&mut batch, StateBasis::Height(block.saturating_add(1)));
    ctx.out.write(batch, WriteKind::Delta { block });
    ctx.out.progress(Progress::DeltaApplied { block });
    Ok(())
}

/// A `SYNC_STATE_DELTAS` from `peer`.
pub(crate) fn on_deltas<S: KvRead + ?Sized>(
    job: &mut Job,
    ctx: &mut Ctx<'_, S>,
    peer: &str,
    correlation_id: u64,
    range: BlockRange,
    deltas: &[Vec<u8>],
) -> Result<Result<(), Fault>, Reject> {
    job.check_reply(peer, correlation_id, ReqKind::Deltas)?;
    let Some(replay) = phase(job) else {
        return Err(Reject::new(Some(peer), RejectReason::NotRunning));
    };
    let fault = |error| {
        Ok(Err(Fault::Peer {
            peer: peer.to_owned(),
            error,
        }))
    };
    let malformed = |reason: String| TransferError::MalformedReply {
        peer: peer.to_owned(),
        what: "state deltas",
        reason,
    };
    if deltas.len() as u64 != range.len() || (range.start > range.end) {
        let reason = format!(
            "{} deltas for range {}..={}",
            deltas.len(),
            range.start,
            range.end
        );
        return fault(malformed(reason));
    }
    if range.start < replay.next || range.end > replay.requested_to {
        if range.end < replay.next {
            let reason = RejectReason::Duplicate {
                what: "state delta",
                number: range.start,
            };
            return Err(Reject::new(Some(peer), reason));
        }
        let reason = format!("range {}..={} outside the request", range.start, range.end);
        return fault(malformed(reason));
    }
    for (block, bytes) in (range.start..).zip(deltas) {
        let decoded = if bytes.is_empty() {
            Ok(StateDelta::new())
        } else {
            StateDelta::decode(bytes)
        };
        match decoded {
            Ok(delta) => {
                replay.buffer.insert(block, (peer.to_owned(), delta));
            }
            Err(e) => {
                let reason = e.to_string();
                return fault(TransferError::DeltaDecode {
                    peer: peer.to_owned(),
                    block,
                    reason,
                });
            }
        }
    }
    let complete = replay.buffer.contains_key(&replay.requested_to);
    job.peers.progress();
    if complete {
        job.outstanding = None;
        ctx.out.timers.stop(&Timer::Request);
    } else {
        let due = ctx.now + ctx.config.timeout_single_state_delta;
        ctx.out.timers.set(Timer::Request, due);
    }
    Ok(Ok(()))
}
