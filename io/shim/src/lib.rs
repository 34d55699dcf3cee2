//! The chaincode SDK of fabrik, wire-compatible with Hyperledger Fabric
//! v0.6 peers: implement [`Chaincode`] and call [`start`].
//!
//! ```no_run
//! use fabrik_shim::{Chaincode, Stub};
//!
//! struct Echo;
//! impl Chaincode for Echo {
//!     fn init(&self, _: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> { Ok(vec![]) }
//!     fn invoke(&self, stub: &mut Stub, f: &str, _: &[String]) -> Result<Vec<u8>, String> {
//!         stub.put_state("last", f.as_bytes())?;
//!         Ok(vec![])
//!     }
//!     fn query(&self, stub: &mut Stub, _: &str, _: &[String]) -> Result<Vec<u8>, String> {
//!         Ok(stub.get_state("last")?.unwrap_or_default())
//!     }
//! }
//!
//! fn main() {
//!     if let Err(e) = fabrik_shim::start(Echo) {
//!         eprintln!("{e}");
//!         std::process::exit(1);
//!     }
//! }
//! ```
//!
//! Threading: the trait is synchronous. Each execution runs on its own
//! tokio blocking thread and its stub calls block that thread until the
//! peer answers; queries can run beside an invoke, so implementations must
//! be `Sync`. The protocol itself (FSM, stub-call routing, query-context
//! guards) is the pure [`fabrik_core::shim::Handler`]; this crate only
//! moves bytes. It depends on no storage, QUIC or Docker crate.

mod driver;
mod error;
mod mock;
mod options;
mod stub;

pub use driver::serve;
pub use error::ShimError;
pub use fabrik_core::shim::{RangePage, StubCall, StubValue};
pub use mock::{CalleeFn, MockBackend, mock_stub};
pub use options::Options;
pub use stub::{Backend, RangeIter, Stub};

use fabrik_core::shim::RunKind;

/// A chaincode (v0.6 `Chaincode` interface). `function` is `args[0]` of
/// the constructor / invocation, `args` the rest, as strings.
pub trait Chaincode: Send + Sync + 'static {
    /// Deploy.
    ///
    /// # Errors
    /// The text the peer records as the failure.
    fn init(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String>;
    /// Invoke (a transaction).
    ///
    /// # Errors
    /// The text the peer records as the failure.
    fn invoke(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String>;
    /// Query (reads only).
    ///
    /// # Errors
    /// The text returned to the querying client.
    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String>;
}

/// Calls the entry point for `kind` with `function = args[0]`.
pub(crate) fn dispatch<C: Chaincode + ?Sized>(
    cc: &C,
    stub: &mut Stub,
    kind: RunKind,
) -> Result<Vec<u8>, String> {
    let mut args = stub.get_string_args().into_iter();
    let function = args.next().unwrap_or_default();
    let params: Vec<String> = args.collect();
    match kind {
        RunKind::Init => cc.init(stub, &function, &params),
        RunKind::Invoke => cc.invoke(stub, &function, &params),
        RunKind::Query => cc.query(stub, &function, &params),
    }
}

/// Runs `cc` as a chaincode process: reads [`Options`] from the command
/// line (`-peer.address=<addr>`) and environment (`CORE_PEER_ADDRESS`,
/// `CORE_CHAINCODE_ID_NAME`), dials `http://<addr>` (3 s connect timeout,
/// a few retries), registers and serves until the peer ends the stream.
///
/// # Errors
/// See [`ShimError`].
pub fn start<C: Chaincode>(cc: C) -> Result<(), ShimError> {
    let options = Options::from_process()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(options, cc))
}
