//! Speculative parallel execution seen from outside: one NOOPS peer with a
//! long block wait, so that many invokes land in the same block and the
//! executor runs them side by side. Transfers between the same two accounts
//! all conflict and must come out as if run one by one; puts of distinct
//! keys do not conflict; a later put of a key must win over an earlier one
//! in the same block; a failing invoke is rejected exactly as serially.

use fabrik_tests::{ChildGuard, Client, Peer, eventually, ok, wait_height};
use std::time::Duration;

const TRANSFERS: usize = 30;
const PUTS: usize = 30;

fn start_cc(peer: &Peer, bin: &str, name: &str) -> ChildGuard {
    let guard = peer.chaincode(bin, name);
    std::thread::sleep(Duration::from_millis(300));
    guard
}

fn deploy(peer: &Peer, name: &str, ctor: &str, height: u64) {
    ok(&peer.cli(&["chaincode", "deploy", "-n", name, "-c", ctor]));
    wait_height(peer, height);
}

#[test]
fn a_block_executed_side_by_side_gives_the_serial_results() {
    let mut peer = Peer::new()
        .env("CORE_NOOPS_BLOCK_WAIT", "2s")
        .env("CORE_NOOPS_BLOCK_SIZE", "500");
    peer.start(&["--peer-chaincodedev"]);
    wait_height(&peer, 1);
    let _cc02 = start_cc(&peer, "example02", "mycc");
    let _map = start_cc(&peer, "map", "mapcc");
    deploy(&peer, "mycc", r#"{"Args":["init","a","100","b","200"]}"#, 2);
    deploy(&peer, "mapcc", r#"{"Args":["init"]}"#, 3);

    let t0 = std::time::Instant::now();
    let mut client = Client::connect(&peer.address).expect("connect");
    let mut txids = Vec::new();
    for i in 0..TRANSFERS.max(PUTS) {
        if i < TRANSFERS {
            txids.push(
                client
                    .invoke("mycc", &["invoke", "a", "b", "1"])
                    .expect("transfer"),
            );
        }
        if i < PUTS {
            let (key, value) = (format!("k{i}"), format!("v{i}"));
            txids.push(client.invoke("mapcc", &["put", &key, &value]).expect("put"));
        }
        if i == 5 {
            txids.push(
                client
                    .invoke("mycc", &["invoke", "a", "b", "lots"])
                    .expect("bad"),
            );
            txids.push(
                client
                    .invoke("mapcc", &["put", "dup", "first"])
                    .expect("put"),
            );
        }
    }
    txids.push(
        client
            .invoke("mapcc", &["put", "dup", "second"])
            .expect("put"),
    );
    let submitted = txids.len() as u64;
    eprintln!("submitted {submitted} in {:?}", t0.elapsed());

    // Every good transaction commits; the bad transfer is rejected.
    let blocks = eventually(Duration::from_secs(60), || {
        let height = client.height()?;
        let blocks: Vec<_> = (3..height).filter_map(|n| client.block(n)).collect();
        let count: u64 = blocks.iter().map(|b| b.transactions.len() as u64).sum();
        (count == submitted - 1).then_some(blocks)
    })
    .unwrap_or_else(|| panic!("transactions did not all commit; log:\n{}", peer.log()));
    eprintln!("committed after {:?}", t0.elapsed());
    let largest = blocks
        .iter()
        .map(|b| b.transactions.len())
        .max()
        .unwrap_or(0);
    assert!(
        largest >= 10,
        "the test needs blocks of many transactions to exercise side-by-side execution (largest {largest})"
    );

    let a = TRANSFERS as i64;
    assert_eq!(
        client.query("mycc", &["query", "a"]),
        Ok(format!("{}", 100 - a))
    );
    assert_eq!(
        client.query("mycc", &["query", "b"]),
        Ok(format!("{}", 200 + a))
    );
    for i in 0..PUTS {
        assert_eq!(
            client.query("mapcc", &["get", &format!("k{i}")]),
            Ok(format!("v{i}"))
        );
    }
    assert_eq!(
        client.query("mapcc", &["get", "dup"]),
        Ok("second".to_string()),
        "the later write in block order wins"
    );
    // The stored state hashes to what the head block says.
    drop(client);
    peer.kill();
    let verified = ok(&peer.cli(&["ledger", "verify"]));
    assert!(verified.starts_with("ledger OK"), "{verified}");
}
