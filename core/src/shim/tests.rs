//! Golden-output tests of the shim-side handler, one per transition.

use super::*;
use crate::machine::Machine;
use crate::time::Instant;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{
    ChaincodeEvent, ChaincodeId, ChaincodeInput, ChaincodeMessage, ChaincodeSecurityContext,
    ChaincodeSpec, PutStateInfo, RangeQueryState, RangeQueryStateKeyValue, RangeQueryStateNext,
    RangeQueryStateResponse,
};
use prost::Message;

mod unacked;

const T: Instant = Instant::ZERO;

fn drain(h: &mut Handler) -> Vec<Output> {
    std::iter::from_fn(|| h.poll_output()).collect()
}

fn msg(ty: Type, txid: &str, payload: &[u8]) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: ty as i32,
        payload: payload.to_vec(),
        txid: txid.into(),
        ..Default::default()
    }
}

fn send(ty: Type, txid: &str, payload: &[u8]) -> Output {
    Output::Send(msg(ty, txid, payload))
}

fn args(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// An execution message as the peer sends it: args in securityContext.
fn exec(ty: Type, txid: &str, a: &[&str]) -> ChaincodeMessage {
    let payload = ChaincodeInput { args: args(a) }.encode_to_vec();
    let sc = ChaincodeSecurityContext {
        payload: payload.clone(),
        tx_timestamp: Some(Timestamp {
            seconds: 3,
            nanos: 0,
        }),
        ..Default::default()
    };
    ChaincodeMessage {
        security_context: Some(sc),
        ..msg(ty, txid, &payload)
    }
}

fn run(txid: &str, kind: RunKind, a: &[&str]) -> Output {
    Output::Run {
        txid: txid.into(),
        kind,
        args: args(a),
        tx_timestamp: Some(Timestamp {
            seconds: 3,
            nanos: 0,
        }),
    }
}

fn feed(h: &mut Handler, m: ChaincodeMessage) -> Result<(), Reject> {
    h.handle(T, Input::FromPeer(m))
}

fn call(h: &mut Handler, txid: &str, c: StubCall) -> Result<(), Reject> {
    h.handle(
        T,
        Input::StubCall {
            txid: txid.into(),
            call: c,
        },
    )
}

fn returned(h: &mut Handler, txid: &str, result: Result<&str, &str>) -> Result<(), Reject> {
    let result = result.map(|s| s.as_bytes().to_vec()).map_err(str::to_owned);
    h.handle(
        T,
        Input::Returned {
            txid: txid.into(),
            result,
            event: None,
        },
    )
}

fn reply(txid: &str, result: Result<StubValue, &str>) -> Output {
    Output::StubReply {
        txid: txid.into(),
        result: result.map_err(str::to_owned),
    }
}

fn established() -> Handler {
    let mut h = Handler::new("cc");
    assert_eq!(feed(&mut h, msg(Type::Registered, "", b"")), Ok(()));
    drain(&mut h);
    h
}

fn ready() -> Handler {
    let mut h = established();
    assert_eq!(feed(&mut h, msg(Type::Ready, "r", b"")), Ok(()));
    h
}

fn in_transaction() -> Handler {
    let mut h = ready();
    assert_eq!(feed(&mut h, exec(Type::Transaction, "t1", &["f"])), Ok(()));
    drain(&mut h);
    h
}

fn in_query() -> Handler {
    let mut h = ready();
    assert_eq!(
        feed(&mut h, exec(Type::Query, "q1", &["query", "a"])),
        Ok(())
    );
    drain(&mut h);
    h
}

#[test]
fn new_sends_register_with_the_chaincode_id() {
    let mut h = Handler::new("mycc");
    let id = ChaincodeId {
        path: String::new(),
        name: "mycc".into(),
    };
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::Register,
            "fabrik:concurrent-transactions+unacked-writes",
            &id.encode_to_vec()
        )]
    );
    assert_eq!(h.state_name(), "created");
}

