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
//!                                              new_view / fetch / learn
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
//! lagging replica jump to a later view (and is sent to replicas that
//! announce an older view); the new-view timer also runs before a
//! VIEW-CHANGE quorum forms, so replicas split across two views escalate
//! instead of waiting for each other; a replica outside the view the
//! others work in (alone in a later one, or restarted in an earlier one)
//! follows their commits without voting and joins a later view once a
//! decision commits there (`handle/learn.rs`); a replica that cannot
//! execute up to a stable checkpoint, with no pre-prepare for its next
//! sequence number, state-transfers to it at once; a PRE-PREPARE of the
//! view being changed to that arrives before its NEW-VIEW is kept and taken
//! up when the view installs (v0.6 `recvPrePrepare` drops it while
//! `!activeView`, and nothing resends it, so the new view times out:
//! Castro–Liskov assume retransmission, v0.6 has none); a replica that
//! knows the network committed past it refuses queries
//! (`handle/staleness.rs`); missing NEW-VIEW
//! batches are asked for again each resend period; at most two
//! VIEW-CHANGEs per replica
//! are kept; an idle primary cuts batches at once; request dedup tolerates
//! reordering; periodic view changes are computed from the view's start, so
//! restarted replicas agree on them; the genesis checkpoint (seq 0,
//! `"XXX GENESIS"`) makes a view change possible before the first real
//! checkpoint, as in v0.6.
//!
//! Driving it: build with [`Replica::new`] (fresh) or [`Replica::restore`]
//! (after a restart, from the [`PersistedState`] the driver rebuilt by
//! applying every [`PersistOp`] in order); then follow the
//! [`crate::machine::Machine`] contract.

mod config;
mod error;
mod handle;
mod input;
mod log;
mod output;
mod persist;
mod replica;
mod requests;
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
