//! Golden-output tests of the peer-side chaincode handler: each builds a
//! handler, feeds one input and asserts the exact outputs.

mod execute_test;
mod prop_test;
mod range_test;
mod register_test;
mod state_test;
mod terminal_test;
mod unacked_test;

use super::*;
use crate::machine::Machine;
use crate::time::{Duration, Instant};
use fabrik_proto::protos::chaincode_message::Type;
use fabrik_proto::protos::{ChaincodeId, ChaincodeInput, ChaincodeMessage};
use prost::Message;

pub(super) const T0: Instant = Instant::from_nanos(1_000);
pub(super) const DEADLINE: Instant = Instant::from_nanos(30_000_000_000);

pub(super) fn drain(h: &mut Handler) -> Vec<Output> {
    std::iter::from_fn(|| h.poll_output()).collect()
}

pub(super) fn msg(ty: Type, txid: &str, payload: &[u8]) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: ty as i32,
        payload: payload.to_vec(),
        txid: txid.into(),
        ..Default::default()
    }
}

pub(super) fn send(ty: Type, txid: &str, payload: &[u8]) -> Output {
    Output::Send(msg(ty, txid, payload))
}

pub(super) fn error(txid: &str, text: &str) -> Output {
    send(Type::Error, txid, text.as_bytes())
}

pub(super) fn register_msg(name: &str) -> ChaincodeMessage {
    let id = ChaincodeId {
        path: String::new(),
        name: name.into(),
    };
    msg(Type::Register, "", &id.encode_to_vec())
}

pub(super) fn input(args: &[&str]) -> ChaincodeInput {
    ChaincodeInput {
        args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
    }
}

pub(super) fn execute(txid: &str, kind: ExecKind, args: &[&str]) -> Input {
    Input::Execute {
        txid: txid.into(),
        kind,
        input: input(args),
        tx_timestamp: None,
        deadline: DEADLINE,
    }
}

pub(super) fn finished(txid: &str, result: ExecResult) -> Output {
    Output::Finished {
        txid: txid.into(),
        result,
    }
}

pub(super) fn feed(h: &mut Handler, m: ChaincodeMessage) -> Result<(), Reject> {
    h.handle(T0, Input::FromChaincode(m))
}

/// A handler that has received REGISTER for `cc`, outputs drained.
pub(super) fn registered_with(config: Config) -> Handler {
    let mut h = registering_with(config);
    assert_eq!(h.handle(T0, Input::RegisterAccepted), Ok(()));
    drain(&mut h);
    h
}

/// A handler that sent REGISTER "cc" and waits for io's verdict.
pub(super) fn registering_with(config: Config) -> Handler {
    let mut h = Handler::new(config);
    assert_eq!(feed(&mut h, register_msg("cc")), Ok(()));
    drain(&mut h);
    h
}

/// A registered handler in `ready` (READY sent), outputs drained.
pub(super) fn ready() -> Handler {
    let mut h = registered_with(Config::default());
    assert_eq!(h.handle(T0, execute("r0", ExecKind::Ready, &[])), Ok(()));
    drain(&mut h);
    h
}

/// A ready handler running transaction `t1`, outputs drained.
pub(super) fn in_transaction() -> Handler {
    let mut h = ready();
    assert_eq!(
        h.handle(T0, execute("t1", ExecKind::Transaction, &["f"])),
        Ok(())
    );
    drain(&mut h);
    h
}

/// A ready handler running query `q1`, outputs drained.
pub(super) fn in_query() -> Handler {
    let mut h = ready();
    assert_eq!(h.handle(T0, execute("q1", ExecKind::Query, &["f"])), Ok(()));
    drain(&mut h);
    h
}

#[test]
fn timeout_before_deadline_does_nothing() {
    let mut h = in_transaction();
    h.handle_timeout(Instant::from_nanos(5));
    assert_eq!(drain(&mut h), vec![]);
    assert_eq!(h.poll_timeout(), Some(DEADLINE));
    let _ = Duration::ZERO;
}
