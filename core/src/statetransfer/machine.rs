//! [`StateTransfer`]: the machine, its job record, the output box and the
//! pump that moves a transfer forward whenever no write is in flight.

use std::collections::VecDeque;

use fabrik_proto::protos::BlockchainInfo;

use super::PeerId;
use super::blocks::{self, BlocksPhase};
use super::config::Config;
use super::deltas::{self, DeltasPhase};
use super::error::{Reject, RejectReason, TransferError};
use super::input::{Input, Target};
use super::marker::{StateBasis, put_basis, state_basis};
use super::output::{Output, Progress, SyncRequest, WriteKind};
use super::peers::PeerRing;
use super::snapshot::{self, SnapshotPhase};
use crate::ledger::kv::{KvRead, WriteBatch};
use crate::ledger::{Ledger, LedgerError};
use crate::machine::Machine;
use crate::time::{Instant, TimerTable};

/// Upper bound on pump steps per input (a livelock guard; a transfer
/// needs a handful per input).
const MAX_STEPS: usize = 4096;

/// The machine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The outstanding request's next item is due (reset on every item).
    Request,
    /// The whole snapshot is due (`timeout.fullstate`).
    FullState,
}

/// The kind of an outstanding request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReqKind {
    Blocks,
    Deltas,
    Snapshot,
}

impl ReqKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ReqKind::Blocks => "blocks",
            ReqKind::Deltas => "state deltas",
            ReqKind::Snapshot => "state snapshot",
        }
    }
}

/// The request whose replies are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outstanding {
    pub(crate) peer: PeerId,
    pub(crate) correlation_id: u64,
    pub(crate) kind: ReqKind,
}

/// Where a transfer stands.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Read the ledger and decide snapshot or deltas.
    Plan,
    Snapshot(SnapshotPhase),
    Blocks(BlocksPhase),
    /// Compare the state with its block's stateHash.
    CheckState,
    Deltas(DeltasPhase),
    /// Remove the marker if the state matches the head now.
    Finishing,
    /// Report `Done`.
    Finished,
}

/// One transfer.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) peers: PeerRing,
    /// State height (`None`: partial state).
    pub(crate) state: Option<u64>,
    /// The peer whose snapshot the state is, until it is verified.
    pub(crate) snapshot_peer: Option<PeerId>,
    pub(crate) phase: Phase,
    pub(crate) outstanding: Option<Outstanding>,
}

impl Job {
    /// Accepts a reply only from the asked peer, with the outstanding id and kind.
    pub(crate) fn check_reply(
        &self,
        peer: &str,
        correlation_id: u64,
        kind: ReqKind,
    ) -> Result<(), Reject> {
        let reject = |reason| Err(Reject::new(Some(peer), reason));
        let Some(out) = &self.outstanding else {
            return reject(RejectReason::Stale {
                got: correlation_id,
                outstanding: None,
            });
        };
        if out.correlation_id != correlation_id {
            return reject(RejectReason::Stale {
                got: correlation_id,
                outstanding: Some(out.correlation_id),
            });
        }
        if out.peer != peer {
            return reject(RejectReason::WrongPeer {
                asked: out.peer.clone(),
            });
        }
        if out.kind != kind {
            return reject(RejectReason::WrongKind {
                got: kind.name(),
                asked: out.kind.name(),
            });
        }
        Ok(())
    }

    /// The marker value for the current state.
    pub(crate) fn basis(&self) -> StateBasis {
        self.state.map_or(StateBasis::Unknown, StateBasis::Height)
    }
}

/// Outputs, timers and id counters.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) timers: TimerTable<Timer>,
    next_correlation: u64,
    next_write: u64,
    in_flight: Option<u64>,
}

impl Outbox {
    /// Queues a write; no other write is computed until it is applied.
    pub(crate) fn write(&mut self, batch: WriteBatch, what: WriteKind) {
        let id = self.next_write;
        self.next_write = id.wrapping_add(1);
        self.in_flight = Some(id);
        self.outputs.push_back(Output::Write { id, batch, what });
    }

