//! The std/loom switch for io's hand-written shared state (style.md 10.5):
//! code that must be model-checked takes its `Arc`, `Mutex` and atomics from
//! here, so the `loom-models` feature swaps in loom's types without
//! touching that code. Its users, each with a model in `io/tests/loom_*.rs`:
//! the peer connection registry ([`crate::net::registry`]), the chaincode
//! response router's pending table ([`crate::chaincode::pending`]), the event
//! hub's subscriber set ([`crate::fanout`]) and the stop latch
//! ([`crate::shutdown`]).

#[cfg(feature = "loom-models")]
pub use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

#[cfg(not(feature = "loom-models"))]
pub use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

/// Locks `mutex`, recovering the data if a holder panicked (the registry's
/// invariants hold after every single operation, so the data stays usable).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(feature = "loom-models")]
    {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }
    #[cfg(not(feature = "loom-models"))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
