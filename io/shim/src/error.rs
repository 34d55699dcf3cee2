//! [`ShimError`]: why [`crate::start`] failed.

/// Why the chaincode could not start or why its stream ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// Neither `-peer.address=<host:port>` nor `CORE_PEER_ADDRESS` was given.
    #[error("peer address not set: pass -peer.address=<host:port> or set CORE_PEER_ADDRESS")]
    NoPeerAddress,
    /// `CORE_CHAINCODE_ID_NAME` is empty or unset.
    #[error("chaincode name not set: CORE_CHAINCODE_ID_NAME must be non-empty")]
    NoName,
    /// `CORE_PEER_TLS_ENABLED=true`: this SDK dials plain HTTP/2 only.
    #[error("CORE_PEER_TLS_ENABLED=true is not supported by this shim")]
    TlsUnsupported,
    /// The peer address is not a valid URI.
    #[error("invalid peer address {addr}: {reason}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Dialling the peer failed (after retries).
    #[error("cannot connect to peer at {addr}: {reason}")]
    Connect {
        /// The URI dialled.
        addr: String,
        /// The last error.
        reason: String,
    },
    /// `ChaincodeSupport.Register` was refused.
    #[error("Register stream refused by the peer: {0}")]
    Register(String),
    /// The stream broke.
    #[error("chaincode stream error: {0}")]
    Stream(String),
    /// The shim state machine stopped (an unexpected message from the peer,
    /// for example a refused registration).
    #[error("chaincode shim stopped: {0}")]
    Stopped(String),
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}
