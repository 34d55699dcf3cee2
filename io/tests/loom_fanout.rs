//! loom models of the event hub's fan-out (`fabrik_io::fanout`, style.md
//! 10.5) over a loom-built bounded queue standing in for a subscriber's
//! channel: a slow subscriber beside a fast one, and subscribers leaving and
//! joining while events are fanned out. What a subscriber cares about: with
//! room in its queue it gets every event while subscribed, in order, once; a
//! slow one loses events but each loss is counted, and it never costs the
//! others anything. Run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test -p fabrik-io --features loom-models --test loom_fanout`.
#![cfg(feature = "loom-models")]

use fabrik_io::fanout::{Offer, Queue, Subscribers};
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::collections::VecDeque;

#[derive(Debug)]
struct Inner {
    queued: VecDeque<u32>,
    capacity: usize,
    closed: bool,
}

/// A bounded queue like a tokio channel: `close` is the receiver going away
/// (what it had queued stays readable here so the model can look at it).
#[derive(Debug, Clone)]
struct Bounded(Arc<Mutex<Inner>>);

impl Bounded {
    fn new(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            queued: VecDeque::new(),
            capacity,
            closed: false,
        })))
    }

    fn pop(&self) -> Option<u32> {
        self.0.lock().unwrap().queued.pop_front()
    }

    fn close(&self) {
        self.0.lock().unwrap().closed = true;
    }

    fn drain(&self) -> Vec<u32> {
        self.0.lock().unwrap().queued.drain(..).collect()
    }
}

impl Queue<u32> for Bounded {
    fn offer(&self, event: u32) -> Offer {
        let mut q = self.0.lock().unwrap();
        if q.closed {
            Offer::Closed
        } else if q.queued.len() >= q.capacity {
            Offer::Full
        } else {
            q.queued.push_back(event);
            Offer::Accepted
        }
    }
}

fn publish(subs: &Subscribers<bool, Bounded>, events: &[u32]) {
    for e in events {
        subs.publish(e, |interested| *interested);
    }
}

#[test]
fn a_slow_subscriber_loses_only_counted_events_and_never_costs_the_others() {
    loom::model(|| {
        let subs = Arc::new(Subscribers::new());
        let fast = Bounded::new(2);
        let slow = Bounded::new(1);
        let deaf = Bounded::new(2);
        subs.add(true, fast.clone());
        subs.add(true, slow.clone());
        subs.add(false, deaf.clone());
        let publisher = {
            let s = Arc::clone(&subs);
            thread::spawn(move || publish(&s, &[1, 2]))
        };
        // The slow subscriber reads once, at some point.
        let reader = {
            let q = slow.clone();
            thread::spawn(move || q.pop())
        };
        publisher.join().unwrap();
        let mut slow_got: Vec<u32> = reader.join().unwrap().into_iter().collect();
        slow_got.extend(slow.drain());
        assert_eq!(fast.drain(), [1, 2]);
        assert!(deaf.drain().is_empty());
        assert!(
            slow_got.windows(2).all(|w| w[0] < w[1]),
            "out of order or duplicated: {slow_got:?}"
        );
        assert_eq!(
            slow_got.len() as u64 + subs.dropped(),
            2,
            "slow got {slow_got:?}, {} counted as dropped",
            subs.dropped()
        );
    });
}

#[test]
fn subscribers_leaving_and_joining_mid_fan_out_see_no_gap_and_no_false_drop() {
    loom::model(|| {
        let subs = Arc::new(Subscribers::new());
        let staying = Bounded::new(2);
        let leaving = Bounded::new(1);
        subs.add(true, staying.clone());
        let leaving_id = subs.add(true, leaving.clone());
        let publisher = {
            let s = Arc::clone(&subs);
            thread::spawn(move || publish(&s, &[1, 2]))
        };
        // One Chat stream ends (unsubscribe, receiver dropped), another starts.
        let churn = {
            let (s, q) = (Arc::clone(&subs), leaving.clone());
            thread::spawn(move || {
                assert!(s.remove(leaving_id));
                q.close();
                let joined = Bounded::new(2);
                s.add(true, joined.clone());
                joined
            })
        };
        publisher.join().unwrap();
        let joined = churn.join().unwrap().drain();
        assert_eq!(staying.drain(), [1, 2]);
        // A live subscriber's events are a gap-free tail of what was published.
        assert!(
            [&[][..], &[2], &[1, 2]].contains(&joined.as_slice()),
            "joined got {joined:?}"
        );
        let left = leaving.drain();
        assert!(left.is_empty() || left == [1], "left got {left:?}");
        // Only a full queue counts: the leaving queue (capacity 1) can have
        // dropped event 2 only if it still held event 1.
        assert!(subs.dropped() <= u64::from(left == [1]));
        assert_eq!(subs.len(), 2);
    });
}
