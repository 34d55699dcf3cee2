//! The peer side of a chaincode stream (reference §2.1): one [`Handler`]
//! per `ChaincodeSupport.Register` stream, a pure state machine that turns
//! chaincode messages into ledger requests and executions into messages.
//!
//! ```text
//!   io (stream reader)        io (executor / ledger)
//!        │ FromChaincode           │ Execute, StateValue, WriteDone,
//!        │ StreamClosed            │ RangePage, InvokeDone, RegisterRefused
//!        ▼                         ▼
//!   ┌──────────────────── Handler ─────────────────────┐
//!   │ stream: created → established → (init) → ready   │
//!   │         ──────────────── any ──────────→ end     │
//!   │ txs: txid → {Init|Transaction|Query, Queued|     │
//!   │       Running, pending request (the busy phase)} │
//!   │ slot: the one Init/Transaction being run         │
//!   │ iterators: ID → (txid, range, position)          │
//!   │ timers: Keepalive, Deadline(txid)                │
//!   └──────────────────────────────────────────────────┘
//!        │ Send                    │ Registered, ReadState, WriteState,
//!        ▼                         ▼ DeleteState, RangeQuery,
//!   io (stream writer)        io     InvokeChaincode, Finished, Close
//! ```
//!
//! # States
//!
//! The stream follows the v0.6 table: REGISTER reports the name to io
//! ([`Output::Registered`]); io answers [`Input::RegisterAccepted`], which
//! sends REGISTERED and enters `established`, or [`Input::RegisterRefused`]
//! (a duplicate name), which sends ERROR and closes; INIT (deploy)
//! takes it to `init` and COMPLETED to `ready`, ERROR to `end` (the stream
//! is closed); READY (first use after a restart) takes it straight to
//! `ready`. TRANSACTION and QUERY need `ready`.
//!
//! # Busy phase per txid, transaction slot per stream
//!
//! v0.6 models `busyinit` / `busyxact` as stream states but keeps a per-txid
//! context map (`txCtxs`) and lets queries run beside a transaction. Here the
//! busy phase is **per txid**: each execution has at most one outstanding
//! request to io (a second one is dropped, as v0.6 drops it), and queries on
//! other txids are served meanwhile. What stays **per stream** is the
//! transaction slot: at most one INIT/TRANSACTION is sent at a time, because
//! the v0.6 Go shim's own FSM (`ready` → `transaction` → `ready`) fails on a
//! second TRANSACTION; further transactions wait in a bounded FIFO queue.
//! Queries bypass the slot, as they bypass the v0.6 FSM.
//!
//! # Concurrent transactions and unacknowledged writes (fabrik extensions)
//!
//! A shim that can run several transactions at once (fabrik's SDK) says so
//! in the `txid` field of its REGISTER, a field v0.6 leaves empty and
//! ignores ([`Features`]); the handler answers with what it grants in
//! REGISTERED's `txid` and then sends TRANSACTIONs without waiting for the
//! slot, so the executor can run a block's transactions side by side. With
//! [`Features::unacked_writes`] granted, PUT_STATE and DEL_STATE of a
//! transaction get no RESPONSE and do not count as the txid's outstanding
//! request: a kv transaction then costs two round trips to the chaincode
//! instead of three. A v0.6 shim never sends a marker: it keeps the slot
//! and every write is answered.
//!
//! # Guarantees
//!
//! - Every [`Input::Execute`] yields exactly one [`Output::Finished`] with
//!   its txid: on COMPLETED / ERROR / QUERY_COMPLETED / QUERY_ERROR, on its
//!   deadline ([`TIMEOUT_TEXT`]), when the stream closes, or at once when
//!   refused (then `handle` also returns the [`Reject`]).
//! - Bad chaincode input never panics. Per-txid faults (unknown txid,
//!   undecodable payload, writes in a query, unknown iterator) get an ERROR
//!   reply with the txid and leave the handler usable; message types the
//!   stream cannot take in its state get the v0.6 "FSM cannot handle"
//!   ERROR and close it, as v0.6 ends the stream.
//! - Maps are bounded by [`Config`]: executions in flight (queued ones
//!   included) and open iterators.
//! - Messages sent are v0.6 wire-compatible: INIT / READY / TRANSACTION /
//!   QUERY carry the arguments in `payload` *and* `securityContext.payload`
//!   with `securityContext.txTimestamp`.

mod dispatch;
mod execute;
mod features;
mod handler;
mod invoke;
mod range;
mod state_ops;
mod terminal;
mod txctx;
mod types;

pub use execute::exec_message;

/// The first REGISTER / REGISTERED `txid` fabrik used, by which a shim
/// and a peer agree that TRANSACTIONs may overlap on one stream; now one
/// case of a [`Features`] marker.
pub const CONCURRENT_TRANSACTIONS: &str = "fabrik:concurrent-transactions";
pub use features::Features;
pub use handler::Handler;
pub use types::{
    Config, ExecKind, ExecResult, Input, KeyValues, Output, RANGE_PAGE_SIZE, Reject, TIMEOUT_TEXT,
};

#[cfg(test)]
mod tests;
