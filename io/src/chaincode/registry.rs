//! Registered chaincode streams by name, and waiters for a registration.
//!
//! A stream task registers its chaincode's name when the handler accepts
//! REGISTER; a second stream claiming a registered name is refused. The
//! launcher waits here for a freshly started chaincode to dial back.

use super::stream::StreamHandle;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Names → live streams. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    streams: HashMap<String, StreamHandle>,
    changed: Option<watch::Sender<u64>>,
    generation: u64,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duplicate chaincodeID: chaincode {0} is already registered")]
pub struct Duplicate(pub String);

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Each critical section is a single map operation: a poisoned lock
        // still holds a consistent map.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers `handle` under `name` if `accept` (run under the lock,
    /// so it must not block) returns true; returns what `accept` returned.
    /// The stream queues its handler's acceptance in `accept`: no one can
    /// see the handle, and queue work behind that acceptance, before it.
    ///
    /// # Errors
    /// [`Duplicate`] when a live stream already holds the name.
    pub fn register(
        &self,
        name: &str,
        handle: StreamHandle,
        accept: impl FnOnce() -> bool,
    ) -> Result<bool, Duplicate> {
        let mut inner = self.lock();
        if inner.streams.get(name).is_some_and(|h| !h.is_closed()) {
            return Err(Duplicate(name.to_string()));
        }
        if !accept() {
            return Ok(false);
        }
        inner.streams.insert(name.to_string(), handle);
        Self::bump(&mut inner);
        Ok(true)
    }

    /// Removes `name` if it is still held by the stream `stream_id`.
    pub fn deregister(&self, name: &str, stream_id: u64) {
        let mut inner = self.lock();
        if inner.streams.get(name).is_some_and(|h| h.id() == stream_id) {
            inner.streams.remove(name);
            Self::bump(&mut inner);
        }
    }

    /// The live stream of `name`.
    pub fn get(&self, name: &str) -> Option<StreamHandle> {
        self.lock()
            .streams
            .get(name)
            .filter(|h| !h.is_closed())
            .cloned()
    }

    /// Names of every live stream.
    pub fn names(&self) -> Vec<String> {
        self.lock()
            .streams
            .iter()
            .filter(|(_, h)| !h.is_closed())
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn bump(inner: &mut Inner) {
        inner.generation = inner.generation.wrapping_add(1);
        if let Some(tx) = &inner.changed {
            let _ = tx.send(inner.generation);
        }
    }

    /// Waits until `name` is registered or `timeout` passes.
    pub async fn wait_for(&self, name: &str, timeout: std::time::Duration) -> Option<StreamHandle> {
        let mut rx = {
            let mut inner = self.lock();
            match &inner.changed {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(inner.generation);
                    inner.changed = Some(tx);
                    rx
                }
            }
        };
        let wait = async {
            loop {
                if let Some(h) = self.get(name) {
                    return Some(h);
                }
                if rx.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }
}
