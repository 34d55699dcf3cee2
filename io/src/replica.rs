//! Drives the PBFT [`Replica`] inside a validating peer:
//!
//! ```text
//!  Devops/REST ─Submitter─► Request ─┐
//!  transport (CONSENSUS) ──► Peer ───┼─► Replica ─► Persist ─► store (fsync, then go on)
//!  committer ──► Executed ───────────┤           ├► Broadcast/Send ─► transport
//!  catch-up ──► StateTransferred ────┘           ├► Execute ─► committer (one block per seq)
//!                                                └► StateTransfer ─► catch-up
//! ```
//!
//! The consensus state lives in the Persist partition under v0.6's
//! `consensus.*` keys; on start the replica is rebuilt from it and from the
//! head block's `Metadata{seqNo}`.

use crate::driver::{self, Clock, Effects};
use crate::exec::Executor;
use crate::metrics::Metrics;
use crate::store::Store;
use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::kv::{KvRead, Partition, StoreError, WriteBatch};
use fabrik_core::pbft::{
    self, Input, Output, PeerMsg, PersistOp, PersistedState, Replica, ReplicaId,
};
use fabrik_proto::pbft::{self as pbft_wire, Metadata, PQset, RequestBatch};
use fabrik_proto::protos::{self, Transaction, message};
use prost::Message as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Key prefix of the consensus state in the Persist partition (v0.6).
pub const PREFIX: &str = "consensus.";

/// How the replica reaches the other replicas (implemented by the transport).
pub trait ConsensusNet: Send + Sync + 'static {
    /// Sends `msg` to every connected validator.
    fn broadcast(&self, msg: protos::Message);
    /// Sends a relayed client request to every connected validator, behind
    /// the protocol messages (a full queue drops the request, never a
    /// protocol message).
    fn broadcast_request(&self, msg: protos::Message) {
        self.broadcast(msg);
    }
    /// Sends `msg` to validator `vp<to>`; dropped (and counted) when the
    /// peer is not connected or its queue is full.
    fn send(&self, to: ReplicaId, msg: protos::Message);
}

/// How the replica asks for a state transfer (implemented by catch-up).
pub trait CatchUp: Send + Sync + 'static {
    /// Brings the ledger to checkpoint `seq` with id `id` (base64 of the
    /// marshalled BlockchainInfo) from `replicas`; feeds the outcome to
    /// `inbox` as `StateTransferred` or `StateTransferFailed`.
    fn start(&self, seq: u64, id: String, replicas: Vec<ReplicaId>, inbox: mpsc::Sender<Input>);
}

/// Wraps a consensus message in the v0.6 peer envelope.
pub fn envelope(msg: &PeerMsg) -> protos::Message {
    protos::Message {
        r#type: message::Type::Consensus as i32,
        payload: msg.to_batch_message().encode_to_vec(),
        ..Default::default()
    }
}

fn key(suffix: &str) -> Vec<u8> {
    format!("{PREFIX}{suffix}").into_bytes()
}

/// The writes for one persist output.
pub fn persist_writes(op: &PersistOp) -> WriteBatch {
    let mut b = WriteBatch::new();
    match op {
        PersistOp::PSet(s) => b.put(Partition::Persist, key("pset"), s.encode_to_vec()),
        PersistOp::QSet(s) => b.put(Partition::Persist, key("qset"), s.encode_to_vec()),
        PersistOp::StoreBatch { digest, batch } => b.put(
            Partition::Persist,
            key(&format!("reqBatch.{digest}")),
            batch.encode_to_vec(),
        ),
        PersistOp::DeleteBatch { digest } => {
            b.delete(Partition::Persist, key(&format!("reqBatch.{digest}")))
        }
        PersistOp::DeleteAllBatches => {} // expanded by the caller, which can read the store
        PersistOp::Checkpoint { seq, info } => b.put(
            Partition::Persist,
            key(&format!("chkpt.{seq}")),
            info.clone(),
        ),
        PersistOp::DeleteCheckpoint { seq } => {
            b.delete(Partition::Persist, key(&format!("chkpt.{seq}")))
        }
        PersistOp::ViewChange(vc) => {
            b.put(Partition::Persist, key("viewchange"), vc.encode_to_vec())
        }
        PersistOp::NewView(nv) => b.put(Partition::Persist, key("newview"), nv.encode_to_vec()),
    }
    b
}

