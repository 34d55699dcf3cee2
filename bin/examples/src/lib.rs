//! Example chaincodes with the exact semantics and error texts of their
//! Fabric v0.6 originals (reference §8): [`Example02`] (asset transfer),
//! [`MapChaincode`] (a key/value map with a range-query `keys`) and
//! [`Example05`] (sums two example02 balances by querying it), plus
//! [`BenchChaincode`], the no-op and read-write workloads of `peerd bench`, and
//! [`FaultChaincode`], example02 that crashes or hangs on request (for tests). Each has a
//! binary in `src/bin/` that calls [`fabrik_shim::start`].

mod benchcc;
mod example02;
mod example05;
mod faultcc;
mod goconv;
mod map;

pub use benchcc::BenchChaincode;
pub use example02::Example02;
pub use example05::Example05;
pub use faultcc::{CRASH_STATUS, FaultChaincode};
pub use map::MapChaincode;

/// Runs `cc` as a chaincode process; on failure prints the error and exits
/// with status 1.
pub fn run_main<C: fabrik_shim::Chaincode>(cc: C) {
    if let Err(e) = fabrik_shim::start(cc) {
        eprintln!("Error starting chaincode: {e}");
        std::process::exit(1);
    }
}
