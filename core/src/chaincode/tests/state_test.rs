//! GET_STATE / PUT_STATE / DEL_STATE and io's answers, including bad input.

use super::*;
use fabrik_proto::protos::PutStateInfo;

fn put(txid: &str, key: &str, value: &[u8]) -> ChaincodeMessage {
    let info = PutStateInfo {
        key: key.into(),
        value: value.to_vec(),
    };
    msg(Type::PutState, txid, &info.encode_to_vec())
}

#[test]
fn get_state_asks_io_and_replies_with_the_value() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::ReadState {
            txid: "t1".into(),
            key: "a".into()
        }]
    );
    let answer = Input::StateValue {
        txid: "t1".into(),
        value: Some(b"100".to_vec()),
    };
    assert_eq!(h.handle(T0, answer), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Response, "t1", b"100")]);
}

#[test]
fn missing_key_is_an_empty_response() {
    let mut h = in_query();
    assert_eq!(feed(&mut h, msg(Type::GetState, "q1", b"nope")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::ReadState {
            txid: "q1".into(),
            key: "nope".into()
        }]
    );
    assert_eq!(
        h.handle(
            T0,
            Input::StateValue {
                txid: "q1".into(),
                value: None
            }
        ),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![send(Type::Response, "q1", b"")]);
}

#[test]
fn put_state_asks_io_and_replies_empty_response() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, put("t1", "a", b"90")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::WriteState {
            txid: "t1".into(),
            key: "a".into(),
            value: b"90".to_vec()
        }]
    );
    assert_eq!(
        h.handle(
            T0,
            Input::WriteDone {
                txid: "t1".into(),
                result: Ok(())
            }
        ),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![send(Type::Response, "t1", b"")]);
}

#[test]
fn write_error_is_sent_as_error() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::DelState, "t1", b"a")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::DeleteState {
            txid: "t1".into(),
            key: "a".into()
        }]
    );
    let answer = Input::WriteDone {
        txid: "t1".into(),
        result: Err("disk on fire".into()),
    };
    assert_eq!(h.handle(T0, answer), Ok(()));
    assert_eq!(drain(&mut h), vec![error("t1", "disk on fire")]);
}

#[test]
fn put_state_in_query_context_is_refused_with_the_v06_text() {
    let mut h = in_query();
    let r = feed(&mut h, put("q1", "a", b"1"));
    assert_eq!(
        r,
        Err(Reject::NotInTransaction {
            msg_type: "PUT_STATE"
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error("q1", "Cannot handle PUT_STATE in query context")]
    );
    // Still usable: the query can read and complete.
    assert_eq!(feed(&mut h, msg(Type::GetState, "q1", b"a")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::ReadState {
            txid: "q1".into(),
            key: "a".into()
        }]
    );
}

#[test]
fn del_state_in_query_context_is_refused() {
    let mut h = in_query();
    let r = feed(&mut h, msg(Type::DelState, "q1", b"a"));
    assert_eq!(
        r,
        Err(Reject::NotInTransaction {
            msg_type: "DEL_STATE"
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error("q1", "Cannot handle DEL_STATE in query context")]
    );
}

#[test]
fn put_state_outside_any_transaction_gets_error_and_handler_stays_usable() {
    let mut h = ready();
    let r = feed(&mut h, put("ghost", "a", b"1"));
    assert_eq!(
        r,
        Err(Reject::UnknownTxid {
            txid: "ghost".into()
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error(
            "ghost",
            "No ledger context for PUT_STATE. Sending ERROR"
        )]
    );
    assert_eq!(h.state_name(), "ready");
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &[])),
        Ok(())
    );
}

#[test]
fn undecodable_put_payload_gets_error() {
    let mut h = in_transaction();
    let r = feed(&mut h, msg(Type::PutState, "t1", b"\x0a\x05ab"));
    assert_eq!(
        r,
        Err(Reject::Malformed {
            what: "PUT_STATE payload".into()
        })
    );
    let out = drain(&mut h);
    let [Output::Send(m)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((m.r#type, m.txid.as_str()), (Type::Error as i32, "t1"));
    assert!(
        String::from_utf8_lossy(&m.payload)
            .starts_with("Unable to decipher payload of PUT_STATE: ")
    );
    // Still usable.
    assert_eq!(feed(&mut h, put("t1", "a", b"1")), Ok(()));
}

#[test]
fn non_utf8_key_gets_error() {
    let mut h = in_transaction();
    let r = feed(&mut h, msg(Type::GetState, "t1", b"\xff"));
    assert_eq!(
        r,
        Err(Reject::Malformed {
            what: "GET_STATE payload".into()
        })
    );
    let out = drain(&mut h);
    assert!(matches!(out.as_slice(), [Output::Send(m)] if m.r#type == Type::Error as i32));
}

#[test]
fn second_request_while_busy_is_dropped() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    drain(&mut h);
    let r = feed(&mut h, msg(Type::GetState, "t1", b"b"));
    assert_eq!(r, Err(Reject::RequestPending { txid: "t1".into() }));
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn answers_without_a_request_are_rejected_silently() {
    let mut h = in_transaction();
    let r = h.handle(
        T0,
        Input::StateValue {
            txid: "t1".into(),
            value: None,
        },
    );
    assert_eq!(
        r,
        Err(Reject::UnexpectedAnswer {
            txid: "t1".into(),
            expected: "ReadState"
        })
    );
    let r = h.handle(
        T0,
        Input::WriteDone {
            txid: "zz".into(),
            result: Ok(()),
        },
    );
    assert_eq!(r, Err(Reject::UnknownTxid { txid: "zz".into() }));
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn wrong_answer_kind_keeps_the_request_pending() {
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    drain(&mut h);
    let r = h.handle(
        T0,
        Input::WriteDone {
            txid: "t1".into(),
            result: Ok(()),
        },
    );
    assert_eq!(
        r,
        Err(Reject::UnexpectedAnswer {
            txid: "t1".into(),
            expected: "WriteState/DeleteState"
        })
    );
    assert_eq!(
        h.handle(
            T0,
            Input::StateValue {
                txid: "t1".into(),
                value: None
            }
        ),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![send(Type::Response, "t1", b"")]);
}