#[test]
fn a_peer_that_agreed_to_concurrent_transactions_may_overlap_them() {
    let mut h = Handler::new("cc");
    drain(&mut h);
    let marker = crate::chaincode::CONCURRENT_TRANSACTIONS;
    assert_eq!(feed(&mut h, msg(Type::Registered, marker, b"")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Ready, "r", b"")), Ok(()));
    assert_eq!(feed(&mut h, exec(Type::Transaction, "t1", &["f"])), Ok(()));
    assert_eq!(feed(&mut h, exec(Type::Transaction, "t2", &["g"])), Ok(()));
    let runs = drain(&mut h)
        .into_iter()
        .filter(|o| matches!(o, Output::Run { .. }))
        .count();
    assert_eq!(runs, 2, "both transactions start");
    let returned = |txid: &str| Input::Returned {
        txid: txid.into(),
        result: Ok(Vec::new()),
        event: None,
    };
    assert_eq!(h.handle(T, returned("t1")), Ok(()));
    assert_eq!(h.state_name(), "transaction", "t2 still runs");
    assert_eq!(h.handle(T, returned("t2")), Ok(()));
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn registered_enters_established_silently() {
    let mut h = Handler::new("cc");
    drain(&mut h);
    assert_eq!(feed(&mut h, msg(Type::Registered, "", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state_name(), "established");
}

#[test]
fn init_runs_user_code_with_args_from_the_security_context() {
    let mut h = established();
    let mut m = exec(Type::Init, "cc", &["init", "a", "100"]);
    m.payload = b"ignored: not a ChaincodeInput \xff".to_vec();
    assert_eq!(feed(&mut h, m), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![run("cc", RunKind::Init, &["init", "a", "100"])]
    );
    assert_eq!(h.state_name(), "init");
}

#[test]
fn args_fall_back_to_the_payload_without_security_context() {
    let mut h = established();
    let payload = ChaincodeInput {
        args: args(&["init"]),
    }
    .encode_to_vec();
    assert_eq!(feed(&mut h, msg(Type::Init, "cc", &payload)), Ok(()));
    let expected = Output::Run {
        txid: "cc".into(),
        kind: RunKind::Init,
        args: args(&["init"]),
        tx_timestamp: None,
    };
    assert_eq!(drain(&mut h), vec![expected]);
}

#[test]
fn undecodable_init_args_reply_error_and_stay_established() {
    let mut h = established();
    assert_eq!(feed(&mut h, msg(Type::Init, "cc", b"\x0a\x07ab")), Ok(()));
    let out = drain(&mut h);
    assert!(
        matches!(out.as_slice(), [Output::Send(m)] if m.r#type == Type::Error as i32 && m.txid == "cc")
    );
    assert_eq!(h.state_name(), "established");
}

#[test]
fn init_completed_enters_ready_and_carries_the_event() {
    let mut h = established();
    assert_eq!(feed(&mut h, exec(Type::Init, "cc", &["init"])), Ok(()));
    drain(&mut h);
    let event = ChaincodeEvent {
        event_name: "e".into(),
        payload: b"p".to_vec(),
        ..Default::default()
    };
    let r = h.handle(
        T,
        Input::Returned {
            txid: "cc".into(),
            result: Ok(b"ok".to_vec()),
            event: Some(event.clone()),
        },
    );
    assert_eq!(r, Ok(()));
    let expected = ChaincodeMessage {
        chaincode_event: Some(event),
        ..msg(Type::Completed, "cc", b"ok")
    };
    assert_eq!(drain(&mut h), vec![Output::Send(expected)]);
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn init_error_returns_to_established() {
    let mut h = established();
    assert_eq!(feed(&mut h, exec(Type::Init, "cc", &["init"])), Ok(()));
    drain(&mut h);
    assert_eq!(
        returned(
            &mut h,
            "cc",
            Err("Incorrect number of arguments. Expecting 4")
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::Error,
            "cc",
            b"Incorrect number of arguments. Expecting 4"
        )]
    );
    assert_eq!(h.state_name(), "established");
}

#[test]
fn ready_enters_ready_without_a_reply() {
    let mut h = established();
    assert_eq!(feed(&mut h, msg(Type::Ready, "r", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn transaction_runs_invoke_and_completed_returns_to_ready() {
    let mut h = ready();
    assert_eq!(
        feed(
            &mut h,
            exec(Type::Transaction, "t1", &["invoke", "a", "b", "1"])
        ),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![run("t1", RunKind::Invoke, &["invoke", "a", "b", "1"])]
    );
    assert_eq!(h.state_name(), "transaction");
    assert_eq!(returned(&mut h, "t1", Ok("")), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Completed, "t1", b"")]);
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn transaction_error_returns_to_ready() {
    let mut h = in_transaction();
    assert_eq!(returned(&mut h, "t1", Err("Entity not found")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![send(Type::Error, "t1", b"Entity not found")]
    );
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn query_runs_in_ready_and_in_transaction() {
    let mut h = in_transaction();
    assert_eq!(
        feed(&mut h, exec(Type::Query, "q1", &["query", "a"])),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![run("q1", RunKind::Query, &["query", "a"])]
    );
    assert_eq!(h.state_name(), "transaction");
    assert_eq!(returned(&mut h, "q1", Ok("100")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![send(Type::QueryCompleted, "q1", b"100")]
    );
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn query_error_is_query_error() {
    let mut h = in_query();
    assert_eq!(
        returned(&mut h, "q1", Err("{\"Error\":\"Nil amount for a\"}")),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::QueryError,
            "q1",
            b"{\"Error\":\"Nil amount for a\"}"
        )]
    );
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn duplicate_query_txid_is_dropped() {
    let mut h = in_query();
    let r = feed(&mut h, exec(Type::Query, "q1", &["query"]));
    assert_eq!(r, Err(Reject::DuplicateTxid { txid: "q1".into() }));
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn a_transaction_with_the_txid_of_a_running_query_is_refused() {
    let mut h = in_query();
    let get = StubCall::GetState("a".into());
    assert_eq!(call(&mut h, "q1", get), Ok(()));
    drain(&mut h);
    let r = feed(&mut h, exec(Type::Transaction, "q1", &["f"]));
    assert_eq!(r, Err(Reject::DuplicateTxid { txid: "q1".into() }));
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::Error,
            "q1",
            b"[q1]Another request pending for this Txid. Cannot process."
        )]
    );
    assert_eq!(h.state_name(), "ready");
    // The query's stub call is still answered when the shim stops.
    let _ = feed(&mut h, ChaincodeMessage::default());
    assert!(
        drain(&mut h)
            .iter()
            .any(|o| matches!(o, Output::StubReply { txid, .. } if txid == "q1")),
        "the pending GET_STATE of q1 got no reply"
    );
}

#[test]
fn queries_beyond_the_bound_get_query_error() {
    let config = Config {
        max_in_flight: 1,
        ..Config::default()
    };
    let mut h = Handler::with_config("cc", config);
    assert_eq!(feed(&mut h, msg(Type::Registered, "", b"")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Ready, "", b"")), Ok(()));
    assert_eq!(feed(&mut h, exec(Type::Query, "q1", &["q"])), Ok(()));
    drain(&mut h);
    assert_eq!(
        feed(&mut h, exec(Type::Query, "q2", &["q"])),
        Err(Reject::TooManyInFlight)
    );
    assert_eq!(
        drain(&mut h),
        vec![send(Type::QueryError, "q2", b"Too many concurrent queries")]
    );
}

#[test]
fn keepalive_is_echoed_in_any_state() {
    let mut h = Handler::new("cc");
    drain(&mut h);
    assert_eq!(feed(&mut h, msg(Type::Keepalive, "", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Keepalive, "", b"")]);
    let mut h = in_transaction();
    assert_eq!(feed(&mut h, msg(Type::Keepalive, "", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Keepalive, "", b"")]);
}

#[test]
fn unexpected_message_sends_fsm_error_and_stops() {
    let mut h = in_transaction();
    let r = feed(&mut h, msg(Type::GetState, "t1", b"a"));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "transaction",
            msg_type: "GET_STATE".into()
        })
    );
    let text = "[t1]Chaincode handler FSM cannot handle message (GET_STATE) with payload size (1) while in state: transaction";
    assert_eq!(
        drain(&mut h),
        vec![
            send(Type::Error, "t1", text.as_bytes()),
            Output::Stop {
                reason: text.into()
            }
        ]
    );
    assert!(h.is_stopped());
    assert_eq!(
        feed(&mut h, msg(Type::Keepalive, "", b"")),
        Err(Reject::Stopped)
    );
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn error_before_registered_stops() {
    let mut h = Handler::new("cc");
    drain(&mut h);
    let r = feed(&mut h, msg(Type::Error, "", b"Duplicate chaincodeID error"));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "created",
            msg_type: "ERROR".into()
        })
    );
    let text = "[]Chaincode handler FSM cannot handle message (ERROR) with payload size (27) while in state: created";
    assert_eq!(
        drain(&mut h),
        vec![
            send(Type::Error, "", text.as_bytes()),
            Output::Stop {
                reason: format!("{text}; peer error: Duplicate chaincodeID error")
            }
        ]
    );
}

#[test]
fn second_transaction_is_fatal_as_in_v06() {
    let mut h = in_transaction();
    let r = feed(&mut h, exec(Type::Transaction, "t2", &["f"]));
    assert_eq!(
        r,
        Err(Reject::UnexpectedMessage {
            state: "transaction",
            msg_type: "TRANSACTION".into()
        })
    );
}

#[test]
fn unknown_type_number_is_fatal() {
    let mut h = ready();
    let mut m = msg(Type::Undefined, "x", b"");
    m.r#type = 77;
    assert_eq!(
        feed(&mut h, m),
        Err(Reject::UnexpectedMessage {
            state: "ready",
            msg_type: "77".into()
        })
    );
    assert!(h.is_stopped());
}

#[test]
fn get_state_round_trip_and_missing_key() {
    let mut h = in_transaction();
    assert_eq!(call(&mut h, "t1", StubCall::GetState("a".into())), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::GetState, "t1", b"a")]);
    assert_eq!(feed(&mut h, msg(Type::Response, "t1", b"100")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![reply("t1", Ok(StubValue::State(Some(b"100".to_vec()))))]
    );
    assert_eq!(call(&mut h, "t1", StubCall::GetState("zz".into())), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Response, "t1", b"")), Ok(()));
    let out = drain(&mut h);
    assert_eq!(out.get(1), Some(&reply("t1", Ok(StubValue::State(None)))));
}

