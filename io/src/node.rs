//! Wiring of one running peer: the store and genesis block, NOOPS consensus
//! and its committer, chaincode support, the main gRPC server (Devops,
//! Openchain, Admin, ChaincodeSupport) and the Events server.

use crate::chaincode::launcher::{LaunchConfig, Launcher};
use crate::chaincode::registry::Registry;
use crate::chaincode::service::ChaincodeSupportService;
use crate::config::Config;
use crate::consensus;
use crate::driver::Clock;
use crate::events::{EventsService, Hub, SendPolicy};
use crate::exec::system::SystemChaincodes;
use crate::exec::{ExecSettings, Executor};
use crate::grpc::{admin::AdminService, devops::DevopsService, openchain::OpenchainService};
use crate::shutdown::Latch;
use crate::store::Store;
use fabrik_core::chaincode::{Config as HandlerConfig, Features};
use fabrik_core::ledger::buckettree::BucketTreeConfig;
use fabrik_proto::protos::{
    admin_server::AdminServer, chaincode_support_server::ChaincodeSupportServer,
    devops_server::DevopsServer, events_server::EventsServer, openchain_server::OpenchainServer,
    peer_server::PeerServer,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use crate::consensus::Submitter;

/// Why a node failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A listener could not bind.
    #[error(
        "cannot listen on {address} ({key}): {source}; is another peerd running? change {key} or stop it"
    )]
    Bind {
        /// The address.
        address: String,
        /// The config key it came from.
        key: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The data directory could not be prepared.
    #[error("cannot use data directory {path} (peer.fileSystemPath): {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::OpenError),
    /// The genesis block could not be written.
    #[error(transparent)]
    Genesis(#[from] crate::exec::CommitError),
    /// A configuration value the node cannot use.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A server failed.
    #[error("gRPC server on {0} failed: {1}")]
    Server(String, String),
    /// The peer transport could not start.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
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

/// Runs the peer until `shutdown` resolves or Admin.StopServer is called.
///
/// # Errors
/// When a listener cannot bind or the store cannot be opened.
pub async fn run(
    mut config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    if !config.peer.validator.enabled {
        return crate::net::nvp::run(config, shutdown).await;
    }
    let auto_mode = config.chaincode.mode == crate::config::ChaincodeMode::Auto;
    config.chaincode.mode =
        crate::chaincode::docker::choose_mode(config.chaincode.mode, &config.vm.endpoint).await;
    let root = config.peer.file_system_path.clone();
    let data_dir = |source| NodeError::DataDir {
        path: root.display().to_string(),
        source,
    };
    std::fs::create_dir_all(root.join("db")).map_err(data_dir)?;
    let store = Arc::new(Store::open(&root.join("db"))?);
    let clock = Clock::new();
    let registry = Registry::new();
    let launcher = Arc::new(
        Launcher::new(
            LaunchConfig {
                mode: config.chaincode.mode,
                dir: root.join("chaincode"),
                peer_address: config.peer.address.clone(),
                startup_timeout: Duration::from_millis(config.chaincode.startup_timeout),
            },
            registry.clone(),
        )
        .with_docker(crate::chaincode::docker::DockerSettings::from_config(
            &config, auto_mode,
        ))
        .with_process_address(crate::chaincode::launcher::local_dial_address(
            &config.peer.listen_address,
        )),
    );
    launcher.prepare().await;
    let events_cfg = &config.peer.validator.events;
    let (hub, publisher) = Hub::start(
        events_cfg.buffersize,
        SendPolicy::from_timeout_ms(events_cfg.timeout),
    );
    let state = &config.ledger.state;
    let buckets = BucketTreeConfig::new(state.num_buckets, state.max_grouping_at_each_level)
        .map_err(|e| NodeError::Config(format!("ledger.state: {e}")))?;
    let metrics = crate::metrics::Metrics::new();
    let executor = Arc::new(
        Executor::new(
            Arc::clone(&store),
            Arc::clone(&launcher),
            publisher,
            ExecSettings {
                execute_timeout: Duration::from_millis(config.chaincode.execute_timeout),
                startup_timeout: Duration::from_millis(config.chaincode.startup_timeout),
                delta_history_size: state.delta_history_size,
                buckets: buckets.clone(),
            },
        )
        .with_metrics(metrics.clone())
        .with_system_chaincodes(system_chaincodes(&config.chaincode.system)),
    );
    executor.ensure_genesis()?;
    let noops = fabrik_core::noops::Config {
        block_size: config.noops.block.size,
        block_wait: Duration::from_millis(config.noops.block.wait),
        ..Default::default()
    };
    let chain_store = Arc::clone(&store);
    let chain_info: crate::net::ChainInfo = Arc::new(move || {
        fabrik_core::ledger::Ledger::new(&*chain_store)
            .blockchain_info()
            .unwrap_or_default()
    });
    let (network, receivers, transport) =
        crate::net::start_for_node(&config, Some(Arc::clone(&store)), chain_info, clock).await?;
    let submitter = if config
        .peer
        .validator
        .consensus
        .plugin
        .eq_ignore_ascii_case("pbft")
    {
        let parts = crate::pbft_node::PbftParts {
            store: Arc::clone(&store),
            executor: Arc::clone(&executor),
            network: network.clone(),
            consensus: receivers.consensus,
            sync: receivers.sync,
            buckets,
            metrics: metrics.clone(),
        };
        // Every request travels between validators in frames; a NOOPS
        // peer commits its own transactions whatever their size.
        crate::pbft_node::start(&config, parts, clock)
            .map_err(|e| NodeError::Config(e.to_string()))?
            .with_frame_limit(frame_limit(&config))
    } else {
        warn_if_noops_has_company(&config, network.clone());
        crate::pbft_node::serve_sync_only(
            &config,
            receivers.sync,
            Arc::clone(&store),
            network.clone(),
        );
        consensus::start_noops_with_network(
            noops,
            config.peer.validator.consensus.buffersize,
            Arc::clone(&executor),
            clock,
            network.clone(),
            receivers.consensus,
        )
    };

    let handler = HandlerConfig {
        keepalive: (config.chaincode.keepalive > 0)
            .then(|| Duration::from_secs(config.chaincode.keepalive)),
        features: Features {
            concurrent_transactions: true,
            unacked_writes: config.chaincode.unacked_writes,
        },
        ..Default::default()
    };
    // `stop` carries Admin.StopServer's request (a stored permit, so it is
    // not lost); `stopping` tells the servers, whenever they first look.
    let stop = Arc::new(Notify::new());
    let stopping = Arc::new(Latch::new());
    let main_listener = bind(&config.peer.listen_address, "peer.listenAddress").await?;
    let events_listener = bind(&events_cfg.address, "peer.validator.events.address").await?;
    tracing::info!(
        peer = %config.peer.id,
        address = %config.peer.listen_address,
        events = %events_cfg.address,
        mode = ?config.chaincode.mode,
        "peer started"
    );

    let readiness = readiness_probe(&config, &network, &executor, &metrics);
    report_queues(&network, &submitter, &metrics);
    let parts = crate::rest::start::Parts {
        executor: Arc::clone(&executor),
        submitter: submitter.clone(),
        store: Arc::clone(&store),
        hub: Arc::clone(&hub),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
    };
    let rest_peers = network.clone();
    let client_servers =
        crate::rest::start::start(&config, parts, Arc::new(move || rest_peers.peers())).await?;
    let main = tonic::transport::Server::builder()
        .add_service(DevopsServer::new(DevopsService::new(
            Arc::clone(&executor),
            submitter.clone(),
            config.chaincode.mode,
        )))
        .add_service(OpenchainServer::new(
            OpenchainService::new(Arc::clone(&store)).with_network(network.clone()),
        ))
        .add_service(
            PeerServer::new(crate::net::forward::PeerService::new(
                Arc::clone(&executor),
                submitter.clone(),
            ))
            .max_decoding_message_size(crate::net::forward::MAX_TX_BYTES),
        )
        .add_service(AdminServer::new(AdminService::new(
            Arc::clone(&stop),
            root.join("peer.pid"),
        )))
        .add_service(ChaincodeSupportServer::new(ChaincodeSupportService::new(
            registry, handler, clock,
        )))
        .serve_with_incoming_shutdown(
            crate::grpc::incoming(main_listener),
            stopped(Arc::clone(&stopping)),
        );
    let events = tonic::transport::Server::builder()
        .add_service(EventsServer::new(EventsService::new(hub)))
        .serve_with_incoming_shutdown(
            crate::grpc::incoming(events_listener),
            stopped(Arc::clone(&stopping)),
        );
    let main = tokio::spawn(main);
    let events = tokio::spawn(events);

    tokio::select! {
        () = shutdown => tracing::info!("shutting down"),
        () = stop.notified() => tracing::info!("stopping on request"),
    }
    stopping.trigger();
    if let Some(transport) = transport {
        transport.shutdown().await;
    }
    client_servers.stop().await;
    launcher.shutdown().await;
    let address = config.peer.listen_address.clone();
    if let Some(Ok(Err(e))) = drain_server("main gRPC", main).await {
        return Err(NodeError::Server(address, e.to_string()));
    }
    drain_server("events", events).await;
    Ok(())
}

/// How long a stopping server may wait for its open streams (a dev-mode
/// chaincode, an event listener) before they are cut.
const SERVER_DRAIN: Duration = Duration::from_secs(3);

/// Waits for a server's graceful shutdown, for at most [`SERVER_DRAIN`]:
/// tonic waits for every open stream to end, and a chaincode or event
/// client that never hangs up would keep the node from stopping.
async fn drain_server<T>(
    what: &str,
    server: tokio::task::JoinHandle<T>,
) -> Option<Result<T, tokio::task::JoinError>> {
    let abort = server.abort_handle();
    match tokio::time::timeout(SERVER_DRAIN, server).await {
        Ok(done) => Some(done),
        Err(_) => {
            tracing::warn!(
                "{what} server still had open streams after {SERVER_DRAIN:?}; closing them"
            );
            abort.abort();
            None
        }
    }
}

async fn stopped(stopping: Arc<Latch>) {
    stopping.wait().await;
}

/// Every second: the consensus inbox depth, the frames the transport
/// dropped (a peer's send queue full) or its handlers refused since the
/// last tick, and each connected peer's send queue, as Prometheus series.
fn report_queues(
    network: &crate::net::Network,
    submitter: &consensus::Submitter,
    metrics: &crate::metrics::Metrics,
) {
    let (network, submitter, metrics) = (network.clone(), submitter.clone(), metrics.clone());
    tokio::spawn(async move {
        let (mut dropped, mut refused) = (0, 0);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            metrics.set_queue_depth("consensus", submitter.queue_depth());
            let (d, r) = (network.dropped(), network.rejected());
            metrics.frames_dropped("peer-send-queue-full", d.saturating_sub(dropped));
            metrics.frames_dropped("refused-by-peer-handler", r.saturating_sub(refused));
            (dropped, refused) = (d, r);
            metrics.set_peer_send_queues(&network.send_queues());
        }
    });
}

/// `/readyz` inputs, refreshed every second: caught up (no state transfer
/// in progress) and, under PBFT, connected to at least 2f validators.
fn readiness_probe(
    config: &Config,
    network: &crate::net::Network,
    executor: &Arc<Executor>,
    metrics: &crate::metrics::Metrics,
) -> crate::ops::Readiness {
    let pbft = config
        .peer
        .validator
        .consensus
        .plugin
        .eq_ignore_ascii_case("pbft");
    let required = if pbft { 2 * config.pbft.general.f } else { 0 };
    let readiness = crate::ops::Readiness::new(required);
    let (r, network, executor, metrics) = (
        readiness.clone(),
        network.clone(),
        Arc::clone(executor),
        metrics.clone(),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            r.set_connected(network.validators().len());
            r.set_caught_up(!executor.is_state_invalid());
            metrics.set_connections(network.peers().len());
        }
    });
    readiness
}

