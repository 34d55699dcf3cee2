//! PBFT in a validating peer: builds the replica from the `pbft.*` keys and
//! the persisted state, connects it to the peer transport (CONSENSUS in and
//! out), to the committer, and to catch-up (SYNC_* requests served for every
//! peer, SYNC_* replies fed to the state-transfer driver).

use crate::catchup::{self, CatchUpDriver, Outcome, ServeLimits, SyncTransport, TransportError};
use crate::config::Config;
use crate::consensus::Submitter;
use crate::driver::Clock;
use crate::exec::Executor;
use crate::holdback::Holdback;
use crate::net::{Inbound, Lane, Network};
use crate::replica::{self, CatchUp, ConsensusNet, ReplicaInbox, ReplicaParts};
use crate::store::Store;
use fabrik_core::crypto::{VerifyingKey, b64_decode};
use fabrik_core::ledger::Ledger;
use fabrik_core::pbft::{self, Input, Keys, PeerMsg, Replica, ReplicaId};
use fabrik_core::statetransfer::{self, Target};
use fabrik_proto::pbft::BatchMessage;
use fabrik_proto::protos::{self, BlockchainInfo, peer_endpoint};
use prost::Message as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Why PBFT could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start PBFT: {0}")]
pub struct PbftStartError(pub String);

/// The replica id of `vp<N>`.
///
/// # Errors
/// When `peer_id` is not `vp<N>` (v0.6: "For MVP, set the VP's peer.id to vpX").
pub fn replica_id(peer_id: &str) -> Result<ReplicaId, PbftStartError> {
    peer_id
        .strip_prefix("vp")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            PbftStartError(format!(
                "PBFT needs peer.id = vp<N> (vp0, vp1, ...), got {peer_id:?}"
            ))
        })
}

fn keys(config: &Config) -> Result<Keys, PbftStartError> {
    let k = &config.pbft.keys;
    if k.signing.is_empty() || k.verifying.is_empty() {
        return Err(PbftStartError(
            "pbft.keys.signing and pbft.keys.verifying are not set; `peerd testnet` generates a network with them".into(),
        ));
    }
    let secret = std::fs::read_to_string(&k.signing).map_err(|e| {
        PbftStartError(format!(
            "cannot read pbft.keys.signing file {}: {e}",
            k.signing
        ))
    })?;
    let secret: [u8; 32] = hex::decode(secret.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            PbftStartError(format!(
                "pbft.keys.signing file {} must hold 64 hex characters",
                k.signing
            ))
        })?;
    let mut public = Vec::new();
    for (i, hexkey) in k.verifying_keys().into_iter().enumerate() {
        let bytes: [u8; 32] = hex::decode(hexkey)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                PbftStartError(format!(
                    "pbft.keys.verifying[{i}] (vp{i}) is not 64 hex characters"
                ))
            })?;
        public.push(
            VerifyingKey::from_bytes(&bytes)
                .map_err(|e| PbftStartError(format!("pbft.keys.verifying[{i}] (vp{i}): {e}")))?,
        );
    }
    Ok(Keys::new(secret, public))
}

/// The replica configuration from the `pbft.general.*` keys.
///
/// # Errors
/// A bad peer id or missing/invalid keys.
pub fn replica_config(config: &Config) -> Result<pbft::Config, PbftStartError> {
    let g = &config.pbft.general;
    let mut c = pbft::Config::new(replica_id(&config.peer.id)?, g.n, g.f, keys(config)?);
    c.k = g.k;
    c.log_multiplier = g.logmultiplier;
    c.batch_size = g.batchsize;
    // A PRE-PREPARE carries its whole batch in one frame.
    c.max_batch_bytes = crate::consensus::max_tx_bytes(crate::node::frame_limit(config));
    c.byzantine = g.byzantine;
    c.view_change_period = g.viewchangeperiod;
    c.max_outstanding_requests = g.maxoutstanding;
    let ms = Duration::from_millis;
    c.timeout_batch = ms(g.timeout.batch);
    c.timeout_request = ms(g.timeout.request);
    c.timeout_view_change = ms(g.timeout.viewchange);
    c.timeout_resend_view_change = ms(g.timeout.resendviewchange);
    c.timeout_null_request = ms(g.timeout.nullrequest);
    c.timeout_broadcast = ms(g.timeout.broadcast);
    Ok(c)
}

/// The transport as PBFT and catch-up see it; consensus frames for
/// validators not connected yet wait in the [`Holdback`].
#[derive(Clone)]
struct Net(Network, Option<Arc<Holdback>>);

impl ConsensusNet for Net {
    fn broadcast(&self, msg: protos::Message) {
        match &self.1 {
            Some(held) => held.broadcast(&msg),
            None => {
                self.0.broadcast(&msg, peer_endpoint::Type::Validator);
            }
        }
    }

    fn broadcast_request(&self, msg: protos::Message) {
        match &self.1 {
            Some(held) => held.broadcast_in(&msg, Lane::Bulk),
            None => {
                self.0
                    .broadcast_in(&msg, peer_endpoint::Type::Validator, Lane::Bulk);
            }
        }
    }

