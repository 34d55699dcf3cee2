//! The consensus task: drives the NOOPS machine and hands its blocks to a
//! committer task, which executes and commits them in order and reports
//! back, so transactions keep queueing while a block executes.

use crate::driver::{self, Clock, Effects};
use crate::exec::Executor;
use crate::net::{Inbound, Network};
use crate::replica::Admission;
use fabrik_core::noops::{self, Input, Noops, Output};
use fabrik_core::pbft;
use fabrik_proto::pbft as pbft_wire;
use fabrik_proto::protos::{
    Transaction, TransactionBlock, message::Type as MessageType, peer_endpoint,
};
use prost::Message as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// How clients hand transactions to consensus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Submitter {
    target: Target,
    /// `peer.p2p.maxFrameSize` when transactions travel between
    /// validators in frames (PBFT); `None` bounds nothing.
    frame_bytes: Option<usize>,
}

/// Room kept in a frame for the envelope around a transaction (the
/// Message, the PBFT request and PRE-PREPARE fields are a few hundred bytes).
fn envelope_room(frame_bytes: usize) -> usize {
    (frame_bytes / 4).min(64 << 10)
}

/// The largest transaction a frame of `frame_bytes` carries whole.
pub fn max_tx_bytes(frame_bytes: usize) -> usize {
    frame_bytes.saturating_sub(envelope_room(frame_bytes))
}

#[derive(Debug, Clone)]
enum Target {
    Noops(mpsc::Sender<Input>),
    Pbft {
        inbox: mpsc::Sender<pbft::Input>,
        replica: pbft::ReplicaId,
        last_nanos: Arc<AtomicU64>,
        admission: Option<Arc<Admission>>,
    },
}

/// Why a transaction was not handed to consensus. Nothing was accepted in
/// either case, so resubmitting is safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Consensus has no room now (gRPC RESOURCE_EXHAUSTED, REST 503 with
    /// Retry-After): retry later.
    #[error("{0}")]
    Busy(&'static str),
    /// The peer is stopping (gRPC UNAVAILABLE): try another peer.
    #[error("the peer is shutting down")]
    Stopping,
    /// The transaction cannot travel between validators in one message
    /// (gRPC INVALID_ARGUMENT): resubmitting the same one never succeeds.
    #[error(
        "transaction {txid} is {size} bytes, more than the {limit} bytes a consensus message can carry (peer.p2p.maxFrameSize is {frame} bytes); deploy a smaller package (a stripped or release build) or raise peer.p2p.maxFrameSize on every peer"
    )]
    TooLarge {
        /// The transaction.
        txid: String,
        /// Its encoded size.
        size: usize,
        /// The largest transaction accepted.
        limit: usize,
        /// `peer.p2p.maxFrameSize`.
        frame: usize,
    },
}

/// The refusal a client gets when this peer holds as many outstanding
/// requests as it may.
pub const BUSY: &str = "the network is busy: this peer has as many transactions \
     waiting to be ordered as it may (pbft max outstanding requests / N / 2); retry later";

impl Submitter {
    /// Submits into the PBFT replica whose inbox is `inbox`.
    pub fn pbft(inbox: mpsc::Sender<pbft::Input>, replica: pbft::ReplicaId) -> Self {
        let last_nanos = Arc::new(AtomicU64::new(0));
        Self {
            target: Target::Pbft {
                inbox,
                replica,
                last_nanos,
                admission: None,
            },
            frame_bytes: None,
        }
    }

    /// Refuses transactions a frame of `frame_bytes` cannot carry between
    /// validators, instead of ordering what would never reach them.
    #[must_use]
    pub fn with_frame_limit(mut self, frame_bytes: usize) -> Self {
        self.frame_bytes = Some(frame_bytes);
        self
    }

    /// Refuses new transactions at once while `admission` is full.
    #[must_use]
    pub fn with_admission(mut self, bound: Arc<Admission>) -> Self {
        if let Target::Pbft { admission, .. } = &mut self.target {
            *admission = Some(bound);
        }
        self
    }

    /// Requests waiting in the consensus inbox (bounded by
    /// `peer.validator.consensus.buffersize`).
    pub fn queue_depth(&self) -> usize {
        let depth = |max: usize, free: usize| max.saturating_sub(free);
        match &self.target {
            Target::Noops(inbox) => depth(inbox.max_capacity(), inbox.capacity()),
            Target::Pbft { inbox, .. } => depth(inbox.max_capacity(), inbox.capacity()),
        }
    }

