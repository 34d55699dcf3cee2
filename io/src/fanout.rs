//! The event hub's subscriber set: who is subscribed to what, and the
//! fan-out that offers each event to every interested subscriber's bounded
//! queue without ever waiting on one of them, counting every event a full
//! queue had to drop.
//!
//! The invariants a subscriber relies on: a subscriber whose queue has room
//! gets every event published while it is subscribed, in order, once; a
//! slow subscriber loses events (each one counted in [`Subscribers::dropped`])
//! but never delays the others; an event offered to a subscriber that has
//! gone away is not counted as dropped.
//!
//! Written over [`crate::sync`] and generic over the interest filter and the
//! queue so the loom models in `io/tests/loom_fanout.rs` check this very code
//! with a loom-built queue; in the peer the queue is a tokio `mpsc::Sender`
//! (tokio model-checks its own channels).

use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use std::collections::BTreeMap;

/// What a queue did with an offered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued.
    Accepted,
    /// The queue was full; the event is dropped (and counted).
    Full,
    /// The receiving side is gone; nothing to count.
    Closed,
}

/// A subscriber's bounded queue, offered events without waiting.
pub trait Queue<E> {
    /// Queues `event` if there is room.
    fn offer(&self, event: E) -> Offer;
}

impl<T> Queue<T> for tokio::sync::mpsc::Sender<T> {
    fn offer(&self, event: T) -> Offer {
        use tokio::sync::mpsc::error::TrySendError;
        match self.try_send(event) {
            Ok(()) => Offer::Accepted,
            Err(TrySendError::Full(_)) => Offer::Full,
            Err(TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}

#[derive(Debug)]
struct Subscriber<I, Q> {
    interests: I,
    queue: Q,
}

/// The subscribers of one hub and its drop counter.
#[derive(Debug)]
pub struct Subscribers<I, Q> {
    // BTreeMap: fan-out visits subscribers in subscription order.
    subs: Mutex<BTreeMap<u64, Subscriber<I, Q>>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
}

impl<I, Q: Clone> Default for Subscribers<I, Q> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I, Q: Clone> Subscribers<I, Q> {
    /// No subscribers, nothing dropped.
    pub fn new() -> Self {
        Self {
            subs: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
        }
    }

    /// Subscribes `queue` with `interests`; returns its id.
    pub fn add(&self, interests: I, queue: Q) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.subs).insert(id, Subscriber { interests, queue });
        id
    }

    /// Changes the interests of subscriber `id` (if still subscribed).
    pub fn update(&self, id: u64, f: impl FnOnce(&mut I)) {
        if let Some(s) = lock(&self.subs).get_mut(&id) {
            f(&mut s.interests);
        }
    }

    /// Unsubscribes `id`; returns whether it was subscribed. An event
    /// already being fanned out may still be offered to its queue.
    pub fn remove(&self, id: u64) -> bool {
        lock(&self.subs).remove(&id).is_some()
    }

    /// Number of subscribers.
    pub fn len(&self) -> usize {
        lock(&self.subs).len()
    }

    /// Whether nobody is subscribed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped because a subscriber's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The queues of the subscribers whose interests `wants` accepts, in
    /// subscription order. Cloned out so no queue is touched under the lock.
    pub fn targets(&self, wants: impl Fn(&I) -> bool) -> Vec<Q> {
        lock(&self.subs)
            .values()
            .filter(|s| wants(&s.interests))
            .map(|s| s.queue.clone())
            .collect()
    }

    /// Accounts for the outcome of one offer (made here or by a caller that
    /// waited for room): a full queue's event counts as dropped.
    pub fn settle(&self, outcome: Offer) -> Offer {
        if outcome == Offer::Full {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Offers `event` to every interested subscriber without waiting;
    /// returns how many full queues dropped it.
    pub fn publish<E: Clone>(&self, event: &E, wants: impl Fn(&I) -> bool) -> usize
    where
        Q: Queue<E>,
    {
        let mut full = 0;
        for queue in self.targets(wants) {
            if self.settle(queue.offer(event.clone())) == Offer::Full {
                full += 1;
            }
        }
        full
    }
}

#[cfg(all(test, not(feature = "loom-models")))]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[test]
    fn a_full_queue_drops_and_counts_and_a_closed_one_is_not_counted() {
        let subs = Subscribers::new();
        let (fast, mut fast_rx) = mpsc::channel(4);
        let (slow, mut slow_rx) = mpsc::channel(1);
        let (gone, gone_rx) = mpsc::channel(1);
        let (other, mut other_rx) = mpsc::channel(4);
        subs.add(true, fast);
        subs.add(true, slow);
        subs.add(true, gone);
        subs.add(false, other);
        drop(gone_rx);
        assert_eq!(subs.publish(&1, |i| *i), 0);
        assert_eq!(subs.publish(&2, |i| *i), 1);
        assert_eq!(subs.dropped(), 1);
        assert_eq!((fast_rx.try_recv(), fast_rx.try_recv()), (Ok(1), Ok(2)));
        assert_eq!(slow_rx.try_recv(), Ok(1));
        assert!(slow_rx.try_recv().is_err());
        assert!(other_rx.try_recv().is_err());
    }
}
