//! Chaincode support: the `ChaincodeSupport.Register` service, the registry
//! of connected chaincodes, their launch (Docker container, child process or
//! user-run) and code packages.

pub mod docker;
pub mod launcher;
pub mod package;
pub mod pending;
pub mod registry;
pub mod service;
pub mod stream;
