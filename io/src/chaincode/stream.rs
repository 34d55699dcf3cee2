//! One chaincode stream (`/protos.ChaincodeSupport/Register`): a task that
//! owns the peer-side [`Handler`] machine, feeds it what the chaincode sends
//! and routes what it asks for.
//!
//! ```text
//!  gRPC inbound ──reader──► inbox ──► Handler ──► Send ──► gRPC outbound
//!  executor ──StreamHandle::execute──┘      └──► ReadState/…/Finished ──► the tx's sink
//! ```
//!
//! Each execution registers a sink (the executor's event channel) under its
//! txid in the stream's [`Pending`] table before the `Execute` input is sent;
//! every state request and the final `Finished` of that txid go to that sink.
//! The table settles the race between the chaincode's answer, the executor
//! giving up and the stream's teardown (each execution ends exactly once).
//!
//! [`StreamHandle::close`] ends the stream from the peer's side without
//! going through the handler's inbox: the launcher uses it when it kills a
//! chaincode that let an execution time out. A chaincode whose connection
//! went silent (its packets dropped, say after a network cut, rather than
//! the connection being reset) never sends the end of its stream, and the
//! stream task may be blocked sending to it; without this switch such a
//! stream stayed registered and every later execution was handed to it and
//! timed out in turn, instead of the chaincode being relaunched.

use super::pending::{Pending, RegisterError, Ticket};
use super::registry::Registry;
use crate::driver::{self, Clock, Effects};
use fabrik_core::chaincode::{
    Config as HandlerConfig, ExecKind, ExecResult, Features, Handler, Input, Output,
};
use fabrik_proto::protos::{ChaincodeInput, ChaincodeMessage};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tonic::Status;

/// Bound of a stream's inbox (messages from the chaincode plus replies).
const INBOX: usize = 256;
/// Bound of a stream's outbound queue.
const OUTBOX: usize = 256;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// An output of the handler that belongs to one execution.
#[derive(Debug)]
pub struct ExecEvent {
    /// The chaincode whose handler emitted it.
    pub chaincode: String,
    /// The output (`ReadState`, `WriteState`, …, `Finished`).
    pub output: Output,
}

type Sinks = Arc<Pending<mpsc::Sender<ExecEvent>>>;

/// A cheap handle to a live stream task.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    id: u64,
    name: String,
    inbox: mpsc::Sender<Input>,
    sinks: Sinks,
    ready: Arc<AtomicBool>,
    /// The fabrik extensions granted at REGISTER.
    features: Features,
    clock: Clock,
    /// Set by [`StreamHandle::close`]; the stream task ends on it.
    stop: Arc<watch::Sender<bool>>,
}

/// Why an execution could not be handed to a chaincode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The stream ended.
    #[error("chaincode {0} is no longer connected")]
    Closed(String),
    /// The same txid is already executing on this chaincode.
    #[error("transaction {txid} is already executing on chaincode {name}")]
    Busy {
        /// Chaincode.
        name: String,
        /// Transaction.
        txid: String,
    },
}

impl StreamHandle {
    /// Stream identity (distinguishes a reconnect under the same name).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the task has ended or was told to ([`StreamHandle::close`]).
    pub fn is_closed(&self) -> bool {
        self.inbox.is_closed() || *self.stop.borrow()
    }

    /// Ends the stream from the peer's side, whatever the chaincode does:
    /// it counts as closed at once (so the registry no longer hands it
    /// out), and its task fails every execution still waiting on it,
    /// deregisters it and drops the connection.
    pub fn close(&self) {
        self.stop.send_replace(true);
    }

    /// Whether Init or READY completed on this stream.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether transactions may overlap on this stream (the shim registered
    /// for concurrent transactions).
    pub fn runs_concurrently(&self) -> bool {
        self.features.concurrent_transactions
    }

    /// Whether writes of a transaction get no answer on this stream: the
    /// executor then sends no `WriteDone` and fails the transaction itself
    /// when the ledger refuses a write.
    pub fn writes_unacked(&self) -> bool {
        self.features.unacked_writes
    }

