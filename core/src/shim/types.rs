//! The vocabulary of the shim-side handler: what the SDK feeds it
//! ([`Input`]), what it asks the SDK to do ([`Output`]), the stub calls user
//! code makes ([`StubCall`] → [`StubValue`]) and why input is refused
//! ([`Reject`]).

use crate::chaincode::Features;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeMessage};

/// Which chaincode entry point to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    /// `Init` (INIT): writes allowed.
    Init,
    /// `Invoke` (TRANSACTION): writes allowed.
    Invoke,
    /// `Query` (QUERY): reads only.
    Query,
}

/// A call user code makes on its stub during an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubCall {
    /// GET_STATE.
    GetState(String),
    /// PUT_STATE (refused in a query).
    PutState(String, Vec<u8>),
    /// DEL_STATE (refused in a query).
    DelState(String),
    /// RANGE_QUERY_STATE: open an iterator and get its first page.
    RangeQuery {
        /// First key.
        start: String,
        /// Last key.
        end: String,
    },
    /// RANGE_QUERY_STATE_NEXT: the next page of iterator `id`.
    RangeNext {
        /// The iterator ID from the previous page.
        id: String,
    },
    /// RANGE_QUERY_STATE_CLOSE.
    RangeClose {
        /// The iterator ID.
        id: String,
    },
    /// INVOKE_CHAINCODE (refused in a query).
    InvokeChaincode {
        /// The callee's name.
        name: String,
        /// Its arguments (function first).
        args: Vec<Vec<u8>>,
    },
    /// INVOKE_QUERY.
    QueryChaincode {
        /// The callee's name.
        name: String,
        /// Its arguments (function first).
        args: Vec<Vec<u8>>,
    },
}

impl StubCall {
    /// Whether this call may be sent without waiting for its answer when
    /// the peer granted [`Features::unacked_writes`]: a DEL_STATE, or a
    /// PUT_STATE the ledger can take (v0.6 refuses an empty key or value,
    /// and the chaincode must see that error from the call itself).
    pub fn can_post(&self) -> bool {
        match self {
            StubCall::PutState(key, value) => !key.is_empty() && !value.is_empty(),
            StubCall::DelState(_) => true,
            _ => false,
        }
    }
}

/// One page of a range query as the peer returned it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangePage {
    /// Key/values in key order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Whether RANGE_QUERY_STATE_NEXT would return more.
    pub has_more: bool,
    /// The iterator ID.
    pub id: String,
}

/// A successful answer to a [`StubCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubValue {
    /// GetState: the value, `None` when the key is missing (an empty
    /// RESPONSE, as v0.6).
    State(Option<Vec<u8>>),
    /// PutState / DelState.
    Done,
    /// RangeQuery / RangeNext / RangeClose.
    Range(RangePage),
    /// InvokeChaincode / QueryChaincode: the callee's return value.
    Chaincode(Vec<u8>),
}

/// Events fed to the shim handler by the SDK.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A message read from the peer.
    FromPeer(ChaincodeMessage),
    /// User code returned for `txid`.
    Returned {
        /// The txid of the [`Output::Run`].
        txid: String,
        /// The return value or the error text.
        result: Result<Vec<u8>, String>,
        /// The event set with `set_event`, if any (Init/Invoke only).
        event: Option<ChaincodeEvent>,
    },
    /// User code called its stub. Always answered by one
    /// [`Output::StubReply`] for this txid.
    StubCall {
        /// The txid of the running execution.
        txid: String,
        /// The call.
        call: StubCall,
    },
    /// User code made a write it does not wait on (the SDK saw
    /// [`Handler::writes_unacked`](super::Handler::writes_unacked) and
    /// [`StubCall::can_post`]). Never answered; if the write cannot go
    /// unacknowledged after all, the execution ends with ERROR.
    StubPost {
        /// The txid of the running transaction.
        txid: String,
        /// The write.
        call: StubCall,
    },
}

/// Effects the SDK must carry out, in order.
#[allow(clippy::large_enum_variant)] // transient: drained right after each handle
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this message to the peer.
    Send(ChaincodeMessage),
    /// Run user code (on its own thread/task) and feed [`Input::Returned`].
    Run {
        /// The execution's txid.
        txid: String,
        /// Init, Invoke or Query.
        kind: RunKind,
        /// The arguments; `args[0]` is the function name.
        args: Vec<Vec<u8>>,
        /// `securityContext.txTimestamp`.
        tx_timestamp: Option<Timestamp>,
    },
    /// Answer the stub call of `txid`.
    StubReply {
        /// The calling txid.
        txid: String,
        /// The value or the error text user code sees.
        result: Result<StubValue, String>,
    },
    /// The shim stopped (v0.6 ends its loop): close the stream and return.
    Stop {
        /// Why.
        reason: String,
    },
}

/// Limits of the shim handler, and the extensions it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Executions at once (at most one Init/Invoke, plus queries).
    pub max_in_flight: usize,
    /// The fabrik extensions asked for at REGISTER (the peer may grant
    /// fewer).
    pub features: Features,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            features: Features::ALL,
        }
    }
}

/// Why the shim handler refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The FSM cannot take this message in this state (the shim stops).
    #[error("message {msg_type} unexpected in state {state}")]
    UnexpectedMessage {
        /// The state (v0.6 names).
        state: &'static str,
        /// The message type name, or its number if unknown.
        msg_type: String,
    },
    /// RESPONSE / ERROR for a txid with no call outstanding (logged, as v0.6).
    #[error("no call outstanding for {txid}")]
    UnexpectedReply {
        /// The txid.
        txid: String,
    },
    /// No execution with this txid.
    #[error("unknown txid {txid}")]
    UnknownTxid {
        /// The txid.
        txid: String,
    },
    /// An execution with this txid is already running.
    #[error("transaction {txid} is already running")]
    DuplicateTxid {
        /// The txid.
        txid: String,
    },
    /// [`Config::max_in_flight`] reached.
    #[error("too many executions in flight")]
    TooManyInFlight,
    /// A [`Input::StubPost`] the stream cannot take unanswered (the peer
    /// did not grant unacked writes, a query, or not a postable write); the
    /// execution will end with ERROR.
    #[error("{txid} sent a write without waiting that needs an answer")]
    CannotPost {
        /// The txid.
        txid: String,
    },
    /// The execution has a stub call outstanding already.
    #[error("a stub call is already outstanding for {txid}")]
    CallPending {
        /// The txid.
        txid: String,
    },
    /// The shim has stopped.
    #[error("shim stopped")]
    Stopped,
}
