//! COMPLETED / ERROR / QUERY_COMPLETED / QUERY_ERROR, and chaincode-to-
//! chaincode calls.

use super::*;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeSpec};

#[test]
fn completed_overwrites_the_event_ids() {
    let mut h = in_transaction();
    let mut m = msg(Type::Completed, "t1", b"r");
    m.chaincode_event = Some(ChaincodeEvent {
        chaincode_id: "spoof".into(),
        tx_id: "other".into(),
        event_name: "ev".into(),
        payload: b"p".to_vec(),
    });
    assert_eq!(feed(&mut h, m), Ok(()));
    let event = ChaincodeEvent {
        chaincode_id: "cc".into(),
        tx_id: "t1".into(),
        event_name: "ev".into(),
        payload: b"p".to_vec(),
    };
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Completed {
                payload: b"r".to_vec(),
                event: Some(event)
            }
        )]
    );
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn error_in_a_transaction_fails_it_and_returns_to_ready() {
    let mut h = in_transaction();
    assert_eq!(
        feed(&mut h, msg(Type::Error, "t1", b"Entity not found")),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Failed("Entity not found".into())
        )]
    );
    assert_eq!(h.state_name(), "ready");
    assert!(!h.is_closed());
}

#[test]
fn error_during_init_fails_it_and_ends_the_stream() {
    let mut h = registered_with(Config::default());
    assert_eq!(
        h.handle(T0, execute("cc", ExecKind::Init, &["init"])),
        Ok(())
    );
    drain(&mut h);
    assert_eq!(
        feed(
            &mut h,
            msg(
                Type::Error,
                "cc",
                b"Incorrect number of arguments. Expecting 4"
            )
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![
            finished(
                "cc",
                ExecResult::Failed("Incorrect number of arguments. Expecting 4".into())
            ),
            Output::Close {
                reason:
                    "Error initializing chaincode cc: Incorrect number of arguments. Expecting 4"
                        .into()
            }
        ]
    );
    assert_eq!(h.state_name(), "end");
}

#[test]
fn query_completed_and_query_error() {
    let mut h = in_query();
    assert_eq!(
        feed(&mut h, msg(Type::QueryCompleted, "q1", b"100")),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![finished("q1", ExecResult::QueryCompleted(b"100".to_vec()))]
    );
    let mut h = in_query();
    assert_eq!(
        feed(
            &mut h,
            msg(Type::QueryError, "q1", b"{\"Error\":\"Nil amount for a\"}")
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "q1",
            ExecResult::QueryFailed("{\"Error\":\"Nil amount for a\"}".into())
        )]
    );
}

#[test]
fn mismatched_terminal_types_are_rejected_without_output() {
    let mut h = in_query();
    let r = feed(&mut h, msg(Type::Completed, "q1", b""));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "ready",
            msg_type: "COMPLETED".into()
        })
    );
    let mut t = in_transaction();
    let r = feed(&mut t, msg(Type::QueryCompleted, "t1", b""));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "transaction",
            msg_type: "QUERY_COMPLETED".into()
        })
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(drain(&mut t), vec![]);
    assert_eq!((h.in_flight(), t.in_flight()), (1, 1));
}

#[test]
fn completed_for_an_unknown_txid_is_rejected_without_output() {
    let mut h = ready();
    assert_eq!(
        feed(&mut h, msg(Type::Completed, "zz", b"")),
        Err(Reject::UnknownTxid { txid: "zz".into() })
    );
    assert_eq!(drain(&mut h), vec![]);
}

fn spec(name: &str, args: &[&str]) -> ChaincodeSpec {
    ChaincodeSpec {
        chaincode_id: Some(ChaincodeId {
            path: String::new(),
            name: name.into(),
        }),
        ctor_msg: Some(input(args)),
        ..Default::default()
    }
}

#[test]
fn invoke_chaincode_is_run_by_io_and_the_callee_message_returned() {
    let mut h = in_transaction();
    let s = spec("other", &["invoke", "a"]);
    assert_eq!(
        feed(&mut h, msg(Type::InvokeChaincode, "t1", &s.encode_to_vec())),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![Output::InvokeChaincode {
            txid: "t1".into(),
            spec: s,
            query: false
        }]
    );
    let last = msg(Type::Completed, "t1", b"done");
    assert_eq!(
        h.handle(
            T0,
            Input::InvokeDone {
                txid: "t1".into(),
                result: Ok(last.clone())
            }
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![send(Type::Response, "t1", &last.encode_to_vec())]
    );
}

#[test]
fn invoke_query_is_allowed_in_a_query_and_errors_are_sent_as_error() {
    let mut h = in_query();
    let s = spec("ex02", &["query", "a"]);
    assert_eq!(
        feed(&mut h, msg(Type::InvokeQuery, "q1", &s.encode_to_vec())),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![Output::InvokeChaincode {
            txid: "q1".into(),
            spec: s,
            query: true
        }]
    );
    let r = h.handle(
        T0,
        Input::InvokeDone {
            txid: "q1".into(),
            result: Err("handler not found".into()),
        },
    );
    assert_eq!(r, Ok(()));
    assert_eq!(drain(&mut h), vec![error("q1", "handler not found")]);
}

#[test]
fn invoke_chaincode_in_a_query_is_refused() {
    let mut h = in_query();
    let s = spec("other", &["invoke"]);
    let r = feed(&mut h, msg(Type::InvokeChaincode, "q1", &s.encode_to_vec()));
    assert_eq!(
        r,
        Err(Reject::NotInTransaction {
            msg_type: "INVOKE_CHAINCODE"
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error(
            "q1",
            "Cannot handle INVOKE_CHAINCODE in query context"
        )]
    );
}

#[test]
fn completed_while_a_request_is_pending_finishes_and_late_answer_is_rejected() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"")), Ok(()));
    drain(&mut h);
    let r = h.handle(
        T0,
        Input::StateValue {
            txid: "t1".into(),
            value: None,
        },
    );
    assert_eq!(r, Err(Reject::UnknownTxid { txid: "t1".into() }));
    assert_eq!(drain(&mut h), vec![]);
}