fn all_batch_deletes(store: &dyn KvRead) -> Result<WriteBatch, StoreError> {
    let start = key("reqBatch.");
    let end = key("reqBatch/"); // '/' sorts right after '.'
    let mut b = WriteBatch::new();
    for (k, _) in store.range(Partition::Persist, &start, &end, usize::MAX)? {
        b.delete(Partition::Persist, k);
    }
    Ok(b)
}

/// Why the persisted consensus state cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read consensus state key {key} from the store: {reason}; move the data directory away and resync from peers"
)]
pub struct RestoreError {
    key: String,
    reason: String,
}

/// Reads everything the replica persisted.
///
/// # Errors
/// [`RestoreError`] naming the key that is unreadable or does not decode.
pub fn load_persisted(store: &dyn KvRead) -> Result<PersistedState, RestoreError> {
    let mut state = PersistedState::default();
    let rows = store
        .range(
            Partition::Persist,
            PREFIX.as_bytes(),
            b"consensus/",
            usize::MAX,
        )
        .map_err(|e| RestoreError {
            key: PREFIX.into(),
            reason: e.to_string(),
        })?;
    for (k, v) in rows {
        let name = String::from_utf8_lossy(&k).into_owned();
        let suffix = name.strip_prefix(PREFIX).unwrap_or_default().to_string();
        let bad = |e: prost::DecodeError| RestoreError {
            key: name.clone(),
            reason: e.to_string(),
        };
        match suffix.as_str() {
            "pset" => state.pset = PQset::decode(v.as_slice()).map_err(bad)?.set,
            "qset" => state.qset = PQset::decode(v.as_slice()).map_err(bad)?.set,
            "viewchange" => {
                state.view_change =
                    Some(fabrik_proto::pbft::ViewChange::decode(v.as_slice()).map_err(bad)?)
            }
            "newview" => {
                state.new_view =
                    Some(fabrik_proto::pbft::NewView::decode(v.as_slice()).map_err(bad)?)
            }
            s if s.starts_with("reqBatch.") => {
                let digest = s.trim_start_matches("reqBatch.").to_string();
                state
                    .batches
                    .insert(digest, RequestBatch::decode(v.as_slice()).map_err(bad)?);
            }
            s if s.starts_with("chkpt.") => {
                let seq =
                    s.trim_start_matches("chkpt.")
                        .parse::<u64>()
                        .map_err(|e| RestoreError {
                            key: name.clone(),
                            reason: e.to_string(),
                        })?;
                state.checkpoints.insert(seq, v);
            }
            _ => tracing::warn!(key = %name, "ignoring unknown consensus key"),
        }
    }
    Ok(state)
}

/// The sequence number of the head block (`Metadata{seqNo}`; 0 for genesis
/// or a block without metadata).
pub fn last_exec(store: &Store) -> u64 {
    let ledger = Ledger::new(store);
    let Ok(height) = ledger.height() else {
        return 0;
    };
    let Some(head) = height.checked_sub(1).and_then(|n| ledger.block(n).ok()) else {
        return 0;
    };
    Metadata::decode(head.consensus_metadata.as_slice())
        .map(|m| m.seq_no)
        .unwrap_or(0)
}

struct ReplicaEffects {
    store: Arc<Store>,
    executor: Arc<Executor>,
    net: Arc<dyn ConsensusNet>,
    catch_up: Arc<dyn CatchUp>,
    to_committer: mpsc::Sender<(u64, RequestBatch)>,
    inbox: mpsc::Sender<Input>,
    /// Persist outputs not yet written: consecutive ones share one fsync,
    /// written before any other output is performed.
    pending: WriteBatch,
    halted: bool,
    metrics: Metrics,
    admission: Arc<Admission>,
}

