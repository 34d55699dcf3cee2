//! INIT / READY / TRANSACTION / QUERY from the peer, refusals, the
//! transaction slot, deadlines and keepalive.

use super::*;
use fabrik_proto::Timestamp;
use fabrik_proto::protos::ChaincodeSecurityContext;

fn with_context(ty: Type, txid: &str, args: &[&str], ts: Option<Timestamp>) -> ChaincodeMessage {
    let payload = input(args).encode_to_vec();
    ChaincodeMessage {
        r#type: ty as i32,
        payload: payload.clone(),
        txid: txid.into(),
        security_context: Some(ChaincodeSecurityContext {
            payload,
            tx_timestamp: ts,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn init_sends_init_with_security_context_and_arms_the_deadline() {
    let mut h = registered_with(Config::default());
    let ts = Some(Timestamp {
        seconds: 7,
        nanos: 8,
    });
    let exec = Input::Execute {
        txid: "cc".into(),
        kind: ExecKind::Init,
        input: input(&["init", "a", "100"]),
        tx_timestamp: ts,
        deadline: DEADLINE,
    };
    assert_eq!(h.handle(T0, exec), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::Send(with_context(
            Type::Init,
            "cc",
            &["init", "a", "100"],
            ts
        ))]
    );
    assert_eq!(h.state_name(), "init");
    assert_eq!(h.poll_timeout(), Some(DEADLINE));
}

#[test]
fn init_completed_enters_ready() {
    let mut h = registered_with(Config::default());
    assert_eq!(
        h.handle(T0, execute("cc", ExecKind::Init, &["init"])),
        Ok(())
    );
    drain(&mut h);
    assert_eq!(feed(&mut h, msg(Type::Completed, "cc", b"ok")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "cc",
            ExecResult::Completed {
                payload: b"ok".to_vec(),
                event: None
            }
        )]
    );
    assert_eq!(h.state_name(), "ready");
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn ready_sends_ready_and_completes_at_once() {
    let mut h = registered_with(Config::default());
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![
            Output::Send(with_context(Type::Ready, "r0", &[], None)),
            finished(
                "r0",
                ExecResult::Completed {
                    payload: vec![],
                    event: None
                }
            )
        ]
    );
    assert_eq!(h.state_name(), "ready");
    assert_eq!(h.in_flight(), 0);
}

#[test]
fn transaction_sends_transaction_and_takes_the_slot() {
    let mut h = ready();
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &["invoke", "a"])),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![Output::Send(with_context(
            Type::Transaction,
            "t1",
            &["invoke", "a"],
            None
        ))]
    );
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn query_is_sent_beside_a_running_transaction() {
    let mut h = in_transaction();
    assert_eq!(
        h.handle(T0, execute("q1", ExecKind::Query, &["query", "a"])),
        Ok(())
    );
    assert_eq!(
        drain(&mut h),
        vec![Output::Send(with_context(
            Type::Query,
            "q1",
            &["query", "a"],
            None
        ))]
    );
    assert_eq!(h.in_flight(), 2);
}

#[test]
fn second_transaction_waits_for_the_slot() {
    let mut h = in_transaction();
    assert_eq!(
        h.handle(T0, execute("t2", ExecKind::Transaction, &["g"])),
        Ok(())
    );
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![
            finished(
                "t1",
                ExecResult::Completed {
                    payload: vec![],
                    event: None
                }
            ),
            Output::Send(with_context(Type::Transaction, "t2", &["g"], None))
        ]
    );
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn a_shim_registered_for_concurrent_transactions_gets_them_at_once() {
    let mut h = Handler::new(Config::default());
    let mut register = register_msg("cc");
    register.txid = crate::chaincode::CONCURRENT_TRANSACTIONS.into();
    assert_eq!(feed(&mut h, register), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![Output::Registered {
            name: "cc".into(),
            features: Features {
                concurrent_transactions: true,
                unacked_writes: false
            }
        }]
    );
    assert_eq!(h.handle(T0, Input::RegisterAccepted), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![send(
            Type::Registered,
            crate::chaincode::CONCURRENT_TRANSACTIONS,
            b""
        )],
        "the marker is echoed so the shim knows the peer agreed"
    );
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    drain(&mut h);
    for (txid, f) in [("t1", "f"), ("t2", "g")] {
        assert_eq!(
            h.handle(T0, execute(txid, ExecKind::Transaction, &[f])),
            Ok(())
        );
        assert_eq!(
            drain(&mut h),
            vec![Output::Send(with_context(
                Type::Transaction,
                txid,
                &[f],
                None
            ))]
        );
    }
    assert_eq!(feed(&mut h, msg(Type::Completed, "t2", b"")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"")), Ok(()));
    let done: Vec<Output> = drain(&mut h);
    let completed = |t: &str| {
        finished(
            t,
            ExecResult::Completed {
                payload: vec![],
                event: None,
            },
        )
    };
    assert_eq!(done, vec![completed("t2"), completed("t1")]);
    assert_eq!(h.in_flight(), 0);
}

#[test]
fn queued_transaction_times_out_without_being_sent() {
    let mut h = in_transaction();
    let exec = Input::Execute {
        txid: "t2".into(),
        kind: ExecKind::Transaction,
        input: input(&["g"]),
        tx_timestamp: None,
        deadline: Instant::from_nanos(5_000),
    };
    assert_eq!(h.handle(T0, exec), Ok(()));
    h.handle_timeout(Instant::from_nanos(5_000));
    assert_eq!(
        drain(&mut h),
        vec![finished("t2", ExecResult::Failed(TIMEOUT_TEXT.into()))]
    );
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Completed {
                payload: vec![],
                event: None
            }
        )]
    );
    assert_eq!(h.state_name(), "ready");
}

