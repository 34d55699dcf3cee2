//! loom models of the chaincode response router's pending table
//! (`fabrik_io::chaincode::pending`, style.md 10.5): the chaincode's reply,
//! the executor's timeout and the stream's teardown race to end one
//! execution, and a registration races with teardown. What a client cares
//! about: every request gets exactly one answer, never none and never two.
//! Run with
//! `LOOM_MAX_PREEMPTIONS=2 cargo test -p fabrik-io --features loom-models --test loom_pending`.
#![cfg(feature = "loom-models")]

use fabrik_io::chaincode::pending::{Pending, RegisterError};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Stands in for an executor's event channel: records every answer given.
#[derive(Clone)]
struct Answers(Arc<Mutex<Vec<&'static str>>>);

impl Answers {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }

    fn give(&self, answer: &'static str) {
        self.0.lock().unwrap().push(answer);
    }

    fn given(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn reply_timeout_and_teardown_answer_an_execution_exactly_once() {
    loom::model(|| {
        let pending = Arc::new(Pending::new());
        let answers = Answers::new();
        let ticket = pending.register("tx1", answers.clone()).unwrap();
        // The handler's Finished (the chaincode's reply) being routed.
        let reply = {
            let p = Arc::clone(&pending);
            thread::spawn(move || {
                if let Some(sink) = p.complete("tx1") {
                    sink.give("reply");
                }
            })
        };
        // The executor's guard timeout.
        let timeout = {
            let (p, mine) = (Arc::clone(&pending), answers.clone());
            thread::spawn(move || {
                if p.abandon("tx1", ticket) {
                    mine.give("timeout");
                }
            })
        };
        // The stream task ending (chaincode disconnected).
        let teardown = {
            let p = Arc::clone(&pending);
            thread::spawn(move || {
                for (_, sink) in p.close() {
                    sink.give("failed");
                }
            })
        };
        reply.join().unwrap();
        timeout.join().unwrap();
        teardown.join().unwrap();
        let given = answers.given();
        assert_eq!(given.len(), 1, "answers: {given:?}");
        assert!(pending.is_empty());
    });
}

#[test]
fn a_registration_racing_teardown_is_answered_or_refused_never_lost() {
    loom::model(|| {
        let pending = Arc::new(Pending::new());
        let first = Answers::new();
        pending.register("tx1", first.clone()).unwrap();
        let second = Answers::new();
        let executor = {
            let (p, sink) = (Arc::clone(&pending), second.clone());
            thread::spawn(move || p.register("tx2", sink))
        };
        let teardown = {
            let p = Arc::clone(&pending);
            thread::spawn(move || {
                for (_, sink) in p.close() {
                    sink.give("failed");
                }
            })
        };
        let registered = executor.join().unwrap();
        teardown.join().unwrap();
        assert_eq!(first.given(), ["failed"]);
        match registered {
            // Registered before teardown: teardown must have failed it.
            Ok(_) => assert_eq!(second.given(), ["failed"]),
            // Refused: the executor reports the closed stream itself.
            Err(e) => {
                assert_eq!(e, RegisterError::Closed);
                assert!(second.given().is_empty());
            }
        }
        assert!(
            pending.is_empty(),
            "a slot was left that nobody will answer"
        );
    });
}