    /// Sends a request with a fresh correlation id.
    pub(crate) fn request(
        &mut self,
        peer: PeerId,
        kind: ReqKind,
        make: impl FnOnce(u64) -> SyncRequest,
    ) -> Outstanding {
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let correlation_id = self.next_correlation;
        self.outputs.push_back(Output::Request {
            to_peer: peer.clone(),
            request: make(correlation_id),
        });
        Outstanding {
            peer,
            correlation_id,
            kind,
        }
    }

    pub(crate) fn progress(&mut self, p: Progress) {
        tracing::debug!(?p, "state transfer progress");
        self.outputs.push_back(Output::Progress(p));
    }
}

/// What the step functions see.
pub(crate) struct Ctx<'a, S: ?Sized> {
    pub(crate) store: &'a S,
    pub(crate) config: &'a Config,
    pub(crate) out: &'a mut Outbox,
    pub(crate) now: Instant,
}

impl<S: KvRead + ?Sized> Ctx<'_, S> {
    pub(crate) fn ledger(&self) -> Ledger<'_, S> {
        Ledger::new(self.store)
    }
}

/// What a step did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Run the pump again.
    Continue,
    /// Nothing to do until an input arrives.
    Wait,
}

/// Why a step or a reply stopped the current attempt.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Drop the peer and go on with the next one.
    Peer { peer: PeerId, error: TransferError },
    /// End the transfer.
    Fatal { error: TransferError, retry: bool },
}

impl Fault {
    pub(crate) fn ledger(during: &'static str) -> impl FnOnce(LedgerError) -> Fault {
        move |source| Fault::Fatal {
            error: TransferError::Ledger { during, source },
            retry: true,
        }
    }
}

pub(crate) type StepResult = Result<Step, Fault>;

/// Catches a ledger up to a target block (reference §4.5), as a pure
/// [`Machine`].
///
/// `S` is the synchronous store the ledger lives in; the machine reads it
/// (heights, blocks, state hash) and computes writes, but never writes:
/// every change is an [`Output::Write`] the driver applies durably before
/// feeding [`Input::Applied`]. The machine emits at most one write at a
/// time and reads the store only while no write is in flight, so its reads
/// always see its own writes. Nobody else may write the ledger during a
/// transfer (v0.6's executor serialises `UpdateState` with execution).
#[derive(Debug)]
pub struct StateTransfer<S: KvRead> {
    store: S,
    config: Config,
    out: Outbox,
    job: Option<Job>,
}

