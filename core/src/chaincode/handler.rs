//! The [`Handler`] struct, its [`Machine`] implementation and the helpers
//! every message family shares: sending, ERROR replies, finishing an
//! execution, the transaction slot and closing.

use super::txctx::{CtxKind, Phase, RangeIter, TxCtx};
use super::types::{Config, ExecResult, Input, Output, Reject};
use crate::machine::Machine;
use crate::time::{Instant, TimerTable};
use fabrik_proto::protos::ChaincodeMessage;
use fabrik_proto::protos::chaincode_message::Type;
use std::collections::{BTreeMap, VecDeque};

/// The stream-level state (v0.6 `created`, `established`, `init`, `ready`,
/// `end`). v0.6's `transaction` is `Ready` with the transaction slot taken;
/// its `busyinit` / `busyxact` are per txid ([`TxCtx::pending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamState {
    Created,
    /// REGISTER received; io is checking the name (no REGISTERED sent yet).
    Registering,
    Established,
    Init,
    Ready,
    Closed,
}

/// The handler's timers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Send KEEPALIVE.
    Keepalive,
    /// The execution of this txid times out.
    Deadline(String),
}

/// The peer side of one chaincode stream. See the module docs.
#[derive(Debug)]
pub struct Handler {
    pub(crate) config: Config,
    pub(crate) state: StreamState,
    /// The registered name; empty before REGISTER.
    pub(crate) name: String,
    pub(crate) txs: BTreeMap<String, TxCtx>,
    /// The Init/Transaction txid holding the stream's transaction slot.
    pub(crate) slot: Option<String>,
    /// Transactions waiting for the slot, oldest first.
    pub(crate) queue: VecDeque<String>,
    /// The extensions granted at REGISTER (concurrent transactions bypass
    /// the slot; unacked writes get no RESPONSE).
    pub(crate) features: super::Features,
    pub(crate) iterators: BTreeMap<String, RangeIter>,
    pub(crate) iter_counter: u64,
    pub(crate) timers: TimerTable<Timer>,
    pub(crate) out: VecDeque<Output>,
    pub(crate) now: Instant,
}

