//! fabrik-io: runs the pure machines of fabrik-core against the real world
//! (tokio tasks, the fjall store, tonic gRPC servers, chaincode processes).

pub mod catchup;
pub mod chaincode;
pub mod config;
pub mod consensus;
pub mod crashpoint;
pub mod ctor;
pub mod driver;
pub mod events;
pub mod exec;
pub mod fanout;
pub mod grpc;
pub mod holdback;
pub mod jsonv06;
pub mod metrics;
pub mod net;
pub mod node;
pub mod ops;
pub mod pbft_node;
pub mod replica;
pub mod rest;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod testnet;
