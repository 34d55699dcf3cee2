//! Talking to a running peer: dialling `peer.address` over gRPC with v0.6's
//! 3 s connect timeout, running one request on a small runtime, and turning
//! transport and status errors into [`CliError`]s that name the address.

use crate::error::{CliError, deepest_cause};
use std::future::Future;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How long to wait for the TCP/HTTP2 connection (v0.6: 3 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs one client-side future on a single-threaded runtime.
///
/// # Errors
/// When the runtime cannot start, or whatever the future returns.
pub fn block_on<T>(future: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(future)
}

/// Connects to the peer at `address` (`host:port`).
///
/// # Errors
/// [`CliError::Connect`] naming the address and the cause.
pub async fn dial(address: &str) -> Result<Channel, CliError> {
    let connect_error = |cause: String| CliError::Connect {
        address: address.to_string(),
        cause,
    };
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| connect_error(format!("not a valid host:port ({})", deepest_cause(&e))))?
        .connect_timeout(CONNECT_TIMEOUT);
    match tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(connect_error(deepest_cause(&e))),
        Err(_) => Err(connect_error(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// Maps a gRPC status from `call` to an error naming the peer.
pub fn rpc_error(call: &'static str, address: &str, status: &tonic::Status) -> CliError {
    if status.code() == tonic::Code::Unavailable {
        return CliError::Connect {
            address: address.to_string(),
            cause: status.message().to_string(),
        };
    }
    CliError::Rpc {
        call,
        address: address.to_string(),
        message: format!("{:?}: {}", status.code(), status.message()),
    }
}
