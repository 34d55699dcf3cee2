//! The backward block walk (reference §4.5 step 2): from the target block
//! and hash, ask for `SYNC_GET_BLOCKS(high → low)` pages of
//! `blocksperrequest`, check every block's hash against the hash the block
//! above it (or the target) names, follow `previousBlockHash` down, and
//! stop at a local block with the expected hash (the chain below it is
//! then ours already) or at block 0. Each page is written as one batch
//! (v0.6 `PutRawBlock` per block).

use fabrik_proto::protos::{Block, SyncBlockRange};

use super::error::{Reject, RejectReason, TransferError};
use super::input::{BlockRange, Target};
use super::machine::{Ctx, Fault, Job, Phase, ReqKind, Step, StepResult, Timer};
use super::marker::put_basis;
use super::output::{Progress, SyncRequest, WriteKind};
use crate::crypto::b64;
use crate::ledger::LedgerError;
use crate::ledger::block::block_hash;
use crate::ledger::keys::BLOCK_COUNT_KEY;
use crate::ledger::kv::{KvRead, Partition, WriteBatch};

/// The block walk.
#[derive(Debug)]
pub(crate) struct BlocksPhase {
    /// The next block to obtain.
    next: u64,
    /// Its expected hash.
    expected: Vec<u8>,
    /// The lowest block of the outstanding page.
    page_low: u64,
    /// Verified, not yet written, highest first (at most two pages).
    verified: Vec<(u64, Block)>,
    /// The walk reached a local match or block 0.
    done: bool,
}

impl BlocksPhase {
    pub(crate) fn new(target: &Target) -> Self {
        BlocksPhase {
            next: target.number,
            expected: target.hash.clone(),
            page_low: target.number,
            verified: Vec::new(),
            done: false,
        }
    }

    /// The block awaited (for timeout messages).
    pub(crate) fn next_block(&self) -> u64 {
        self.next
    }
}

fn phase(job: &mut Job) -> Option<&mut BlocksPhase> {
    match &mut job.phase {
        Phase::Blocks(b) => Some(b),
        _ => None,
    }
}

/// Whether the local block `number` exists with hash `expected`.
fn local_matches<S: KvRead + ?Sized>(
    ctx: &Ctx<'_, S>,
    number: u64,
    expected: &[u8],
) -> Result<bool, Fault> {
    match ctx.ledger().block_hash(number) {
        Ok(hash) => Ok(hash.as_slice() == expected),
        Err(LedgerError::BlockNotFound { .. } | LedgerError::CorruptBlock { .. }) => Ok(false),
        Err(e) => Err(Fault::ledger("reading a local block")(e)),
    }
}

/// One pump step of the walk.
pub(crate) fn step<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let idle = job.outstanding.is_none();
    let target = job.target.number;
    let basis = job.basis();
    let Some(walk) = phase(job) else {
        return Ok(Step::Wait);
    };
    if !walk.verified.is_empty() && (walk.done || idle) {
        flush(walk, ctx, target, basis)?;
        return Ok(Step::Continue);
    }
    if walk.done {
        job.phase = Phase::CheckState;
        return Ok(Step::Continue);
    }
    if !idle {
        return Ok(Step::Wait);
    }
    if local_matches(ctx, walk.next, &walk.expected)? {
        walk.done = true;
        return Ok(Step::Continue);
    }
    let peer = job.peers.current().ok_or(Fault::Fatal {
        error: TransferError::NoPeers { target },
        retry: true,
    })?;
    let Some(walk) = phase(job) else {
        return Ok(Step::Wait);
    };
    let start = walk.next;
    let end = start.saturating_sub(ctx.config.page().saturating_sub(1));
    walk.page_low = end;
    let out = ctx.out.request(peer, ReqKind::Blocks, |correlation_id| {
        SyncRequest::Blocks(SyncBlockRange {
            correlation_id,
            start,
            end,
        })
    });
    job.outstanding = Some(out);
    let due = ctx.now + ctx.config.timeout_single_block;
    ctx.out.timers.set(Timer::Request, due);
    Ok(Step::Wait)
}

