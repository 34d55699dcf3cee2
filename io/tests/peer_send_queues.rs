//! The per-peer send-queue metrics of the peer transport, with two real
//! transports on 127.0.0.1 (certificates from `testnet::generate`): a burst
//! that overfills vp0's queue to vp1 shows as vp1's queue depth and drop
//! count in `fabrik_peer_send_queue_depth` and
//! `fabrik_peer_dropped_frames_total`, the depth falls back once the
//! writer drains, and vp1's series disappear when vp1 disconnects.

use fabrik_io::driver::Clock;
use fabrik_io::metrics::{Metrics, PeerSendQueue};
use fabrik_io::net::{self, NetSettings, Network, TlsFiles};
use fabrik_io::testnet::{TestnetSpec, generate};
use fabrik_proto::protos::{
    BlockchainInfo, Message, PeerEndpoint, PeerId, message::Type, peer_endpoint,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The queue bound under test (`peer.p2p.sendQueueSize`).
const SEND_QUEUE: usize = 4;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port on 127.0.0.1")
}

fn settings(dir: &Path, id: &str, port: u16, rootnodes: Vec<String>) -> NetSettings {
    let node = dir.join(id);
    let address = format!("127.0.0.1:{port}");
    NetSettings {
        local: PeerEndpoint {
            id: Some(PeerId { name: id.into() }),
            address: address.clone(),
            r#type: peer_endpoint::Type::Validator as i32,
            pki_id: Vec::new(),
        },
        tls: TlsFiles {
            cert: node.join("node.crt"),
            key: node.join("node.key"),
            ca: node.join("ca.crt"),
        },
        bind: address,
        rootnodes,
        persist: false,
        discovery_period: Duration::from_secs(1),
        touch_period: Duration::from_secs(6),
        touch_max_nodes: 8,
        max_frame: net::frame::DEFAULT_MAX_FRAME,
        send_queue: SEND_QUEUE,
        consensus_buffer: 64,
        idle_timeout: Duration::from_secs(10),
    }
}

async fn start(s: NetSettings) -> (Network, net::Receivers, net::Transport) {
    let id = s.local.address.clone();
    net::start(s, None, Arc::new(BlockchainInfo::default), Clock::new())
        .await
        .unwrap_or_else(|e| panic!("transport on {id}: {e}"))
}

/// Waits (up to 30 s) until `f` holds, yielding to the transport's tasks.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

fn consensus_message(n: u8) -> Message {
    Message {
        r#type: Type::Consensus as i32,
        payload: vec![n; 16],
        ..Default::default()
    }
}

// One thread: while the test sends without awaiting, the writer task that
// drains vp1's queue cannot run, so the queue fills and overflows exactly.
#[tokio::test(flavor = "current_thread")]
async fn per_peer_send_queue_depth_and_drops_follow_the_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(&TestnetSpec {
        validators: 2,
        non_validators: 0,
        out: dir.path().join("net"),
        base_port: 30_000,
        plugin: "noops".into(),
    })
    .expect("testnet certificates");
    let net_dir = dir.path().join("net");
    let (port0, port1) = (free_udp_port(), free_udp_port());
    let (vp0, _rx0, _t0) = start(settings(&net_dir, "vp0", port0, vec![])).await;
    let (_vp1, _rx1, t1) = start(settings(
        &net_dir,
        "vp1",
        port1,
        vec![format!("127.0.0.1:{port0}")],
    ))
    .await;
    until("vp0 has vp1 registered", || {
        vp0.send_queues().iter().any(|q| q.peer == "vp1")
    })
    .await;

    let before = vp0.dropped();
    let mut accepted = 0;
    let mut refused = Vec::new();
    for n in 0..10 {
        match vp0.send("vp1", consensus_message(n)) {
            Ok(()) => accepted += 1,
            Err(e) => refused.push(e.to_string()),
        }
    }
    let drops = refused.len() as u64;
    assert!(
        accepted <= SEND_QUEUE && drops >= 6,
        "{accepted} {refused:?}"
    );
    assert_eq!(
        refused[0],
        "send queue of peer vp1 is full (peer.p2p.sendQueueSize); message dropped"
    );
    assert_eq!(
        vp0.send_queues(),
        vec![PeerSendQueue {
            peer: "vp1".into(),
            depth: SEND_QUEUE,
            dropped: drops,
        }]
    );
    assert_eq!(
        vp0.dropped() - before,
        drops,
        "the node-wide total counts them too"
    );

    let metrics = Metrics::new();
    metrics.set_peer_send_queues(&vp0.send_queues());
    let text = metrics.encode();
    for needle in [
        format!("fabrik_peer_send_queue_depth{{peer=\"vp1\"}} {SEND_QUEUE}"),
        format!(
            "fabrik_peer_dropped_frames_total{{peer=\"vp1\",reason=\"send-queue-full\"}} {drops}"
        ),
    ] {
        assert!(text.contains(&needle), "{needle} missing in\n{text}");
    }
    assert!(
        !text.contains("peer=\"vp0\""),
        "no series for the node itself:\n{text}"
    );

    // Once the writer runs the queue empties; the drop count stays.
    until("vp0's queue to vp1 drains", || {
        vp0.send_queues().first().is_some_and(|q| q.depth == 0)
    })
    .await;
    metrics.set_peer_send_queues(&vp0.send_queues());
    let text = metrics.encode();
    for needle in [
        "fabrik_peer_send_queue_depth{peer=\"vp1\"} 0".to_string(),
        format!(
            "fabrik_peer_dropped_frames_total{{peer=\"vp1\",reason=\"send-queue-full\"}} {drops}"
        ),
    ] {
        assert!(text.contains(&needle), "{needle} missing in\n{text}");
    }

    // vp1 goes away: its series go with it.
    t1.shutdown().await;
    until("vp0 drops vp1", || vp0.send_queues().is_empty()).await;
    metrics.set_peer_send_queues(&vp0.send_queues());
    let text = metrics.encode();
    assert!(!text.contains("peer=\"vp1\""), "vp1 series kept:\n{text}");
}