#[test]
fn put_and_del_state_send_their_messages() {
    let mut h = in_transaction();
    assert_eq!(
        call(&mut h, "t1", StubCall::PutState("a".into(), b"9".to_vec())),
        Ok(())
    );
    let info = PutStateInfo {
        key: "a".into(),
        value: b"9".to_vec(),
    };
    assert_eq!(
        drain(&mut h),
        vec![send(Type::PutState, "t1", &info.encode_to_vec())]
    );
    assert_eq!(feed(&mut h, msg(Type::Response, "t1", b"")), Ok(()));
    assert_eq!(drain(&mut h), vec![reply("t1", Ok(StubValue::Done))]);
    assert_eq!(call(&mut h, "t1", StubCall::DelState("a".into())), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::DelState, "t1", b"a")]);
    assert_eq!(
        feed(&mut h, msg(Type::Error, "t1", b"ledger error")),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![reply("t1", Err("ledger error"))]);
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn query_context_guards_refuse_locally() {
    let mut h = in_query();
    assert_eq!(
        call(&mut h, "q1", StubCall::PutState("a".into(), vec![])),
        Ok(())
    );
    assert_eq!(call(&mut h, "q1", StubCall::DelState("a".into())), Ok(()));
    let inv = StubCall::InvokeChaincode {
        name: "x".into(),
        args: vec![],
    };
    assert_eq!(call(&mut h, "q1", inv), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![
            reply("q1", Err("Cannot put state in query context")),
            reply("q1", Err("Cannot del state in query context")),
            reply("q1", Err("Cannot invoke chaincode in query context")),
        ]
    );
}

