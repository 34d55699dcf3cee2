//! The REST server on `rest.address` (reference §6.1): v0.6's routes
//! `/chain`, `/chain/blocks/{id}`, `/transactions/{id}`, `/network/peers`
//! and JSON-RPC `POST /chaincode` (in [`rpc`]), plus our server-sent events
//! stream `GET /events` (in [`sse`]) and the block explorer page at `GET /`
//! and `GET /explorer` (in [`explorer`]).
//!
//! Routing is done by hand in one axum fallback handler so that every
//! response — unknown routes and wrong methods included — gets v0.6's
//! headers (`Content-Type: application/json`, `Access-Control-Allow-Origin:
//! *`, `Access-Control-Allow-Headers: accept, content-type`) and v0.6's 404
//! body (the explorer's files keep their own content types). Request bodies are limited to [`BODY_LIMIT`] bytes. Ledger reads run
//! on the blocking pool.

pub mod explorer;
mod gojson;
pub mod rpc;
pub mod sse;
pub mod start;

use crate::config::ChaincodeMode;
use crate::consensus::Submitter;
use crate::events::Hub;
use crate::exec::Executor;
use crate::jsonv06;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::block::without_code_packages;
use fabrik_proto::protos::PeerEndpoint;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest accepted request body (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;

/// The connected peers (without this one), as the network layer knows them.
pub type PeerList = Arc<dyn Fn() -> Vec<PeerEndpoint> + Send + Sync>;

/// What the REST handlers need. Cheap to clone.
#[derive(Clone)]
pub struct RestState {
    /// Runs queries.
    pub executor: Arc<Executor>,
    /// Hands deploys and invokes to consensus.
    pub submitter: Submitter,
    /// The ledger.
    pub store: Arc<Store>,
    /// The event hub (for `/events`).
    pub hub: Arc<Hub>,
    /// `chaincode.mode` (deploy checks name in dev mode, path otherwise).
    pub mode: ChaincodeMode,
    /// This peer, as listed by `/network/peers`.
    pub this_peer: PeerEndpoint,
    /// The connected peers.
    pub connected: PeerList,
    /// Request counters.
    pub metrics: Metrics,
    /// Turns true when the server stops (ends open event streams).
    pub stopping: watch::Receiver<bool>,
}

impl std::fmt::Debug for RestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestState")
            .field("this_peer", &self.this_peer)
            .finish_non_exhaustive()
    }
}

/// Serves REST on `listener` until `state.stopping` turns true (open event
/// streams end then too).
///
/// # Errors
/// When the server fails to accept connections.
pub async fn serve(listener: TcpListener, state: RestState) -> std::io::Result<()> {
    let mut stopping = state.stopping.clone();
    let app = axum::Router::new().fallback(dispatch).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|s| *s).await;
        })
        .await
}

/// A route of the v0.6 REST API, with its metrics label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// GET /chain
    Chain,
    /// GET /chain/blocks/{id}
    Block(String),
    /// GET /transactions/{id}
    Transaction(String),
    /// GET /network/peers
    Peers,
    /// POST /chaincode
    Chaincode,
    /// GET /events
    Events,
    /// GET /, /explorer and the explorer's files.
    Explorer(explorer::Asset),
    /// Anything else.
    NotFound,
}

impl Route {
    /// The route pattern, used as the metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Chain => "/chain",
            Route::Block(_) => "/chain/blocks/{id}",
            Route::Transaction(_) => "/transactions/{id}",
            Route::Peers => "/network/peers",
            Route::Chaincode => "/chaincode",
            Route::Events => "/events",
            Route::Explorer(_) => "/explorer",
            Route::NotFound => "unknown",
        }
    }

    fn method(&self) -> Option<Method> {
        match self {
            Route::Chaincode => Some(Method::POST),
            Route::NotFound => None,
            _ => Some(Method::GET),
        }
    }
}

