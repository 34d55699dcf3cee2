//! The client-facing gRPC services on the peer's main port (Devops,
//! Openchain, Admin) and the transaction builders they share.

pub mod admin;
pub mod devops;
pub mod openchain;
pub mod txbuild;
