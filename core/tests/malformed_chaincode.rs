//! Malformed-input corpus, the chaincode stream (issue #8 item 3): what a
//! chaincode (or a confused io layer) can feed the peer-side
//! [`chaincode::Handler`], and what a peer can feed the chaincode-side
//! [`shim::Handler`] — messages before REGISTER / REGISTERED, unknown
//! types, PUT_STATE / DEL_STATE outside a transaction or in a query,
//! unknown txids and iterators, undecodable payloads, a second request
//! while one is pending, answers nobody asked for, duplicate txids,
//! executions over the limits, input after the stream ended.
//!
//! Each named row checks the typed `Reject`, no panic, and the outputs: none
//! or exactly the one v0.6 reply (ERROR to the chaincode, a failed
//! `Finished` / `StubReply`) with the handler's state unchanged, or — for a
//! message the v0.6 FSM cannot take — ERROR then `Close` / `Stop` (v0.6 ends
//! the stream). Run: `cargo nextest run -p fabrik-core --test
//! malformed_chaincode`.

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

use fabrik_core::chaincode::{self, Config, ExecKind, ExecResult, Input, Output};
use fabrik_core::machine::Machine;
use fabrik_core::shim::{self, StubCall};
use fabrik_core::time::Instant;
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeId, ChaincodeInput, ChaincodeMessage, PutStateInfo};
use prost::Message as _;

/// Documented in tests/MALFORMED.md.
const PEER_SIDE_CASES: usize = 69;
const SHIM_SIDE_CASES: usize = 23;
const T0: Instant = Instant::from_nanos(1_000);
const DEADLINE: Instant = Instant::from_nanos(30_000_000_000);

fn raw(ty: i32, txid: &str, payload: &[u8]) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: ty,
        payload: payload.to_vec(),
        txid: txid.into(),
        ..Default::default()
    }
}

fn m(ty: Type, txid: &str, payload: &[u8]) -> ChaincodeMessage {
    raw(ty as i32, txid, payload)
}

fn register(name: &str) -> ChaincodeMessage {
    let id = ChaincodeId {
        path: String::new(),
        name: name.into(),
    };
    m(Type::Register, "", &id.encode_to_vec())
}

fn put(txid: &str) -> ChaincodeMessage {
    let info = PutStateInfo {
        key: "a".into(),
        value: b"1".to_vec(),
    };
    m(Type::PutState, txid, &info.encode_to_vec())
}

fn exec(txid: &str, kind: ExecKind) -> Input {
    let input = ChaincodeInput {
        args: vec![b"f".to_vec()],
    };
    Input::Execute {
        txid: txid.into(),
        kind,
        input,
        tx_timestamp: None,
        deadline: DEADLINE,
    }
}

fn args() -> Vec<u8> {
    ChaincodeInput {
        args: vec![b"f".to_vec()],
    }
    .encode_to_vec()
}

