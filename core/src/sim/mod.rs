//! A deterministic cluster simulator for [`crate::pbft::Replica`]
//! (feature `sim`; style.md 10.4, TigerBeetle VOPR style): one u64 seed
//! decides everything — the fault mix ([`SimOptions::swarm`]), message
//! delays, loss, duplication and reordering, partitions that heal, crashes
//! and restarts from persisted outputs only (optionally losing the persist
//! in flight), per-node timer skew, Byzantine replicas (equivocating
//! primary, twin, random messages), and the client load. Virtual time
//! jumps to the next event or timer; nothing sleeps.
//!
//! A run has a safety phase (faults on, until enough batches committed)
//! and a liveness phase (faults stop, Byzantine replicas fall silent,
//! crashed ones restart; a probe request must commit within a bound). The
//! [`Checker`] runs after every step. A failing run's [`Report`] prints
//! `reproduce with FABRIK_SEED=<seed>`.

mod byzantine;
mod checker;
mod cluster;
mod executor;
mod options;
mod rng;

pub use checker::{Checker, Violation};
pub use cluster::{Report, run, run_twins_fork};
pub use executor::{Chain, genesis};
pub use options::{Byzantine, SimOptions};
pub use rng::Rng;

#[cfg(test)]
mod tests;