#[test]
fn range_query_pages() {
    let mut h = in_query();
    let c = StubCall::RangeQuery {
        start: "".into(),
        end: "".into(),
    };
    assert_eq!(call(&mut h, "q1", c), Ok(()));
    let q = RangeQueryState {
        start_key: "".into(),
        end_key: "".into(),
    };
    assert_eq!(
        drain(&mut h),
        vec![send(Type::RangeQueryState, "q1", &q.encode_to_vec())]
    );
    let resp = RangeQueryStateResponse {
        keys_and_values: vec![RangeQueryStateKeyValue {
            key: "k".into(),
            value: b"v".to_vec(),
        }],
        has_more: true,
        id: "q1-1".into(),
    };
    assert_eq!(
        feed(&mut h, msg(Type::Response, "q1", &resp.encode_to_vec())),
        Ok(())
    );
    let page = RangePage {
        entries: vec![("k".into(), b"v".to_vec())],
        has_more: true,
        id: "q1-1".into(),
    };
    assert_eq!(drain(&mut h), vec![reply("q1", Ok(StubValue::Range(page)))]);
    assert_eq!(
        call(&mut h, "q1", StubCall::RangeNext { id: "q1-1".into() }),
        Ok(())
    );
    let next = RangeQueryStateNext { id: "q1-1".into() };
    assert_eq!(
        drain(&mut h),
        vec![send(Type::RangeQueryStateNext, "q1", &next.encode_to_vec())]
    );
    assert_eq!(feed(&mut h, msg(Type::Response, "q1", b"\x0a\x05")), Ok(()));
    let out = drain(&mut h);
    assert!(
        matches!(out.as_slice(), [Output::StubReply { result: Err(e), .. }]
        if e.starts_with("Error unmarshalling range query response"))
    );
}

