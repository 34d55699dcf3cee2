//! The peer-to-peer transport: one quinn endpoint per peer (UDP on the host
//! and port of `peer.listenAddress`; peers dial `peer.address`, so the v0.6
//! addresses in `peer.discovery.rootnode` and `PeerEndpoint.address` name
//! both the gRPC server (TCP) and the transport (UDP)), mutual TLS against
//! the network CA, one long-lived bidirectional stream per peer pair
//! carrying length-prefixed v0.6 `Message` frames, a [`core::peer::Handler`]
//! per connection, the node-wide [`core::peer::Discovery`] machine, and the
//! connection registry.
//!
//! What other tasks use:
//! - [`Network`] (cheap to clone): [`Network::send`] to one peer by id,
//!   [`Network::broadcast`] to every connected peer of a type,
//!   [`Network::peers`] for GetPeers and `/network/peers`;
//! - [`Receivers`]: CONSENSUS and SYNC_* messages from peers, each tagged
//!   with the sender's certified id ([`Inbound`]).
//!
//! Every queue is bounded: a full per-peer send queue or a full consensus /
//! sync inbox drops the message and counts it ([`Network::dropped`]); each
//! registered peer's send queue also keeps its own depth and drop count
//! ([`Network::send_queues`], the per-peer metrics).
//!
//! [`core::peer::Handler`]: fabrik_core::peer::Handler
//! [`core::peer::Discovery`]: fabrik_core::peer::Discovery

pub mod client;
mod conn;
mod dial;
pub mod forward;
pub mod frame;
pub mod nvp;
pub mod registry;
pub mod tls;

use crate::config::Config;
use crate::driver::Clock;
use crate::metrics::PeerSendQueue;
use crate::store::Store;
use crate::sync::{AtomicU64, Ordering};
use fabrik_proto::protos::{BlockchainInfo, Message, PeerEndpoint, peer_endpoint};
use registry::Registry;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

pub use tls::TlsFiles;

/// A message from a peer, tagged with the id its certificate names.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The sender's peer id (`vp1`).
    pub from: String,
    /// The message (CONSENSUS or SYNC_*).
    pub msg: Message,
}

/// Messages from peers for the consensus and state-transfer tasks.
#[derive(Debug)]
pub struct Receivers {
    /// CONSENSUS messages (bounded by `peer.validator.consensus.buffersize`;
    /// overflow is dropped and counted).
    pub consensus: mpsc::Receiver<Inbound>,
    /// SYNC_* requests and replies.
    pub sync: mpsc::Receiver<Inbound>,
}

/// Why a message could not be queued for a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No connection to that peer is registered.
    #[error("peer {0} is not connected")]
    NotConnected(String),
    /// The peer's send queue is full; the message was dropped and counted.
    #[error("send queue of peer {0} is full (peer.p2p.sendQueueSize); message dropped")]
    QueueFull(String),
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// TLS material could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The UDP socket could not be bound.
    #[error(
        "cannot bind the peer transport (UDP) on {address} (peer.listenAddress): {source}; is another peerd using this port?"
    )]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Which of a connection's two send queues a message waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Protocol messages (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT, view
    /// changes, catch-up, discovery): always written first.
    Control,
    /// Client requests relayed to the other validators: written when the
    /// control queue is empty, so a flood of them can fill only their own
    /// queue and never makes a protocol message wait or be dropped.
    Bulk,
}

/// A registered connection's queues.
#[derive(Debug, Clone)]
pub struct PeerSender {
    tx: mpsc::Sender<Message>,
    bulk: mpsc::Sender<Message>,
    conn: quinn::Connection,
    /// Messages this connection's queues refused because they were full.
    dropped: Arc<AtomicU64>,
}

