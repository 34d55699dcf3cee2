//! The operations server on `operations.address` (default 127.0.0.1:9443):
//! Prometheus `GET /metrics`, liveness `GET /healthz` and readiness
//! `GET /readyz`, in the style of Fabric 2.x's operations service.
//!
//! - `/metrics` refreshes the series that are cheaper to read than to push
//!   (ledger height from the store, event subscribers and drops from the
//!   hub), then returns the OpenMetrics text of [`Metrics`].
//! - `/healthz` is 200 `{"status":"OK"}` while the ledger can be read and
//!   holds the genesis block, else 503 with the failed checks.
//! - `/readyz` is 200 when [`Readiness`] says the peer is caught up and
//!   connected to at least the required number of validators (2f under
//!   PBFT, 0 for a lone NOOPS peer), else 503 naming what is missing.

use crate::events::Hub;
use crate::jsonv06::Obj;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fabrik_core::ledger::Ledger;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::net::TcpListener;

/// Readiness inputs, set by consensus and the network layer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<ReadyInner>);

#[derive(Debug)]
struct ReadyInner {
    caught_up: AtomicBool,
    connected: AtomicUsize,
    required: AtomicUsize,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Readiness {
    /// Ready once caught up and connected to `required` validators (2f).
    pub fn new(required: usize) -> Self {
        Self(Arc::new(ReadyInner {
            caught_up: AtomicBool::new(true),
            connected: AtomicUsize::new(0),
            required: AtomicUsize::new(required),
        }))
    }

    /// Whether committed state is current (false during state transfer).
    pub fn set_caught_up(&self, caught_up: bool) {
        self.0.caught_up.store(caught_up, Ordering::Release);
    }

    /// Number of validators this peer is connected to.
    pub fn set_connected(&self, n: usize) {
        self.0.connected.store(n, Ordering::Release);
    }

    /// Why the peer is not ready; empty when it is.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.0.caught_up.load(Ordering::Acquire) {
            out.push("state transfer in progress (not caught up)".to_string());
        }
        let (have, need) = (
            self.0.connected.load(Ordering::Acquire),
            self.0.required.load(Ordering::Acquire),
        );
        if have < need {
            out.push(format!("connected to {have} validators, need {need}"));
        }
        out
    }
}

/// What the operations handlers read.
#[derive(Debug, Clone)]
pub struct OpsState {
    /// The metrics registry.
    pub metrics: Metrics,
    /// The ledger (height, health).
    pub store: Arc<Store>,
    /// The event hub (subscribers, drops).
    pub hub: Arc<Hub>,
    /// Readiness inputs.
    pub readiness: Readiness,
}

/// Serves the operations endpoints on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the server fails to accept connections.
pub async fn serve(
    listener: TcpListener,
    state: OpsState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: use /metrics, /healthz or /readyz\n",
            )
        })
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn height(store: &Arc<Store>) -> Result<u64, String> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || Ledger::new(&*store).height().map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

async fn metrics(State(s): State<OpsState>) -> Response {
    if let Ok(h) = height(&s.store).await {
        s.metrics.set_ledger_height(h);
    }
    s.metrics
        .set_events(s.hub.subscriber_count(), s.hub.dropped());
    let mut r = s.metrics.encode().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

fn status_json(failed: &[(&str, String)], height: Option<u64>) -> Response {
    let ok = failed.is_empty();
    let checks: Vec<String> = failed
        .iter()
        .map(|(c, r)| Obj::new().str("component", c).str("reason", r).finish())
        .collect();
    let mut body = Obj::new().str("status", if ok { "OK" } else { "Service Unavailable" });
    if let Some(h) = height {
        body = body.raw_always("height", &h.to_string());
    }
    let body = body.list("failed_checks", checks).finish();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = (code, body + "\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn healthz(State(s): State<OpsState>) -> Response {
    let failed = match height(&s.store).await {
        Ok(0) => vec![("ledger", "no genesis block yet".to_string())],
        Ok(_) => vec![],
        Err(e) => vec![("ledger", e)],
    };
    status_json(&failed, None)
}

async fn readyz(State(s): State<OpsState>) -> Response {
    let mut failed: Vec<(&str, String)> = s
        .readiness
        .missing()
        .into_iter()
        .map(|m| ("consensus", m))
        .collect();
    let h = match height(&s.store).await {
        Ok(h) => h,
        Err(e) => {
            failed.push(("ledger", e));
            0
        }
    };
    status_json(&failed, Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_missing() {
        let r = Readiness::new(2);
        assert_eq!(
            r.missing(),
            vec!["connected to 0 validators, need 2".to_string()]
        );
        r.set_connected(2);
        assert!(r.missing().is_empty());
        r.set_caught_up(false);
        assert_eq!(r.missing().len(), 1);
        assert!(Readiness::default().missing().is_empty());
    }
}