/// What the rejection may emit.
#[derive(Debug, Clone, Copy)]
enum Out {
    /// Nothing; the state is unchanged.
    Nothing,
    /// Exactly one ERROR (or QUERY_ERROR for the shim) to this txid; state unchanged.
    ErrorTo(&'static str),
    /// Exactly one failed `Finished` / `StubReply` for this txid; state unchanged.
    FailTo(&'static str),
    /// ERROR, then the stream ends (`Close` / `Stop`).
    Fatal,
}

struct Case<I, F> {
    name: &'static str,
    fx: F,
    input: I,
    want: &'static str,
    out: Out,
}

fn c<I, F>(name: &'static str, fx: F, input: I, want: &'static str, out: Out) -> Case<I, F> {
    Case {
        name,
        fx,
        input,
        want,
        out,
    }
}

// ---------------- peer side ----------------

#[derive(Debug, Clone, Copy)]
enum Fx {
    Created,
    Registering,
    Established,
    Ready,
    /// Transaction t1 running.
    InTx,
    /// Query q1 running.
    InQuery,
    /// t1 running with a GET_STATE outstanding.
    TxPending,
    /// At most one execution, t1 running.
    Full,
    /// No iterators allowed, t1 running.
    NoIters,
    Closed,
}

impl Fx {
    fn build(self) -> chaincode::Handler {
        let config = match self {
            Fx::Full => Config {
                max_in_flight: 1,
                ..Config::default()
            },
            Fx::NoIters => Config {
                max_iterators: 0,
                ..Config::default()
            },
            _ => Config::default(),
        };
        let mut h = chaincode::Handler::new(config);
        let step = |h: &mut chaincode::Handler, i: Input| h.handle(T0, i).expect("fixture step");
        if !matches!(self, Fx::Created) {
            step(&mut h, Input::FromChaincode(register("cc")));
        }
        if !matches!(self, Fx::Created | Fx::Registering) {
            step(&mut h, Input::RegisterAccepted);
        }
        if !matches!(self, Fx::Created | Fx::Registering | Fx::Established) {
            step(&mut h, exec("r0", ExecKind::Ready));
        }
        match self {
            Fx::InTx | Fx::TxPending | Fx::Full | Fx::NoIters => {
                step(&mut h, exec("t1", ExecKind::Transaction))
            }
            Fx::InQuery => step(&mut h, exec("q1", ExecKind::Query)),
            Fx::Closed => step(&mut h, Input::StreamClosed),
            _ => {}
        }
        if matches!(self, Fx::TxPending) {
            step(&mut h, Input::FromChaincode(m(Type::GetState, "t1", b"a")));
        }
        while h.poll_output().is_some() {}
        h
    }
}

fn label(r: &chaincode::Reject) -> &'static str {
    use chaincode::Reject as R;
    match r {
        R::UnexpectedMessage { .. } => "unexpected_message",
        R::Malformed { .. } => "malformed",
        R::UnknownTxid { .. } => "unknown_txid",
        R::DuplicateTxid { .. } => "duplicate_txid",
        R::TooManyInFlight => "too_many_in_flight",
        R::TooManyIterators => "too_many_iterators",
        R::UnknownIterator { .. } => "unknown_iterator",
        R::NotInTransaction { .. } => "not_in_transaction",
        R::RequestPending { .. } => "request_pending",
        R::UnexpectedAnswer { .. } => "unexpected_answer",
        R::NotReady { .. } => "not_ready",
        R::Closed => "closed",
    }
}

#[rustfmt::skip]
fn peer_side_cases() -> Vec<Case<Input, Fx>> {
    use Fx::*;
    use Out::*;
    let cc = |msg| Input::FromChaincode(msg);
    let garbage: &[u8] = &[0xff, 0xff, 0xff];
    let put_bytes = PutStateInfo { key: "key".into(), value: b"value".to_vec() }.encode_to_vec();
    let no_range = Input::RangePage { txid: "t1".into(), result: Ok((vec![], false)) };
    vec![
        // ---- before REGISTER / while io checks the name ----
        c("created_get_state_before_register", Created, cc(m(Type::GetState, "t1", b"a")), "unexpected_message", Fatal),
        c("created_put_state_before_register", Created, cc(put("t1")), "unexpected_message", Fatal),
        c("created_completed_before_register", Created, cc(m(Type::Completed, "t1", b"")), "unexpected_message", Fatal),
        c("created_unknown_type_999", Created, cc(raw(999, "", b"")), "unexpected_message", Fatal),
        c("created_negative_type", Created, cc(raw(-3, "", b"")), "unexpected_message", Fatal),
        c("register_payload_garbage", Created, cc(m(Type::Register, "", garbage)), "malformed", Fatal),
        c("register_payload_truncated", Created, cc(m(Type::Register, "", &register("mycc").payload[..3])), "malformed", Fatal),
        c("register_without_name", Created, cc(register("")), "malformed", Fatal),
        c("registering_get_state", Registering, cc(m(Type::GetState, "t1", b"a")), "unexpected_message", Fatal),
        c("registering_second_register", Registering, cc(register("other")), "unexpected_message", Fatal),
        // ---- PUT_STATE & co. outside a transaction (unknown txids) ----
        c("put_state_outside_transaction", Ready, cc(put("t9")), "unknown_txid", ErrorTo("t9")),
        c("put_state_empty_txid", Ready, cc(put("")), "unknown_txid", ErrorTo("")),
        c("del_state_outside_transaction", Ready, cc(m(Type::DelState, "t9", b"a")), "unknown_txid", ErrorTo("t9")),
        c("get_state_unknown_txid", Ready, cc(m(Type::GetState, "t9", b"a")), "unknown_txid", ErrorTo("t9")),
        c("range_query_unknown_txid", Ready, cc(m(Type::RangeQueryState, "t9", b"")), "unknown_txid", ErrorTo("t9")),
        c("range_next_unknown_txid", Ready, cc(m(Type::RangeQueryStateNext, "t9", b"")), "unknown_txid", ErrorTo("t9")),
        c("range_close_unknown_txid", Ready, cc(m(Type::RangeQueryStateClose, "t9", b"")), "unknown_txid", ErrorTo("t9")),
        c("invoke_chaincode_unknown_txid", Ready, cc(m(Type::InvokeChaincode, "t9", b"")), "unknown_txid", ErrorTo("t9")),
        c("invoke_query_unknown_txid", Ready, cc(m(Type::InvokeQuery, "t9", b"")), "unknown_txid", ErrorTo("t9")),
        c("put_state_beside_running_tx_other_txid", InTx, cc(put("t2")), "unknown_txid", ErrorTo("t2")),
        c("put_state_for_finished_ready_txid", InTx, cc(put("r0")), "unknown_txid", ErrorTo("r0")),
        c("completed_unknown_txid", Ready, cc(m(Type::Completed, "t9", b"")), "unknown_txid", Nothing),
        c("error_unknown_txid", Ready, cc(m(Type::Error, "t9", b"boom")), "unknown_txid", Nothing),
        c("query_completed_unknown_txid", InQuery, cc(m(Type::QueryCompleted, "q9", b"")), "unknown_txid", Nothing),
        c("query_error_unknown_txid", InQuery, cc(m(Type::QueryError, "q9", b"")), "unknown_txid", Nothing),
        // ---- writes and invocations in a query ----
        c("put_state_in_query", InQuery, cc(put("q1")), "not_in_transaction", ErrorTo("q1")),
        c("del_state_in_query", InQuery, cc(m(Type::DelState, "q1", b"a")), "not_in_transaction", ErrorTo("q1")),
        c("invoke_chaincode_in_query", InQuery, cc(m(Type::InvokeChaincode, "q1", b"")), "not_in_transaction", ErrorTo("q1")),
        // ---- undecodable payloads ----
        c("put_state_payload_garbage", InTx, cc(m(Type::PutState, "t1", garbage)), "malformed", ErrorTo("t1")),
        c("put_state_payload_truncated", InTx, cc(m(Type::PutState, "t1", &put_bytes[..put_bytes.len() - 2])), "malformed", ErrorTo("t1")),
        c("get_state_key_not_utf8", InTx, cc(m(Type::GetState, "t1", &[0xc3, 0x28])), "malformed", ErrorTo("t1")),
        c("del_state_key_not_utf8", InTx, cc(m(Type::DelState, "t1", &[0xff])), "malformed", ErrorTo("t1")),
        c("range_query_payload_garbage", InTx, cc(m(Type::RangeQueryState, "t1", garbage)), "malformed", ErrorTo("t1")),
        c("range_next_payload_garbage", InTx, cc(m(Type::RangeQueryStateNext, "t1", garbage)), "malformed", ErrorTo("t1")),
        c("range_close_payload_garbage", InTx, cc(m(Type::RangeQueryStateClose, "t1", garbage)), "malformed", ErrorTo("t1")),
        c("invoke_chaincode_payload_garbage", InTx, cc(m(Type::InvokeChaincode, "t1", garbage)), "malformed", ErrorTo("t1")),
        c("invoke_query_payload_garbage", InQuery, cc(m(Type::InvokeQuery, "q1", garbage)), "malformed", ErrorTo("q1")),
        c("range_next_unknown_iterator", InTx, cc(m(Type::RangeQueryStateNext, "t1", b"\x0a\x03t1-")), "unknown_iterator", ErrorTo("t1")),
        c("range_query_over_iterator_limit", NoIters, cc(m(Type::RangeQueryState, "t1", b"")), "too_many_iterators", ErrorTo("t1")),
        // ---- a second request while one is pending (v0.6 drops it) ----
        c("second_get_state_while_pending", TxPending, cc(m(Type::GetState, "t1", b"b")), "request_pending", Nothing),
        c("put_state_while_pending", TxPending, cc(put("t1")), "request_pending", Nothing),
        c("range_query_while_pending", TxPending, cc(m(Type::RangeQueryState, "t1", b"")), "request_pending", Nothing),
        // ---- final messages of the wrong kind ----
        c("query_completed_for_transaction", InTx, cc(m(Type::QueryCompleted, "t1", b"")), "unexpected_message", Nothing),
        c("query_error_for_transaction", InTx, cc(m(Type::QueryError, "t1", b"")), "unexpected_message", Nothing),
        c("completed_for_query", InQuery, cc(m(Type::Completed, "q1", b"")), "unexpected_message", Nothing),
        // ---- types the chaincode never sends (the stream ends) ----
        c("register_again_while_ready", InTx, cc(register("cc")), "unexpected_message", Fatal),
        c("registered_from_chaincode", Ready, cc(m(Type::Registered, "", b"")), "unexpected_message", Fatal),
        c("init_from_chaincode", Ready, cc(m(Type::Init, "x", &args())), "unexpected_message", Fatal),
        c("transaction_from_chaincode", InTx, cc(m(Type::Transaction, "x", &args())), "unexpected_message", Fatal),
        c("ready_from_chaincode", Ready, cc(m(Type::Ready, "", b"")), "unexpected_message", Fatal),
        c("query_from_chaincode", InQuery, cc(m(Type::Query, "x", &args())), "unexpected_message", Fatal),
        c("response_from_chaincode", InTx, cc(m(Type::Response, "t1", b"")), "unexpected_message", Fatal),
        c("undefined_type_from_chaincode", Ready, cc(m(Type::Undefined, "", b"")), "unexpected_message", Fatal),
        c("unknown_type_during_transaction", InTx, cc(raw(4242, "t1", b"")), "unexpected_message", Fatal),
        // ---- io answers nobody asked for ----
        c("state_value_without_request", InTx, Input::StateValue { txid: "t1".into(), value: None }, "unexpected_answer", Nothing),
        c("state_value_unknown_txid", Ready, Input::StateValue { txid: "t9".into(), value: Some(b"v".to_vec()) }, "unknown_txid", Nothing),
        c("write_done_without_request", InTx, Input::WriteDone { txid: "t1".into(), result: Ok(()) }, "unexpected_answer", Nothing),
        c("write_done_for_read_request", TxPending, Input::WriteDone { txid: "t1".into(), result: Ok(()) }, "unexpected_answer", Nothing),
        c("range_page_without_request", InTx, no_range, "unexpected_answer", Nothing),
        c("invoke_done_without_request", InTx, Input::InvokeDone { txid: "t1".into(), result: Err("x".into()) }, "unexpected_answer", Nothing),
        c("register_accepted_when_established", Established, Input::RegisterAccepted, "unexpected_message", Nothing),
        c("register_refused_when_ready", Ready, Input::RegisterRefused { reason: "dup".into() }, "unexpected_message", Nothing),
        // ---- executions the stream cannot take ----
        c("execute_duplicate_txid", InTx, exec("t1", ExecKind::Transaction), "duplicate_txid", FailTo("t1")),
        c("execute_transaction_before_ready", Established, exec("t2", ExecKind::Transaction), "not_ready", FailTo("t2")),
        c("execute_query_before_ready", Established, exec("q2", ExecKind::Query), "not_ready", FailTo("q2")),
        c("execute_init_when_ready", Ready, exec("d1", ExecKind::Init), "not_ready", FailTo("d1")),
        c("execute_over_in_flight_limit", Full, exec("t2", ExecKind::Transaction), "too_many_in_flight", FailTo("t2")),
        c("execute_after_close", Closed, exec("t2", ExecKind::Transaction), "closed", FailTo("t2")),
        c("put_state_after_close", Closed, cc(put("t1")), "closed", Nothing),
    ]
}

/// Shared checks: no panic, the typed reason, the outputs, the state.
fn run<I, F: Copy, H: Machine<Input = I> + Debug>(
    cases: Vec<Case<I, F>>,
    documented: usize,
    build: impl Fn(F) -> H,
    label: impl Fn(&H::Reject) -> &'static str,
    classify: impl Fn(&H, &[H::Output], Out) -> Result<(), String>,
) where
    H::Output: Debug,
{
    assert!(
        cases.len() >= documented,
        "{} cases, {documented} documented",
        cases.len()
    );
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for case in cases {
        assert!(names.insert(case.name), "duplicate case {}", case.name);
        let name = case.name;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut h = build(case.fx);
            let before = format!("{h:?}");
            let got = match h.handle(T0, case.input) {
                Ok(()) => return Err("accepted; expected a rejection".to_string()),
                Err(r) => label(&r),
            };
            if got != case.want {
                return Err(format!("got {got}, expected {}", case.want));
            }
            let outs: Vec<H::Output> = std::iter::from_fn(|| h.poll_output()).collect();
            classify(&h, &outs, case.out)?;
            if !matches!(case.out, Out::Fatal) && format!("{h:?}") != before {
                return Err("state changed".into());
            }
            Ok(())
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{name}: {why}")),
            Err(_) => failures.push(format!("{name}: PANICKED")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn is_error_to(o: &Output, txid: &str) -> bool {
    matches!(o, Output::Send(msg) if msg.r#type == Type::Error as i32 && msg.txid == txid)
}

fn peer_outputs(h: &chaincode::Handler, outs: &[Output], want: Out) -> Result<(), String> {
    let ok = match want {
        Out::Nothing => outs.is_empty(),
        Out::ErrorTo(t) => matches!(outs, [o] if is_error_to(o, t)),
        Out::FailTo(t) => {
            matches!(outs, [Output::Finished { txid, result: ExecResult::Failed(_) | ExecResult::QueryFailed(_) }] if txid == t)
        }
        Out::Fatal => {
            h.is_closed()
                && outs.first().is_some_and(
                    |o| matches!(o, Output::Send(msg) if msg.r#type == Type::Error as i32),
                )
                && matches!(outs.last(), Some(Output::Close { .. }))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("outputs {outs:?}, expected {want:?}"))
    }
}

#[test]
fn chaincode_stream_peer_side_corpus() {
    run(
        peer_side_cases(),
        PEER_SIDE_CASES,
        Fx::build,
        label,
        peer_outputs,
    );
}

// ---------------- shim side ----------------

#[derive(Debug, Clone, Copy)]
enum Sx {
    Created,
    Established,
    Ready,
    /// Transaction t1 running.
    InTx,
    /// Query q1 running (from ready).
    InQuery,
    /// t1 running with a GetState call outstanding.
    CallPending,
    /// At most one execution; t1 running.
    Full,
    Stopped,
}

impl Sx {
    fn build(self) -> shim::Handler {
        let max = if matches!(self, Sx::Full) { 1 } else { 1024 };
        let config = shim::Config {
            max_in_flight: max,
            ..shim::Config::default()
        };
        let mut h = shim::Handler::with_config("cc", config);
        let feed = |h: &mut shim::Handler, msg| {
            h.handle(T0, shim::Input::FromPeer(msg))
                .expect("fixture step")
        };
        if !matches!(self, Sx::Created) {
            feed(&mut h, m(Type::Registered, "", b""));
        }
        if !matches!(self, Sx::Created | Sx::Established) {
            feed(&mut h, m(Type::Ready, "", b""));
        }
        match self {
            Sx::InTx | Sx::CallPending | Sx::Full => {
                feed(&mut h, m(Type::Transaction, "t1", &args()))
            }
            Sx::InQuery => feed(&mut h, m(Type::Query, "q1", &args())),
            Sx::Stopped => {
                let _ = h.handle(T0, shim::Input::FromPeer(raw(999, "", b"")));
            }
            _ => {}
        }
        if matches!(self, Sx::CallPending) {
            let call = shim::Input::StubCall {
                txid: "t1".into(),
                call: StubCall::GetState("a".into()),
            };
            h.handle(T0, call).expect("fixture call");
        }
        while h.poll_output().is_some() {}
        h
    }
}

fn shim_label(r: &shim::Reject) -> &'static str {
    use shim::Reject as R;
    match r {
        R::UnexpectedMessage { .. } => "unexpected_message",
        R::UnexpectedReply { .. } => "unexpected_reply",
        R::UnknownTxid { .. } => "unknown_txid",
        R::DuplicateTxid { .. } => "duplicate_txid",
        R::TooManyInFlight => "too_many_in_flight",
        R::CallPending { .. } => "call_pending",
        R::CannotPost { .. } => "cannot_post",
        R::Stopped => "stopped",
    }
}

fn shim_outputs(h: &shim::Handler, outs: &[shim::Output], want: Out) -> Result<(), String> {
    use shim::Output as O;
    let ok = match want {
        Out::Nothing => outs.is_empty(),
        Out::ErrorTo(t) => {
            matches!(outs, [O::Send(msg)] if msg.r#type == Type::QueryError as i32 && msg.txid == t)
        }
        Out::FailTo(t) => matches!(outs, [O::StubReply { txid, result: Err(_) }] if txid == t),
        Out::Fatal => {
            h.is_stopped()
                && outs
                    .first()
                    .is_some_and(|o| matches!(o, O::Send(msg) if msg.r#type == Type::Error as i32))
                && matches!(outs.last(), Some(O::Stop { .. }))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("outputs {outs:?}, expected {want:?}"))
    }
}

#[rustfmt::skip]
fn shim_side_cases() -> Vec<Case<shim::Input, Sx>> {
    use Out::*;
    use Sx::*;
    use shim::Input as I;
    let p = |msg| I::FromPeer(msg);
    let call = |txid: &str, call| I::StubCall { txid: txid.into(), call };
    let returned = |txid: &str| I::Returned { txid: txid.into(), result: Ok(vec![]), event: None };
    vec![
        c("shim_transaction_before_registered", Created, p(m(Type::Transaction, "t1", &args())), "unexpected_message", Fatal),
        c("shim_init_before_registered", Created, p(m(Type::Init, "d1", &args())), "unexpected_message", Fatal),
        c("shim_unknown_type", Ready, p(raw(77, "", b"")), "unexpected_message", Fatal),
        c("shim_undefined_type", Ready, p(m(Type::Undefined, "", b"")), "unexpected_message", Fatal),
        c("shim_second_registered", Established, p(m(Type::Registered, "", b"")), "unexpected_message", Fatal),
        c("shim_init_when_ready", Ready, p(m(Type::Init, "d1", &args())), "unexpected_message", Fatal),
        c("shim_ready_when_ready", Ready, p(m(Type::Ready, "", b"")), "unexpected_message", Fatal),
        c("shim_second_transaction_while_running", InTx, p(m(Type::Transaction, "t2", &args())), "unexpected_message", Fatal),
        c("shim_register_from_peer", Ready, p(register("cc")), "unexpected_message", Fatal),
        c("shim_put_state_from_peer", InTx, p(put("t1")), "unexpected_message", Fatal),
        c("shim_completed_from_peer", InTx, p(m(Type::Completed, "t1", b"")), "unexpected_message", Fatal),
        c("shim_refused_registration_error", Created, p(m(Type::Error, "", b"duplicate chaincode")), "unexpected_message", Fatal),
        c("shim_response_unknown_txid", Ready, p(m(Type::Response, "t9", b"")), "unexpected_reply", Nothing),
        c("shim_error_unknown_txid", Ready, p(m(Type::Error, "t9", b"boom")), "unexpected_reply", Nothing),
        c("shim_response_without_call", InTx, p(m(Type::Response, "t1", b"v")), "unexpected_reply", Nothing),
        c("shim_query_duplicate_txid", InQuery, p(m(Type::Query, "q1", &args())), "duplicate_txid", Nothing),
        c("shim_query_over_in_flight_limit", Full, p(m(Type::Query, "q2", &args())), "too_many_in_flight", ErrorTo("q2")),
        c("shim_returned_unknown_txid", Ready, returned("t9"), "unknown_txid", Nothing),
        c("shim_stub_call_unknown_txid", InTx, call("t9", StubCall::PutState("a".into(), vec![1])), "unknown_txid", FailTo("t9")),
        c("shim_stub_call_while_pending", CallPending, call("t1", StubCall::DelState("a".into())), "call_pending", FailTo("t1")),
        c("shim_message_after_stop", Stopped, p(m(Type::Keepalive, "", b"")), "stopped", Nothing),
        c("shim_stub_call_after_stop", Stopped, call("t1", StubCall::GetState("a".into())), "stopped", FailTo("t1")),
        c("shim_returned_after_stop", Stopped, returned("t1"), "stopped", Nothing),
    ]
}

#[test]
fn chaincode_stream_shim_side_corpus() {
    run(
        shim_side_cases(),
        SHIM_SIDE_CASES,
        Sx::build,
        shim_label,
        shim_outputs,
    );
}

/// Controls: the well-formed versions are accepted by the same fixtures.
#[test]
fn controls_are_accepted() {
    let mut h = Fx::InTx.build();
    h.handle(T0, Input::FromChaincode(put("t1")))
        .expect("put in a transaction");
    let mut h = Fx::InQuery.build();
    h.handle(T0, Input::FromChaincode(m(Type::GetState, "q1", b"a")))
        .expect("get in a query");
    let mut s = Sx::CallPending.build();
    s.handle(T0, shim::Input::FromPeer(m(Type::Response, "t1", b"v")))
        .expect("answer");
}