/// What an operator is told when NOOPS runs beside other validators.
const NOOPS_WITH_VALIDATORS: &str = "consensus is NOOPS but this network has other validators: NOOPS does not agree on an order, so each validator cuts its own blocks and heights and hashes may differ between peers; set peer.validator.consensus.plugin = \"pbft\" (CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN=pbft) on every validator for one agreed chain";

/// Warns once that NOOPS gives no agreement, as soon as the configuration
/// (a root node to join) or the network (another validator connected)
/// shows this validator is not alone.
fn warn_if_noops_has_company(config: &Config, network: crate::net::Network) {
    if !config.peer.validator.enabled {
        return;
    }
    if !config.peer.discovery.rootnode.trim().is_empty() {
        tracing::warn!(rootnode = %config.peer.discovery.rootnode, "{NOOPS_WITH_VALIDATORS}");
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let validators = network.validators();
            if let Some(first) = validators.first() {
                let peer = first
                    .id
                    .as_ref()
                    .map(|id| id.name.clone())
                    .unwrap_or_default();
                tracing::warn!(%peer, "{NOOPS_WITH_VALIDATORS}");
                return;
            }
        }
    });
}

/// `peer.p2p.maxFrameSize` as the transport applies it.
pub(crate) fn frame_limit(config: &Config) -> usize {
    config.peer.p2p.max_frame_size.max(1024)
}

/// The system chaincodes `chaincode.system` enables.
fn system_chaincodes(config: &crate::config::SystemChaincodeConfig) -> SystemChaincodes {
    let mut system = SystemChaincodes::default();
    if config.bench {
        system = system.with("bench", Arc::new(fabrik_examples::BenchChaincode));
    }
    for name in system.names() {
        tracing::info!(
            chaincode = name,
            "system chaincode enabled (runs in process)"
        );
    }
    system
}