    fn send(&self, to: ReplicaId, msg: protos::Message) {
        let to = format!("vp{to}");
        match &self.1 {
            Some(held) => held.send(&to, msg),
            None => {
                if let Err(e) = self.0.send(&to, msg) {
                    tracing::debug!("consensus message to {to} not sent: {e}");
                }
            }
        }
    }
}

impl SyncTransport for Net {
    async fn send(&self, to: &str, msg: protos::Message) -> Result<(), TransportError> {
        self.0.send(to, msg).map_err(|e| TransportError {
            peer: to.to_string(),
            reason: e.to_string(),
        })
    }
}

/// The sequence number of the transfer in progress and whom to tell.
type PendingTransfer = Arc<Mutex<Option<(u64, mpsc::Sender<Input>)>>>;

/// Catch-up as the replica asks for it: one transfer at a time; its outcome
/// goes back to the replica with the sequence number it was started for.
struct CatchUpLink {
    inbox: mpsc::Sender<statetransfer::Input>,
    pending: PendingTransfer,
}

impl CatchUp for CatchUpLink {
    fn start(&self, seq: u64, id: String, replicas: Vec<ReplicaId>, inbox: mpsc::Sender<Input>) {
        let target = b64_decode(&id)
            .ok()
            .and_then(|b| BlockchainInfo::decode(b.as_slice()).ok())
            .and_then(|info| Target::from_info(&info));
        let Some(target) = target else {
            tracing::warn!(
                seq,
                "state transfer target id does not decode; reporting failure"
            );
            let _ = inbox.try_send(Input::StateTransferFailed);
            return;
        };
        *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some((seq, inbox.clone()));
        let peers = replicas.iter().map(|r| format!("vp{r}")).collect();
        let start = statetransfer::Input::Start { target, peers };
        if self.inbox.try_send(start).is_err() {
            let _ = inbox.try_send(Input::StateTransferFailed);
        }
    }
}

fn statetransfer_config(
    config: &Config,
    executor_buckets: fabrik_core::ledger::BucketTreeConfig,
) -> statetransfer::Config {
    let st = &config.statetransfer;
    statetransfer::Config {
        blocks_per_request: st.blocksperrequest,
        max_deltas: st.maxdeltas,
        timeout_single_block: Duration::from_millis(st.timeout.singleblock),
        timeout_single_state_delta: Duration::from_millis(st.timeout.singlestatedelta),
        timeout_full_state: Duration::from_millis(st.timeout.fullstate),
        delta_history_size: config.ledger.state.delta_history_size,
        state_config: executor_buckets,
        ..statetransfer::Config::default()
    }
}

/// What this peer serves per sync request: its default bounds, raised to
/// its own `statetransfer.blocksperrequest` so a network that asks for
/// larger pages (every peer with the same setting) gets whole answers.
fn serve_limits(config: &Config) -> ServeLimits {
    let page = config.statetransfer.blocksperrequest;
    let defaults = ServeLimits::default();
    ServeLimits {
        max_blocks: defaults.max_blocks.max(page),
        max_deltas: defaults.max_deltas.max(page),
        ..defaults
    }
}

/// Serves SYNC_* requests from every peer and feeds replies to catch-up.
fn route_sync(
    mut sync: mpsc::Receiver<Inbound>,
    store: Arc<Store>,
    net: Net,
    catchup: Option<mpsc::Sender<statetransfer::Input>>,
    limits: ServeLimits,
) {
    tokio::spawn(async move {
        while let Some(Inbound { from, msg }) = sync.recv().await {
            if let Some(input) = catchup::input_from_message(&from, &msg) {
                match (input, &catchup) {
                    (Ok(input), Some(tx)) => {
                        let _ = tx.try_send(input);
                    }
                    (Err(e), _) => {
                        tracing::warn!("state transfer reply from {from} does not decode: {e}")
                    }
                    (Ok(_), None) => {}
                }
                continue;
            }
            let (store, net) = (Arc::clone(&store), net.clone());
            tokio::spawn(async move {
                if let Err(e) = catchup::answer(&*store, &net, &from, &msg, &limits).await {
                    tracing::debug!("state transfer request from {from}: {e}");
                }
            });
        }
    });
}

/// Serves state-transfer requests for a peer that does not run PBFT.
pub fn serve_sync_only(
    config: &Config,
    sync: mpsc::Receiver<Inbound>,
    store: Arc<Store>,
    network: Network,
) {
    route_sync(sync, store, Net(network, None), None, serve_limits(config));
}

/// Decodes one CONSENSUS message from peer `from` into the replica's input.
///
/// # Errors
/// [`pbft::RejectReason::UnknownReplica`] for a sender that is not a
/// validator (`vpN`), [`pbft::RejectReason::Malformed`] or
/// [`pbft::RejectReason::Unsupported`] for a payload that is not a usable
/// `BatchMessage`; the caller counts the reason's label in
/// `fabrik_consensus_rejected_messages_total`.
pub fn decode_consensus(from: &str, msg: &protos::Message) -> Result<Input, pbft::RejectReason> {
    let sender =
        replica_id(from).map_err(|_| pbft::RejectReason::UnknownReplica(ReplicaId::MAX))?;
    let batch = BatchMessage::decode(msg.payload.as_slice())
        .map_err(|e| pbft::RejectReason::Malformed(e.to_string()))?;
    let msg = PeerMsg::from_batch_message(batch)?;
    Ok(Input::Peer { from: sender, msg })
}

