//! The peer-to-peer layer's pure machines (reference §3): the per-connection
//! [`Handler`] (v0.6 `core/peer/handler.go`: HELLO exchange, registration,
//! DISC_GET_PEERS / DISC_PEERS discovery, routing of SYNC_* and CONSENSUS
//! messages) and the node-wide [`Discovery`] machine (the persisted
//! discovery list, the touch service and dial back-off).
//!
//! ```text
//!  frames ─► Handler ──Send(msg)──────────► the connection's send queue
//!   (one per   │  ├──Registered(endpoint)─► registry  ─► Discovery::Registered
//!  connection) │  ├──ListPeers ◄─RegisteredPeers(list)── registry
//!              │  ├──Discovered(endpoints)────────────► Discovery ──Dial(addr)──► dialer
//!              │  ├──Consensus(msg) / Sync(msg)───────► consensus / state transfer
//!              └──┴──Close(reason)────────────────────► close the connection
//! ```
//!
//! Neither machine touches a socket or a clock; the io layer (`io::net`)
//! owns connections, TLS and the registry and feeds these machines.

mod discovery;
mod handler;
mod wire;

#[cfg(test)]
mod tests;

pub use discovery::{
    DISCOVERY_KEY, Discovery, DiscoveryConfig, Input as DiscoveryInput, Output as DiscoveryOutput,
};
pub use handler::{Config, Direction, Handler, Input, Output, Reject, State};
pub use wire::{decode_peers_addresses, kind_name, message};