/// The route `path` names (method not considered).
pub fn route(path: &str) -> Route {
    if let Some(asset) = explorer::Asset::at(path) {
        return Route::Explorer(asset);
    }
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    match segments.as_slice() {
        ["chain"] => Route::Chain,
        ["chain", "blocks", id] if !id.is_empty() => Route::Block(percent_decode(id)),
        ["transactions", id] if !id.is_empty() => Route::Transaction(percent_decode(id)),
        ["network", "peers"] => Route::Peers,
        ["chaincode"] => Route::Chaincode,
        ["events"] => Route::Events,
        _ => Route::NotFound,
    }
}

/// `%XX`-decoding of a path segment or query value (`+` kept as is in
/// paths; callers decode `+` in queries). Bad escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON response with v0.6's status and body.
fn json(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, body).into_response()
}

/// v0.6's `encoder.Encode(restResult{Error: msg})` (with its newline).
fn error(status: u16, msg: &str) -> Response {
    json(status, jsonv06::rest_error(msg) + "\n")
}

async fn dispatch(State(state): State<RestState>, req: Request) -> Response {
    let route = route(req.uri().path());
    let label = route.label();
    let explorer = matches!(route, Route::Explorer(_));
    let method = req.method().clone();
    let mut response = if method == Method::OPTIONS && route != Route::NotFound {
        preflight(&route)
    } else if route.method().as_ref() != Some(&method) {
        error(404, "Openchain endpoint not found.")
    } else {
        handle(&state, route, req).await
    };
    add_headers(&mut response, explorer);
    let status = response.status().as_u16();
    tracing::debug!(%method, route = label, status, "REST request");
    state.metrics.rest_request(label, status);
    response
}

fn preflight(route: &Route) -> Response {
    let mut r = StatusCode::OK.into_response();
    if let Some(m) = route.method()
        && let Ok(v) = HeaderValue::from_str(&format!("{m}, OPTIONS"))
    {
        r.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    r
}

fn add_headers(response: &mut Response, explorer: bool) {
    let own_type = explorer && response.status() == StatusCode::OK;
    let h = response.headers_mut();
    if !own_type
        && (!h.contains_key(header::CONTENT_TYPE) || h[header::CONTENT_TYPE] != "text/event-stream")
    {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("accept, content-type"),
    );
}

async fn handle(state: &RestState, route: Route, req: Request) -> Response {
    match route {
        Route::Chain => chain(state).await,
        Route::Block(id) => block(state, &id).await,
        Route::Transaction(id) => transaction(state, &id).await,
        Route::Peers => peers(state),
        Route::Chaincode => chaincode(state, req.into_body()).await,
        Route::Events => sse::events(state, req.uri().query().unwrap_or("")),
        Route::Explorer(asset) => explorer::serve(asset),
        Route::NotFound => error(404, "Openchain endpoint not found."),
    }
}

/// Runs a ledger read on the blocking pool.
async fn read<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(Ledger<'_, Store>) -> T + Send + 'static,
) -> Result<T, Response> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(Ledger::new(&*store)))
        .await
        .map_err(|e| error(500, &format!("ledger read failed: {e}")))
}

async fn chain(state: &RestState) -> Response {
    match read(&state.store, |l| l.blockchain_info()).await {
        Err(r) => r,
        Ok(Ok(info)) if info.height == 0 => error(400, "No blocks in blockchain."),
        Ok(Ok(info)) => json(200, jsonv06::blockchain_info(&info) + "\n"),
        Ok(Err(e)) => error(400, &e.to_string()),
    }
}

/// Go `strconv.ParseUint(s, 10, 64)`: digits only, no sign.
fn parse_block_id(id: &str) -> Option<u64> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

async fn block(state: &RestState, id: &str) -> Response {
    let Some(n) = parse_block_id(id) else {
        return error(400, "Block id must be an integer (uint64).");
    };
    match read(&state.store, move |l| l.block(n)).await {
        Err(r) => r,
        Ok(Ok(b)) => json(200, jsonv06::block(&without_code_packages(&b)) + "\n"),
        Ok(Err(e)) if e.is_not_found() => error(404, "openchain: resource not found"),
        Ok(Err(e)) => error(500, &e.to_string()),
    }
}