impl PeerSender {
    fn new(
        tx: mpsc::Sender<Message>,
        bulk: mpsc::Sender<Message>,
        conn: quinn::Connection,
    ) -> Self {
        Self {
            tx,
            bulk,
            conn,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues `msg` in `lane` without waiting; a full (or closed) queue
    /// drops it and counts the drop here and in the node-wide total.
    fn try_queue(&self, shared: &Shared, msg: Message, lane: Lane) -> bool {
        let queue = match lane {
            Lane::Control => &self.tx,
            Lane::Bulk => &self.bulk,
        };
        if queue.try_send(msg).is_ok() {
            return true;
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        shared.count_drop();
        false
    }

    fn stats(&self, peer: &str) -> PeerSendQueue {
        PeerSendQueue {
            peer: peer.to_string(),
            depth: (self.tx.max_capacity() - self.tx.capacity())
                + (self.bulk.max_capacity() - self.bulk.capacity()),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Transport settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct NetSettings {
    /// This peer's endpoint (id, advertised address, type).
    pub local: PeerEndpoint,
    /// `peer.tls.*` files.
    pub tls: TlsFiles,
    /// Where the UDP socket binds (`peer.listenAddress`).
    pub bind: String,
    /// `peer.discovery.rootnode`, split.
    pub rootnodes: Vec<String>,
    /// `peer.discovery.persist`.
    pub persist: bool,
    /// `peer.discovery.period`.
    pub discovery_period: Duration,
    /// `peer.discovery.touchPeriod`.
    pub touch_period: Duration,
    /// `peer.discovery.touchMaxNodes`.
    pub touch_max_nodes: usize,
    /// `peer.p2p.maxFrameSize`.
    pub max_frame: usize,
    /// `peer.p2p.sendQueueSize`.
    pub send_queue: usize,
    /// `peer.validator.consensus.buffersize`: the consensus inbox bound.
    pub consensus_buffer: usize,
    /// `peer.p2p.idleTimeout`: a silent connection is dropped after this.
    pub idle_timeout: Duration,
}

impl NetSettings {
    /// The settings in `config`, or `None` when `peer.tls.cert.file` is
    /// empty (a lone peer without a network: no transport is started).
    pub fn from_config(config: &Config) -> Option<Self> {
        let tls = &config.peer.tls;
        if tls.cert.file.as_os_str().is_empty() {
            return None;
        }
        let discovery = &config.peer.discovery;
        Some(Self {
            local: crate::rest::start::this_peer(config),
            tls: TlsFiles {
                cert: tls.cert.file.clone(),
                key: tls.key.file.clone(),
                ca: tls.rootcert.file.clone(),
            },
            bind: config.peer.listen_address.clone(),
            rootnodes: discovery
                .rootnode
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            persist: discovery.persist,
            discovery_period: Duration::from_secs(discovery.period.max(1)),
            touch_period: Duration::from_secs(discovery.touch_period.max(1)),
            touch_max_nodes: discovery.touch_max_nodes.max(1),
            max_frame: crate::node::frame_limit(config),
            send_queue: config.peer.p2p.send_queue_size.max(1),
            consensus_buffer: config.peer.validator.consensus.buffersize.max(1),
            idle_timeout: Duration::from_millis(config.peer.p2p.idle_timeout.max(1000)),
        })
    }
}

/// Performs the outputs a machine queued in its constructor (the driver
/// only drains after an input or a timeout).
pub(crate) async fn drain_initial<M, E>(machine: &mut M, effects: &mut E)
where
    M: fabrik_core::machine::Machine,
    E: crate::driver::Effects<M>,
{
    while let Some(output) = machine.poll_output() {
        effects.perform(output).await;
    }
}

/// Reads the current chain head for HELLO messages.
pub type ChainInfo = Arc<dyn Fn() -> BlockchainInfo + Send + Sync>;

/// State shared by the transport's tasks.
pub(crate) struct Shared {
    settings: NetSettings,
    registry: Registry<PeerSender>,
    next_conn: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    consensus_tx: mpsc::Sender<Inbound>,
    sync_tx: mpsc::Sender<Inbound>,
    discovery_tx: mpsc::Sender<fabrik_core::peer::DiscoveryInput>,
    chain_info: ChainInfo,
    clock: Clock,
}

impl Shared {
    fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The handle other tasks use to reach peers. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("local", &self.shared.settings.local)
            .field("peers", &self.shared.registry.len())
            .finish()
    }
}

fn is_kind(endpoint: &PeerEndpoint, kind: peer_endpoint::Type) -> bool {
    kind == peer_endpoint::Type::Undefined || endpoint.r#type == kind as i32
}

impl Network {
    /// This peer's endpoint.
    pub fn local(&self) -> &PeerEndpoint {
        &self.shared.settings.local
    }

    /// The connected (registered) peers, without this one, in id order.
    pub fn peers(&self) -> Vec<PeerEndpoint> {
        self.shared.registry.endpoints()
    }

    /// The connected validating peers.
    pub fn validators(&self) -> Vec<PeerEndpoint> {
        let mut list = self.peers();
        list.retain(|p| is_kind(p, peer_endpoint::Type::Validator));
        list
    }

    /// Queues `msg` for peer `to` without waiting (v0.6 Unicast).
    ///
    /// # Errors
    /// [`SendError`] when `to` is not connected or its queue is full.
    pub fn send(&self, to: &str, msg: Message) -> Result<(), SendError> {
        let sender = self
            .shared
            .registry
            .sender(to)
            .ok_or_else(|| SendError::NotConnected(to.to_string()))?;
        if sender.try_queue(&self.shared, msg, Lane::Control) {
            Ok(())
        } else {
            Err(SendError::QueueFull(to.to_string()))
        }
    }

    /// Queues `msg` for every connected peer of `kind` (`Undefined` = all,
    /// v0.6 Broadcast); returns how many queued it. Full queues drop and count.
    pub fn broadcast(&self, msg: &Message, kind: peer_endpoint::Type) -> usize {
        self.broadcast_in(msg, kind, Lane::Control)
    }

    /// [`Network::broadcast`] in the given send lane.
    pub fn broadcast_in(&self, msg: &Message, kind: peer_endpoint::Type, lane: Lane) -> usize {
        let targets = self.shared.registry.senders(|e| is_kind(e, kind));
        let mut queued = 0;
        for (id, sender) in targets {
            if sender.try_queue(&self.shared, msg.clone(), lane) {
                queued += 1;
            } else {
                tracing::debug!(peer = %id, "send queue full; broadcast message dropped");
            }
        }
        queued
    }

    /// Counts a message dropped on its way to a peer by a layer above the
    /// transport (it shows in [`Network::dropped`]).
    pub fn count_drop(&self) {
        self.shared.count_drop();
    }

    /// Messages dropped so far because a queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The send queue of every registered peer, in id order: its depth now
    /// and the messages it dropped because it was full. Only peers with a
    /// registered connection (certified by the network CA) are listed, so
    /// the list is bounded by the network's membership; a peer that
    /// disconnects leaves it, and a reconnect starts a fresh count.
    pub fn send_queues(&self) -> Vec<PeerSendQueue> {
        self.shared
            .registry
            .senders(|_| true)
            .iter()
            .map(|(id, sender)| sender.stats(id))
            .collect()
    }

    /// Peer messages the handlers refused so far.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// A network with no transport (a lone peer): no peers, sends fail.
    pub fn offline(local: PeerEndpoint) -> (Self, Receivers) {
        let settings = NetSettings {
            local,
            tls: TlsFiles {
                cert: Default::default(),
                key: Default::default(),
                ca: Default::default(),
            },
            bind: String::new(),
            rootnodes: Vec::new(),
            persist: false,
            discovery_period: Duration::from_secs(5),
            touch_period: Duration::from_secs(6),
            touch_max_nodes: 1,
            max_frame: frame::DEFAULT_MAX_FRAME,
            send_queue: 1,
            consensus_buffer: 1,
            idle_timeout: Duration::from_secs(10),
        };
        let (shared, receivers, _) =
            Shared::new(settings, Arc::new(BlockchainInfo::default), Clock::new());
        (Self { shared }, receivers)
    }
}

impl Shared {
    fn new(
        settings: NetSettings,
        chain_info: ChainInfo,
        clock: Clock,
    ) -> (
        Arc<Self>,
        Receivers,
        mpsc::Receiver<fabrik_core::peer::DiscoveryInput>,
    ) {
        let (consensus_tx, consensus) = mpsc::channel(settings.consensus_buffer);
        let (sync_tx, sync) = mpsc::channel(settings.consensus_buffer);
        let (discovery_tx, discovery_rx) = mpsc::channel(1024);
        let own_id = settings
            .local
            .id
            .as_ref()
            .map(|i| i.name.clone())
            .unwrap_or_default();
        let shared = Arc::new(Self {
            settings,
            registry: Registry::new(own_id),
            next_conn: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            consensus_tx,
            sync_tx,
            discovery_tx,
            chain_info,
            clock,
        });
        (shared, Receivers { consensus, sync }, discovery_rx)
    }
}

/// The running transport; [`Transport::shutdown`] closes every connection.
#[derive(Debug)]
pub struct Transport {
    endpoint: quinn::Endpoint,
}

impl Transport {
    /// Closes every connection (peers see "peer shutting down") and waits
    /// briefly for the close to be sent.
    pub async fn shutdown(self) {
        self.endpoint.close(0u32.into(), b"peer shutting down");
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

fn resolve(address: &str) -> std::io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{address} resolves to no address")))
}

/// Starts the transport: binds the endpoint, accepts connections, and runs
/// discovery (root nodes, the persisted list in `store`, the touch service).
///
/// # Errors
/// [`NetError`] when the TLS files cannot be used or the port cannot be bound.
pub async fn start(
    settings: NetSettings,
    store: Option<Arc<Store>>,
    chain_info: ChainInfo,
    clock: Clock,
) -> Result<(Network, Receivers, Transport), NetError> {
    let setup = tls::setup(&settings.tls, settings.idle_timeout)?;
    let own_id = settings.local.id.as_ref().map_or("", |i| i.name.as_str());
    if setup.own_id != own_id {
        tracing::warn!(
            "this node's certificate ({}) names peer \"{}\" but peer.id is \"{own_id}\"; other peers will refuse our HELLO",
            settings.tls.cert.display(),
            setup.own_id
        );
    }
    let bind_err = |source| NetError::Bind {
        address: settings.bind.clone(),
        source,
    };
    let bind = resolve(&settings.bind).map_err(bind_err)?;
    let mut endpoint = quinn::Endpoint::server(setup.server, bind).map_err(bind_err)?;
    endpoint.set_default_client_config(setup.client);
    let (shared, receivers, discovery_rx) = Shared::new(settings, chain_info, clock);
    tokio::spawn(conn::accept_loop(Arc::clone(&shared), endpoint.clone()));
    dial::start_discovery(Arc::clone(&shared), endpoint.clone(), store, discovery_rx);
    tracing::info!(
        address = %bind,
        id = %shared.settings.local.id.as_ref().map_or("", |i| i.name.as_str()),
        "peer transport listening (QUIC, mutual TLS)"
    );
    Ok((Network { shared }, receivers, Transport { endpoint }))
}

/// Starts the transport of a node from its configuration, or an offline
/// network when `peer.tls.cert.file` is empty (a lone peer).
///
/// # Errors
/// [`NetError`] when the TLS files cannot be used or the port cannot be bound.
pub async fn start_for_node(
    config: &Config,
    store: Option<Arc<Store>>,
    chain_info: ChainInfo,
    clock: Clock,
) -> Result<(Network, Receivers, Option<Transport>), NetError> {
    match NetSettings::from_config(config) {
        Some(settings) => {
            let (network, receivers, transport) = start(settings, store, chain_info, clock).await?;
            Ok((network, receivers, Some(transport)))
        }
        None => {
            tracing::info!(
                "no peer.tls.cert.file: running without the peer transport (a lone peer); `peerd testnet` makes a network's certificates"
            );
            let (network, receivers) = Network::offline(crate::rest::start::this_peer(config));
            Ok((network, receivers, None))
        }
    }
}
