//! Wiring of one running peer: store, consensus, chaincode support, servers.
//! (Filled in by the node integration work.)

use crate::config::Config;
use std::future::Future;

/// Why a node failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Not built yet.
    #[error("{0}")]
    Other(String),
}

/// Runs the peer until `shutdown` resolves (or an Admin.StopServer call).
///
/// # Errors
/// When a listener cannot bind or the store cannot be opened.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> Result<(), NodeError> {
    let _ = config;
    shutdown.await;
    Ok(())
}
