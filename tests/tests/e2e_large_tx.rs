//! A transaction too large for one consensus message (issue #18): refused
//! at submission with the limit named, while the network keeps ordering.
//! Four dev-mode PBFT validators with `peer.p2p.maxFrameSize` at 64 KiB, so
//! a 60 KB ctor argument is enough to pass it.

use fabrik_tests::network::{self, same_chain, wait_all};
use fabrik_tests::ok;

#[test]
fn a_transaction_past_the_frame_limit_is_refused_and_the_network_keeps_committing() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 0);
    for n in &mut nodes {
        n.env
            .push(("CORE_PEER_P2P_MAXFRAMESIZE".into(), "65536".into()));
        n.start();
    }
    let _ccs = network::deploy_dev_example02(&nodes, 0);

    let huge = format!(r#"{{"Args":["invoke","a","b","{}"]}}"#, "9".repeat(60_000));
    let out = nodes[1].cli(&["chaincode", "invoke", "-n", "mycc", "-c", &huge]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(
        stderr
            .contains("bytes a consensus message can carry (peer.p2p.maxFrameSize is 65536 bytes)"),
        "{stderr}"
    );

    // Nothing was ordered for it, and ordinary work still commits everywhere.
    nodes[2].invoke("mycc", "10");
    wait_all(&nodes, 3);
    same_chain(&nodes, 3);
    for n in &nodes {
        assert_eq!(
            ok(&n.query("mycc", "a")),
            "Query Result: 90\n",
            "on {}",
            n.files.id
        );
    }
}
