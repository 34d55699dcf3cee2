//! `peerd node stop` ends the peer even while a client keeps a stream open:
//! a dev-mode chaincode (its Register stream lives as long as the chaincode)
//! must not keep the peer running after it answered STOPPED.

use fabrik_tests::{Peer, ok, wait_height};
use std::time::Duration;

#[test]
fn node_stop_ends_the_peer_while_a_dev_mode_chaincode_is_connected() {
    let mut peer = Peer::new();
    peer.start(&["--peer-chaincodedev"]);
    wait_height(&peer, 1);
    let mut cc = peer.chaincode("example02", "mycc");
    std::thread::sleep(Duration::from_millis(300));
    ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["init","a","100","b","200"]}"#,
    ]));
    wait_height(&peer, 2);

    ok(&peer.cli(&["node", "stop"]));
    let status = peer.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "the peer did not exit cleanly after node stop ({status:?}); log:\n{}",
        peer.log()
    );
    assert!(
        peer.log().contains("still had open streams"),
        "the open chaincode stream was cut, and the log says so:\n{}",
        peer.log()
    );
    // The chaincode sees its stream end and exits on its own.
    let exited = fabrik_tests::eventually(Duration::from_secs(10), || cc.0.try_wait().ok()?);
    assert!(
        exited.is_some(),
        "the chaincode kept running after its peer stopped"
    );
}