impl Handler {
    /// A handler for a freshly accepted stream, waiting for REGISTER.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: StreamState::Created,
            name: String::new(),
            txs: BTreeMap::new(),
            slot: None,
            queue: VecDeque::new(),
            features: super::Features::default(),
            iterators: BTreeMap::new(),
            iter_counter: 0,
            timers: TimerTable::new(),
            out: VecDeque::new(),
            now: Instant::ZERO,
        }
    }

    /// The registered chaincode name, once REGISTER was received.
    pub fn name(&self) -> Option<&str> {
        (!self.name.is_empty()).then_some(self.name.as_str())
    }

    /// The state under its v0.6 name: `created`, `established`, `init`,
    /// `ready`, `transaction` (a transaction is running) or `end`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            StreamState::Created | StreamState::Registering => "created",
            StreamState::Established => "established",
            StreamState::Init => "init",
            StreamState::Ready if self.slot.is_some() => "transaction",
            StreamState::Ready => "ready",
            StreamState::Closed => "end",
        }
    }

    /// The fabrik extensions granted at REGISTER.
    pub fn features(&self) -> super::Features {
        self.features
    }

    /// Executions in flight (queued or running).
    pub fn in_flight(&self) -> usize {
        self.txs.len()
    }

    /// Open range-query iterators.
    pub fn open_iterators(&self) -> usize {
        self.iterators.len()
    }

    /// Whether the handler has closed.
    pub fn is_closed(&self) -> bool {
        self.state == StreamState::Closed
    }

    // ---- shared helpers ----

    /// Queues a message to the chaincode and re-arms the keepalive timer.
    pub(crate) fn send(&mut self, msg: ChaincodeMessage) {
        if let Some(every) = self.config.keepalive {
            self.timers.set(Timer::Keepalive, self.now + every);
        }
        self.out.push_back(Output::Send(msg));
    }

    /// Sends `ty{txid, payload}`.
    pub(crate) fn send_simple(&mut self, ty: Type, txid: &str, payload: Vec<u8>) {
        self.send(ChaincodeMessage {
            r#type: ty as i32,
            payload,
            txid: txid.to_owned(),
            ..Default::default()
        });
    }

    /// Replies ERROR{txid, text} and returns `reject`.
    pub(crate) fn reply_error(&mut self, txid: &str, text: &str, reject: Reject) -> Reject {
        tracing::warn!(chaincode = %self.name, %txid, %reject, "{text}");
        self.send_simple(Type::Error, txid, text.as_bytes().to_vec());
        reject
    }

    /// The "cannot handle" text of v0.6 for a message this state refuses.
    pub(crate) fn cannot_handle_text(&self, msg: &ChaincodeMessage, type_name: &str) -> String {
        format!(
            "[{}]Chaincode handler validator FSM cannot handle message ({}) with payload size ({}) while in state: {}",
            msg.txid,
            type_name,
            msg.payload.len(),
            self.state_name()
        )
    }

    /// A message the stream cannot take: ERROR, then close (v0.6 ends the
    /// stream on an FSM error).
    pub(crate) fn fatal_unexpected(&mut self, msg: &ChaincodeMessage, type_name: String) -> Reject {
        let state = self.state_name();
        let text = self.cannot_handle_text(msg, &type_name);
        self.send_simple(Type::Error, &msg.txid, text.as_bytes().to_vec());
        let who = self.who();
        self.close(format!("{who}: {text}"));
        Reject::UnexpectedMessage {
            state,
            msg_type: type_name,
        }
    }

    /// "chaincode <name>" for reasons and logs.
    pub(crate) fn who(&self) -> String {
        if self.name.is_empty() {
            "unregistered chaincode".to_owned()
        } else {
            format!("chaincode {}", self.name)
        }
    }

    /// Ends the execution of `txid` (if in flight) with `result`: drops its
    /// context, deadline and iterators, frees the transaction slot and starts
    /// the next queued transaction.
    pub(crate) fn finish(&mut self, txid: &str, result: ExecResult) {
        if self.txs.remove(txid).is_none() {
            return;
        }
        self.timers.stop(&Timer::Deadline(txid.to_owned()));
        self.iterators.retain(|_, it| it.txid != txid);
        self.queue.retain(|t| t != txid);
        self.out.push_back(Output::Finished {
            txid: txid.to_owned(),
            result,
        });
        if self.slot.as_deref() == Some(txid) {
            self.slot = None;
            self.start_next_queued();
        }
    }

    /// Gives the free transaction slot to the oldest queued transaction.
    fn start_next_queued(&mut self) {
        while self.slot.is_none() {
            let Some(txid) = self.queue.pop_front() else {
                return;
            };
            let Some(ctx) = self.txs.get_mut(&txid) else {
                continue;
            };
            let Phase::Queued(msg) = std::mem::replace(&mut ctx.phase, Phase::Running) else {
                continue;
            };
            self.slot = Some(txid);
            self.send(*msg);
        }
    }

    /// The failure result for an execution of `kind`.
    pub(crate) fn failure(kind: CtxKind, text: String) -> ExecResult {
        match kind {
            CtxKind::Query => ExecResult::QueryFailed(text),
            CtxKind::Init | CtxKind::Transaction => ExecResult::Failed(text),
        }
    }

    /// Closes the handler: every execution in flight finishes with `reason`,
    /// then [`Output::Close`]. Idempotent.
    pub(crate) fn close(&mut self, reason: String) {
        if self.state == StreamState::Closed {
            return;
        }
        tracing::info!(chaincode = %self.name, %reason, "closing chaincode stream");
        self.state = StreamState::Closed;
        self.slot = None;
        self.queue.clear();
        let txids: Vec<(String, CtxKind)> =
            self.txs.iter().map(|(t, c)| (t.clone(), c.kind)).collect();
        for (txid, kind) in txids {
            self.finish(&txid, Self::failure(kind, reason.clone()));
        }
        self.iterators.clear();
        self.timers = TimerTable::new();
        self.out.push_back(Output::Close { reason });
    }

    fn on_input(&mut self, input: Input) -> Result<(), Reject> {
        match input {
            Input::FromChaincode(msg) => self.on_message(msg),
            Input::RegisterAccepted => self.on_register_accepted(),
            Input::RegisterRefused { reason } => self.on_register_refused(reason),
            Input::Execute {
                txid,
                kind,
                input,
                tx_timestamp,
                deadline,
            } => self.on_execute(txid, kind, input, tx_timestamp, deadline),
            Input::StateValue { txid, value } => self.on_state_value(&txid, value),
            Input::WriteDone { txid, result } => self.on_write_done(&txid, result),
            Input::RangePage { txid, result } => self.on_range_page(&txid, result),
            Input::InvokeDone { txid, result } => self.on_invoke_done(&txid, result),
            Input::StreamClosed => {
                let reason = format!("{} closed its stream", self.who());
                self.close(reason);
                Ok(())
            }
        }
    }
}

impl Machine for Handler {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, now: Instant, input: Input) -> Result<(), Reject> {
        self.now = self.now.max(now);
        let result = self.on_input(input);
        if let Err(reject) = &result {
            tracing::debug!(chaincode = %self.name, %reject, "chaincode handler rejected input");
        }
        result
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for timer in self.timers.expire(now) {
            if self.state == StreamState::Closed {
                return;
            }
            match timer {
                Timer::Keepalive => self.send_simple(Type::Keepalive, "", Vec::new()),
                Timer::Deadline(txid) => self.on_deadline(&txid),
            }
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}