/// Feeds CONSENSUS messages from peers to the replica's control lane
/// ([`ReplicaInbox`]); undecodable ones, and ones a full lane cannot take,
/// are counted as consensus rejections.
fn route_consensus(
    mut consensus: mpsc::Receiver<Inbound>,
    replica: ReplicaInbox,
    metrics: crate::metrics::Metrics,
) {
    tokio::spawn(async move {
        while let Some(Inbound { from, msg }) = consensus.recv().await {
            match decode_consensus(&from, &msg) {
                Ok(input) => {
                    // The control lane has room for what correct peers
                    // send (every origin's share of requests included): a
                    // message dropped here means a peer floods us.
                    if replica.control.try_send(input).is_err() {
                        tracing::warn!("control lane full; message from {from} dropped");
                        metrics.consensus_rejected("control_lane_full", &from);
                    }
                }
                Err(reason) => {
                    tracing::warn!("CONSENSUS message from {from} refused: {reason}");
                    metrics.consensus_rejected(reason.label(), &from);
                }
            }
        }
    });
}

/// What PBFT needs from the node.
pub struct PbftParts {
    /// The store.
    pub store: Arc<Store>,
    /// The executor.
    pub executor: Arc<Executor>,
    /// The transport.
    pub network: Network,
    /// CONSENSUS messages from peers.
    pub consensus: mpsc::Receiver<Inbound>,
    /// SYNC_* messages from peers.
    pub sync: mpsc::Receiver<Inbound>,
    /// Bucket-tree shape (must match the executor's).
    pub buckets: fabrik_core::ledger::BucketTreeConfig,
    /// Where consensus series are reported.
    pub metrics: crate::metrics::Metrics,
}

/// Starts the replica, catch-up and message routing; returns the submitter.
///
/// # Errors
/// [`PbftStartError`] naming the bad key or unreadable state.
pub fn start(config: &Config, parts: PbftParts, clock: Clock) -> Result<Submitter, PbftStartError> {
    let cfg = replica_config(config)?;
    let id = cfg.id;
    let cfg_n = cfg.n as ReplicaId;
    let store = parts.store;
    let persisted = replica::load_persisted(&*store).map_err(|e| PbftStartError(e.to_string()))?;
    let last_exec = replica::last_exec(&store);
    let head = Ledger::new(&*store)
        .blockchain_info()
        .map_err(|e| PbftStartError(e.to_string()))?;
    let replica = Replica::restore(cfg, &persisted, last_exec, &head, clock.now())
        .map_err(|e| PbftStartError(e.to_string()))?;
    tracing::info!(
        replica = id,
        view = replica.view(),
        last_exec,
        "PBFT replica restored"
    );

    let others = (0..cfg_n)
        .filter(|&r| r != id)
        .map(|r| format!("vp{r}"))
        .collect();
    let holdback = Holdback::new(parts.network.clone(), others);
    holdback.spawn_flusher();
    let net = Net(parts.network, Some(holdback));
    let (st_tx, st_rx) = mpsc::channel(256);
    let (outcome_tx, mut outcomes) = mpsc::channel(4);
    let executor = Arc::clone(&parts.executor);
    let driver = CatchUpDriver::new(
        Arc::clone(&store),
        Arc::new(net.clone()),
        statetransfer_config(config, parts.buckets),
        outcome_tx,
    )
    .on_state_invalid(move |invalid| executor.set_state_invalid(invalid));
    tokio::spawn(driver.run(st_rx));
    let pending: PendingTransfer = Arc::default();
    let link = CatchUpLink {
        inbox: st_tx.clone(),
        pending: Arc::clone(&pending),
    };

    let inbox = replica::start(
        ReplicaParts {
            replica,
            store: Arc::clone(&store),
            executor: parts.executor,
            net: Arc::new(net.clone()),
            catch_up: Arc::new(link),
            buffer: config.peer.validator.consensus.buffersize,
            metrics: parts.metrics.clone(),
        },
        clock,
    );
    tokio::spawn(async move {
        while let Some(outcome) = outcomes.recv().await {
            let Some((seq, replica)) = pending.lock().unwrap_or_else(|p| p.into_inner()).take()
            else {
                continue;
            };
            let input = match outcome {
                Outcome::Done(info) => Input::StateTransferred { seq, info },
                Outcome::Failed { error, .. } => {
                    tracing::warn!(seq, "state transfer failed: {error}");
                    Input::StateTransferFailed
                }
            };
            let _ = replica.send(input).await;
        }
    });
    route_consensus(parts.consensus, inbox.clone(), parts.metrics);
    route_sync(parts.sync, store, net, Some(st_tx), serve_limits(config));
    Ok(Submitter::pbft(inbox.requests, id).with_admission(inbox.admission))
}