impl<S: KvRead> StateTransfer<S> {
    /// An idle machine over `store`.
    pub fn new(store: S, config: Config) -> Self {
        StateTransfer {
            store,
            config,
            out: Outbox::default(),
            job: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, for a driver or test that applies writes to it directly.
    /// Only apply the batches of [`Output::Write`], in order.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether a transfer is running.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// The id of the write in flight, if any.
    pub fn write_in_flight(&self) -> Option<u64> {
        self.out.in_flight
    }

    fn on_start(&mut self, now: Instant, target: Target, peers: Vec<PeerId>) -> Result<(), Reject> {
        if target.hash.is_empty() {
            return Err(Reject::new(
                None,
                RejectReason::InvalidTarget(format!("block {} has an empty hash", target.number)),
            ));
        }
        if self.job.take().is_some() {
            self.out.outputs.push_back(Output::Failed {
                error: TransferError::Superseded {
                    target: target.number,
                },
                retry: false,
            });
        }
        self.out.timers = TimerTable::new();
        tracing::info!(
            target = target.number,
            peers = peers.len(),
            "state transfer starts"
        );
        self.job = Some(Job {
            target,
            peers: PeerRing::new(peers, self.config.max_peers),
            state: None,
            snapshot_peer: None,
            phase: Phase::Plan,
            outstanding: None,
        });
        self.advance(now);
        Ok(())
    }

    fn on_write_done(
        &mut self,
        now: Instant,
        write: u64,
        failed: Option<String>,
    ) -> Result<(), Reject> {
        if self.out.in_flight != Some(write) {
            return Err(Reject::new(None, RejectReason::UnknownWrite { write }));
        }
        self.out.in_flight = None;
        if let Some(reason) = failed {
            let error = TransferError::WriteFailed { write, reason };
            self.on_fault(Fault::Fatal { error, retry: true });
        }
        self.advance(now);
        Ok(())
    }

    fn on_peer_unavailable(&mut self, now: Instant, peer: PeerId) {
        let Some(job) = self.job.as_mut() else { return };
        job.peers.mark_down(&peer);
        if job.outstanding.as_ref().is_some_and(|o| o.peer == peer) {
            let error = TransferError::PeerUnavailable { peer: peer.clone() };
            self.on_fault(Fault::Peer { peer, error });
        }
        self.advance(now);
    }

    /// Runs a reply handler on the job; faults it reports are handled here.
    fn on_reply(
        &mut self,
        now: Instant,
        peer: &str,
        handler: impl FnOnce(&mut Job, &mut Ctx<'_, S>) -> Result<Result<(), Fault>, Reject>,
    ) -> Result<(), Reject> {
        let Some(job) = self.job.as_mut() else {
            return Err(Reject::new(Some(peer), RejectReason::NotRunning));
        };
        let mut ctx = Ctx {
            store: &self.store,
            config: &self.config,
            out: &mut self.out,
            now,
        };
        if let Err(fault) = handler(job, &mut ctx)? {
            self.on_fault(fault);
        }
        self.advance(now);
        Ok(())
    }

    /// Moves the transfer forward until it waits for an input.
    fn advance(&mut self, now: Instant) {
        for _ in 0..MAX_STEPS {
            if self.out.in_flight.is_some() {
                return;
            }
            let Some(job) = self.job.as_mut() else { return };
            if matches!(job.phase, Phase::Finished) {
                match done_output(&self.store) {
                    Ok(info) => {
                        tracing::info!(height = info.height, "state transfer done");
                        self.finish(Output::Done { info });
                    }
                    Err(fault) => self.on_fault(fault),
                }
                return;
            }
            let mut ctx = Ctx {
                store: &self.store,
                config: &self.config,
                out: &mut self.out,
                now,
            };
            match step(job, &mut ctx) {
                Ok(Step::Wait) => return,
                Ok(Step::Continue) => {}
                Err(fault) => self.on_fault(fault),
            }
        }
        tracing::error!("state transfer pump did not settle; waiting for the next input");
    }

    fn on_fault(&mut self, fault: Fault) {
        let Some(job) = self.job.as_mut() else { return };
        match fault {
            Fault::Peer { peer, error } => {
                tracing::warn!(%peer, %error, "state transfer drops a peer");
                self.out.outputs.push_back(Output::PeerFailed {
                    peer,
                    error: error.clone(),
                });
                job.outstanding = None;
                self.out.timers = TimerTable::new();
                reset_after_fault(job);
                if !job.peers.fail_over() {
                    let target = job.target.number;
                    let error = TransferError::AllPeersFailed {
                        target,
                        last: Box::new(error),
                    };
                    self.finish(Output::Failed { error, retry: true });
                }
            }
            Fault::Fatal { error, retry } => {
                tracing::warn!(%error, retry, "state transfer failed");
                self.finish(Output::Failed { error, retry });
            }
        }
    }

    fn finish(&mut self, output: Output) {
        self.job = None;
        self.out.timers = TimerTable::new();
        self.out.outputs.push_back(output);
    }

    fn on_timeout(&mut self, timer: Timer) {
        let Some(job) = self.job.as_ref() else { return };
        let Some(out) = job.outstanding.clone() else {
            return;
        };
        let block = match &job.phase {
            Phase::Blocks(b) => b.next_block(),
            Phase::Deltas(d) => d.next_block(),
            Phase::Snapshot(s) => s.next_sequence(),
            _ => job.target.number,
        };
        tracing::debug!(?timer, peer = %out.peer, "state transfer timer fired");
        let error = TransferError::Timeout {
            peer: out.peer.clone(),
            what: out.kind.name(),
            block,
        };
        self.on_fault(Fault::Peer {
            peer: out.peer,
            error,
        });
    }
}

/// Phase-specific clean-up after a peer was dropped.
fn reset_after_fault(job: &mut Job) {
    match &mut job.phase {
        Phase::Snapshot(s) => s.restart(),
        Phase::Deltas(d) => d.drop_buffer(),
        _ => {}
    }
}

/// One step of the pump.
fn step<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    match &job.phase {
        Phase::Plan => plan(job, ctx),
        Phase::Snapshot(_) => snapshot::step(job, ctx),
        Phase::Blocks(_) => blocks::step(job, ctx),
        Phase::CheckState => deltas::check_state(job, ctx),
        Phase::Deltas(_) => deltas::step(job, ctx),
        Phase::Finishing => finishing(job, ctx),
        Phase::Finished => Ok(Step::Wait),
    }
}

/// v0.6 `SyncToTarget` step 1: snapshot or deltas?
fn plan<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let height = ctx
        .ledger()
        .height()
        .map_err(Fault::ledger("reading the height"))?;
    let basis = state_basis(ctx.store).map_err(Fault::ledger("reading the state marker"))?;
    let target = job.target.number;
    let ahead = |what, height| Fault::Fatal {
        error: TransferError::AheadOfTarget {
            what,
            height,
            target,
        },
        retry: false,
    };
    if height > target.saturating_add(1) {
        return Err(ahead("chain", height));
    }
    let state = match basis {
        StateBasis::Head => Some(height),
        StateBasis::Height(h) => Some(h),
        StateBasis::Unknown => None,
    };
    if let Some(h) = state.filter(|h| *h > target.saturating_add(1)) {
        return Err(ahead("state", h));
    }
    let gap = |h: u64| target.saturating_add(1).saturating_sub(h);
    let snapshot = state.is_none_or(|h| gap(h) > ctx.config.max_deltas);
    ctx.out.progress(Progress::Started {
        target,
        height,
        snapshot,
    });
    job.state = state;
    job.phase = if snapshot {
        Phase::Snapshot(SnapshotPhase::new())
    } else {
        Phase::Blocks(BlocksPhase::new(&job.target))
    };
    Ok(Step::Continue)
}

/// Removes the marker (the state is the head's again), then reports `Done`.
fn finishing<S: KvRead + ?Sized>(job: &mut Job, ctx: &mut Ctx<'_, S>) -> StepResult {
    let basis = state_basis(ctx.store).map_err(Fault::ledger("reading the state marker"))?;
    if basis != StateBasis::Head {
        let mut batch = WriteBatch::new();
        put_basis(&mut batch, StateBasis::Head);
        ctx.out.write(batch, WriteKind::Finish);
    }
    job.phase = Phase::Finished;
    Ok(Step::Continue)
}

impl<S: KvRead> Machine for StateTransfer<S> {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Reject> {
        match input {
            Input::Start { target, peers } => self.on_start(now, target, peers),
            Input::Blocks {
                from_peer,
                correlation_id,
                range,
                blocks,
            } => self.on_reply(now, &from_peer.clone(), |job, ctx| {
                blocks::on_blocks(job, ctx, &from_peer, correlation_id, range, blocks)
            }),
            Input::Deltas {
                from_peer,
                correlation_id,
                range,
                deltas,
            } => self.on_reply(now, &from_peer.clone(), |job, ctx| {
                deltas::on_deltas(job, ctx, &from_peer, correlation_id, range, &deltas)
            }),
            Input::SnapshotChunk {
                from_peer,
                correlation_id,
                delta,
                sequence,
                block_number,
            } => self.on_reply(now, &from_peer.clone(), |job, ctx| {
                let chunk = snapshot::Chunk {
                    correlation_id,
                    delta: &delta,
                    sequence,
                    block_number,
                };
                snapshot::on_chunk(job, ctx, &from_peer, chunk)
            }),
            Input::Applied { write } => self.on_write_done(now, write, None),
            Input::WriteFailed { write, reason } => self.on_write_done(now, write, Some(reason)),
            Input::PeerUnavailable { peer } => {
                self.on_peer_unavailable(now, peer);
                Ok(())
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for timer in self.out.timers.expire(now) {
            self.on_timeout(timer);
        }
        self.advance(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.out.timers.next_deadline()
    }
}

/// Finishing touch used by `Phase::Finished`: report the chain head.
pub(crate) fn done_output<S: KvRead + ?Sized>(store: &S) -> Result<BlockchainInfo, Fault> {
    Ledger::new(store)
        .blockchain_info()
        .map_err(Fault::ledger("reading the chain head"))
}
