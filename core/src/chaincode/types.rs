//! The vocabulary of the peer-side chaincode handler: what io feeds it
//! ([`Input`]), what it asks io to do ([`Output`]), how executions end
//! ([`ExecResult`]), its limits ([`Config`]) and why it refuses input
//! ([`Reject`]).

use crate::time::{Duration, Instant};
use fabrik_proto::Timestamp;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeInput, ChaincodeMessage, ChaincodeSpec};

/// The error text of an execution whose deadline passed (v0.6 wording).
pub const TIMEOUT_TEXT: &str = "Timeout expired while executing transaction";

/// v0.6 `maxRangeQueryStateLimit`: key/values per range-query page.
pub const RANGE_PAGE_SIZE: usize = 100;

/// One page of a range query: `(key, value)` pairs in key order.
pub type KeyValues = Vec<(String, Vec<u8>)>;

/// What the peer asks the chaincode to do (reference §2.1, §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecKind {
    /// Deploy: INIT; writes allowed; ERROR ends the stream.
    Init,
    /// First use of an already deployed chaincode (after a restart): READY.
    /// v0.6 expects no reply; the execution completes as soon as READY is
    /// sent.
    Ready,
    /// Invoke: TRANSACTION; writes allowed.
    Transaction,
    /// Query: QUERY; reads of committed state only, writes refused.
    Query,
}

/// How one execution ended. Exactly one per [`Input::Execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecResult {
    /// COMPLETED (Init, Ready, Transaction). The event, if any, has its
    /// `chaincodeID` and `txID` overwritten with the chaincode name and the
    /// txid, as v0.6 does.
    Completed {
        /// The chaincode's return value.
        payload: Vec<u8>,
        /// The chaincode event set by the chaincode, if any.
        event: Option<ChaincodeEvent>,
    },
    /// ERROR from the chaincode (its payload as text), a timeout
    /// ([`TIMEOUT_TEXT`]), a refusal or a closed stream.
    Failed(String),
    /// QUERY_COMPLETED.
    QueryCompleted(Vec<u8>),
    /// QUERY_ERROR (its payload as text), a timeout, a refusal or a closed
    /// stream, for a query.
    QueryFailed(String),
}

/// Events fed to the handler by io.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A message read from the chaincode stream.
    FromChaincode(ChaincodeMessage),
    /// io registered the name from [`Output::Registered`]: the handler
    /// replies REGISTERED and the stream is established.
    RegisterAccepted,
    /// io refuses the name the chaincode registered under (a duplicate).
    /// The handler sends ERROR{reason} and closes.
    RegisterRefused {
        /// Why, sent to the chaincode as the ERROR payload.
        reason: String,
    },
    /// Run the chaincode for `txid`. Always answered by exactly one
    /// [`Output::Finished`] for this txid; a refused Execute is answered at
    /// once, inside the same `handle` call (which also returns the
    /// [`Reject`]), so io can tell it apart from an execution already in
    /// flight with the same txid.
    Execute {
        /// The transaction id (for a deploy, the chaincode name).
        txid: String,
        /// INIT, READY, TRANSACTION or QUERY.
        kind: ExecKind,
        /// The constructor / invocation arguments.
        input: ChaincodeInput,
        /// The transaction timestamp, passed in `securityContext.txTimestamp`.
        tx_timestamp: Option<Timestamp>,
        /// When the execution fails with [`TIMEOUT_TEXT`].
        deadline: Instant,
    },
    /// Answer to [`Output::ReadState`]; `None` for a missing key.
    StateValue {
        /// The requesting txid.
        txid: String,
        /// The value, if the key exists.
        value: Option<Vec<u8>>,
    },
    /// Answer to [`Output::WriteState`] / [`Output::DeleteState`].
    WriteDone {
        /// The requesting txid.
        txid: String,
        /// The ledger's verdict; an error is sent to the chaincode as ERROR.
        result: Result<(), String>,
    },
    /// Answer to [`Output::RangeQuery`]: at most `limit` key/values in key
    /// order and whether more follow.
    RangePage {
        /// The requesting txid.
        txid: String,
        /// `(page, has_more)` or the ledger's error.
        result: Result<(KeyValues, bool), String>,
    },
    /// Answer to [`Output::InvokeChaincode`]: the callee's final message
    /// (COMPLETED / ERROR / QUERY_COMPLETED / QUERY_ERROR) or why it could
    /// not be run.
    InvokeDone {
        /// The requesting txid.
        txid: String,
        /// The callee's final message or an error text.
        result: Result<ChaincodeMessage, String>,
    },
    /// The stream ended (read error or end of stream).
    StreamClosed,
}