#[test]
fn invoke_chaincode_unwraps_the_callee_message() {
    let mut h = in_transaction();
    let c = StubCall::InvokeChaincode {
        name: "ex02".into(),
        args: args(&["invoke", "a"]),
    };
    assert_eq!(call(&mut h, "t1", c), Ok(()));
    let spec = ChaincodeSpec {
        chaincode_id: Some(ChaincodeId {
            path: String::new(),
            name: "ex02".into(),
        }),
        ctor_msg: Some(ChaincodeInput {
            args: args(&["invoke", "a"]),
        }),
        ..Default::default()
    };
    assert_eq!(
        drain(&mut h),
        vec![send(Type::InvokeChaincode, "t1", &spec.encode_to_vec())]
    );
    let inner = msg(Type::Completed, "t1", b"done");
    assert_eq!(
        feed(&mut h, msg(Type::Response, "t1", &inner.encode_to_vec())),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![reply("t1", Ok(StubValue::Chaincode(b"done".to_vec())))]
    );
    let c = StubCall::InvokeChaincode {
        name: "ex02".into(),
        args: vec![],
    };
    assert_eq!(call(&mut h, "t1", c), Ok(()));
    let inner = msg(Type::Error, "t1", b"Entity not found");
    assert_eq!(
        feed(&mut h, msg(Type::Response, "t1", &inner.encode_to_vec())),
        Ok(())
    );
    assert_eq!(
        drain(&mut h).get(1),
        Some(&reply("t1", Err("Entity not found")))
    );
}

