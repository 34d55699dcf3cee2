//! A large chaincode deploy under load (issue #18): the unstripped debug
//! build of example02 (about 70 MB, a package of about 20 MB) deployed
//! through a validator and then, while invokes keep flowing, through a
//! non-validator. Every validator must end with the same chain, both
//! chaincodes must answer, and no validator may have started a view change.

use fabrik_tests::network::{self, Node, http_get, query_value, same_chain, same_head, wait_all};
use fabrik_tests::{binary, eventually};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Deploys the debug example02 as it was built (no stripping) through
/// `node` with `init a <a> b <b>`; its name.
fn deploy_debug_example02(node: &Node, a: u64, b: u64) -> String {
    let example02 = binary("example02");
    let size = std::fs::metadata(&example02).expect("example02").len();
    assert!(size > 20 << 20, "a large binary: {size} bytes");
    network::deploy_example02_from(node, &example02, a, b)
}

/// `fabrik_consensus_view_changes_total` from a validator's metrics.
fn view_changes(node: &Node) -> u64 {
    let metrics = http_get(&node.files.operations, "/metrics");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("fabrik_consensus_view_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no view-change counter in:\n{metrics}"))
}

#[test]
fn a_large_deploy_under_load_costs_no_validator_its_view() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 1);
    network::process_chaincode(&mut nodes);
    for n in &mut nodes {
        n.start();
    }
    network::wait_peers(&nodes[4], &["vp0", "vp1", "vp2", "vp3"]);
    let first = deploy_debug_example02(&nodes[0], 1_000_000, 0);
    wait_all(&nodes[..4], 2);
    let nodes = Arc::new(nodes);

    // Steady load: invokes through vp1 until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (nodes, stop, sent, first) = (
            Arc::clone(&nodes),
            Arc::clone(&stop),
            Arc::clone(&sent),
            first.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                nodes[1].invoke(&first, "1");
                sent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let second = deploy_debug_example02(&nodes[4], 5, 5);
    assert_ne!(first, second);
    for n in &nodes[..4] {
        let deployed = eventually(Duration::from_secs(120), || {
            (query_value(n, &second, "a") == Ok(5)).then_some(())
        });
        assert!(
            deployed.is_some(),
            "the deploy through nvp0 never ran on {}:\n{}",
            n.files.id,
            n.log()
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    let invokes = sent.load(Ordering::Relaxed);
    assert!(invokes > 0);

    // Every invoke commits (blocks batch several), on every peer.
    let a = 1_000_000 - i64::try_from(invokes).expect("count");
    for n in nodes.iter() {
        let done = eventually(Duration::from_secs(60), || {
            (query_value(n, &first, "a") == Ok(a)).then_some(())
        });
        assert!(
            done.is_some(),
            "a on {} is {:?}, not {a}:\n{}",
            n.files.id,
            query_value(n, &first, "a"),
            n.log()
        );
    }
    let head = same_head(&nodes[..4]);
    same_chain(&nodes[..4], head.height);
    for n in &nodes[..4] {
        assert_eq!(
            view_changes(n),
            0,
            "view changes on {}:\n{}",
            n.files.id,
            n.log()
        );
    }
}
