//! Transactions between peers over gRPC `protos.Peer` (reference §3.3):
//!
//! - [`PeerService`] runs on validators: `ProcessTransaction` hands deploys
//!   and invokes to consensus and runs queries at once; `Chat` is not used
//!   (peers talk over the QUIC transport) and answers Unimplemented.
//! - [`Forwarder`] runs on non-validating peers: it sends the whole
//!   transaction to a connected validator, trying the next one when a
//!   validator cannot be reached or refuses it.
//!
//! The Devops service of a non-validating peer is
//! `grpc::devops::DevopsService::forwarding`.

use super::Network;
use crate::exec::Executor;
use crate::node::Submitter;
use fabrik_proto::protos::{
    Message, Response, Transaction, peer_client::PeerClient, peer_server::Peer,
    response::StatusCode, transaction,
};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Status};

/// Largest transaction accepted or forwarded (deploys carry code packages).
pub const MAX_TX_BYTES: usize = 64 << 20;
/// How long one validator gets to answer a forwarded transaction.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

fn response(status: StatusCode, msg: impl Into<Vec<u8>>) -> Response {
    Response {
        status: status as i32,
        msg: msg.into(),
    }
}

/// `protos.Peer` on a validating peer.
#[derive(Debug, Clone)]
pub struct PeerService {
    executor: Arc<Executor>,
    submitter: Submitter,
}

impl PeerService {
    /// A service submitting through `submitter` and querying through `executor`.
    pub fn new(executor: Arc<Executor>, submitter: Submitter) -> Self {
        Self {
            executor,
            submitter,
        }
    }

    /// Runs `tx` as if a local client had sent it.
    pub async fn process(&self, tx: Transaction) -> Response {
        match transaction::Type::try_from(tx.r#type) {
            Ok(transaction::Type::ChaincodeDeploy | transaction::Type::ChaincodeInvoke) => {
                let txid = tx.txid.clone();
                match self.submitter.submit(tx).await {
                    Ok(()) => response(StatusCode::Success, txid),
                    Err(e) => response(StatusCode::Failure, e.to_string()),
                }
            }
            Ok(transaction::Type::ChaincodeQuery) => match self.executor.query(&tx).await {
                Ok(result) => response(StatusCode::Success, result),
                Err(e) => response(StatusCode::Failure, crate::exec::response_error_text(&e)),
            },
            _ => response(
                StatusCode::Failure,
                format!(
                    "transaction {} has type {} which this peer does not process",
                    tx.txid, tx.r#type
                ),
            ),
        }
    }
}

type ChatStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Message, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Peer for PeerService {
    type ChatStream = ChatStream;

    async fn chat(
        &self,
        _: Request<tonic::Streaming<Message>>,
    ) -> Result<tonic::Response<ChatStream>, Status> {
        Err(Status::unimplemented(
            "peers talk over the QUIC transport (peer.tls.*), not Peer.Chat",
        ))
    }

    async fn process_transaction(
        &self,
        request: Request<Transaction>,
    ) -> Result<tonic::Response<Response>, Status> {
        let tx = request.into_inner();
        tracing::info!(txid = %tx.txid, kind = tx.r#type, "transaction forwarded by a peer");
        Ok(tonic::Response::new(self.process(tx).await))
    }
}

/// Sends transactions to connected validators (non-validating peers).
#[derive(Debug, Clone)]
pub struct Forwarder {
    network: Network,
}

impl Forwarder {
    /// A forwarder over the connected validators of `network`.
    pub fn new(network: Network) -> Self {
        Self { network }
    }

    /// Forwards `tx` to a validator, trying each connected one in turn
    /// (starting at a random one) until one answers. A query's FAILURE is
    /// an answer; a refused deploy or invoke moves on to the next validator.
    ///
    /// # Errors
    /// When no validator is connected or none accepted the transaction.
    pub async fn forward(&self, tx: Transaction) -> Result<Response, String> {
        let mut validators = self.network.validators();
        if validators.is_empty() {
            return Err("no validating peer is connected; check peer.discovery.rootnode and that the validators are running".into());
        }
        let start = rand::random::<u32>() as usize % validators.len();
        validators.rotate_left(start);
        let is_query = tx.r#type == transaction::Type::ChaincodeQuery as i32;
        let mut failures = Vec::new();
        for validator in validators {
            let name = validator
                .id
                .as_ref()
                .map_or("", |i| i.name.as_str())
                .to_string();
            match send(&validator.address, tx.clone()).await {
                Ok(r) if is_query || r.status == StatusCode::Success as i32 => {
                    tracing::info!(txid = %tx.txid, validator = %name, "transaction forwarded");
                    return Ok(r);
                }
                Ok(r) => failures.push(format!(
                    "{name} at {}: {}",
                    validator.address,
                    String::from_utf8_lossy(&r.msg)
                )),
                Err(e) => failures.push(format!("{name} at {}: {e}", validator.address)),
            }
            tracing::warn!(txid = %tx.txid, "forwarding failed, trying another validator: {}", failures.last().map_or("", String::as_str));
        }
        Err(format!(
            "no validator accepted transaction {}: {}",
            tx.txid,
            failures.join("; ")
        ))
    }
}

async fn send(address: &str, tx: Transaction) -> Result<Response, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .timeout(FORWARD_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    let mut client = PeerClient::new(channel)
        .max_encoding_message_size(MAX_TX_BYTES)
        .max_decoding_message_size(MAX_TX_BYTES);
    client
        .process_transaction(tx)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{}: {}", s.code(), s.message()))
}
