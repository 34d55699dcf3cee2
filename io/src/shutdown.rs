//! The node's stop latch: one `trigger` releases every waiter, including
//! one that starts waiting after the trigger.
//!
//! Why not `tokio::sync::Notify::notify_waiters`: it only wakes waiters that
//! already exist, and a server's shutdown future (an `async` block calling
//! `notified()`) only starts to exist when the server first polls it. A stop
//! that comes before that poll (a signal during start-up, a test that stops
//! at once) was lost and the node waited forever for that server. The latch
//! is sticky, so the order of trigger and wait does not matter.
//!
//! Written over [`crate::sync`] so the loom model in
//! `io/tests/loom_shutdown.rs` checks this very code.

use crate::sync::{Mutex, lock};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct State {
    triggered: bool,
    next_key: u64,
    // One entry per waiting `Wait`, keyed so a re-poll replaces its waker
    // and a dropped `Wait` removes it (the list stays as long as the
    // number of live waiters).
    waiters: Vec<(u64, Waker)>,
}

/// A one-shot, sticky stop signal.
#[derive(Debug)]
pub struct Latch {
    state: Mutex<State>,
}

impl Default for Latch {
    fn default() -> Self {
        Self::new()
    }
}

impl Latch {
    /// An untriggered latch.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
        }
    }

    /// Triggers the latch and wakes every waiter; later calls do nothing.
    pub fn trigger(&self) {
        let waiters = {
            let mut state = lock(&self.state);
            state.triggered = true;
            std::mem::take(&mut state.waiters)
        };
        // Woken outside the lock: a waker may run the waiter's poll inline.
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// Whether [`Latch::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        lock(&self.state).triggered
    }

    /// Completes once the latch is triggered (at once if it already is).
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            latch: self,
            key: None,
        }
    }
}

/// The future of [`Latch::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    latch: &'a Latch,
    key: Option<u64>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = lock(&this.latch.state);
        if state.triggered {
            return Poll::Ready(());
        }
        let key = match this.key {
            Some(key) => key,
            None => {
                state.next_key += 1;
                this.key = Some(state.next_key);
                state.next_key
            }
        };
        match state.waiters.iter_mut().find(|(k, _)| *k == key) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => state.waiters.push((key, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(&self.latch.state).waiters.retain(|(k, _)| *k != key);
        }
    }
}

#[cfg(all(test, not(feature = "loom-models")))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_before_and_after_the_trigger_all_complete() {
        let latch = Arc::new(Latch::new());
        let early = {
            let l = Arc::clone(&latch);
            tokio::spawn(async move { l.wait().await })
        };
        tokio::task::yield_now().await;
        latch.trigger();
        early.await.unwrap();
        latch.wait().await;
        assert!(latch.is_triggered());
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_no_waker_behind() {
        let latch = Latch::new();
        let waited = tokio::time::timeout(std::time::Duration::from_millis(10), latch.wait()).await;
        assert!(waited.is_err());
        assert!(lock(&latch.state).waiters.is_empty());
    }
}
