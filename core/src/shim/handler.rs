//! The shim [`Handler`] struct, its [`Machine`] implementation, message
//! routing (`match (state, type)`) and stopping.

use super::types::{Config, Input, Output, Reject, RunKind};
use crate::chaincode::Features;
use crate::machine::Machine;
use crate::time::Instant;
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeId, ChaincodeMessage};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};

/// The v0.6 shim FSM states (§2.2), plus `Stopped` after a fatal error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Created,
    Established,
    Init,
    Ready,
    Transaction,
    Stopped,
}

/// The stub call an execution is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Get,
    Write,
    Range,
    Invoke,
    Query,
}

/// One execution of user code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub(crate) kind: RunKind,
    pub(crate) pending: Option<CallKind>,
    /// Why the execution must end with ERROR whatever user code returns (a
    /// posted write that could not be sent).
    pub(crate) failed: Option<String>,
}

/// The chaincode side of the stream. See the module docs.
#[derive(Debug)]
pub struct Handler {
    pub(crate) config: Config,
    pub(crate) state: State,
    pub(crate) name: String,
    pub(crate) ctxs: BTreeMap<String, Ctx>,
    pub(crate) out: VecDeque<Output>,
    /// What the peer granted in REGISTERED (overlapping transactions,
    /// unacked writes); nothing before it.
    pub(crate) features: Features,
}

impl Handler {
    /// A shim for chaincode `name`; its first output is
    /// `Send(REGISTER{payload = marshal(ChaincodeID{name})})`.
    pub fn new(name: &str) -> Self {
        Self::with_config(name, Config::default())
    }

    /// [`Handler::new`] with explicit limits.
    pub fn with_config(name: &str, config: Config) -> Self {
        let mut h = Self {
            config,
            state: State::Created,
            name: name.to_owned(),
            ctxs: BTreeMap::new(),
            out: VecDeque::new(),
            features: Features::default(),
        };
        let id = ChaincodeId {
            path: String::new(),
            name: name.to_owned(),
        };
        // The marker sits in a field v0.6 peers ignore; see
        // `fabrik_core::chaincode::Features`.
        let marker = h.config.features.marker();
        h.send_simple(Type::Register, &marker, id.encode_to_vec());
        h
    }

    /// Whether the peer granted unacked writes: a [`StubCall::can_post`]
    /// write of a transaction may then go as [`Input::StubPost`].
    ///
    /// [`StubCall::can_post`]: super::StubCall::can_post
    pub fn writes_unacked(&self) -> bool {
        self.features.unacked_writes
    }

    /// The state under its v0.6 name (`stopped` after a fatal error).
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Created => "created",
            State::Established => "established",
            State::Init => "init",
            State::Ready => "ready",
            State::Transaction => "transaction",
            State::Stopped => "stopped",
        }
    }

    /// Whether the shim has stopped.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Executions running.
    pub fn in_flight(&self) -> usize {
        self.ctxs.len()
    }

    pub(crate) fn send(&mut self, msg: ChaincodeMessage) {
        self.out.push_back(Output::Send(msg));
    }

    pub(crate) fn send_simple(&mut self, ty: Type, txid: &str, payload: Vec<u8>) {
        self.send(ChaincodeMessage {
            r#type: ty as i32,
            payload,
            txid: txid.to_owned(),
            ..Default::default()
        });
    }

    /// A message the FSM cannot take: ERROR "...FSM cannot handle
    /// message...", then stop (v0.6 `handleMessage`).
    pub(crate) fn fatal(&mut self, msg: &ChaincodeMessage, type_name: String) -> Reject {
        let state = self.state_name();
        let text = format!(
            "[{}]Chaincode handler FSM cannot handle message ({}) with payload size ({}) while in state: {}",
            msg.txid,
            type_name,
            msg.payload.len(),
            state
        );
        self.send_simple(Type::Error, &msg.txid, text.as_bytes().to_vec());
        // Say what the peer said when it sent an ERROR (e.g. a refused
        // registration): the FSM text alone hides the reason.
        let reason = if msg.r#type == Type::Error as i32 && !msg.payload.is_empty() {
            format!(
                "{text}; peer error: {}",
                String::from_utf8_lossy(&msg.payload)
            )
        } else {
            text
        };
        self.stop(reason);
        Reject::UnexpectedMessage {
            state,
            msg_type: type_name,
        }
    }

    /// Stops: every outstanding stub call fails, then [`Output::Stop`].
    pub(crate) fn stop(&mut self, reason: String) {
        tracing::warn!(chaincode = %self.name, %reason, "chaincode shim stopping");
        self.state = State::Stopped;
        let ctxs = std::mem::take(&mut self.ctxs);
        for (txid, ctx) in ctxs {
            if ctx.pending.is_some() {
                let result = Err(format!("chaincode shim stopped: {reason}"));
                self.out.push_back(Output::StubReply { txid, result });
            }
        }
        self.out.push_back(Output::Stop { reason });
    }

    fn on_message(&mut self, msg: ChaincodeMessage) -> Result<(), Reject> {
        let Ok(ty) = Type::try_from(msg.r#type) else {
            return Err(self.fatal(&msg, msg.r#type.to_string()));
        };
        match (self.state, ty) {
            (_, Type::Keepalive) => {
                self.send(msg);
                Ok(())
            }
            (State::Created, Type::Registered) => {
                self.state = State::Established;
                // Only what was asked for: a peer cannot switch on an
                // extension this shim did not offer.
                self.features = self.config.features.grant(Features::parse(&msg.txid));
                Ok(())
            }
            (State::Established, Type::Init) => self.on_init(msg),
            (State::Established, Type::Ready) => {
                self.state = State::Ready;
                Ok(())
            }
            (State::Ready, Type::Transaction) => self.on_transaction(msg),
            (State::Transaction, Type::Transaction) if self.features.concurrent_transactions => {
                self.on_transaction(msg)
            }
            (State::Ready | State::Transaction, Type::Query) => self.on_query(msg),
            (State::Init | State::Ready | State::Transaction, Type::Response | Type::Error) => {
                self.on_reply(msg, ty)
            }
            (_, _) => Err(self.fatal(&msg, ty.as_str_name().to_owned())),
        }
    }
}

impl Machine for Handler {
    type Input = Input;
    type Output = Output;
    type Reject = Reject;

    fn handle(&mut self, _now: Instant, input: Input) -> Result<(), Reject> {
        let stopped = self.state == State::Stopped;
        let result = match input {
            Input::StubCall { txid, .. } if stopped => {
                let result = Err("chaincode shim stopped".to_owned());
                self.out.push_back(Output::StubReply { txid, result });
                Err(Reject::Stopped)
            }
            _ if stopped => Err(Reject::Stopped),
            Input::FromPeer(msg) => self.on_message(msg),
            Input::Returned {
                txid,
                result,
                event,
            } => self.on_returned(&txid, result, event),
            Input::StubCall { txid, call } => self.on_stub_call(txid, call),
            Input::StubPost { txid, call } => self.on_stub_post(txid, call),
        };
        if let Err(reject) = &result {
            tracing::debug!(chaincode = %self.name, %reject, "chaincode shim rejected input");
        }
        result
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
