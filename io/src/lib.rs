//! fabrik-io: runs the pure machines of fabrik-core against the real world
//! (tokio tasks, the fjall store, tonic gRPC servers, chaincode processes).

pub mod config;
pub mod ctor;
pub mod node;
pub mod store;
pub mod driver;
pub mod events;
