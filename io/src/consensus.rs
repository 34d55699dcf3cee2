//! The consensus task: drives the NOOPS machine and hands its blocks to a
//! committer task, which executes and commits them in order and reports
//! back, so transactions keep queueing while a block executes.

use crate::driver::{self, Clock, Effects};
use crate::exec::Executor;
use crate::net::{Inbound, Network};
use fabrik_core::noops::{self, Input, Noops, Output};
use fabrik_proto::protos::{
    Transaction, TransactionBlock, message::Type as MessageType, peer_endpoint,
};
use prost::Message as _;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How clients hand transactions to consensus. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Submitter {
    tx: mpsc::Sender<Input>,
}

impl Submitter {
    /// Hands `tx` to consensus without waiting.
    ///
    /// # Errors
    /// When the consensus queue is full (retry later) or the node is stopping.
    pub async fn submit(&self, tx: Transaction) -> Result<(), String> {
        self.tx.try_send(Input::Submit(tx)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                "consensus queue is full (peer.validator.consensus.buffersize); retry later"
                    .to_string()
            }
            mpsc::error::TrySendError::Closed(_) => "the peer is shutting down".to_string(),
        })
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
    start_noops_inner(config, buffer, executor, clock, None)
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
    let submitter = start_noops_inner(config, buffer, executor, clock, Some(network));
    let tx = submitter.tx.clone();
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
) -> Submitter {
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
    Submitter { tx: in_tx }
}
