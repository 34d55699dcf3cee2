//! A non-validating peer (reference §3.3): no ledger, no consensus, no
//! events server. It joins the network over the transport, answers
//! Openchain.GetPeers and Admin, and forwards every Devops deploy, invoke
//! and query to a connected validator ([`super::forward::Forwarder`]).
//! The store is opened only to keep the discovery list across restarts.

use super::forward::Forwarder;
use crate::config::Config;
use crate::driver::Clock;
use crate::grpc::devops::DevopsService;
use crate::grpc::{admin::AdminService, openchain::OpenchainService};
use crate::node::NodeError;
use crate::store::Store;
use fabrik_proto::protos::{
    BlockchainInfo, admin_server::AdminServer, devops_server::DevopsServer,
    openchain_server::OpenchainServer,
};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

/// Runs the non-validating peer until `shutdown` resolves or
/// Admin.StopServer is called.
///
/// # Errors
/// When the store, the transport or the gRPC listener cannot start.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let root = config.peer.file_system_path.clone();
    std::fs::create_dir_all(root.join("db")).map_err(|source| NodeError::DataDir {
        path: root.display().to_string(),
        source,
    })?;
    let store = Arc::new(Store::open(&root.join("db"))?);
    let clock = Clock::new();
    let chain_info: super::ChainInfo = Arc::new(BlockchainInfo::default);
    let (network, _receivers, transport) =
        super::start_for_node(&config, Some(Arc::clone(&store)), chain_info, clock).await?;
    let listener = tokio::net::TcpListener::bind(&config.peer.listen_address)
        .await
        .map_err(|source| NodeError::Bind {
            address: config.peer.listen_address.clone(),
            key: "peer.listenAddress",
            source,
        })?;
    tracing::info!(
        peer = %config.peer.id,
        address = %config.peer.listen_address,
        "non-validating peer started: transactions are forwarded to validators"
    );
    let stop = Arc::new(Notify::new());
    let devops = DevopsService::forwarding(Forwarder::new(network.clone()), config.chaincode.mode);
    let server = tonic::transport::Server::builder()
        .add_service(
            DevopsServer::new(devops)
                .max_decoding_message_size(super::forward::MAX_TX_BYTES)
                .max_encoding_message_size(super::forward::MAX_TX_BYTES),
        )
        .add_service(OpenchainServer::new(
            OpenchainService::new(Arc::clone(&store)).with_network(network),
        ))
        .add_service(AdminServer::new(AdminService::new(
            Arc::clone(&stop),
            root.join("peer.pid"),
        )))
        .serve_with_incoming_shutdown(crate::grpc::incoming(listener), {
            let stop = Arc::clone(&stop);
            async move { stop.notified().await }
        });
    let server = tokio::spawn(server);
    tokio::select! {
        () = shutdown => tracing::info!("shutting down"),
        () = stop.notified() => tracing::info!("stopping on request"),
    }
    stop.notify_waiters();
    if let Some(transport) = transport {
        transport.shutdown().await;
    }
    match server.await {
        Ok(Err(e)) => Err(NodeError::Server(
            config.peer.listen_address.clone(),
            e.to_string(),
        )),
        _ => Ok(()),
    }
}