impl ReplicaEffects {
    fn persist(&mut self, op: &PersistOp) {
        match op {
            PersistOp::DeleteAllBatches => {
                // Deletes what is stored, so earlier pending writes go first.
                self.flush();
                match all_batch_deletes(&*self.store) {
                    Ok(b) => self.pending.extend(b),
                    Err(e) => self.fail(&e),
                }
            }
            other => self.pending.extend(persist_writes(other)),
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let writes = std::mem::take(&mut self.pending);
        let store = Arc::clone(&self.store);
        if let Err(e) = tokio::task::block_in_place(|| store.apply(&writes)) {
            self.fail(&e);
        }
    }

    /// A client request this peer accepted will never be ordered: its
    /// transaction goes out as a rejection event, so a client watching the
    /// event stream learns it must resubmit.
    async fn report_refused(&self, request: &pbft_wire::Request, reason: &pbft::RejectReason) {
        let tx = match Transaction::decode(request.payload.as_slice()) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::warn!("refused request carries no transaction ({e}); nothing to report");
                return;
            }
        };
        tracing::info!(txid = %tx.txid, "transaction refused by consensus: {reason}; retry later");
        let text = format!("the network is busy ({reason}); retry later");
        self.executor.publish_rejection(tx, text).await;
    }

    fn fail(&mut self, e: &StoreError) {
        // Going on would send messages that depend on state not on disk.
        tracing::error!("cannot persist consensus state: {e}; stopping consensus");
        self.halted = true;
    }
}

impl Effects<Replica> for ReplicaEffects {
    async fn perform(&mut self, output: Output) {
        if let Output::Persist(op) = &output {
            self.persist(op);
            return;
        }
        self.flush();
        if self.halted {
            return;
        }
        match output {
            Output::Persist(_) => {}
            Output::Broadcast(msg @ PeerMsg::Request(_)) => {
                self.net.broadcast_request(envelope(&msg));
            }
            Output::Broadcast(msg) => self.net.broadcast(envelope(&msg)),
            Output::Send { to, msg } => self.net.send(to, envelope(&msg)),
            Output::Execute { seq, batch } => {
                if self.to_committer.send((seq, batch)).await.is_err() {
                    self.halted = true;
                }
            }
            Output::Committed { seq, digest } => tracing::debug!(seq, digest, "committed"),
            Output::RequestRefused { request, reason } => {
                self.report_refused(&request, &reason).await;
            }
            Output::StateInvalid => self.executor.set_state_invalid(true),
            Output::StateValid => self.executor.set_state_invalid(false),
            Output::StateTransfer { seq, id, replicas } => {
                tracing::info!(seq, "behind the network: starting state transfer");
                self.catch_up.start(seq, id, replicas, self.inbox.clone());
            }
            Output::ViewChanged { view, primary } => {
                tracing::info!(view, primary, "new view");
                self.metrics.consensus_view_change();
            }
            Output::Misbehavior { from, reason } => {
                tracing::warn!(peer = from, "misbehaving replica: {reason}")
            }
            Output::Alarm(alarm) => tracing::error!("consensus alarm: {alarm:?}"),
        }
    }

    async fn drained(&mut self) {
        self.flush();
    }

    fn rejected(&mut self, reject: pbft::Reject) {
        tracing::debug!("consensus message rejected: {reject}");
        let sender = reject
            .from
            .map_or_else(|| "local".to_string(), |r| format!("vp{r}"));
        self.metrics
            .consensus_rejected(reject.reason.label(), &sender);
    }

    fn observe(&mut self, replica: &Replica) {
        self.admission
            .set_outstanding(replica.own_outstanding_requests());
        self.metrics.consensus_state(
            replica.view(),
            replica.last_exec(),
            replica.low_watermark(),
            replica.primary(),
        );
    }

    fn should_stop(&self) -> bool {
        self.halted
    }
}

/// The transactions of an agreed batch that are not yet on the ledger (a
/// request may be re-ordered after a view change). Only the very same
/// transaction counts as already there: a dev-mode chaincode deployed again
/// reuses its txid (its name), as v0.6 allows, with a new timestamp.
fn new_transactions<S: KvRead + ?Sized>(store: &S, batch: &RequestBatch) -> Vec<Transaction> {
    let ledger = Ledger::new(store);
    batch
        .batch
        .iter()
        .filter_map(|req| match Transaction::decode(req.payload.as_slice()) {
            Ok(tx) => Some(tx),
            Err(e) => {
                tracing::warn!(
                    replica = req.replica_id,
                    "request payload is not a transaction: {e}"
                );
                None
            }
        })
        .filter(|tx| ledger.transaction(&tx.txid).map_or(true, |old| old != *tx))
        .collect()
}

