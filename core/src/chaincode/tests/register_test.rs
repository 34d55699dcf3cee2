//! created → established, refusals, and messages the stream cannot take.

use super::*;

#[test]
fn register_reports_the_name_and_replies_registered_once_io_accepts() {
    let mut h = Handler::new(Config::default());
    assert_eq!(h.state_name(), "created");
    assert_eq!(feed(&mut h, register_msg("mycc")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::Registered {
            name: "mycc".into(),
            features: Features::default()
        }]
    );
    assert_eq!(
        h.state_name(),
        "created",
        "nothing is sent before io accepts"
    );
    assert_eq!(h.handle(T0, Input::RegisterAccepted), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Registered, "", b"")]);
    assert_eq!(h.state_name(), "established");
    assert_eq!(h.name(), Some("mycc"));
}

#[test]
fn register_accepted_without_a_pending_register_is_rejected() {
    let mut h = Handler::new(Config::default());
    assert_eq!(
        h.handle(T0, Input::RegisterAccepted),
        Err(Reject::UnexpectedMessage {
            state: "created",
            msg_type: "RegisterAccepted".into()
        })
    );
    let mut h = registered_with(Config::default());
    assert!(h.handle(T0, Input::RegisterAccepted).is_err());
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn undecodable_register_payload_is_refused_and_closes() {
    let mut h = Handler::new(Config::default());
    let r = feed(&mut h, msg(Type::Register, "", b"\xff\xff"));
    assert!(matches!(r, Err(Reject::Malformed { .. })), "{r:?}");
    let out = drain(&mut h);
    assert_eq!(out.len(), 2);
    let Some(Output::Send(err)) = out.first() else {
        panic!("{out:?}")
    };
    assert_eq!(err.r#type, Type::Error as i32);
    assert!(
        String::from_utf8_lossy(&err.payload)
            .starts_with("Error registering chaincode: malformed REGISTER payload")
    );
    assert!(
        matches!(out.get(1), Some(Output::Close { reason }) if reason.starts_with("unregistered chaincode: "))
    );
    assert!(h.is_closed());
}

#[test]
fn register_without_name_is_refused() {
    let mut h = Handler::new(Config::default());
    let r = feed(&mut h, register_msg(""));
    assert_eq!(
        r,
        Err(Reject::Malformed {
            what: "REGISTER without a chaincode name".into()
        })
    );
    let text = "Error registering chaincode: malformed REGISTER without a chaincode name";
    assert_eq!(
        drain(&mut h),
        vec![
            error("", text),
            Output::Close {
                reason: format!("unregistered chaincode: {text}")
            }
        ]
    );
}

#[test]
fn message_before_register_is_fatal() {
    let mut h = Handler::new(Config::default());
    let r = feed(&mut h, msg(Type::PutState, "t1", b"xy"));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "created",
            msg_type: "PUT_STATE".into()
        })
    );
    let text = "[t1]Chaincode handler validator FSM cannot handle message (PUT_STATE) with payload size (2) while in state: created";
    assert_eq!(
        drain(&mut h),
        vec![
            error("t1", text),
            Output::Close {
                reason: format!("unregistered chaincode: {text}")
            }
        ]
    );
    assert_eq!(feed(&mut h, register_msg("cc")), Err(Reject::Closed));
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn second_register_is_fatal() {
    let mut h = registered_with(Config::default());
    let r = feed(&mut h, register_msg("cc"));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "established",
            msg_type: "REGISTER".into()
        })
    );
    let text = "[]Chaincode handler validator FSM cannot handle message (REGISTER) with payload size (4) while in state: established";
    assert_eq!(
        drain(&mut h),
        vec![
            error("", text),
            Output::Close {
                reason: format!("chaincode cc: {text}")
            }
        ]
    );
}

#[test]
fn unknown_message_type_is_fatal() {
    let mut h = ready();
    let mut m = msg(Type::Undefined, "t9", b"");
    m.r#type = 99;
    let r = feed(&mut h, m);
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "ready",
            msg_type: "99".into()
        })
    );
    let text = "[t9]Chaincode handler validator FSM cannot handle message (99) with payload size (0) while in state: ready";
    assert_eq!(
        drain(&mut h),
        vec![
            error("t9", text),
            Output::Close {
                reason: format!("chaincode cc: {text}")
            }
        ]
    );
}

#[test]
fn peer_only_message_from_chaincode_is_fatal_and_fails_executions_in_flight() {
    let mut h = in_transaction();
    let r = feed(&mut h, msg(Type::Transaction, "t1", b""));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "transaction",
            msg_type: "TRANSACTION".into()
        })
    );
    let text = "[t1]Chaincode handler validator FSM cannot handle message (TRANSACTION) with payload size (0) while in state: transaction";
    let reason = format!("chaincode cc: {text}");
    assert_eq!(
        drain(&mut h),
        vec![
            error("t1", text),
            finished("t1", ExecResult::Failed(reason.clone())),
            Output::Close { reason }
        ]
    );
}

#[test]
fn keepalive_from_chaincode_is_ignored_in_any_state() {
    let mut h = Handler::new(Config::default());
    assert_eq!(feed(&mut h, msg(Type::Keepalive, "", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![]);
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::Keepalive, "", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn register_refused_sends_error_and_closes_without_registered() {
    let mut h = registering_with(Config::default());
    let reason = "Duplicate chaincodeID error: cc".to_owned();
    assert_eq!(
        h.handle(
            T0,
            Input::RegisterRefused {
                reason: reason.clone()
            }
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![error("", &reason), Output::Close { reason }]
    );
    assert!(h.is_closed());
}

#[test]
fn register_refused_before_register_is_rejected() {
    let mut h = Handler::new(Config::default());
    let r = h.handle(T0, Input::RegisterRefused { reason: "x".into() });
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "created",
            msg_type: "RegisterRefused".into()
        })
    );
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn stream_closed_closes_once() {
    let mut h = registered_with(Config::default());
    assert_eq!(h.handle(T0, Input::StreamClosed), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::Close {
            reason: "chaincode cc closed its stream".into()
        }]
    );
    assert_eq!(h.handle(T0, Input::StreamClosed), Ok(()));
    assert_eq!(drain(&mut h), vec![]);
}
