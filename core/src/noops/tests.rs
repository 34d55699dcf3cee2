//! Golden-output tests of the NOOPS machine.

use super::*;

fn tx(id: &str) -> Transaction {
    Transaction {
        txid: id.into(),
        ..Default::default()
    }
}

fn drain(m: &mut Noops) -> Vec<Output> {
    std::iter::from_fn(|| m.poll_output()).collect()
}

fn v06(size: usize) -> Noops {
    Noops::new(Config {
        block_size: size,
        adaptive: false,
        ..Config::default()
    })
}

const T0: Instant = Instant::ZERO;

#[test]
fn submit_broadcasts_then_waits_for_block_wait() {
    let mut m = v06(500);
    m.handle(T0, Input::Submit(tx("a"))).unwrap();
    assert_eq!(drain(&mut m), vec![Output::Broadcast(tx("a"))]);
    assert_eq!(m.poll_timeout(), Some(T0 + Duration::from_secs(1)));
    m.handle_timeout(T0 + Duration::from_millis(999));
    assert_eq!(drain(&mut m), vec![]);
    m.handle_timeout(T0 + Duration::from_secs(1));
    assert_eq!(drain(&mut m), vec![Output::Execute(vec![tx("a")])]);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn full_queue_cuts_a_block_of_block_size() {
    let mut m = v06(2);
    m.handle(T0, Input::FromPeer(tx("a"))).unwrap();
    m.handle(T0, Input::FromPeer(tx("b"))).unwrap();
    assert_eq!(drain(&mut m), vec![Output::Execute(vec![tx("a"), tx("b")])]);
}

#[test]
fn adaptive_cuts_at_once_when_idle_and_batches_behind_a_running_block() {
    let mut m = Noops::new(Config::default());
    m.handle(T0, Input::FromPeer(tx("a"))).unwrap();
    assert_eq!(drain(&mut m), vec![Output::Execute(vec![tx("a")])]);
    m.handle(T0, Input::FromPeer(tx("b"))).unwrap();
    m.handle(T0, Input::FromPeer(tx("c"))).unwrap();
    assert_eq!(drain(&mut m), vec![]);
    m.handle(T0, Input::Executed).unwrap();
    assert_eq!(drain(&mut m), vec![Output::Execute(vec![tx("b"), tx("c")])]);
}

#[test]
fn a_wait_that_expired_during_execution_cuts_on_executed() {
    let mut m = v06(10);
    m.handle(T0, Input::FromPeer(tx("a"))).unwrap();
    m.handle_timeout(T0 + Duration::from_secs(1));
    assert_eq!(drain(&mut m).len(), 1);
    m.handle(T0 + Duration::from_secs(1), Input::FromPeer(tx("b")))
        .unwrap();
    assert_eq!(m.poll_timeout(), None, "no wake-up while a block executes");
    m.handle(T0 + Duration::from_secs(3), Input::Executed)
        .unwrap();
    assert_eq!(drain(&mut m), vec![Output::Execute(vec![tx("b")])]);
}

#[test]
fn queue_is_bounded_and_refusal_changes_nothing() {
    let mut m = Noops::new(Config {
        max_pending: 1,
        adaptive: false,
        ..Config::default()
    });
    m.handle(T0, Input::FromPeer(tx("a"))).unwrap();
    let err = m.handle(T0, Input::Submit(tx("b"))).unwrap_err();
    assert_eq!(err, Reject::Busy(1));
    assert_eq!(
        err.to_string(),
        "consensus queue is full (1 pending transactions); retry later"
    );
    assert_eq!(drain(&mut m), vec![]);
    assert_eq!(m.pending(), 1);
}

#[test]
fn executed_without_a_block_is_refused() {
    let mut m = v06(1);
    assert_eq!(m.handle(T0, Input::Executed), Err(Reject::NothingExecuting));
}