/// Everything the replica task needs.
pub struct ReplicaParts {
    /// The replica, restored or fresh.
    pub replica: Replica,
    /// The store.
    pub store: Arc<Store>,
    /// The executor.
    pub executor: Arc<Executor>,
    /// The transport.
    pub net: Arc<dyn ConsensusNet>,
    /// Catch-up.
    pub catch_up: Arc<dyn CatchUp>,
    /// Bound of the replica's request lane
    /// (`peer.validator.consensus.buffersize`).
    pub buffer: usize,
    /// Where consensus series are reported.
    pub metrics: Metrics,
}

/// Smallest bound of the control lane. A correct replica's protocol traffic
/// is bounded by the watermark window (a few messages per replica and
/// sequence number), far below this; only a flooding peer fills it.
pub const CONTROL_LANE_MIN: usize = 8192;

/// The two inboxes of the replica task. Client requests submitted at this
/// peer go to the request lane, bounded by
/// `peer.validator.consensus.buffersize`; everything else (PRE-PREPARE,
/// PREPARE, COMMIT, CHECKPOINT, view changes, executions, state-transfer
/// outcomes, and requests other replicas relay, which they already
/// accepted) to the control lane, which the replica always reads first. So
/// a flood of new requests is refused at this peer and can never push out
/// the messages that order what the network already accepted.
#[derive(Debug, Clone)]
pub struct ReplicaInbox {
    /// Protocol messages, relayed requests and local events.
    pub control: mpsc::Sender<Input>,
    /// Client requests submitted here.
    pub requests: mpsc::Sender<Input>,
    /// This peer's admission bound and how much of it is taken.
    pub admission: Arc<Admission>,
}

/// How many client requests this peer may have outstanding
/// ([`pbft::Config::local_admission_limit`]) and how many it has, as the
/// replica reported after its last step: clients beyond it are refused at
/// once with "busy, retry" instead of being accepted and then refused.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    outstanding: AtomicUsize,
}

impl Admission {
    /// A bound of `limit` outstanding requests, none taken.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            outstanding: AtomicUsize::new(0),
        }
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether `queued` more requests (waiting in the request lane) on top
    /// of the outstanding ones reach the bound.
    pub fn is_full(&self, queued: usize) -> bool {
        self.outstanding
            .load(Ordering::Relaxed)
            .saturating_add(queued)
            >= self.limit
    }

    pub(crate) fn set_outstanding(&self, n: usize) {
        self.outstanding.store(n, Ordering::Relaxed);
    }
}

