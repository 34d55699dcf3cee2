//! One validating peer in dev mode, driven through the real `peerd` CLI with
//! the real example chaincodes as separate processes: the v0.6 canonical run
//! (deploy, invoke, query), map and example05, then kill -9 and restart.

use fabrik_tests::{ChildGuard, Peer, eventually, ok, wait_for_tx, wait_height};
use std::time::Duration;

const DEPLOY_02: &str = r#"{"Args":["init","a","100","b","200"]}"#;

fn query(peer: &Peer, name: &str, ctor: &str) -> String {
    ok(&peer.cli(&["chaincode", "query", "-n", name, "-c", ctor]))
}

/// Waits for the chaincode to register (deploy needs it in dev mode).
fn start_cc(peer: &Peer, bin: &str, name: &str) -> ChildGuard {
    let guard = peer.chaincode(bin, name);
    std::thread::sleep(Duration::from_millis(300));
    guard
}

fn query_eventually(peer: &Peer, name: &str, ctor: &str, expected: &str) {
    let got = eventually(Duration::from_secs(20), || {
        let out = peer.cli(&["chaincode", "query", "-n", name, "-c", ctor]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text == expected).then_some(text)
    });
    assert!(
        got.is_some(),
        "query {ctor} on {name} never gave {expected:?}; log:\n{}",
        peer.log()
    );
}

/// The payload of block `n`'s only transaction.
fn deploy_payload(peer: &Peer, n: u64) -> Vec<u8> {
    let block = fabrik_tests::block(&peer.address, n).expect("block");
    assert_eq!(block.transactions.len(), 1, "{block:?}");
    block.transactions[0].payload.clone()
}

#[test]
fn example02_map_example05_and_restart_after_kill_9() {
    let mut peer = Peer::new();
    peer.start(&["--peer-chaincodedev"]);
    wait_height(&peer, 1);

    let mut cc02 = start_cc(&peer, "example02", "mycc");
    let out = ok(&peer.cli(&["chaincode", "deploy", "-n", "mycc", "-c", DEPLOY_02]));
    assert_eq!(out, "Deploy chaincode: mycc\n");
    wait_height(&peer, 2);
    assert_eq!(
        deploy_payload(&peer, 1),
        fabrik_tests::v06_dev_deployment_spec("mycc", &["init", "a", "100", "b", "200"]),
        "the deployment spec the v0.6 CLI sends: the spec only, no date, no code"
    );
    assert_eq!(
        query(&peer, "mycc", r#"{"Args":["query","a"]}"#),
        "Query Result: 100\n"
    );

    ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["invoke","a","b","10"]}"#,
    ]));
    wait_height(&peer, 3);
    assert_eq!(
        query(&peer, "mycc", r#"{"Args":["query","a"]}"#),
        "Query Result: 90\n"
    );
    assert_eq!(
        query(&peer, "mycc", r#"{"Function":"query","Args":["b"]}"#),
        "Query Result: 210\n"
    );

    let mut map = start_cc(&peer, "map", "mapcc");
    ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-n",
        "mapcc",
        "-c",
        r#"{"Args":["init"]}"#,
    ]));
    wait_height(&peer, 4);
    ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        "mapcc",
        "-c",
        r#"{"Args":["put","k2","v2"]}"#,
    ]));
    ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        "mapcc",
        "-c",
        r#"{"Args":["put","k1","v1"]}"#,
    ]));
    query_eventually(
        &peer,
        "mapcc",
        r#"{"Args":["get","k1"]}"#,
        "Query Result: v1\n",
    );
    query_eventually(
        &peer,
        "mapcc",
        r#"{"Args":["keys"]}"#,
        "Query Result: [\"k1\",\"k2\"]\n",
    );

    let mut cc05 = start_cc(&peer, "example05", "cc05");
    ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-n",
        "cc05",
        "-c",
        r#"{"Args":["init","sum","0"]}"#,
    ]));
    query_eventually(
        &peer,
        "cc05",
        r#"{"Args":["query","mycc","sum"]}"#,
        "Query Result: 300\n",
    );
    let txid = ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        "cc05",
        "-c",
        r#"{"Args":["invoke","mycc","sum"]}"#,
    ]));
    let height_before = wait_for_tx(&peer, txid.trim());
    let blocks: Vec<_> = (0..height_before)
        .map(|n| fabrik_tests::block(&peer.address, n).expect("block"))
        .collect();

    // kill -9, restart: nothing committed is lost.
    peer.kill();
    drop((cc02.0.wait(), map.0.wait(), cc05.0.wait()));
    peer.start(&["--peer-chaincodedev"]);
    assert_eq!(fabrik_tests::height(&peer.address), Some(height_before));
    for (n, b) in blocks.iter().enumerate() {
        assert_eq!(
            fabrik_tests::block(&peer.address, n as u64).as_ref(),
            Some(b),
            "block {n} changed"
        );
    }
    cc02 = start_cc(&peer, "example02", "mycc");
    map = start_cc(&peer, "map", "mapcc");
    cc05 = start_cc(&peer, "example05", "cc05");
    // example05 first: its calls must make example02 ready (READY) on its
    // first use since the restart.
    query_eventually(
        &peer,
        "cc05",
        r#"{"Args":["query","mycc","sum"]}"#,
        "Query Result: 300\n",
    );
    query_eventually(
        &peer,
        "mycc",
        r#"{"Args":["query","a"]}"#,
        "Query Result: 90\n",
    );
    assert_eq!(
        query(&peer, "mycc", r#"{"Args":["query","b"]}"#),
        "Query Result: 210\n"
    );
    assert_eq!(
        query(&peer, "mapcc", r#"{"Args":["get","k2"]}"#),
        "Query Result: v2\n"
    );
    assert_eq!(
        query(&peer, "cc05", r#"{"Args":["query","mycc","sum"]}"#),
        "Query Result: 300\n"
    );
    drop((cc02, map, cc05));
}
