//! The peer's Prometheus metrics: one registry of prometheus-client families
//! behind [`Metrics`], a cheap-to-clone handle (an `Arc`) that any module
//! increments, and its text exposition for `/metrics` (see `crate::ops`).
//!
//! How to use it: the node makes one `Metrics::new()` and hands clones to
//! whoever observes something; the observers call the named methods below
//! (never the families directly), e.g.
//!
//! ```
//! # use fabrik_io::metrics::Metrics;
//! # use std::time::Duration;
//! let m = Metrics::new();
//! m.block_committed(2, Duration::from_millis(12), 0);
//! m.chaincode_executed("invoke", Duration::from_millis(3), true);
//! assert!(m.encode().contains("fabrik_ledger_height 2"));
//! ```
//!
//! Every series is prefixed `fabrik_`. Label values are bounded by the
//! callers (route names, chaincode kinds, reject reasons, peer ids), never
//! raw client input.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A label set: fixed keys, values chosen by the caller from a small set.
type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// One peer's send queue in the peer transport, as sampled for
/// [`Metrics::set_peer_send_queues`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSendQueue {
    /// The peer's id (`vp1`), as its certificate names it.
    pub peer: String,
    /// Messages waiting in the queue now.
    pub depth: usize,
    /// Messages the queue dropped because it was full, since the
    /// connection was registered.
    pub dropped: u64,
}

