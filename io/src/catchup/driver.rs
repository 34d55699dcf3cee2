//! Runs the pure `StateTransfer` machine: requests go out through a
//! [`SyncTransport`], writes are applied to the [`Store`] durably (on a
//! blocking thread) and acknowledged at once with `Input::Applied`, replies
//! come in through the driver's inbox (the peer handler decodes them with
//! [`input_from_message`]), timers fire from the machine's deadline.
//!
//! ```text
//!  executor ── Input::Start ──▶ inbox ─▶ StateTransfer ─▶ Request ─▶ SyncTransport::send
//!  peer handler ── SYNC_BLOCKS / SYNC_STATE_DELTAS / SYNC_STATE_SNAPSHOT
//!               ── input_from_message ─▶ inbox
//!                                   Write ─▶ Store::apply (fsync) ─▶ Input::Applied
//!                                   Done / Failed ─▶ outcomes channel
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use fabrik_core::machine::Machine;
use fabrik_core::statetransfer::{
    BlockRange, Config, Input, Output, StateTransfer, TransferError, state_basis,
};
use fabrik_proto::protos::message::Type as MsgType;
use fabrik_proto::protos::{
    BlockchainInfo, Message, SyncBlocks, SyncStateDeltas, SyncStateSnapshot,
};
use prost::Message as _;
use tokio::sync::mpsc;

use super::Shared;
use crate::driver::Clock;
use crate::exec::now_timestamp;
use crate::store::Store;

/// Sends v0.6 peer messages (the QUIC transport implements it).
pub trait SyncTransport: Send + Sync + 'static {
    /// Sends `msg` to the peer named `to` (`PeerID.name`). Resolves once the
    /// message is queued; a full queue may wait or fail, at the transport's
    /// choice.
    fn send(
        &self,
        to: &str,
        msg: Message,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// A message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot send to peer {peer}: {reason}")]
pub struct TransportError {
    /// The destination.
    pub peer: String,
    /// Why.
    pub reason: String,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The ledger is at the target; `info` is its head.
    Done(BlockchainInfo),
    /// It is not; `retry` says whether the same target may work later.
    Failed {
        /// Why.
        error: TransferError,
        /// Retriable (v0.6 "recoverable").
        retry: bool,
    },
}

/// Decodes a `SYNC_BLOCKS`, `SYNC_STATE_DELTAS` or `SYNC_STATE_SNAPSHOT`
/// from `from` into the machine's input; `None` for any other type.
pub fn input_from_message(from: &str, msg: &Message) -> Option<Result<Input, prost::DecodeError>> {
    let payload = msg.payload.as_slice();
    let range = |r: Option<fabrik_proto::protos::SyncBlockRange>| {
        let r = r.unwrap_or_default();
        (
            r.correlation_id,
            BlockRange {
                start: r.start,
                end: r.end,
            },
        )
    };
    let input = match MsgType::try_from(msg.r#type).ok()? {
        MsgType::SyncBlocks => SyncBlocks::decode(payload).map(|m| {
            let (correlation_id, range) = range(m.range);
            Input::Blocks {
                from_peer: from.to_owned(),
                correlation_id,
                range,
                blocks: m.blocks,
            }
        }),
        MsgType::SyncStateDeltas => SyncStateDeltas::decode(payload).map(|m| {
            let (correlation_id, range) = range(m.range);
            Input::Deltas {
                from_peer: from.to_owned(),
                correlation_id,
                range,
                deltas: m.deltas,
            }
        }),
        MsgType::SyncStateSnapshot => {
            SyncStateSnapshot::decode(payload).map(|m| Input::SnapshotChunk {
                from_peer: from.to_owned(),
                correlation_id: m.request.map_or(0, |r| r.correlation_id),
                delta: m.delta,
                sequence: m.sequence,
                block_number: m.block_number,
            })
        }
        _ => return None,
    };
    Some(input)
}

type ValidityHook = Box<dyn Fn(bool) + Send>;

/// The task that owns a `StateTransfer` machine.
pub struct CatchUpDriver<T: SyncTransport> {
    machine: StateTransfer<Shared<Store>>,
    store: Arc<Store>,
    transport: Arc<T>,
    outcomes: mpsc::Sender<Outcome>,
    clock: Clock,
    state_invalid: Option<ValidityHook>,
}

impl<T: SyncTransport> std::fmt::Debug for CatchUpDriver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchUpDriver")
            .field("running", &self.machine.is_running())
            .finish()
    }
}

