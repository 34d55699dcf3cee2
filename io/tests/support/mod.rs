//! Shared by io's integration tests and benches: the peer's chaincode
//! service on an ephemeral loopback port.

use std::net::SocketAddr;

use fabrik_core::chaincode::{Config as HandlerConfig, Features};
use fabrik_io::chaincode::registry::Registry;
use fabrik_io::chaincode::service::ChaincodeSupportService;
use fabrik_io::driver::Clock;
use fabrik_proto::protos::chaincode_support_server::ChaincodeSupportServer;
use tokio_stream::wrappers::TcpListenerStream;

/// Serves ChaincodeSupport on 127.0.0.1, granting `features` at REGISTER;
/// the registry chaincodes register in, and the address to dial.
pub async fn serve_chaincode_support(features: Features) -> (Registry, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let registry = Registry::new();
    let config = HandlerConfig {
        features,
        ..HandlerConfig::default()
    };
    let service = ChaincodeSupportService::new(registry.clone(), config, Clock::new());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ChaincodeSupportServer::new(service))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (registry, addr)
}
