//! The per-peer send-queue series of the peer transport on a running PBFT
//! network (4 validators from `peerd testnet`): after a deploy and a few
//! invokes, vp0's `/metrics` has `fabrik_peer_send_queue_depth` and
//! `fabrik_peer_dropped_frames_total{reason="send-queue-full"}` for each
//! other validator (none for itself), with a depth within the queue bound
//! and no drops under this light load; when a validator is killed its
//! series leave vp0's scrape.

use fabrik_tests::eventually;
use fabrik_tests::network::{self, Node, http_get, wait_all};
use std::time::Duration;

/// `peer.p2p.sendQueueSize` default.
const SEND_QUEUE: u64 = 1000;

/// The value of the series `name{labels}` in a scrape, if present.
fn value(scrape: &str, series: &str) -> Option<u64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn depth_series(peer: &str) -> String {
    format!("fabrik_peer_send_queue_depth{{peer=\"{peer}\"}}")
}

fn drop_series(peer: &str) -> String {
    format!("fabrik_peer_dropped_frames_total{{peer=\"{peer}\",reason=\"send-queue-full\"}}")
}

fn scrape(node: &Node) -> String {
    http_get(&node.files.operations, "/metrics")
}

#[test]
fn each_validator_has_send_queue_series_on_the_others_until_it_leaves() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 0);
    for n in &mut nodes {
        n.start();
    }
    let _ccs = network::deploy_dev_example02(&nodes, 0);
    for (i, amount) in ["1", "2", "3"].into_iter().enumerate() {
        nodes[i].invoke("mycc", amount);
        wait_all(&nodes, 3 + i as u64);
    }

    // The series are refreshed every second.
    let others = ["vp1", "vp2", "vp3"];
    let text = eventually(Duration::from_secs(15), || {
        let text = scrape(&nodes[0]);
        others
            .iter()
            .all(|p| value(&text, &drop_series(p)).is_some())
            .then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "vp0 has no per-peer series for {others:?}:\n{}",
            scrape(&nodes[0])
        )
    });
    for peer in others {
        let depth = value(&text, &depth_series(peer))
            .unwrap_or_else(|| panic!("no {} in\n{text}", depth_series(peer)));
        assert!(depth <= SEND_QUEUE, "{peer}: depth {depth}\n{text}");
        assert_eq!(
            value(&text, &drop_series(peer)),
            Some(0),
            "{peer} dropped frames under light load:\n{text}"
        );
    }
    assert!(
        !text.contains("peer=\"vp0\""),
        "vp0 has series about itself:\n{text}"
    );

    // A validator that is gone loses its series.
    nodes[3].kill();
    let gone = eventually(Duration::from_secs(30), || {
        let text = scrape(&nodes[0]);
        (!text.contains("peer=\"vp3\"")).then_some(text)
    });
    let text = gone.unwrap_or_else(|| panic!("vp3 series stay:\n{}", scrape(&nodes[0])));
    for peer in ["vp1", "vp2"] {
        assert!(
            value(&text, &depth_series(peer)).is_some(),
            "{peer} lost its series:\n{text}"
        );
    }
}
