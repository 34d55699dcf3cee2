//! Refusing queries on a replica that knows the network committed past it
//! (issue #17, seen on a real network: a restarted validator answered a
//! stale balance while two blocks behind). Scripts of inputs and the
//! outputs the replica must give; `cfg` has N = 4, f = 1, K = 2, L = 8.

use super::*;
use crate::pbft::Input;

fn refusals(outs: &[Output]) -> Vec<&Output> {
    outs.iter()
        .filter(|o| matches!(o, Output::StateInvalid | Output::StateValid))
        .collect()
}

/// Slot `seq` of view 0 as replicas 0 (the primary), 2 and 3 run it; the
/// replica under test sees only what `parts` lets through.
fn slot(r: &mut Replica, seq: u64, b: &RequestBatch, with_pre_prepare: bool, committers: &[u64]) {
    let d = batch_digest(b);
    if with_pre_prepare {
        deliver(r, 0, pre_prepare(0, seq, b, 0)).unwrap();
        deliver(r, 2, prepare(0, seq, &d, 2)).unwrap();
        deliver(r, 3, prepare(0, seq, &d, 3)).unwrap();
    }
    for from in committers {
        deliver(r, *from, commit(0, seq, &d, *from)).unwrap();
    }
}

#[test]
fn commits_past_a_slot_it_missed_refuse_queries_until_the_slot_arrives() {
    let mut r = replica(1);
    let (b1, b2) = (batch(&[req(0, 1)]), batch(&[req(0, 2)]));
    // Replica 1 was down for slot 1; it sees slot 2 whole.
    slot(&mut r, 2, &b2, true, &[0]);
    assert_eq!(refusals(&drain(&mut r)), Vec::<&Output>::new());
    assert!(!r.refuses_queries(), "one COMMIT proves nothing");
    deliver(&mut r, 2, commit(0, 2, &batch_digest(&b2), 2)).unwrap();
    assert_eq!(refusals(&drain(&mut r)), vec![&Output::StateInvalid]);
    assert!(r.refuses_queries());
    assert!(!r.is_state_invalid(), "no state transfer was started");
    // The missed slot arrives after all: it can execute, so queries are
    // answered again, and both slots execute in order.
    slot(&mut r, 1, &b1, true, &[0, 2, 3]);
    let outs = drain(&mut r);
    assert_eq!(refusals(&outs), vec![&Output::StateValid]);
    assert!(outs.contains(&Output::Execute { seq: 1, batch: b1 }));
    assert!(!r.refuses_queries());
}

#[test]
fn a_backup_whose_next_slot_is_pre_prepared_keeps_answering_queries() {
    let mut r = replica(1);
    let (b1, b2) = (batch(&[req(0, 1)]), batch(&[req(0, 2)]));
    // Slot 1 is pre-prepared but its COMMITs are still on their way while
    // slot 2 already committed everywhere: slow, not behind.
    slot(&mut r, 1, &b1, true, &[]);
    slot(&mut r, 2, &b2, true, &[0, 2, 3]);
    assert_eq!(refusals(&drain(&mut r)), Vec::<&Output>::new());
    assert!(!r.refuses_queries());
}

#[test]
fn f_plus_one_checkpoints_above_it_refuse_queries_through_the_transfer() {
    let mut r = replica(1);
    let id2 = id_of(&info(3));
    deliver(&mut r, 2, checkpoint(2, 2, &id2)).unwrap();
    assert_eq!(refusals(&drain(&mut r)), Vec::<&Output>::new());
    deliver(&mut r, 3, checkpoint(2, 3, &id2)).unwrap();
    assert_eq!(refusals(&drain(&mut r)), vec![&Output::StateInvalid]);
    // The third makes it stable: the replica transfers (still refusing,
    // and saying so only once).
    deliver(&mut r, 0, checkpoint(2, 0, &id2)).unwrap();
    let outs = drain(&mut r);
    assert_eq!(refusals(&outs), Vec::<&Output>::new());
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::StateTransfer { seq: 2, .. }))
    );
    r.handle(
        T0,
        Input::StateTransferred {
            seq: 2,
            info: info(3),
        },
    )
    .unwrap();
    assert_eq!(refusals(&drain(&mut r)), vec![&Output::StateValid]);
    assert!(!r.refuses_queries());
}

#[test]
fn one_faulty_replica_cannot_make_a_correct_one_refuse_queries() {
    let mut r = replica(1);
    // Replica 3 alone claims commits and checkpoints far ahead.
    for seq in 2..=8 {
        deliver(&mut r, 3, commit(0, seq, "forged", 3)).unwrap();
    }
    deliver(&mut r, 3, checkpoint(4, 3, &id_of(&info(5)))).unwrap();
    deliver(&mut r, 3, checkpoint(20, 3, &id_of(&info(21)))).unwrap();
    assert_eq!(refusals(&drain(&mut r)), Vec::<&Output>::new());
    assert!(!r.refuses_queries());
}
