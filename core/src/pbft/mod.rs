//! PBFT as Hyperledger Fabric v0.6 runs it (`consensus/pbft`: `batch.go`,
//! `pbft-core.go`, `viewchange.go`, `pbft-persist.go`), as a pure state
//! machine: [`Replica`] implements [`crate::machine::Machine`].
//!
//! ```text
//!   io layer / simulator                       Replica
//!   ───────────────────                        ───────
//!   Input::Request(req)      ───────────────▶  request.rs   (dedup, batch)
//!   Input::Peer{from, msg}   ───────────────▶  pre_prepare / prepare / commit /
//!                                              checkpoint / view_change /
//!                                              new_view / fetch
//!   Input::Executed{seq,info}───────────────▶  commit.rs    (next execution,
//!                                                            checkpoint every K)
//!   Input::StateTransferred  ───────────────▶  state_transfer.rs
//!   handle_timeout(now)      ───────────────▶  Request / NewView / Resend /
//!                                              NullRequest / Batch timers
//!
//!   poll_output():  Persist(op) ─ must be durable before what follows ─▶
//!                   Broadcast(msg) | Send{to,msg} | Execute{seq,batch} |
//!                   StateTransfer{seq,id,replicas} | Committed | ViewChanged |
//!                   StateInvalid | StateValid | Misbehavior | Alarm
//! ```
//!
//! Quorums (v0.6): Q = ⌊(N+f+2)/2⌋; prepared = pre-prepare + Q−1 prepares;
//! committed = Q commits; view change = N−f; weak checkpoint = f+1, stable
//! = Q; window (h, h+L] with L = K·logmultiplier; the primary issues only
//! n ≤ h+L/2.
//!
//! Where fabrik differs from v0.6 (hardening, never wire-visible): typed
//! rejections instead of panics; the sender is the authenticated transport
//! identity; bounded buffers (one VIEW-CHANGE per replica, one checkpoint
//! per replica and seq, capped Q-set and outstanding requests); the own
//! VIEW-CHANGE and NEW-VIEW are persisted so a restart never goes back in
//! view; a NEW-VIEW (self-certifying through its signed VIEW-CHANGEs) lets a
//! lagging replica jump to a later view; an idle primary cuts batches at
//! once; request dedup tolerates reordering.

mod config;
mod error;
mod handle;
mod input;
mod log;
mod output;
mod persist;
mod replica;
mod state;

#[cfg(test)]
mod tests;

/// A replica id: the N of `peer.id` = `vpN`.
pub type ReplicaId = u64;

#[cfg(any(test, feature = "sim"))]
pub use config::PlantedBug;
pub use config::{Config, ConfigError, Keys};
pub use error::{Reject, RejectReason};
pub use input::{Input, PeerMsg};
pub use output::{Alarm, Output, PersistOp};
pub use persist::PersistedState;
pub use replica::{BufferSizes, GENESIS_CHECKPOINT, Replica, batch_digest, request_digest};
pub use state::Timer;
