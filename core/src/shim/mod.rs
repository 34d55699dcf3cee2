//! The chaincode side of the chaincode stream (reference §2.2): a pure
//! state machine the SDK (`fabrik-shim`) drives, owning the v0.6 shim FSM,
//! the per-txid stub calls and the query-context guards.
//!
//! ```text
//!   SDK stream reader        user code (one thread per execution)
//!        │ FromPeer               │ StubCall, Returned
//!        ▼                        ▼
//!   ┌──────────────── shim::Handler ────────────────┐
//!   │ created → established → init → ready ⇄        │
//!   │                         transaction; stopped  │
//!   │ ctxs: txid → {Init|Invoke|Query, call pending}│
//!   └───────────────────────────────────────────────┘
//!        │ Send, Stop             │ Run, StubReply
//!        ▼                        ▼
//!   SDK stream writer        user code
//! ```
//!
//! The FSM follows the v0.6 table: REGISTERED `created`→`established`; INIT
//! `established`→`init`; READY `established`→`ready` (no reply); TRANSACTION
//! `ready`→`transaction`; QUERY in `ready` or `transaction` (no change). The
//! shim's own COMPLETED moves `init`/`transaction` to `ready`; its ERROR
//! moves `init` back to `established` and `transaction` to `ready`.
//! RESPONSE and ERROR from the peer answer the outstanding stub call of
//! their txid and never move the FSM (v0.6 fires them into the FSM, which
//! lets a peer's ERROR reply knock a running transaction back to `ready`;
//! we do not copy that). KEEPALIVE is echoed in every state. Any other
//! message makes the shim send ERROR "...FSM cannot handle message..." and
//! stop ([`Output::Stop`]); outstanding stub calls then fail.
//!
//! Every [`Input::StubCall`] is answered by exactly one
//! [`Output::StubReply`] for its txid (at once when refused locally).

mod calls;
mod handler;
mod run;
mod types;

pub use handler::Handler;
pub use types::{Config, Input, Output, RangePage, Reject, RunKind, StubCall, StubValue};

#[cfg(test)]
mod tests;