    /// Marks Init/READY done.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Starts an execution; its events go to `sink`. The ticket lets the
    /// caller [`StreamHandle::abandon`] it.
    ///
    /// # Errors
    /// [`SendError`] when the stream is gone or the txid is in flight here.
    pub async fn execute(
        &self,
        txid: &str,
        kind: ExecKind,
        input: ChaincodeInput,
        tx_timestamp: Option<prost_types::Timestamp>,
        timeout: Duration,
        sink: mpsc::Sender<ExecEvent>,
    ) -> Result<Ticket, SendError> {
        let ticket = match self.sinks.register(txid, sink) {
            Ok(ticket) => ticket,
            Err(RegisterError::Busy) => {
                return Err(SendError::Busy {
                    name: self.name.clone(),
                    txid: txid.to_string(),
                });
            }
            Err(RegisterError::Closed) => return Err(SendError::Closed(self.name.clone())),
        };
        let deadline = self.clock.now() + timeout;
        let exec = Input::Execute {
            txid: txid.to_string(),
            kind,
            input,
            tx_timestamp,
            deadline,
        };
        if let Err(e) = self.send(exec).await {
            // The handler never saw it; free the txid.
            self.sinks.abandon(txid, ticket);
            return Err(e);
        }
        Ok(ticket)
    }

    /// The caller stops waiting for execution `ticket` of `txid` (its own
    /// timeout): a late answer from the chaincode is then dropped rather
    /// than delivered to a later execution of the same txid.
    pub fn abandon(&self, txid: &str, ticket: Ticket) {
        self.sinks.abandon(txid, ticket);
    }

    /// Feeds a reply (state value, write ack, range page, invoke result).
    ///
    /// # Errors
    /// [`SendError::Closed`] when the stream is gone.
    pub async fn send(&self, input: Input) -> Result<(), SendError> {
        self.inbox
            .send(input)
            .await
            .map_err(|_| SendError::Closed(self.name.clone()))
    }
}

struct StreamEffects {
    handle: StreamHandle,
    registry: Registry,
    outbound: mpsc::Sender<Result<ChaincodeMessage, Status>>,
    name: Option<String>,
    stop: bool,
}

impl StreamEffects {
    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("<unregistered>")
    }

    async fn route(&mut self, txid: &str, output: Output, last: bool) {
        let sink = if last {
            self.handle.sinks.complete(txid)
        } else {
            self.handle.sinks.get(txid)
        };
        let chaincode = self.label().to_string();
        match sink {
            Some(sink) => {
                let _ = sink.send(ExecEvent { chaincode, output }).await;
            }
            None => tracing::warn!(
                chaincode,
                txid,
                "no execution waiting for this chaincode output; dropped"
            ),
        }
    }

    async fn register(&mut self, name: String, features: Features) {
        let mut handle = self.handle.clone();
        handle.name.clone_from(&name);
        handle.features = features;
        // The verdict goes back through the inbox so the machine sees it
        // before anything else: an acceptance is queued before the handle
        // is visible in the registry, so an execution started by someone
        // who found it there always comes after it. try_send: the driver
        // is the inbox's only reader, so waiting here could deadlock; a
        // chaincode that floods its stream before REGISTERED is cut off.
        let inbox = &self.handle.inbox;
        let registered = self.registry.register(&name, handle.clone(), || {
            inbox.try_send(Input::RegisterAccepted).is_ok()
        });
        let queued = match registered {
            Ok(true) => {
                self.handle = handle;
                self.name = Some(name);
                true
            }
            Ok(false) => false,
            Err(dup) => {
                tracing::warn!(chaincode = %name, "refusing REGISTER: {dup}");
                let verdict = Input::RegisterRefused {
                    reason: dup.to_string(),
                };
                self.handle.inbox.try_send(verdict).is_ok()
            }
        };
        if !queued {
            tracing::warn!(
                chaincode = self.label(),
                "inbox full during registration; closing"
            );
            self.stop = true;
        }
    }
}

