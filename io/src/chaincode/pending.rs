//! The chaincode response router's table of pending executions: txid → the
//! sink that receives that execution's requests and its one final answer.
//!
//! Three parties race to end an execution, from different tasks:
//! - the stream task routes the handler's `Finished` (the chaincode's reply,
//!   or the handler's own timeout verdict) with [`Pending::complete`];
//! - the executor gives up after its guard timeout with [`Pending::abandon`];
//! - the stream task's teardown fails whatever is left with
//!   [`Pending::close`].
//!
//! Whoever removes the slot under the lock owns the answer, so each
//! execution ends exactly once. `close` also shuts the table: a
//! registration that loses the race with teardown is refused
//! ([`RegisterError::Closed`]) instead of being left in a table nobody
//! drains, where its executor would wait forever.
//!
//! Written over [`crate::sync`] and generic over the sink so the loom models
//! in `io/tests/loom_pending.rs` check this very code.

use crate::sync::{Mutex, lock};
use std::collections::HashMap;

/// Identifies one registration, so an executor that gives up can only
/// remove its own slot, never a later registration of the same txid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// The txid already has a pending execution here.
    Busy,
    /// The table was closed by teardown.
    Closed,
}

#[derive(Debug)]
struct State<S> {
    open: bool,
    next: u64,
    slots: HashMap<String, (Ticket, S)>,
}

/// Pending executions of one chaincode stream.
#[derive(Debug)]
pub struct Pending<S> {
    state: Mutex<State<S>>,
}

impl<S: Clone> Default for Pending<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone> Pending<S> {
    /// An open, empty table.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                open: true,
                next: 0,
                slots: HashMap::new(),
            }),
        }
    }

    /// Registers `sink` for `txid` (before the execution is sent, so no
    /// output of it can arrive first).
    ///
    /// # Errors
    /// [`RegisterError::Busy`] when `txid` is pending, [`RegisterError::Closed`]
    /// after teardown.
    pub fn register(&self, txid: &str, sink: S) -> Result<Ticket, RegisterError> {
        let mut state = lock(&self.state);
        if !state.open {
            return Err(RegisterError::Closed);
        }
        if state.slots.contains_key(txid) {
            return Err(RegisterError::Busy);
        }
        state.next += 1;
        let ticket = Ticket(state.next);
        state.slots.insert(txid.to_string(), (ticket, sink));
        Ok(ticket)
    }

    /// The sink of `txid` for an intermediate request (the slot stays).
    pub fn get(&self, txid: &str) -> Option<S> {
        lock(&self.state).slots.get(txid).map(|(_, s)| s.clone())
    }

    /// Takes the slot of `txid` to deliver its final answer; `None` when the
    /// execution already ended (abandoned or failed by teardown).
    pub fn complete(&self, txid: &str) -> Option<S> {
        lock(&self.state).slots.remove(txid).map(|(_, s)| s)
    }

    /// The executor stops waiting: removes the slot of `txid` if it is still
    /// the registration `ticket`. Returns whether it did; `false` means an
    /// answer was taken by [`Pending::complete`] or [`Pending::close`] and
    /// is on its way to the sink.
    pub fn abandon(&self, txid: &str, ticket: Ticket) -> bool {
        let mut state = lock(&self.state);
        if state.slots.get(txid).is_some_and(|(t, _)| *t == ticket) {
            state.slots.remove(txid);
            true
        } else {
            false
        }
    }

    /// Teardown: closes the table and returns every pending execution, each
    /// to be failed once by the caller.
    pub fn close(&self) -> Vec<(String, S)> {
        let mut state = lock(&self.state);
        state.open = false;
        state
            .slots
            .drain()
            .map(|(txid, (_, s))| (txid, s))
            .collect()
    }

    /// Number of pending executions.
    pub fn len(&self) -> usize {
        lock(&self.state).slots.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(feature = "loom-models")))]
mod tests {
    use super::*;

    #[test]
    fn a_slot_ends_once_and_a_closed_table_refuses_registrations() {
        let p = Pending::new();
        let t = p.register("tx", 1).unwrap();
        assert_eq!(p.register("tx", 2), Err(RegisterError::Busy));
        assert_eq!(p.get("tx"), Some(1));
        assert_eq!(p.complete("tx"), Some(1));
        assert!(!p.abandon("tx", t));
        assert_eq!(p.complete("tx"), None);
        p.register("other", 3).unwrap();
        assert_eq!(p.close(), vec![("other".to_string(), 3)]);
        assert_eq!(p.register("late", 4), Err(RegisterError::Closed));
        assert!(p.is_empty());
    }

    #[test]
    fn abandoning_an_old_registration_leaves_a_newer_one_alone() {
        let p = Pending::new();
        let old = p.register("tx", 1).unwrap();
        assert!(p.abandon("tx", old));
        let new = p.register("tx", 2).unwrap();
        assert!(!p.abandon("tx", old));
        assert_eq!(p.get("tx"), Some(2));
        assert!(p.abandon("tx", new));
    }
}
