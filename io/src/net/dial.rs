//! The discovery task: drives [`fabrik_core::peer::Discovery`] (root nodes,
//! the persisted list, the touch service, back-off), performs its dials over
//! the quinn endpoint and writes the discovery list to the store.

use super::{Shared, conn, resolve, tls};
use crate::driver::{self, Effects};
use crate::store::Store;
use fabrik_core::ledger::kv::{KvRead, Partition};
use fabrik_core::peer::{
    DISCOVERY_KEY, Direction, Discovery, DiscoveryConfig, DiscoveryInput, DiscoveryOutput,
    decode_peers_addresses,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// v0.6 dials with a 3 s blocking connect.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// The name sent in the TLS client hello; peers are not checked by name
/// (the certificate's id is checked against the HELLO instead).
const SERVER_NAME: &str = "fabrik-peer";

/// Spawns the discovery task.
pub(super) fn start_discovery(
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    store: Option<Arc<Store>>,
    mut inbox: mpsc::Receiver<DiscoveryInput>,
) {
    let s = &shared.settings;
    let config = DiscoveryConfig {
        self_id: shared.registry.own_id().to_string(),
        self_address: s.local.address.clone(),
        rootnodes: s.rootnodes.clone(),
        persist: s.persist,
        touch_period: s.touch_period,
        touch_max_nodes: s.touch_max_nodes,
        backoff_base: Duration::from_millis(250),
        backoff_max: s.touch_period.max(Duration::from_secs(1)) * 5,
    };
    let loaded = store.as_deref().map(load_list).unwrap_or_default();
    tokio::spawn(async move {
        let mut machine = Discovery::new(config, shared.clock.now());
        if !loaded.is_empty() {
            tracing::info!(
                count = loaded.len(),
                "reconnecting to the persisted discovery list"
            );
            let _ = fabrik_core::machine::Machine::handle(
                &mut machine,
                shared.clock.now(),
                DiscoveryInput::Loaded(loaded),
            );
        }
        let clock = shared.clock;
        let mut effects = DiscoveryEffects {
            shared,
            endpoint,
            store,
        };
        super::drain_initial(&mut machine, &mut effects).await;
        driver::run(&mut machine, &mut inbox, &mut effects, clock).await;
    });
}

fn load_list(store: &Store) -> Vec<String> {
    match store.get(Partition::Persist, DISCOVERY_KEY) {
        Ok(Some(bytes)) => decode_peers_addresses(&bytes).unwrap_or_else(|e| {
            tracing::warn!("ignoring the persisted discovery list: {e}");
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!("cannot read the persisted discovery list: {e}");
            Vec::new()
        }
    }
}

struct DiscoveryEffects {
    shared: Arc<Shared>,
    endpoint: quinn::Endpoint,
    store: Option<Arc<Store>>,
}

impl Effects<Discovery> for DiscoveryEffects {
    async fn perform(&mut self, output: DiscoveryOutput) {
        match output {
            DiscoveryOutput::Dial(address) => {
                let shared = Arc::clone(&self.shared);
                let endpoint = self.endpoint.clone();
                tokio::spawn(async move {
                    let id = dial(&shared, &endpoint, &address).await;
                    let done = DiscoveryInput::DialDone { address, id };
                    let _ = shared.discovery_tx.send(done).await;
                });
            }
            DiscoveryOutput::Persist(batch) => {
                let Some(store) = self.store.clone() else {
                    return;
                };
                let result = tokio::task::spawn_blocking(move || store.apply(&batch)).await;
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!("cannot persist the discovery list: {e}"),
                    Err(e) => tracing::warn!("cannot persist the discovery list: {e}"),
                }
            }
        }
    }

    fn rejected(&mut self, reject: std::convert::Infallible) {
        match reject {}
    }
}

/// Dials `address`; on a completed handshake spawns the connection's task
/// and returns the id its certificate names.
async fn dial(shared: &Arc<Shared>, endpoint: &quinn::Endpoint, address: &str) -> Option<String> {
    let addr = match resolve(address) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("cannot dial peer at {address}: {e}");
            return None;
        }
    };
    let connecting = match endpoint.connect(addr, SERVER_NAME) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot dial peer at {address}: {e}");
            return None;
        }
    };
    let conn = match tokio::time::timeout(DIAL_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!("dial to {address} failed: {e}");
            if is_refusal(&e) {
                tracing::warn!("peer at {address} refused us or was refused: {e}");
            }
            return None;
        }
        Err(_) => {
            tracing::debug!("dial to {address} timed out after {DIAL_TIMEOUT:?}");
            return None;
        }
    };
    match tls::remote_id(&conn) {
        Ok(id) => {
            tokio::spawn(conn::run(
                Arc::clone(shared),
                conn,
                Direction::Outbound,
                id.clone(),
            ));
            Some(id)
        }
        Err(reason) => {
            tracing::warn!("refused peer at {address}: {reason}");
            conn.close(1u32.into(), reason.as_bytes());
            None
        }
    }
}

fn is_refusal(e: &quinn::ConnectionError) -> bool {
    matches!(
        e,
        quinn::ConnectionError::TransportError(_) | quinn::ConnectionError::ConnectionClosed(_)
    )
}