async fn transaction(state: &RestState, txid: &str) -> Response {
    let id = txid.to_string();
    match read(&state.store, move |l| l.transaction(&id)).await {
        Err(r) => r,
        Ok(Ok(tx)) => json(200, jsonv06::transaction(&tx) + "\n"),
        Ok(Err(e)) if e.is_not_found() => error(404, &format!("Transaction {txid} is not found.")),
        Ok(Err(e)) => error(500, &format!("Error retrieving transaction {txid}: {e}.")),
    }
}

/// The connected peers plus this peer when not already listed (v0.6 REST).
pub fn peer_list(this_peer: &PeerEndpoint, mut connected: Vec<PeerEndpoint>) -> Vec<PeerEndpoint> {
    if !connected.iter().any(|p| p.id == this_peer.id) {
        connected.push(this_peer.clone());
    }
    connected
}

fn peers(state: &RestState) -> Response {
    let list = peer_list(&state.this_peer, (state.connected)());
    json(200, jsonv06::peers_message(&list) + "\n")
}

async fn chaincode(state: &RestState, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return body_error(&e),
    };
    let answer = rpc::handle(state, &bytes).await;
    let mut response = json(answer.status, answer.body.unwrap_or_default());
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
    response
}

fn body_error(e: &axum::Error) -> Response {
    let too_large = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
        .any(|e| e.to_string().contains("length limit exceeded"));
    let (status, err) = if too_large {
        let data = format!(
            "Request body exceeds the limit of {BODY_LIMIT} bytes; send a smaller payload."
        );
        (413, rpc::RpcError::invalid_request(data))
    } else {
        (
            500,
            rpc::RpcError::internal("Internal JSON-RPC error when reading request body."),
        )
    };
    tracing::warn!(status, "REST /chaincode body refused: {e}");
    json(status, rpc::error_body(&err, None) + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::protos::PeerId;

    #[test]
    fn routes_and_labels() {
        assert_eq!(route("/chain"), Route::Chain);
        assert_eq!(route("/chain/blocks/7"), Route::Block("7".into()));
        assert_eq!(
            route("/transactions/a%20b"),
            Route::Transaction("a b".into())
        );
        assert_eq!(route("/network/peers"), Route::Peers);
        assert_eq!(route("/chaincode"), Route::Chaincode);
        assert_eq!(route("/chain/"), Route::NotFound);
        assert_eq!(route("/devops/invoke"), Route::NotFound);
        assert_eq!(route("/chain/blocks/"), Route::NotFound);
        assert_eq!(route("/explorer"), Route::Explorer(explorer::Asset::Index));
        assert_eq!(route("/"), Route::Explorer(explorer::Asset::Index));
        assert_eq!(route("/explorer/x"), Route::NotFound);
        assert_eq!(Route::Block("1".into()).label(), "/chain/blocks/{id}");
    }

    #[test]
    fn block_ids_follow_go_parse_uint() {
        assert_eq!(parse_block_id("007"), Some(7));
        assert_eq!(parse_block_id("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "+1", "-1", "1.0", "18446744073709551616", "x"] {
            assert_eq!(parse_block_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }

    #[test]
    fn peer_list_adds_self_once() {
        let me = PeerEndpoint {
            id: Some(PeerId { name: "vp0".into() }),
            ..Default::default()
        };
        let other = PeerEndpoint {
            id: Some(PeerId { name: "vp1".into() }),
            ..Default::default()
        };
        assert_eq!(peer_list(&me, vec![]), vec![me.clone()]);
        assert_eq!(
            peer_list(&me, vec![other.clone()]),
            vec![other.clone(), me.clone()]
        );
        assert_eq!(peer_list(&me, vec![me.clone()]), vec![me.clone()]);
    }
}