/// Writes the verified blocks as one batch. Only the target block may
/// raise `blockCount` (it is written first and is the highest), so the
/// count writes of lower blocks, computed against the same store, are left out.
fn flush<S: KvRead + ?Sized>(
    walk: &mut BlocksPhase,
    ctx: &mut Ctx<'_, S>,
    target: u64,
    basis: super::marker::StateBasis,
) -> Result<(), Fault> {
    let ledger = ctx.ledger();
    let mut batch = WriteBatch::new();
    for (number, block) in &walk.verified {
        let mut writes = ledger
            .raw_block_writes(block, *number)
            .map_err(Fault::ledger("computing block writes"))?;
        if *number != target {
            writes
                .writes
                .retain(|w| !(w.partition == Partition::Blocks && w.key == BLOCK_COUNT_KEY));
        }
        batch.extend(writes);
    }
    put_basis(&mut batch, basis);
    let high = walk.verified.first().map_or(0, |(n, _)| *n);
    let low = walk.verified.last().map_or(0, |(n, _)| *n);
    walk.verified.clear();
    ctx.out.write(batch, WriteKind::Blocks { high, low });
    ctx.out.progress(Progress::BlocksStored { high, low });
    Ok(())
}

/// A `SYNC_BLOCKS` from `peer`.
pub(crate) fn on_blocks<S: KvRead + ?Sized>(
    job: &mut Job,
    ctx: &mut Ctx<'_, S>,
    peer: &str,
    correlation_id: u64,
    range: BlockRange,
    blocks: Vec<Block>,
) -> Result<Result<(), Fault>, Reject> {
    job.check_reply(peer, correlation_id, ReqKind::Blocks)?;
    let Some(walk) = phase(job) else {
        return Err(Reject::new(Some(peer), RejectReason::NotRunning));
    };
    if let Err(fault) = check_shape(peer, range, blocks.len(), ctx.config.page()) {
        return Ok(Err(fault));
    }
    let mut accepted = 0usize;
    let mut result = Ok(());
    for (i, block) in (0u64..).zip(blocks) {
        let Some(number) = range.nth(i) else { break };
        if walk.done || number > walk.next {
            continue;
        }
        match accept(walk, ctx, peer, number, block) {
            Ok(()) => accepted = accepted.saturating_add(1),
            Err(fault) => {
                result = Err(fault);
                break;
            }
        }
    }
    if accepted == 0 && result.is_ok() {
        let number = range.start;
        let reason = RejectReason::Duplicate {
            what: "block",
            number,
        };
        return Err(Reject::new(Some(peer), reason));
    }
    let page_done = walk.done || walk.next < walk.page_low;
    if accepted > 0 {
        job.peers.progress();
    }
    if page_done {
        job.outstanding = None;
        ctx.out.timers.stop(&Timer::Request);
    } else {
        let due = ctx.now + ctx.config.timeout_single_block;
        ctx.out.timers.set(Timer::Request, due);
    }
    Ok(result)
}

/// A reply must be descending (or a single block) and no longer than a page.
fn check_shape(peer: &str, range: BlockRange, count: usize, page: u64) -> Result<(), Fault> {
    let malformed = |reason: String| Fault::Peer {
        peer: peer.to_owned(),
        error: TransferError::MalformedReply {
            peer: peer.to_owned(),
            what: "blocks",
            reason,
        },
    };
    if count as u64 != range.len() {
        return Err(malformed(format!(
            "{count} blocks for range {}..={}",
            range.start, range.end
        )));
    }
    if range.len() > page {
        return Err(malformed(format!(
            "{} blocks, at most {page} asked",
            range.len()
        )));
    }
    if range.start < range.end {
        return Err(malformed("ascending range to a descending request".into()));
    }
    Ok(())
}

/// Verifies block `number` and moves the walk one block down.
fn accept<S: KvRead + ?Sized>(
    walk: &mut BlocksPhase,
    ctx: &Ctx<'_, S>,
    peer: &str,
    number: u64,
    block: Block,
) -> Result<(), Fault> {
    if number < walk.next {
        return Err(Fault::Peer {
            peer: peer.to_owned(),
            error: TransferError::BlockSkipped {
                peer: peer.to_owned(),
                block: walk.next,
                got: number,
            },
        });
    }
    let got = block_hash(&block);
    if got.as_slice() != walk.expected.as_slice() {
        return Err(Fault::Peer {
            peer: peer.to_owned(),
            error: TransferError::BlockHashMismatch {
                peer: peer.to_owned(),
                block: number,
                expected_b64: b64(&walk.expected),
                got_b64: b64(&got),
            },
        });
    }
    walk.expected = block.previous_block_hash.clone();
    walk.verified.push((number, block));
    match number.checked_sub(1) {
        None => walk.done = true,
        Some(below) => {
            walk.next = below;
            walk.done = local_matches(ctx, below, &walk.expected)?;
        }
    }
    Ok(())
}
