//! fabrik-core: the pure heart of fabrik.
//!
//! Every protocol participant (PBFT replica, NOOPS, the peer-side and
//! shim-side chaincode handlers, the peer handler, state transfer) is an
//! explicit state machine implementing [`machine::Machine`]:
//!
//! - `handle(now, input)` feeds one event; bad input from a peer, client or
//!   chaincode returns a typed rejection and leaves the machine usable;
//! - `handle_timeout(now)` is called when `now` reaches `poll_timeout()`;
//! - `poll_output()` must be drained to `None` after every `handle` /
//!   `handle_timeout`, and the outputs executed in order;
//! - `poll_timeout()` is the next deadline.
//!
//! Purity guarantee: this crate depends on no async runtime, socket, TLS,
//! database or Docker crate, never reads the clock (time is passed in as
//! [`time::Instant`]) and never uses unseeded randomness. Storage reads go
//! through small synchronous traits with in-memory implementations; writes,
//! sends, executions and timers are outputs. CI checks the dependency tree.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(unreachable_pub)]

pub mod chaincode;
pub mod crypto;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ledger;
pub mod machine;
pub mod noops;
pub mod pbft;
pub mod peer;
pub mod shim;
#[cfg(feature = "sim")]
pub mod sim;
pub mod statetransfer;
pub mod time;