#[test]
fn transaction_before_ready_is_refused_with_a_finished() {
    let mut h = registered_with(Config::default());
    let r = h.handle(T0, execute("t1", ExecKind::Transaction, &[]));
    assert_eq!(
        r,
        Err(Reject::NotReady {
            state: "established",
            kind: ExecKind::Transaction
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Failed(
                "chaincode cc: cannot execute Transaction in state established".into()
            )
        )]
    );
}

#[test]
fn query_before_register_is_refused_with_a_query_failure() {
    let mut h = Handler::new(Config::default());
    let r = h.handle(T0, execute("q1", ExecKind::Query, &[]));
    assert_eq!(
        r,
        Err(Reject::NotReady {
            state: "created",
            kind: ExecKind::Query
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "q1",
            ExecResult::QueryFailed(
                "unregistered chaincode: cannot execute Query in state created".into()
            )
        )]
    );
}

#[test]
fn init_when_ready_is_refused() {
    let mut h = ready();
    let r = h.handle(T0, execute("cc", ExecKind::Init, &[]));
    assert_eq!(
        r,
        Err(Reject::NotReady {
            state: "ready",
            kind: ExecKind::Init
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "cc",
            ExecResult::Failed("chaincode cc: cannot execute Init in state ready".into())
        )]
    );
}

#[test]
fn duplicate_txid_is_refused_and_the_first_keeps_running() {
    let mut h = in_transaction();
    let r = h.handle(T0, execute("t1", ExecKind::Query, &[]));
    assert_eq!(r, Err(Reject::DuplicateTxid { txid: "t1".into() }));
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::QueryFailed("chaincode cc: transaction t1 is already executing".into())
        )]
    );
    assert_eq!(h.in_flight(), 1);
    assert_eq!(h.state_name(), "transaction");
}

#[test]
fn executions_beyond_the_bound_are_refused() {
    let mut h = registered_with(Config {
        max_in_flight: 1,
        ..Config::default()
    });
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    assert_eq!(h.handle(T0, execute("q1", ExecKind::Query, &[])), Ok(()));
    drain(&mut h);
    assert_eq!(
        h.handle(T0, execute("q2", ExecKind::Query, &[])),
        Err(Reject::TooManyInFlight)
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "q2",
            ExecResult::QueryFailed("chaincode cc: too many executions in flight".into())
        )]
    );
}

#[test]
fn execute_after_close_is_refused() {
    let mut h = ready();
    assert_eq!(h.handle(T0, Input::StreamClosed), Ok(()));
    drain(&mut h);
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &[])),
        Err(Reject::Closed)
    );
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Failed("chaincode cc: handler closed".into())
        )]
    );
}

#[test]
fn transaction_deadline_fails_it_with_the_v06_text() {
    let mut h = in_transaction();
    h.handle_timeout(DEADLINE);
    assert_eq!(
        drain(&mut h),
        vec![finished("t1", ExecResult::Failed(TIMEOUT_TEXT.into()))]
    );
    assert_eq!(TIMEOUT_TEXT, "Timeout expired while executing transaction");
    assert_eq!(h.state_name(), "ready");
    // A late COMPLETED is ignored without a reply.
    assert_eq!(
        feed(&mut h, msg(Type::Completed, "t1", b"")),
        Err(Reject::UnknownTxid { txid: "t1".into() })
    );
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn query_deadline_gives_a_query_failure() {
    let mut h = in_query();
    h.handle_timeout(DEADLINE);
    assert_eq!(
        drain(&mut h),
        vec![finished("q1", ExecResult::QueryFailed(TIMEOUT_TEXT.into()))]
    );
}

#[test]
fn init_deadline_fails_it_and_closes() {
    let mut h = registered_with(Config::default());
    assert_eq!(h.handle(T0, execute("cc", ExecKind::Init, &[])), Ok(()));
    drain(&mut h);
    h.handle_timeout(DEADLINE);
    assert_eq!(
        drain(&mut h),
        vec![
            finished("cc", ExecResult::Failed(TIMEOUT_TEXT.into())),
            Output::Close {
                reason: "chaincode cc: Timeout expired while initializing".into()
            }
        ]
    );
    assert_eq!(h.state_name(), "end");
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn keepalive_is_sent_after_an_idle_interval_and_rearmed() {
    let every = Duration::from_secs(10);
    let mut h = registered_with(Config {
        keepalive: Some(every),
        ..Config::default()
    });
    let due = T0 + every;
    assert_eq!(h.poll_timeout(), Some(due));
    h.handle_timeout(due);
    assert_eq!(drain(&mut h), vec![send(Type::Keepalive, "", b"")]);
    assert_eq!(h.poll_timeout(), Some(due + every));
}

#[test]
fn stream_closed_fails_every_execution_in_txid_order_then_closes() {
    let mut h = in_transaction();
    assert_eq!(h.handle(T0, execute("q0", ExecKind::Query, &[])), Ok(()));
    drain(&mut h);
    assert_eq!(h.handle(T0, Input::StreamClosed), Ok(()));
    let reason = "chaincode cc closed its stream".to_owned();
    assert_eq!(
        drain(&mut h),
        vec![
            finished("q0", ExecResult::QueryFailed(reason.clone())),
            finished("t1", ExecResult::Failed(reason.clone())),
            Output::Close { reason }
        ]
    );
    assert_eq!(h.poll_timeout(), None);
}
