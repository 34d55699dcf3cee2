//! The built-in `bench` system chaincode (`chaincode.system.bench`): four
//! PBFT validators run it in process, with no deploy and no chaincode
//! process, and agree on every block; a peer that does not enable it
//! treats `bench` as a chaincode that was never deployed.

use fabrik_tests::network::{self, Node, http_get, same_chain, wait_all};
use fabrik_tests::{Peer, eventually, ok, wait_height};
use std::time::Duration;

fn cli_invoke(node: &Node, name: &str, args: &str) -> String {
    ok(&node.cli(&["chaincode", "invoke", "-n", name, "-c", args]))
}

fn len_of(node: &Node, key: &str) -> std::process::Output {
    let ctor = format!(r#"{{"Args":["len","{key}"]}}"#);
    node.cli(&["chaincode", "query", "-n", "bench", "-c", &ctor])
}

#[test]
fn four_validators_run_the_bench_system_chaincode_in_process_and_agree() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 0);
    for n in &mut nodes {
        n.env
            .push(("CORE_CHAINCODE_SYSTEM_BENCH".into(), "true".into()));
        n.start();
    }
    for (i, size) in ["100", "7", "1024"].iter().enumerate() {
        let args = format!(r#"{{"Args":["rw","k{i}","k{}","{size}"]}}"#, i + 1);
        let txid = cli_invoke(&nodes[i], "bench", &args);
        assert_eq!(txid.trim().len(), 36, "invoke prints the txid: {txid}");
    }
    let refused = cli_invoke(&nodes[0], "bench", r#"{"Args":["transfer"]}"#);
    assert_eq!(
        refused.trim().len(),
        36,
        "accepted, then rejected in its block"
    );
    wait_all(&nodes, 5);
    same_chain(&nodes, 5);
    let committed: usize = (1..5)
        .map(|n| {
            fabrik_tests::block(&nodes[0].files.address, n)
                .expect("block")
                .transactions
                .len()
        })
        .sum();
    assert_eq!(
        committed, 3,
        "the three rw invokes, not the unknown function"
    );
    for node in &nodes {
        let answers = eventually(Duration::from_secs(20), || {
            let out = [len_of(node, "k1"), len_of(node, "k2"), len_of(node, "k3")];
            let texts: Vec<String> = out
                .iter()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .collect();
            (texts
                == [
                    "Query Result: 100\n",
                    "Query Result: 7\n",
                    "Query Result: 1024\n",
                ])
            .then_some(())
        });
        assert!(
            answers.is_some(),
            "{} never answered the written lengths; log:\n{}",
            node.files.id,
            node.log()
        );
    }
    let metrics = http_get(&nodes[0].files.operations, "/metrics");
    let total = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{metrics}"))
    };
    assert!(
        total("fabrik_ledger_state_cache_hits_total") > 0,
        "the next block's reads of the nodes the last one wrote are served from memory"
    );
    assert!(total("fabrik_ledger_state_cache_misses_total") > 0);
    let log = nodes[0].log();
    assert!(
        log.contains("system chaincode enabled (runs in process)"),
        "log:\n{log}"
    );
    assert!(
        !log.contains("started chaincode process"),
        "no chaincode process was started:\n{log}"
    );
}

#[test]
fn without_the_whitelist_bench_is_a_chaincode_that_was_never_deployed() {
    let mut peer = Peer::new();
    peer.start(&[]);
    wait_height(&peer, 1);
    let out = peer.cli(&[
        "chaincode",
        "query",
        "-n",
        "bench",
        "-c",
        r#"{"Args":["len","k1"]}"#,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&fabrik_tests::v06_never_deployed_error("bench")),
        "stderr: {err}"
    );
}
