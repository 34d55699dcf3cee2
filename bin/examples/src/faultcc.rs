//! `faultcc`: example02 with two misbehaviours on request, for the tests of
//! how a peer copes with a chaincode that fails mid-transaction. Not a v0.6
//! example and not for production networks.
//!
//! - `crash` (invoke or query): writes `a` (invoke) or reads it (query),
//!   then exits the process with status 3 before answering, so the peer
//!   sees the chaincode vanish in the middle of the transaction.
//! - `hang` (invoke or query): never answers (the peer's execute timeout
//!   must end the transaction).
//! - anything else: exactly [`Example02`].

use crate::Example02;
use fabrik_shim::{Chaincode, Stub};
use std::time::Duration;

/// Exit status of a `crash`, so a test can tell it from other exits.
pub const CRASH_STATUS: i32 = 3;

/// example02 plus `crash` and `hang`.
#[derive(Debug, Default, Clone, Copy)]
pub struct FaultChaincode;

fn crash(stub: &Stub, write: bool) -> ! {
    // Touch state first: the peer is then holding this transaction's
    // context (and, for an invoke, a pending write) when the process dies.
    if write {
        let _ = stub.put_state("a", b"written by a crashed transaction");
    } else {
        let _ = stub.get_state("a");
    }
    eprintln!(
        "faultcc: exiting with status {CRASH_STATUS} in the middle of transaction {} (asked to crash)",
        stub.get_txid()
    );
    std::process::exit(CRASH_STATUS)
}

fn hang(stub: &Stub) -> ! {
    eprintln!(
        "faultcc: never answering transaction {} (asked to hang)",
        stub.get_txid()
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

impl Chaincode for FaultChaincode {
    fn init(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        Example02.init(stub, function, args)
    }

    fn invoke(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match function {
            "crash" => crash(stub, true),
            "hang" => hang(stub),
            _ => Example02.invoke(stub, function, args),
        }
    }

    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match function {
            "crash" => crash(stub, false),
            "hang" => hang(stub),
            _ => Example02.query(stub, function, args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_shim::{MockBackend, mock_stub};
    use std::sync::Arc;

    #[test]
    fn other_functions_are_example02() {
        let l = Arc::new(MockBackend::new());
        let mut stub = mock_stub(&l, "t1", &["init", "a", "100", "b", "200"]);
        let args = ["a", "100", "b", "200"].map(String::from);
        assert_eq!(
            FaultChaincode.init(&mut stub, "init", &args),
            Ok(Vec::new())
        );
        let mut stub = mock_stub(&l, "t2", &["invoke", "a", "b", "10"]);
        let args = ["a", "b", "10"].map(String::from);
        assert_eq!(
            FaultChaincode.invoke(&mut stub, "invoke", &args),
            Ok(Vec::new())
        );
        let mut stub = mock_stub(&l, "t3", &["query", "a"]);
        let got = FaultChaincode.query(&mut stub, "query", &["a".to_string()]);
        assert_eq!(got, Ok(b"90".to_vec()));
    }
}