#[test]
fn query_chaincode_needs_query_completed() {
    let mut h = in_query();
    let c = StubCall::QueryChaincode {
        name: "ex02".into(),
        args: args(&["query", "a"]),
    };
    assert_eq!(call(&mut h, "q1", c), Ok(()));
    let out = drain(&mut h);
    assert!(matches!(out.as_slice(), [Output::Send(m)] if m.r#type == Type::InvokeQuery as i32));
    let inner = msg(Type::QueryCompleted, "q1", b"100");
    assert_eq!(
        feed(&mut h, msg(Type::Response, "q1", &inner.encode_to_vec())),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![reply("q1", Ok(StubValue::Chaincode(b"100".to_vec())))]
    );
    let c = StubCall::QueryChaincode {
        name: "ex02".into(),
        args: vec![],
    };
    assert_eq!(call(&mut h, "q1", c), Ok(()));
    let inner = msg(Type::Completed, "q1", b"wrong type");
    assert_eq!(
        feed(&mut h, msg(Type::Response, "q1", &inner.encode_to_vec())),
        Ok(())
    );
    assert_eq!(drain(&mut h).get(1), Some(&reply("q1", Err("wrong type"))));
}

#[test]
fn stub_call_for_an_unknown_txid_is_answered_with_an_error() {
    let mut h = ready();
    let r = call(&mut h, "zz", StubCall::GetState("a".into()));
    assert_eq!(r, Err(Reject::UnknownTxid { txid: "zz".into() }));
    assert_eq!(
        drain(&mut h),
        vec![reply("zz", Err("[zz]No transaction context for this txid"))]
    );
}

#[test]
fn second_call_while_one_is_outstanding_is_refused() {
    let mut h = in_transaction();
    assert_eq!(call(&mut h, "t1", StubCall::GetState("a".into())), Ok(()));
    drain(&mut h);
    let r = call(&mut h, "t1", StubCall::GetState("b".into()));
    assert_eq!(r, Err(Reject::CallPending { txid: "t1".into() }));
    assert_eq!(
        drain(&mut h),
        vec![reply(
            "t1",
            Err("[t1]Another request pending for this Txid. Cannot process.")
        )]
    );
}

#[test]
fn reply_without_a_call_is_rejected_without_output() {
    let mut h = in_transaction();
    assert_eq!(
        feed(&mut h, msg(Type::Response, "t1", b"")),
        Err(Reject::UnexpectedReply { txid: "t1".into() })
    );
    assert_eq!(
        feed(&mut h, msg(Type::Error, "t1", b"x")),
        Err(Reject::UnexpectedReply { txid: "t1".into() })
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn stop_fails_outstanding_calls_and_later_calls() {
    let mut h = in_transaction();
    assert_eq!(call(&mut h, "t1", StubCall::GetState("a".into())), Ok(()));
    drain(&mut h);
    let _ = feed(&mut h, msg(Type::Init, "x", b""));
    let text = "[x]Chaincode handler FSM cannot handle message (INIT) with payload size (0) while in state: transaction";
    assert_eq!(
        drain(&mut h),
        vec![
            send(Type::Error, "x", text.as_bytes()),
            Output::StubReply {
                txid: "t1".into(),
                result: Err(format!("chaincode shim stopped: {text}"))
            },
            Output::Stop {
                reason: text.into()
            },
        ]
    );
    assert_eq!(
        call(&mut h, "t1", StubCall::GetState("a".into())),
        Err(Reject::Stopped)
    );
    assert_eq!(
        drain(&mut h),
        vec![reply("t1", Err("chaincode shim stopped"))]
    );
}

#[test]
fn returned_for_an_unknown_txid_is_rejected() {
    let mut h = ready();
    assert_eq!(
        returned(&mut h, "zz", Ok("")),
        Err(Reject::UnknownTxid { txid: "zz".into() })
    );
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn returning_with_a_stub_call_outstanding_answers_the_call_first() {
    // Found by the shim_handler fuzz target: the call was never answered.
    let mut h = in_transaction();
    assert_eq!(call(&mut h, "t1", StubCall::GetState("a".into())), Ok(()));
    drain(&mut h);
    assert_eq!(returned(&mut h, "t1", Ok("done")), Ok(()));
    let out = drain(&mut h);
    assert_eq!(
        out.first(),
        Some(&reply("t1", Err("transaction t1 already returned")))
    );
    assert!(
        matches!(out.get(1), Some(Output::Send(m)) if m.r#type == Type::Completed as i32),
        "{out:?}"
    );
}