impl Effects<Handler> for StreamEffects {
    async fn perform(&mut self, output: Output) {
        match output {
            Output::Send(msg) => {
                if self.outbound.send(Ok(msg)).await.is_err() {
                    self.stop = true;
                }
            }
            Output::Registered { name, features } => self.register(name, features).await,
            Output::Close { reason } => {
                tracing::warn!(
                    chaincode = self.label(),
                    "closing chaincode stream: {reason}"
                );
                self.stop = true;
            }
            Output::Finished { ref txid, .. } => {
                let txid = txid.clone();
                self.route(&txid, output, true).await;
            }
            other => match request_txid(&other) {
                Some(txid) => {
                    let txid = txid.to_string();
                    self.route(&txid, other, false).await;
                }
                None => tracing::warn!(
                    chaincode = self.label(),
                    "unroutable handler output {other:?}"
                ),
            },
        }
    }

    fn rejected(&mut self, reject: <Handler as fabrik_core::machine::Machine>::Reject) {
        tracing::warn!(
            chaincode = self.label(),
            "rejected message from chaincode: {reject}"
        );
    }

    fn should_stop(&self) -> bool {
        self.stop
    }
}

/// The txid of an output that belongs to one execution.
fn request_txid(output: &Output) -> Option<&str> {
    match output {
        Output::ReadState { txid, .. }
        | Output::WriteState { txid, .. }
        | Output::DeleteState { txid, .. }
        | Output::RangeQuery { txid, .. }
        | Output::InvokeChaincode { txid, .. }
        | Output::Finished { txid, .. } => Some(txid),
        Output::Send(_) | Output::Registered { .. } | Output::Close { .. } => None,
    }
}

/// Serves one `Register` stream until it ends; returns the outbound stream.
pub fn spawn(
    inbound: tonic::Streaming<ChaincodeMessage>,
    registry: Registry,
    config: HandlerConfig,
    clock: Clock,
) -> mpsc::Receiver<Result<ChaincodeMessage, Status>> {
    let (out_tx, out_rx) = mpsc::channel(OUTBOX);
    let (in_tx, mut in_rx) = mpsc::channel(INBOX);
    let (stop, stopped) = watch::channel(false);
    let handle = StreamHandle {
        id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
        name: String::new(),
        inbox: in_tx.clone(),
        sinks: Arc::default(),
        ready: Arc::default(),
        features: Features::default(),
        clock,
        stop: Arc::new(stop),
    };
    tokio::spawn(read_inbound(inbound, in_tx, stopped.clone()));
    tokio::spawn(async move {
        let mut machine = Handler::new(config);
        let mut effects = StreamEffects {
            handle,
            registry,
            outbound: out_tx,
            name: None,
            stop: false,
        };
        tokio::select! {
            () = driver::run(&mut machine, &mut in_rx, &mut effects, clock) => {}
            () = closed_by_peer(stopped) => {
                tracing::info!(chaincode = effects.label(), "closing chaincode stream: stopped by the peer");
            }
        }
        finish(effects).await;
    });
    out_rx
}

/// Returns once [`StreamHandle::close`] was called (or every handle, and so
/// the stream task, is gone).
async fn closed_by_peer(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn read_inbound(
    mut inbound: tonic::Streaming<ChaincodeMessage>,
    inbox: mpsc::Sender<Input>,
    stopped: watch::Receiver<bool>,
) {
    let closed = closed_by_peer(stopped);
    tokio::pin!(closed);
    loop {
        let next = tokio::select! {
            next = inbound.next() => next,
            () = &mut closed => return,
        };
        let Some(next) = next else { break };
        match next {
            Ok(msg) => {
                if inbox.send(Input::FromChaincode(msg)).await.is_err() {
                    return;
                }
            }
            Err(status) => {
                tracing::debug!("chaincode stream error: {status}");
                break;
            }
        }
    }
    let _ = inbox.send(Input::StreamClosed).await;
}

/// Deregisters and fails every execution still waiting on this stream.
async fn finish(effects: StreamEffects) {
    let name = effects.label().to_string();
    if let Some(n) = &effects.name {
        effects.registry.deregister(n, effects.handle.id);
        tracing::info!(chaincode = %n, "chaincode stream ended");
    }
    for (txid, sink) in effects.handle.sinks.close() {
        let result = ExecResult::Failed(format!(
            "chaincode {name} disconnected during transaction {txid}"
        ));
        let _ = sink
            .send(ExecEvent {
                chaincode: name.clone(),
                output: Output::Finished { txid, result },
            })
            .await;
    }
}
