//! Catch-up in the io layer (reference §3.1 SYNC_* handling, §4.5): the
//! serving side that answers `SYNC_GET_BLOCKS`, `SYNC_STATE_GET_DELTAS` and
//! `SYNC_STATE_GET_SNAPSHOT` from the store ([`serve`]), and the driver
//! that runs the pure `fabrik_core::statetransfer::StateTransfer` machine
//! over a [`SyncTransport`] and the durable [`crate::store::Store`]
//! ([`driver`]). [`delay`] is a debug-build-only hook that slows transfers
//! for end-to-end tests.
//!
//! (Named `catchup` because `crate::sync` is the std/loom shim.)

pub mod delay;
pub mod driver;
pub mod serve;

#[cfg(test)]
mod sync_tests;

use std::sync::Arc;

use fabrik_core::ledger::kv::{KvRead, Partition, StoreError};

pub use driver::{CatchUpDriver, Outcome, SyncTransport, TransportError, input_from_message};
pub use serve::{
    ServeError, ServeLimits, SnapshotStream, answer, serve_blocks, serve_deltas, serve_snapshot,
};

/// A shared store as the machine's `KvRead` (the machine owns its store
/// handle; the driver and the executor hold the same `Arc`).
#[derive(Debug)]
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: KvRead> KvRead for Shared<T> {
    fn get(&self, partition: Partition, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(partition, key)
    }

    fn range(
        &self,
        partition: Partition,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.0.range(partition, start, end, limit)
    }
}
