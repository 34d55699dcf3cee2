//! The CLI's error type: every failure a command can report, each naming the
//! thing involved (file, key, address, chaincode) and, where there is one,
//! the next step. `main` prints it as `Error: <text>` and exits with 1.

use crate::logging::LogSpecError;
use crate::pidfile::PidError;
use fabrik_io::config::ConfigError;
use fabrik_io::ctor::CtorError;
use fabrik_io::node::NodeError;

/// Why a `peerd` command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `-c/--ctor` JSON was refused (v0.6 texts).
    #[error(transparent)]
    Ctor(#[from] CtorError),
    /// `--logging-level` or `RUST_LOG` could not be parsed.
    #[error(transparent)]
    LogSpec(#[from] LogSpecError),
    /// The pid file could not be taken or read.
    #[error(transparent)]
    Pid(#[from] PidError),
    /// Flags that do not go together, or a missing flag (v0.6 texts where v0.6 had one).
    #[error("{0}")]
    Usage(String),
    /// No connection to the peer.
    #[error("cannot connect to peer at {address}: {cause}; is `peerd node start` running?")]
    Connect {
        /// The address dialled.
        address: String,
        /// The deepest cause (e.g. "Connection refused (os error 111)").
        cause: String,
    },
    /// The peer answered a call with a gRPC error.
    #[error("{call} at peer {address} failed: {message}")]
    Rpc {
        /// The RPC, e.g. "Devops.Invoke".
        call: &'static str,
        /// The peer's address.
        address: String,
        /// The status code and message.
        message: String,
    },
    /// The peer executed the request and reported a failure (Devops
    /// `Response{FAILURE}`); the text is the peer's message, as in v0.6.
    #[error("{0}")]
    Failure(String),
    /// The data directory cannot be created.
    #[error(
        "cannot create data directory {path} (peer.fileSystemPath): {source}; choose a writable directory"
    )]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The tokio runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The peer stopped with an error.
    #[error("peer stopped with an error: {0}")]
    Node(#[from] NodeError),
    /// Writing the result to stdout failed.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// The innermost message of an error chain (tonic's top level says only
/// "transport error").
pub fn deepest_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