    /// Hands `tx` to consensus without waiting.
    ///
    /// # Errors
    /// [`SubmitError::Busy`] when the consensus queue or this peer's
    /// admission bound is full, [`SubmitError::Stopping`] when the node is
    /// stopping.
    pub async fn submit(&self, tx: Transaction) -> Result<(), SubmitError> {
        if let Some(frame) = self.frame_bytes {
            let (size, limit) = (tx.encoded_len(), max_tx_bytes(frame));
            if size > limit {
                tracing::warn!(txid = %tx.txid, size, limit, "transaction too large to order; refused");
                return Err(SubmitError::TooLarge {
                    txid: tx.txid,
                    size,
                    limit,
                    frame,
                });
            }
        }
        match &self.target {
            Target::Noops(inbox) => inbox
                .try_send(Input::Submit(tx))
                .map_err(|e| full_or_closed(&e)),
            Target::Pbft {
                inbox,
                replica,
                last_nanos,
                admission,
            } => {
                let queued = inbox.max_capacity().saturating_sub(inbox.capacity());
                if admission.as_ref().is_some_and(|a| a.is_full(queued)) {
                    return Err(SubmitError::Busy(BUSY));
                }
                let request = pbft_request(&tx, *replica, last_nanos);
                inbox
                    .try_send(pbft::Input::Request(request))
                    .map_err(|e| full_or_closed(&e))
            }
        }
    }
}

fn full_or_closed<T>(e: &mpsc::error::TrySendError<T>) -> SubmitError {
    match e {
        mpsc::error::TrySendError::Full(_) => SubmitError::Busy(
            "consensus queue is full (peer.validator.consensus.buffersize); retry later",
        ),
        mpsc::error::TrySendError::Closed(_) => SubmitError::Stopping,
    }
}

/// The v0.6 request for a client transaction: `Request{timestamp, payload =
/// marshalled Transaction, replica_id}`. Replicas drop a request that is not
/// newer than the last one executed from the same replica, so timestamps
/// from this peer strictly increase even when the clock does not move.
fn pbft_request(
    tx: &Transaction,
    replica: pbft::ReplicaId,
    last_nanos: &AtomicU64,
) -> pbft_wire::Request {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let prev = last_nanos.fetch_max(wall, Ordering::AcqRel);
    let nanos = if wall > prev {
        wall
    } else {
        last_nanos.fetch_add(1, Ordering::AcqRel) + 1
    };
    let timestamp = prost_types::Timestamp {
        seconds: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos % 1_000_000_000).unwrap_or(0),
    };
    pbft_wire::Request {
        timestamp: Some(timestamp),
        payload: tx.encode_to_vec(),
        replica_id: replica,
        signature: Vec::new(),
    }
}

struct NoopsEffects {
    to_committer: mpsc::Sender<Vec<Transaction>>,
    network: Option<Network>,
}

impl Effects<Noops> for NoopsEffects {
    async fn perform(&mut self, output: Output) {
        match output {
            // v0.6 NOOPS: CONSENSUS{TransactionBlock{[tx]}} to every
            // connected validator (none for a lone validator).
            Output::Broadcast(tx) => {
                if let Some(network) = &self.network {
                    let block = TransactionBlock {
                        transactions: vec![tx],
                    };
                    let msg =
                        fabrik_core::peer::message(MessageType::Consensus, block.encode_to_vec());
                    network.broadcast(&msg, peer_endpoint::Type::Validator);
                }
            }
            Output::Execute(txs) => {
                if self.to_committer.send(txs).await.is_err() {
                    tracing::error!("committer stopped; block dropped");
                }
            }
        }
    }

    fn rejected(&mut self, reject: noops::Reject) {
        tracing::warn!("consensus refused a transaction: {reject}");
    }
}

/// Starts NOOPS consensus over `executor`; returns the submitter.
pub fn start_noops(
    config: noops::Config,
    buffer: usize,
    executor: Arc<Executor>,
    clock: Clock,
) -> Submitter {
    Submitter {
        target: Target::Noops(start_noops_inner(config, buffer, executor, clock, None)),
        frame_bytes: None,
    }
}

