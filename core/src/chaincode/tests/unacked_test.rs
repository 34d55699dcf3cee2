//! The unacked-writes extension: what is granted at REGISTER, and writes
//! that reach io without a busy phase and get no RESPONSE.

use super::*;
use fabrik_proto::protos::PutStateInfo;

fn put(txid: &str, key: &str, value: &[u8]) -> ChaincodeMessage {
    let info = PutStateInfo {
        key: key.into(),
        value: value.to_vec(),
    };
    msg(Type::PutState, txid, &info.encode_to_vec())
}

/// A handler whose shim asked for every feature, registered under `config`.
fn registered_asking_all(config: Config) -> (Handler, Vec<Output>, Vec<Output>) {
    let mut h = Handler::new(config);
    let mut register = register_msg("cc");
    register.txid = Features::ALL.marker();
    assert_eq!(feed(&mut h, register), Ok(()));
    let reported = drain(&mut h);
    assert_eq!(h.handle(T0, Input::RegisterAccepted), Ok(()));
    let sent = drain(&mut h);
    (h, reported, sent)
}

/// Ready, with transaction `t1` running, writes unacked.
fn unacked_in_transaction() -> Handler {
    let (mut h, _, _) = registered_asking_all(Config::default());
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &["f"])),
        Ok(())
    );
    drain(&mut h);
    h
}

#[test]
fn a_shim_asking_for_every_feature_is_granted_them_and_told_so() {
    let (h, reported, sent) = registered_asking_all(Config::default());
    assert_eq!(
        reported,
        vec![Output::Registered {
            name: "cc".into(),
            features: Features::ALL
        }]
    );
    assert_eq!(
        sent,
        vec![send(
            Type::Registered,
            "fabrik:concurrent-transactions+unacked-writes",
            b""
        )]
    );
    assert_eq!(h.features(), Features::ALL);
}

#[test]
fn a_peer_configured_without_unacked_writes_grants_only_concurrency() {
    let config = Config {
        features: Features {
            concurrent_transactions: true,
            unacked_writes: false,
        },
        ..Config::default()
    };
    let (_, reported, sent) = registered_asking_all(config);
    let granted = Features {
        concurrent_transactions: true,
        unacked_writes: false,
    };
    assert_eq!(
        reported,
        vec![Output::Registered {
            name: "cc".into(),
            features: granted
        }]
    );
    assert_eq!(
        sent,
        vec![send(
            Type::Registered,
            crate::chaincode::CONCURRENT_TRANSACTIONS,
            b""
        )],
        "the shim learns writes will be answered"
    );
}

#[test]
fn unacked_writes_reach_io_in_order_with_no_response_and_no_busy_phase() {
    let mut h = unacked_in_transaction();
    assert_eq!(feed(&mut h, put("t1", "a", b"90")), Ok(()));
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    assert_eq!(
        feed(&mut h, msg(Type::DelState, "t1", b"b")),
        Ok(()),
        "a write is taken while the read is unanswered"
    );
    assert_eq!(
        drain(&mut h),
        vec![
            Output::WriteState {
                txid: "t1".into(),
                key: "a".into(),
                value: b"90".to_vec()
            },
            Output::ReadState {
                txid: "t1".into(),
                key: "a".into()
            },
            Output::DeleteState {
                txid: "t1".into(),
                key: "b".into()
            },
        ],
        "nothing is sent to the chaincode for the writes"
    );
    let answer = Input::StateValue {
        txid: "t1".into(),
        value: Some(b"90".to_vec()),
    };
    assert_eq!(h.handle(T0, answer), Ok(()));
    assert_eq!(drain(&mut h), vec![send(Type::Response, "t1", b"90")]);
    assert_eq!(feed(&mut h, msg(Type::Completed, "t1", b"ok")), Ok(()));
    assert_eq!(
        drain(&mut h),
        vec![finished(
            "t1",
            ExecResult::Completed {
                payload: b"ok".to_vec(),
                event: None
            }
        )]
    );
}

#[test]
fn a_second_read_is_still_refused_while_the_first_is_unanswered() {
    let mut h = unacked_in_transaction();
    assert_eq!(feed(&mut h, msg(Type::GetState, "t1", b"a")), Ok(()));
    drain(&mut h);
    assert_eq!(
        feed(&mut h, msg(Type::GetState, "t1", b"b")),
        Err(Reject::RequestPending { txid: "t1".into() })
    );
    assert_eq!(drain(&mut h), vec![]);
}

#[test]
fn a_write_done_on_an_unacked_stream_matches_no_request() {
    let mut h = unacked_in_transaction();
    assert_eq!(feed(&mut h, put("t1", "a", b"90")), Ok(()));
    drain(&mut h);
    let done = Input::WriteDone {
        txid: "t1".into(),
        result: Ok(()),
    };
    assert_eq!(
        h.handle(T0, done),
        Err(Reject::UnexpectedAnswer {
            txid: "t1".into(),
            expected: "WriteState/DeleteState"
        })
    );
    assert_eq!(drain(&mut h), vec![], "no RESPONSE reaches the chaincode");
}

#[test]
fn unacked_writes_keep_the_query_and_unknown_txid_refusals() {
    let mut h = unacked_in_transaction();
    assert_eq!(h.handle(T0, execute("q1", ExecKind::Query, &["f"])), Ok(()));
    drain(&mut h);
    assert_eq!(
        feed(&mut h, put("q1", "a", b"1")),
        Err(Reject::NotInTransaction {
            msg_type: "PUT_STATE"
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error("q1", "Cannot handle PUT_STATE in query context")]
    );
    assert_eq!(
        feed(&mut h, msg(Type::DelState, "nope", b"a")),
        Err(Reject::UnknownTxid {
            txid: "nope".into()
        })
    );
    assert_eq!(
        drain(&mut h),
        vec![error(
            "nope",
            "No ledger context for DEL_STATE. Sending ERROR"
        )]
    );
}