impl<T: SyncTransport> CatchUpDriver<T> {
    /// A driver over `store` sending through `transport`; every finished
    /// transfer is reported on `outcomes`.
    pub fn new(
        store: Arc<Store>,
        transport: Arc<T>,
        config: Config,
        outcomes: mpsc::Sender<Outcome>,
    ) -> Self {
        CatchUpDriver {
            machine: StateTransfer::new(Shared(Arc::clone(&store)), config),
            store,
            transport,
            outcomes,
            clock: Clock::new(),
            state_invalid: None,
        }
    }

    /// Calls `hook(true)` when a transfer starts and `hook(false)` when one
    /// ends with the state matching the head again (wire it to
    /// `Executor::set_state_invalid`, so queries answer "state may be
    /// inconsistent" meanwhile).
    pub fn on_state_invalid(mut self, hook: impl Fn(bool) + Send + 'static) -> Self {
        self.state_invalid = Some(Box::new(hook));
        self
    }

    /// Runs until `inbox` closes.
    pub async fn run(mut self, mut inbox: mpsc::Receiver<Input>) {
        loop {
            let input = match self.machine.poll_timeout() {
                Some(at) if self.clock.now() >= at => None,
                Some(at) => tokio::select! {
                    input = inbox.recv() => match input { Some(i) => Some(i), None => return },
                    () = tokio::time::sleep_until(self.clock.to_tokio(at)) => None,
                },
                None => match inbox.recv().await {
                    Some(i) => Some(i),
                    None => return,
                },
            };
            match input {
                Some(input) => self.feed(input).await,
                None => {
                    self.machine.handle_timeout(self.clock.now());
                    self.drain().await;
                }
            }
        }
    }

    async fn feed(&mut self, input: Input) {
        if matches!(input, Input::Start { .. }) {
            self.set_invalid(true);
            if let Some(delay) = super::delay::before_transfer() {
                tracing::warn!(
                    ?delay,
                    "{}: TEST HOOK delaying this state transfer",
                    super::delay::ENV
                );
                tokio::time::sleep(delay).await;
            }
        }
        self.handle(input);
        self.drain().await;
    }

    fn handle(&mut self, input: Input) {
        if let Err(reject) = self.machine.handle(self.clock.now(), input) {
            tracing::debug!(%reject, "state transfer input rejected");
        }
    }

    /// Performs every output; inputs they produce (Applied, PeerUnavailable)
    /// are fed back before returning.
    async fn drain(&mut self) {
        let mut follow_ups = VecDeque::new();
        loop {
            while let Some(output) = self.machine.poll_output() {
                if let Some(input) = self.perform(output).await {
                    follow_ups.push_back(input);
                }
            }
            let Some(input) = follow_ups.pop_front() else {
                return;
            };
            self.handle(input);
        }
    }

    async fn perform(&mut self, output: Output) -> Option<Input> {
        match output {
            Output::Request { to_peer, request } => {
                let mut msg = request.to_message();
                msg.timestamp = Some(now_timestamp());
                let sent = self.transport.send(&to_peer, msg).await;
                sent.err().map(|e| {
                    tracing::debug!(%e, "state transfer request not sent");
                    Input::PeerUnavailable { peer: to_peer }
                })
            }
            Output::Write { id, batch, what } => {
                let store = Arc::clone(&self.store);
                let applied = tokio::task::spawn_blocking(move || store.apply(&batch)).await;
                Some(match applied {
                    Ok(Ok(())) => Input::Applied { write: id },
                    Ok(Err(e)) => Input::WriteFailed {
                        write: id,
                        reason: format!("{what:?}: {e}"),
                    },
                    Err(e) => Input::WriteFailed {
                        write: id,
                        reason: format!("{what:?}: {e}"),
                    },
                })
            }
            Output::Progress(p) => {
                tracing::info!(?p, "catch-up");
                None
            }
            Output::PeerFailed { peer, error } => {
                tracing::warn!(%peer, %error, "catch-up dropped a peer");
                None
            }
            Output::Done { info } => {
                self.ended();
                let _ = self.outcomes.send(Outcome::Done(info)).await;
                None
            }
            Output::Failed { error, retry } => {
                tracing::warn!(%error, retry, "catch-up failed");
                self.ended();
                let _ = self.outcomes.send(Outcome::Failed { error, retry }).await;
                None
            }
        }
    }

    /// After a transfer: queries are allowed again only if the state is the head's.
    fn ended(&self) {
        let consistent = state_basis(&*self.store).is_ok_and(|b| b.is_consistent());
        if consistent {
            self.set_invalid(false);
        }
    }

    fn set_invalid(&self, invalid: bool) {
        if let Some(hook) = &self.state_invalid {
            hook(invalid);
        }
    }
}
