//! `protos.Openchain`: read-only chain information.

use crate::store::Store;
use fabrik_core::ledger::Ledger;
use fabrik_proto::protos::{
    Block, BlockCount, BlockNumber, BlockchainInfo, PeersMessage, openchain_server::Openchain,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The Openchain service.
#[derive(Debug, Clone)]
pub struct OpenchainService {
    store: Arc<Store>,
    network: Option<crate::net::Network>,
}

impl OpenchainService {
    /// A service reading `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            network: None,
        }
    }

    /// Lists the peers connected through `network` in GetPeers.
    #[must_use]
    pub fn with_network(mut self, network: crate::net::Network) -> Self {
        self.network = Some(network);
        self
    }
}

#[tonic::async_trait]
impl Openchain for OpenchainService {
    async fn get_blockchain_info(
        &self,
        _: Request<()>,
    ) -> Result<Response<BlockchainInfo>, Status> {
        let info = Ledger::new(&*self.store)
            .blockchain_info()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(info))
    }

    async fn get_block_by_number(
        &self,
        request: Request<BlockNumber>,
    ) -> Result<Response<Block>, Status> {
        let n = request.into_inner().number;
        let block = Ledger::new(&*self.store).block(n).map_err(|e| {
            if e.is_not_found() {
                Status::not_found(e.to_string())
            } else {
                Status::internal(e.to_string())
            }
        })?;
        Ok(Response::new(block))
    }

    async fn get_block_count(&self, _: Request<()>) -> Result<Response<BlockCount>, Status> {
        let count = Ledger::new(&*self.store)
            .height()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(BlockCount { count }))
    }

    async fn get_peers(&self, _: Request<()>) -> Result<Response<PeersMessage>, Status> {
        // Connected peers only, never this peer itself (v0.6).
        let peers = self
            .network
            .as_ref()
            .map(crate::net::Network::peers)
            .unwrap_or_default();
        Ok(Response::new(PeersMessage { peers }))
    }
}