/// Effects io must carry out, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Write this message to the chaincode stream.
    Send(ChaincodeMessage),
    /// REGISTER received under `name`: io adds the handler to its registry
    /// and answers [`Input::RegisterAccepted`] (REGISTERED is then sent) or
    /// [`Input::RegisterRefused`] for a duplicate (ERROR, then close).
    Registered {
        /// The chaincode name from the REGISTER payload.
        name: String,
        /// The fabrik extensions granted to this stream (what the shim
        /// asked for and [`Config::features`] allows).
        features: super::Features,
    },
    /// Read `key` of this chaincode (io scopes it by chaincode name): from
    /// the tx context for Init/Transaction, committed state for a Query.
    /// Answer with [`Input::StateValue`].
    ReadState {
        /// The requesting txid.
        txid: String,
        /// The chaincode-local key.
        key: String,
    },
    /// Write `key` in the tx context. Answer with [`Input::WriteDone`],
    /// unless the stream has [`Features::unacked_writes`](super::Features):
    /// then there is no answer and a refused write fails the transaction.
    WriteState {
        /// The requesting txid.
        txid: String,
        /// The chaincode-local key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Delete `key` in the tx context. Answer as [`Output::WriteState`].
    DeleteState {
        /// The requesting txid.
        txid: String,
        /// The chaincode-local key.
        key: String,
    },
    /// Read at most `limit` key/values of this chaincode in key order, with
    /// v0.6 range semantics between `start_key` and `end_key`, starting
    /// strictly after `after` when given (the iterator position). Answer
    /// with [`Input::RangePage`].
    RangeQuery {
        /// The requesting txid.
        txid: String,
        /// First key of the range (inclusive).
        start_key: String,
        /// Last key of the range.
        end_key: String,
        /// Resume strictly after this key.
        after: Option<String>,
        /// Page size (100, as v0.6).
        limit: usize,
    },
    /// Run another chaincode with the same txid (TRANSACTION, or QUERY when
    /// `query`). Answer with [`Input::InvokeDone`].
    InvokeChaincode {
        /// The requesting txid.
        txid: String,
        /// The callee and its arguments.
        spec: ChaincodeSpec,
        /// INVOKE_QUERY rather than INVOKE_CHAINCODE.
        query: bool,
    },
    /// The execution of `txid` ended.
    Finished {
        /// The txid of the [`Input::Execute`].
        txid: String,
        /// How it ended.
        result: ExecResult,
    },
    /// End the stream and deregister the chaincode. Nothing follows.
    Close {
        /// Why, naming the chaincode.
        reason: String,
    },
}

/// Limits and timers of one handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Send KEEPALIVE after this long without sending (v0.6
    /// `chaincode.keepalive`; `None` = off, the v0.6 default).
    pub keepalive: Option<Duration>,
    /// Executions (queued or running) at once on this stream.
    pub max_in_flight: usize,
    /// Open range-query iterators on this stream.
    pub max_iterators: usize,
    /// Key/values per range-query page.
    pub range_page_size: usize,
    /// The fabrik extensions this peer grants a shim that asks for them.
    pub features: super::Features,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keepalive: None,
            max_in_flight: 1024,
            max_iterators: 256,
            range_page_size: RANGE_PAGE_SIZE,
            features: super::Features::ALL,
        }
    }
}

/// Why the handler refused an input. It stays usable unless it sent
/// [`Output::Close`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// The message cannot be taken in this state (v0.6 "FSM cannot handle").
    #[error("message {msg_type} unexpected in state {state}")]
    UnexpectedMessage {
        /// The stream state (v0.6 names).
        state: &'static str,
        /// The message type name, or its number if unknown.
        msg_type: String,
    },
    /// A payload or field could not be decoded.
    #[error("malformed {what}")]
    Malformed {
        /// What was malformed.
        what: String,
    },
    /// No execution with this txid is running.
    #[error("unknown txid {txid}")]
    UnknownTxid {
        /// The txid.
        txid: String,
    },
    /// An execution with this txid is already in flight.
    #[error("transaction {txid} is already executing")]
    DuplicateTxid {
        /// The txid.
        txid: String,
    },
    /// [`Config::max_in_flight`] reached.
    #[error("too many executions in flight")]
    TooManyInFlight,
    /// [`Config::max_iterators`] reached.
    #[error("too many open range query iterators")]
    TooManyIterators,
    /// No open iterator with this ID for this txid.
    #[error("unknown range query iterator {id}")]
    UnknownIterator {
        /// The iterator ID.
        id: String,
    },
    /// PUT_STATE / DEL_STATE / INVOKE_CHAINCODE for a query.
    #[error("cannot handle {msg_type} in query context")]
    NotInTransaction {
        /// The message type name.
        msg_type: &'static str,
    },
    /// A second request for a txid whose first request is unanswered
    /// (v0.6 drops it too).
    #[error("another request is pending for {txid}")]
    RequestPending {
        /// The txid.
        txid: String,
    },
    /// An answer from io that matches no outstanding request.
    #[error("no {expected} request outstanding for {txid}")]
    UnexpectedAnswer {
        /// The txid.
        txid: String,
        /// The request kind the answer belongs to.
        expected: &'static str,
    },
    /// Execute refused in this stream state.
    #[error("cannot execute {kind:?} in state {state}")]
    NotReady {
        /// The stream state (v0.6 names).
        state: &'static str,
        /// The refused kind.
        kind: ExecKind,
    },
    /// The handler has closed.
    #[error("handler closed")]
    Closed,
}
