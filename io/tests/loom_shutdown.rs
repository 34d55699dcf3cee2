//! loom model of the node's stop latch (`fabrik_io::shutdown`, style.md
//! 10.5): servers start waiting for the stop before, during and after it is
//! triggered, one of them giving up its wait on the way (a `select!` that
//! chose another branch). What the operator cares about: `peerd node stop`
//! completes, with no server left waiting forever (loom reports a thread
//! that is never woken as a deadlock). Run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test -p fabrik-io --features loom-models --test loom_shutdown`.
#![cfg(feature = "loom-models")]

use fabrik_io::shutdown::Latch;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use std::future::Future;
use std::task::{Context, Poll, Waker};

#[test]
fn every_waiter_is_released_whether_it_waits_before_or_after_the_trigger() {
    loom::model(|| {
        let latch = Arc::new(Latch::new());
        let servers: Vec<_> = (0..2)
            .map(|_| {
                let l = Arc::clone(&latch);
                thread::spawn(move || block_on(l.wait()))
            })
            .collect();
        let node = {
            let l = Arc::clone(&latch);
            thread::spawn(move || {
                // A waiter polled once and dropped must not take a wake-up
                // meant for the others.
                let mut abandoned = Box::pin(l.wait());
                let polled = abandoned
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()));
                drop(abandoned);
                l.trigger();
                polled
            })
        };
        let _: Poll<()> = node.join().unwrap();
        for s in servers {
            s.join().unwrap();
        }
        assert!(latch.is_triggered());
        // A server that starts after the stop returns at once.
        block_on(latch.wait());
    });
}
