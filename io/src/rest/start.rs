//! Starting and stopping the client-facing HTTP servers of a node: REST on
//! `rest.address` (when `rest.enabled`) and the operations server on
//! `operations.address` (when non-empty). `node::run` calls [`start`] once
//! its parts exist and [`ClientServers::stop`] when it shuts down.

use super::{PeerList, RestState};
use crate::config::Config;
use crate::consensus::Submitter;
use crate::events::Hub;
use crate::exec::Executor;
use crate::metrics::Metrics;
use crate::node::NodeError;
use crate::ops::{self, OpsState, Readiness};
use crate::store::Store;
use fabrik_proto::protos::{PeerEndpoint, PeerId, peer_endpoint};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long stopping waits for open HTTP connections to finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The node parts the servers use.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Runs queries.
    pub executor: Arc<Executor>,
    /// Hands transactions to consensus.
    pub submitter: Submitter,
    /// The ledger.
    pub store: Arc<Store>,
    /// The event hub.
    pub hub: Arc<Hub>,
    /// The metrics registry.
    pub metrics: Metrics,
    /// Readiness inputs.
    pub readiness: Readiness,
}

/// The running servers.
#[derive(Debug)]
pub struct ClientServers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClientServers {
    /// Stops the servers, waiting a few seconds for open connections.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                tracing::warn!("an HTTP server did not stop within {STOP_GRACE:?}; abandoning it");
            }
        }
    }
}

/// This peer as `/network/peers` lists it.
pub fn this_peer(config: &Config) -> PeerEndpoint {
    let ty = if config.peer.validator.enabled {
        peer_endpoint::Type::Validator
    } else {
        peer_endpoint::Type::NonValidator
    };
    PeerEndpoint {
        id: Some(PeerId {
            name: config.peer.id.clone(),
        }),
        address: config.peer.address.clone(),
        r#type: ty as i32,
        pki_id: Vec::new(),
    }
}

async fn bind(address: &str, key: &'static str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| NodeError::Bind {
            address: address.to_string(),
            key,
            source,
        })
}

/// Binds and starts REST and the operations server.
///
/// # Errors
/// [`NodeError::Bind`] when `rest.address` cannot be bound. An operations
/// address that cannot be bound is logged and skipped: the peer still runs.
pub async fn start(
    config: &Config,
    parts: Parts,
    connected: PeerList,
) -> Result<ClientServers, NodeError> {
    let (stop, stopping) = watch::channel(false);
    let mut tasks = Vec::new();
    if config.rest.enabled {
        let listener = bind(&config.rest.address, "rest.address").await?;
        let state = RestState {
            executor: parts.executor,
            submitter: parts.submitter,
            store: Arc::clone(&parts.store),
            hub: Arc::clone(&parts.hub),
            mode: config.chaincode.mode,
            this_peer: this_peer(config),
            connected,
            metrics: parts.metrics.clone(),
            stopping: stopping.clone(),
        };
        tracing::info!(address = %config.rest.address, "REST server listening");
        tasks.push(tokio::spawn(async move {
            if let Err(e) = super::serve(listener, state).await {
                tracing::error!("REST server failed: {e}");
            }
        }));
    }
    let address = config.operations.address.as_str();
    if !address.is_empty() {
        match bind(address, "operations.address").await {
            Ok(listener) => {
                let state = OpsState {
                    metrics: parts.metrics,
                    store: parts.store,
                    hub: parts.hub,
                    readiness: parts.readiness,
                };
                let mut stopping = stopping.clone();
                let shutdown = async move {
                    let _ = stopping.wait_for(|s| *s).await;
                };
                tracing::info!(%address, "operations server listening (/metrics, /healthz, /readyz)");
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = ops::serve(listener, state, shutdown).await {
                        tracing::error!("operations server failed: {e}");
                    }
                }));
            }
            Err(e) => tracing::error!("{e}; the peer runs without /metrics and /healthz"),
        }
    }
    Ok(ClientServers { stop, tasks })
}