/// Starts the replica and its committer; returns the replica's inboxes
/// (transport and clients feed them).
pub fn start(parts: ReplicaParts, clock: Clock) -> ReplicaInbox {
    let cfg = parts.replica.config();
    // Relayed requests ride the control lane: room for every origin's share.
    let control_bound = CONTROL_LANE_MIN.saturating_add(cfg.max_outstanding_requests);
    let admission = Arc::new(Admission::new(cfg.local_admission_limit()));
    let (in_tx, mut in_rx) = mpsc::channel(control_bound.max(parts.buffer));
    let (requests_tx, mut requests_rx) = mpsc::channel(parts.buffer.max(1));
    let (to_committer, mut batches) = mpsc::channel::<(u64, RequestBatch)>(1);
    let executed = in_tx.clone();
    let executor = Arc::clone(&parts.executor);
    let store = Arc::clone(&parts.store);
    tokio::spawn(async move {
        while let Some((seq, batch)) = batches.recv().await {
            let txs = new_transactions(&*store, &batch);
            let metadata = Metadata { seq_no: seq }.encode_to_vec();
            match executor.execute_block(txs, Some(metadata)).await {
                Ok(b) => {
                    tracing::info!(seq, block = b.number, "committed block");
                    if executed
                        .send(Input::Executed { seq, info: b.info })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!("{e}; stopping consensus");
                    return;
                }
            }
        }
    });
    let mut effects = ReplicaEffects {
        store: parts.store,
        executor: parts.executor,
        net: parts.net,
        catch_up: parts.catch_up,
        to_committer,
        inbox: in_tx.clone(),
        pending: WriteBatch::new(),
        halted: false,
        metrics: parts.metrics,
        admission: Arc::clone(&admission),
    };
    let mut replica = parts.replica;
    tokio::spawn(async move {
        driver::run_lanes(
            &mut replica,
            &mut in_rx,
            Some(&mut requests_rx),
            &mut effects,
            clock,
        )
        .await;
        tracing::error!("consensus stopped");
    });
    ReplicaInbox {
        control: in_tx,
        requests: requests_tx,
        admission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_core::ledger::kv::MemKv;
    use fabrik_proto::pbft::view_change::Pq;

    #[test]
    fn persisted_state_round_trips_through_the_v06_keys() {
        let mut kv = MemKv::new();
        let ops = [
            PersistOp::PSet(PQset {
                set: vec![Pq {
                    sequence_number: 3,
                    batch_digest: "d".into(),
                    view: 1,
                }],
            }),
            PersistOp::QSet(PQset { set: vec![] }),
            PersistOp::StoreBatch {
                digest: "d".into(),
                batch: RequestBatch::default(),
            },
            PersistOp::StoreBatch {
                digest: "e".into(),
                batch: RequestBatch::default(),
            },
            PersistOp::Checkpoint {
                seq: 10,
                info: vec![1, 2],
            },
            PersistOp::DeleteBatch { digest: "e".into() },
        ];
        let mut expected = PersistedState::default();
        for op in &ops {
            kv.apply(&persist_writes(op));
            expected.apply(op);
        }
        assert_eq!(load_persisted(&kv).unwrap(), expected);
        assert!(
            kv.get(Partition::Persist, b"consensus.chkpt.10")
                .unwrap()
                .is_some(),
            "v0.6 key name"
        );
        kv.apply(&all_batch_deletes(&kv).unwrap());
        expected.apply(&PersistOp::DeleteAllBatches);
        assert_eq!(load_persisted(&kv).unwrap(), expected);
    }

    fn deploy(txid: &str, seconds: i64) -> Transaction {
        Transaction {
            r#type: 1,
            txid: txid.into(),
            timestamp: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            ..Transaction::default()
        }
    }

    fn batch_of(txs: &[Transaction]) -> RequestBatch {
        RequestBatch {
            batch: txs
                .iter()
                .map(|tx| pbft_wire::Request {
                    payload: tx.encode_to_vec(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn only_the_very_same_transaction_counts_as_already_on_the_ledger() {
        let mut kv = MemKv::new();
        let state = fabrik_core::ledger::BucketTreeConfig::default();
        for block in [vec![], vec![deploy("mycc", 1)]] {
            let mut params = fabrik_core::ledger::batch::CommitParams::empty(
                prost_types::Timestamp::default(),
                &state,
            );
            params.transactions = block;
            let c = fabrik_core::ledger::batch::TxBatch::new()
                .commit(&kv, params)
                .unwrap();
            kv.apply(&c.writes);
        }
        // Re-ordered after a view change: the same bytes. Deployed again in
        // dev mode: the same txid with a new timestamp.
        let reordered = deploy("mycc", 1);
        let redeployed = deploy("mycc", 2);
        let fresh = deploy("other", 1);
        let kept = new_transactions(
            &kv,
            &batch_of(&[reordered, redeployed.clone(), fresh.clone()]),
        );
        assert_eq!(kept, vec![redeployed, fresh]);
    }

    #[test]
    fn an_undecodable_entry_names_its_key() {
        let mut kv = MemKv::new();
        let mut b = WriteBatch::new();
        b.put(
            Partition::Persist,
            b"consensus.pset".to_vec(),
            vec![0xff, 0xff],
        );
        kv.apply(&b);
        let err = load_persisted(&kv).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read consensus state key consensus.pset"),
            "{err}"
        );
    }
}
