//! The shim side of unacked writes: asked for at REGISTER, used only when
//! the peer granted it, and posted writes that cannot go unanswered failing
//! their execution instead of vanishing.

use super::*;
use crate::chaincode::Features;

fn put_msg(txid: &str, key: &str, value: &[u8]) -> Output {
    let info = PutStateInfo {
        key: key.into(),
        value: value.to_vec(),
    };
    send(Type::PutState, txid, &info.encode_to_vec())
}

fn post(h: &mut Handler, txid: &str, c: StubCall) -> Result<(), Reject> {
    h.handle(
        T,
        Input::StubPost {
            txid: txid.into(),
            call: c,
        },
    )
}

/// In transaction `t1` on a stream whose REGISTERED said `marker`.
fn in_transaction_granted(marker: &str) -> Handler {
    let mut h = Handler::new("cc");
    assert_eq!(feed(&mut h, msg(Type::Registered, marker, b"")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Ready, "r", b"")), Ok(()));
    assert_eq!(feed(&mut h, exec(Type::Transaction, "t1", &["f"])), Ok(()));
    drain(&mut h);
    h
}

fn unacked() -> Handler {
    in_transaction_granted(&Features::ALL.marker())
}

#[test]
fn a_granted_write_is_sent_and_answered_at_once() {
    let mut h = unacked();
    assert!(h.writes_unacked());
    let c = StubCall::PutState("a".into(), b"9".to_vec());
    assert_eq!(call(&mut h, "t1", c), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![put_msg("t1", "a", b"9"), reply("t1", Ok(StubValue::Done))]
    );
    assert_eq!(
        call(&mut h, "t1", StubCall::GetState("a".into())),
        Ok(()),
        "the write left no call outstanding"
    );
    assert_eq!(drain(&mut h), vec![send(Type::GetState, "t1", b"a")]);
}

#[test]
fn a_write_the_ledger_refuses_still_waits_for_its_answer() {
    let mut h = unacked();
    let c = StubCall::PutState("a".into(), Vec::new());
    assert_eq!(call(&mut h, "t1", c), Ok(()));
    assert_eq!(drain(&mut h), vec![put_msg("t1", "a", b"")]);
    let refusal = "key or value empty";
    assert_eq!(
        feed(&mut h, msg(Type::Error, "t1", refusal.as_bytes())),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![reply("t1", Err(refusal))]);
}

#[test]
fn a_posted_write_is_sent_unanswered() {
    let mut h = unacked();
    assert_eq!(post(&mut h, "t1", StubCall::DelState("b".into())), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::DelState, "t1", b"b")]);
    assert_eq!(returned(&mut h, "t1", Ok("done")), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Completed, "t1", b"done")]);
}

#[test]
fn a_shim_told_nothing_keeps_waiting_for_every_write() {
    for marker in ["", crate::chaincode::CONCURRENT_TRANSACTIONS] {
        let mut h = in_transaction_granted(marker);
        assert!(!h.writes_unacked(), "{marker:?}");
        let c = StubCall::PutState("a".into(), b"9".to_vec());
        assert_eq!(call(&mut h, "t1", c), Ok(()));
        assert_eq!(drain(&mut h), vec![put_msg("t1", "a", b"9")]);
        assert_eq!(feed(&mut h, msg(Type::Response, "t1", b"")), Ok(()));
        assert_eq!(drain(&mut h), vec![reply("t1", Ok(StubValue::Done))]);
    }
}

#[test]
fn a_shim_that_did_not_ask_is_not_switched_on_by_the_peer() {
    let config = Config {
        features: Features::default(),
        ..Config::default()
    };
    let mut h = Handler::with_config("cc", config);
    assert_eq!(
        drain(&mut h)[0],
        send(Type::Register, "", &{
            ChaincodeId {
                path: String::new(),
                name: "cc".into(),
            }
            .encode_to_vec()
        })
    );
    let marker = Features::ALL.marker();
    assert_eq!(feed(&mut h, msg(Type::Registered, &marker, b"")), Ok(()));
    assert!(!h.writes_unacked());
}

#[test]
fn a_post_that_cannot_go_unanswered_fails_the_transaction() {
    let mut h = in_transaction_granted("");
    let c = StubCall::PutState("a".into(), b"9".to_vec());
    assert_eq!(
        post(&mut h, "t1", c),
        Err(Reject::CannotPost { txid: "t1".into() })
    );
    assert_eq!(drain(&mut h), vec![], "nothing is sent");
    assert_eq!(returned(&mut h, "t1", Ok("done")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::Error,
            "t1",
            b"[t1]write sent without waiting for its answer, but the peer must answer it"
        )]
    );
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn a_posted_write_in_a_query_or_for_no_txid_is_refused() {
    let mut h = unacked();
    assert_eq!(
        feed(&mut h, exec(Type::Query, "q1", &["query", "a"])),
        Ok(())
    );
    drain(&mut h);
    let c = StubCall::PutState("a".into(), b"9".to_vec());
    assert_eq!(
        post(&mut h, "q1", c.clone()),
        Err(Reject::CannotPost { txid: "q1".into() })
    );
    assert_eq!(
        post(&mut h, "nope", c),
        Err(Reject::UnknownTxid {
            txid: "nope".into()
        })
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(returned(&mut h, "q1", Ok("v")), Ok(()));
    assert_eq!(
        drain(&mut h)[0],
        send(
            Type::QueryError,
            "q1",
            b"[q1]write sent without waiting for its answer, but the peer must answer it"
        )
    );
}

#[test]
fn only_ledger_acceptable_writes_can_be_posted() {
    assert!(StubCall::PutState("k".into(), b"v".to_vec()).can_post());
    assert!(StubCall::DelState(String::new()).can_post());
    assert!(!StubCall::PutState(String::new(), b"v".to_vec()).can_post());
    assert!(!StubCall::PutState("k".into(), Vec::new()).can_post());
    assert!(!StubCall::GetState("k".into()).can_post());
}