/// Starts NOOPS consensus connected to the peer network: local
/// transactions are broadcast to the connected validators and theirs
/// (`inbound` CONSENSUS messages carrying a `TransactionBlock`) are fed in
/// as `Input::FromPeer`.
pub fn start_noops_with_network(
    config: noops::Config,
    buffer: usize,
    executor: Arc<Executor>,
    clock: Clock,
    network: Network,
    mut inbound: mpsc::Receiver<Inbound>,
) -> Submitter {
    let tx = start_noops_inner(config, buffer, executor, clock, Some(network));
    let submitter = Submitter {
        target: Target::Noops(tx.clone()),
        frame_bytes: None,
    };
    tokio::spawn(async move {
        while let Some(Inbound { from, msg }) = inbound.recv().await {
            let block = match TransactionBlock::decode(msg.payload.as_slice()) {
                Ok(block) => block,
                Err(e) => {
                    tracing::warn!(
                        "CONSENSUS message from peer {from} is not a TransactionBlock: {e}"
                    );
                    continue;
                }
            };
            for t in block.transactions {
                if tx.try_send(Input::FromPeer(t)).is_err() {
                    tracing::warn!("consensus queue full; transaction from peer {from} dropped");
                }
            }
        }
    });
    submitter
}

fn start_noops_inner(
    config: noops::Config,
    buffer: usize,
    executor: Arc<Executor>,
    clock: Clock,
    network: Option<Network>,
) -> mpsc::Sender<Input> {
    let (in_tx, mut in_rx) = mpsc::channel(buffer.max(1));
    let (to_committer, mut blocks) = mpsc::channel::<Vec<Transaction>>(1);
    let executed = in_tx.clone();
    tokio::spawn(async move {
        while let Some(txs) = blocks.recv().await {
            match executor.execute_block(txs, None).await {
                Ok(b) => {
                    tracing::info!(block = b.number, height = b.info.height, "committed block")
                }
                Err(e) => {
                    // Nothing of this block was acknowledged; stop ordering
                    // rather than diverge from what is on disk.
                    tracing::error!("{e}; stopping consensus");
                    return;
                }
            }
            if executed.send(Input::Executed).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let mut machine = Noops::new(config);
        let mut effects = NoopsEffects {
            to_committer,
            network,
        };
        driver::run(&mut machine, &mut in_rx, &mut effects, clock).await;
    });
    in_tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(txid: &str) -> Transaction {
        Transaction {
            txid: txid.into(),
            ..Transaction::default()
        }
    }

    #[tokio::test]
    async fn a_transaction_past_the_frame_bound_is_refused_and_nothing_is_queued() {
        let (inbox, mut lane) = mpsc::channel(10);
        let submitter = Submitter::pbft(inbox, 1).with_frame_limit(2048);
        let big = Transaction {
            payload: vec![0; 2000],
            ..tx("big")
        };
        let size = big.encoded_len();
        assert_eq!(
            submitter.submit(big).await,
            Err(SubmitError::TooLarge {
                txid: "big".into(),
                size,
                limit: 1536,
                frame: 2048,
            })
        );
        assert!(lane.try_recv().is_err(), "nothing reached the replica");
        submitter.submit(tx("small")).await.unwrap();
        assert!(lane.try_recv().is_ok());
    }

    #[tokio::test]
    async fn a_full_admission_bound_refuses_at_once_and_frees_with_execution() {
        let (inbox, mut lane) = mpsc::channel(10);
        let admission = Arc::new(Admission::new(2));
        let submitter = Submitter::pbft(inbox, 1).with_admission(Arc::clone(&admission));
        submitter.submit(tx("t1")).await.unwrap();
        submitter.submit(tx("t2")).await.unwrap();
        assert_eq!(
            submitter.submit(tx("t3")).await,
            Err(SubmitError::Busy(BUSY))
        );
        // The replica took both and reports them outstanding: still full.
        lane.recv().await.unwrap();
        lane.recv().await.unwrap();
        admission.set_outstanding(2);
        assert_eq!(
            submitter.submit(tx("t3")).await,
            Err(SubmitError::Busy(BUSY))
        );
        // One executed: room for one more.
        admission.set_outstanding(1);
        submitter.submit(tx("t3")).await.unwrap();
        assert_eq!(
            submitter.submit(tx("t4")).await,
            Err(SubmitError::Busy(BUSY))
        );
        let Some(pbft::Input::Request(req)) = lane.recv().await else {
            panic!("the admitted transaction reaches the replica");
        };
        assert_eq!(
            Transaction::decode(req.payload.as_slice()).unwrap().txid,
            "t3"
        );
    }
}