/// The metrics handle. Clone it freely; all clones update one registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    ledger_height: Gauge,
    block_commit_seconds: Histogram,
    blocks_committed: Counter,
    transactions_rejected: Counter,
    state_cache_hits: Counter,
    state_cache_misses: Counter,
    chaincode_execute_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    chaincode_failures: Family<Labels, Counter>,
    chaincode_launch_seconds: Histogram,
    chaincode_launch_failures: Counter,
    events_subscribers: Gauge,
    events_dropped: Counter,
    rest_requests: Family<Labels, Counter>,
    consensus_view: Gauge,
    consensus_sequence: Gauge,
    consensus_low_watermark: Gauge,
    consensus_primary: Gauge,
    consensus_view_changes: Counter,
    consensus_rejected: Family<Labels, Counter>,
    network_connections: Gauge,
    queue_depth: Family<Labels, Gauge>,
    dropped_frames: Family<Labels, Counter>,
    peer_send_queue_depth: Family<Labels, Gauge>,
    peer_dropped_frames: Family<Labels, Counter>,
    /// The peers that have per-peer series now.
    peer_series: Mutex<BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A fresh registry with every series registered (at zero).
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("fabrik");
        let inner = Inner {
            ledger_height: reg(&mut r, "ledger_height", "Blocks in the chain (v0.6 height)"),
            block_commit_seconds: reg_with(
                &mut r,
                "ledger_block_commit_seconds",
                "Time to execute and durably commit one block",
                latency_histogram(),
            ),
            blocks_committed: reg(
                &mut r,
                "ledger_blocks_committed",
                "Blocks committed since start",
            ),
            transactions_rejected: reg(
                &mut r,
                "ledger_transactions_rejected",
                "Transactions left out of blocks because they failed",
            ),
            state_cache_hits: reg(
                &mut r,
                "ledger_state_cache_hits",
                "State reads answered by the peer's State read cache",
            ),
            state_cache_misses: reg(
                &mut r,
                "ledger_state_cache_misses",
                "State reads the State read cache passed to the store",
            ),
            chaincode_execute_seconds: reg_with(
                &mut r,
                "chaincode_execute_seconds",
                "Chaincode execution time by kind (deploy, invoke, query)",
                Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            ),
            chaincode_failures: reg(
                &mut r,
                "chaincode_failures",
                "Failed chaincode executions by kind",
            ),
            chaincode_launch_seconds: reg_with(
                &mut r,
                "chaincode_launch_seconds",
                "Time to launch and connect a chaincode",
                latency_histogram(),
            ),
            chaincode_launch_failures: reg(
                &mut r,
                "chaincode_launch_failures",
                "Chaincode launches that failed",
            ),
            events_subscribers: reg(
                &mut r,
                "events_subscribers",
                "Current event subscribers (gRPC Chat and REST SSE)",
            ),
            events_dropped: reg(
                &mut r,
                "events_dropped",
                "Events dropped because a subscriber buffer stayed full",
            ),
            rest_requests: reg(
                &mut r,
                "rest_requests",
                "REST requests by route and HTTP status",
            ),
            consensus_view: reg(&mut r, "consensus_view", "Current PBFT view"),
            consensus_sequence: reg(
                &mut r,
                "consensus_sequence",
                "Last executed PBFT sequence number",
            ),
            consensus_low_watermark: reg(&mut r, "consensus_low_watermark", "PBFT low watermark h"),
            consensus_primary: reg(
                &mut r,
                "consensus_primary",
                "Replica id of the current primary",
            ),
            consensus_view_changes: reg(&mut r, "consensus_view_changes", "View changes started"),
            consensus_rejected: reg(
                &mut r,
                "consensus_rejected_messages",
                "Consensus messages rejected, by reason and sender",
            ),
            network_connections: reg(&mut r, "network_connections", "Connected peers"),
            queue_depth: reg(
                &mut r,
                "queue_depth",
                "Items waiting in a bounded queue, by queue",
            ),
            dropped_frames: reg(
                &mut r,
                "network_dropped_frames",
                "Frames dropped, by queue or peer",
            ),
            peer_send_queue_depth: reg(
                &mut r,
                "peer_send_queue_depth",
                "Messages waiting in the send queue to a connected peer, by peer id",
            ),
            peer_dropped_frames: reg(
                &mut r,
                "peer_dropped_frames",
                "Frames to a connected peer dropped, by peer id and reason",
            ),
            peer_series: Mutex::new(BTreeSet::new()),
            registry: Registry::default(),
        };
        Self(Arc::new(Inner {
            registry: r,
            ..inner
        }))
    }

    /// The OpenMetrics text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.0.registry);
        out
    }

    /// Sets the chain height (also refreshed from the store at each scrape).
    pub fn set_ledger_height(&self, height: u64) {
        self.0.ledger_height.set(gauge_value(height));
    }

    /// A block was committed: the new height, how long executing and
    /// committing it took, and how many of its transactions were rejected.
    pub fn block_committed(&self, height: u64, latency: Duration, rejected: usize) {
        self.set_ledger_height(height);
        self.0.block_commit_seconds.observe(latency.as_secs_f64());
        self.0.blocks_committed.inc();
        self.0.transactions_rejected.inc_by(rejected as u64);
    }

    /// One chaincode execution of `kind` (`deploy`, `invoke`, `query`) took
    /// `latency` and succeeded or not.
    pub fn chaincode_executed(&self, kind: &'static str, latency: Duration, ok: bool) {
        let labels = vec![("kind", kind.to_string())];
        self.0
            .chaincode_execute_seconds
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
        if !ok {
            self.0.chaincode_failures.get_or_create(&labels).inc();
        }
    }

    /// A chaincode launch (start + REGISTER) took `latency` and succeeded or not.
    pub fn chaincode_launched(&self, latency: Duration, ok: bool) {
        self.0
            .chaincode_launch_seconds
            .observe(latency.as_secs_f64());
        if !ok {
            self.0.chaincode_launch_failures.inc();
        }
    }

    /// The State read cache's totals since start (hits, misses).
    pub fn set_state_cache(&self, hits: u64, misses: u64) {
        for (counter, total) in [
            (&self.0.state_cache_hits, hits),
            (&self.0.state_cache_misses, misses),
        ] {
            let seen = counter.get();
            if total > seen {
                counter.inc_by(total - seen);
            }
        }
    }

    /// The event hub's state: current subscribers and the total drop count.
    pub fn set_events(&self, subscribers: usize, dropped_total: u64) {
        self.0
            .events_subscribers
            .set(gauge_value(subscribers as u64));
        let seen = self.0.events_dropped.get();
        if dropped_total > seen {
            self.0.events_dropped.inc_by(dropped_total - seen);
        }
    }

    /// One REST request to `route` (a route pattern such as
    /// `/chain/blocks/{id}`, never the raw path) answered with `status`.
    pub fn rest_request(&self, route: &'static str, status: u16) {
        let labels = vec![("route", route.to_string()), ("status", status.to_string())];
        self.0.rest_requests.get_or_create(&labels).inc();
    }

    /// The PBFT replica's position.
    pub fn consensus_state(&self, view: u64, sequence: u64, low_watermark: u64, primary: u64) {
        self.0.consensus_view.set(gauge_value(view));
        self.0.consensus_sequence.set(gauge_value(sequence));
        self.0
            .consensus_low_watermark
            .set(gauge_value(low_watermark));
        self.0.consensus_primary.set(gauge_value(primary));
    }

    /// A view change started.
    pub fn consensus_view_change(&self) {
        self.0.consensus_view_changes.inc();
    }

    /// A consensus message from `sender` was rejected for `reason` (a short
    /// fixed name such as `bad_digest`, `out_of_watermarks`).
    pub fn consensus_rejected(&self, reason: &'static str, sender: &str) {
        let labels = vec![
            ("reason", reason.to_string()),
            ("sender", sender.to_string()),
        ];
        self.0.consensus_rejected.get_or_create(&labels).inc();
    }

    /// Number of connected peers.
    pub fn set_connections(&self, n: usize) {
        self.0.network_connections.set(gauge_value(n as u64));
    }

    /// Items currently waiting in bounded queue `queue`.
    pub fn set_queue_depth(&self, queue: &'static str, depth: usize) {
        let labels = vec![("queue", queue.to_string())];
        self.0
            .queue_depth
            .get_or_create(&labels)
            .set(gauge_value(depth as u64));
    }

    /// A frame was dropped at `queue` (a queue name or peer id).
    pub fn frame_dropped(&self, queue: &str) {
        self.frames_dropped(queue, 1);
    }

    /// `n` frames were dropped at `queue`.
    pub fn frames_dropped(&self, queue: &str, n: u64) {
        let labels = vec![("queue", queue.to_string())];
        self.0.dropped_frames.get_or_create(&labels).inc_by(n);
    }
}

