//! `/protos.ChaincodeSupport/Register`, served on the peer's main gRPC port.

use super::registry::Registry;
use super::stream;
use crate::driver::Clock;
use fabrik_core::chaincode::Config as HandlerConfig;
use fabrik_proto::protos::{ChaincodeMessage, chaincode_support_server::ChaincodeSupport};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

/// The ChaincodeSupport gRPC service.
#[derive(Debug, Clone)]
pub struct ChaincodeSupportService {
    registry: Registry,
    config: HandlerConfig,
    clock: Clock,
}

impl ChaincodeSupportService {
    /// A service registering streams into `registry`.
    pub fn new(registry: Registry, config: HandlerConfig, clock: Clock) -> Self {
        Self {
            registry,
            config,
            clock,
        }
    }
}

#[tonic::async_trait]
impl ChaincodeSupport for ChaincodeSupportService {
    type RegisterStream = ReceiverStream<Result<ChaincodeMessage, Status>>;

    async fn register(
        &self,
        request: Request<Streaming<ChaincodeMessage>>,
    ) -> Result<Response<Self::RegisterStream>, Status> {
        let out = stream::spawn(
            request.into_inner(),
            self.registry.clone(),
            self.config.clone(),
            self.clock,
        );
        Ok(Response::new(ReceiverStream::new(out)))
    }
}