impl Metrics {
    /// The transport's per-peer send queues (every registered peer): sets
    /// each peer's `fabrik_peer_send_queue_depth` and adds its new drops to
    /// `fabrik_peer_dropped_frames_total{reason="send-queue-full"}`. Series
    /// of peers missing from `queues` are removed, so the label set stays
    /// the connected peers. A count lower than the last one (a reconnect
    /// started a fresh queue) restarts the peer's counter.
    pub fn set_peer_send_queues(&self, queues: &[PeerSendQueue]) {
        let inner = &self.0;
        let mut series = inner
            .peer_series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let gone: Vec<String> = series
            .iter()
            .filter(|p| !queues.iter().any(|q| &q.peer == *p))
            .cloned()
            .collect();
        for peer in gone {
            inner.peer_send_queue_depth.remove(&peer_labels(&peer));
            inner.peer_dropped_frames.remove(&peer_drop_labels(&peer));
            series.remove(&peer);
        }
        for q in queues {
            inner
                .peer_send_queue_depth
                .get_or_create(&peer_labels(&q.peer))
                .set(gauge_value(q.depth as u64));
            let labels = peer_drop_labels(&q.peer);
            let reported = inner.peer_dropped_frames.get_or_create(&labels).get();
            if q.dropped < reported {
                inner.peer_dropped_frames.remove(&labels);
            }
            let counter = inner.peer_dropped_frames.get_or_create(&labels);
            counter.inc_by(q.dropped.saturating_sub(counter.get()));
            series.insert(q.peer.clone());
        }
    }
}

fn peer_labels(peer: &str) -> Labels {
    vec![("peer", peer.to_string())]
}

fn peer_drop_labels(peer: &str) -> Labels {
    vec![
        ("peer", peer.to_string()),
        ("reason", "send-queue-full".to_string()),
    ]
}

fn reg<M: prometheus_client::registry::Metric + Clone + Default>(
    r: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    reg_with(r, name, help, M::default())
}

fn reg_with<M: prometheus_client::registry::Metric + Clone>(
    r: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    r.register(name, help, metric.clone());
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_exposed_with_values() {
        let m = Metrics::new();
        m.block_committed(3, Duration::from_millis(20), 1);
        m.chaincode_executed("query", Duration::from_millis(1), false);
        m.rest_request("/chain", 200);
        m.set_events(2, 5);
        m.set_events(2, 4);
        m.frames_dropped("peer-send-queue-full", 3);
        m.frames_dropped("peer-send-queue-full", 0);
        m.frame_dropped("peer-send-queue-full");
        m.set_queue_depth("consensus", 7);
        m.set_state_cache(10, 2);
        m.set_state_cache(12, 2);
        let text = m.encode();
        for needle in [
            "fabrik_ledger_height 3",
            "fabrik_ledger_block_commit_seconds_count 1",
            "fabrik_ledger_transactions_rejected_total 1",
            "fabrik_chaincode_failures_total{kind=\"query\"} 1",
            "fabrik_rest_requests_total{route=\"/chain\",status=\"200\"} 1",
            "fabrik_events_subscribers 2",
            "fabrik_events_dropped_total 5",
            "fabrik_consensus_view 0",
            "fabrik_network_dropped_frames_total{queue=\"peer-send-queue-full\"} 4",
            "fabrik_queue_depth{queue=\"consensus\"} 7",
            "fabrik_ledger_state_cache_hits_total 12",
            "fabrik_ledger_state_cache_misses_total 2",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
    }

    fn queue(peer: &str, depth: usize, dropped: u64) -> PeerSendQueue {
        PeerSendQueue {
            peer: peer.into(),
            depth,
            dropped,
        }
    }

    #[test]
    fn per_peer_send_queue_series_follow_the_connected_peers() {
        let m = Metrics::new();
        m.set_peer_send_queues(&[queue("vp1", 3, 5), queue("vp2", 0, 0)]);
        m.set_peer_send_queues(&[queue("vp1", 1, 7), queue("vp2", 0, 0)]);
        let text = m.encode();
        for needle in [
            "fabrik_peer_send_queue_depth{peer=\"vp1\"} 1",
            "fabrik_peer_send_queue_depth{peer=\"vp2\"} 0",
            "fabrik_peer_dropped_frames_total{peer=\"vp1\",reason=\"send-queue-full\"} 7",
            "fabrik_peer_dropped_frames_total{peer=\"vp2\",reason=\"send-queue-full\"} 0",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        // vp2 disconnected; vp1 reconnected (a fresh queue with 2 drops).
        m.set_peer_send_queues(&[queue("vp1", 0, 2)]);
        let text = m.encode();
        assert!(!text.contains("peer=\"vp2\""), "vp2 series kept:\n{text}");
        assert!(
            text.contains(
                "fabrik_peer_dropped_frames_total{peer=\"vp1\",reason=\"send-queue-full\"} 2"
            ),
            "{text}"
        );
        m.set_peer_send_queues(&[]);
        assert!(!m.encode().contains("peer=\""), "{}", m.encode());
    }
}
