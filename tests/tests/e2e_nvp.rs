//! A PBFT network of 4 validators and 1 non-validator, real `peerd`
//! processes made by `peerd testnet`: example02 deployed through the
//! non-validator and invoked through different validators gives every
//! validator the same height, block hashes and state hash, and the right
//! values on every peer, the non-validator included (it keeps no ledger
//! and forwards); with a validator down, the non-validator still gets its
//! transactions and queries through.

use fabrik_tests::network::{
    self, Node, deploy_example02, query_value, same_chain, same_head, txids, wait_all, wait_peers,
};

fn values(node: &Node, name: &str) -> (Result<i64, String>, Result<i64, String>) {
    (query_value(node, name, "a"), query_value(node, name, "b"))
}

#[test]
fn a_non_validator_deploys_validators_invoke_and_every_peer_agrees() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 1);
    network::process_chaincode(&mut nodes);
    for n in &mut nodes {
        n.start();
    }
    let (validators, nvp) = nodes.split_at(4);
    let nvp = &nvp[0];
    assert!(!nvp.files.validator);
    // The non-validator forwards to a validator it knows; before it knows
    // any, a deploy could only fail.
    wait_peers(nvp, &["vp0", "vp1", "vp2", "vp3"]);

    let name = deploy_example02(nvp, 100, 200);
    wait_all(validators, 2);
    for (i, (via, amount)) in [(1, "1"), (2, "2"), (3, "3"), (0, "4")]
        .into_iter()
        .enumerate()
    {
        validators[via].invoke(&name, amount);
        wait_all(validators, 3 + i as u64);
    }

    let head = same_head(validators);
    assert_eq!(head.height, 6, "deploy and 4 invokes, one block each");
    assert!(
        !head.state_hash.is_empty(),
        "head block carries a state hash"
    );
    same_chain(validators, head.height);
    for n in &nodes {
        assert_eq!(
            values(n, &name),
            (Ok(90), Ok(210)),
            "a and b on {}:\n{}",
            n.files.id,
            n.log()
        );
    }

    // The deploy went through the non-validator to a validator; it holds
    // no chain of its own.
    assert!(nvp.log().contains("transaction forwarded"), "{}", nvp.log());
    assert!(
        !nvp.log().contains("created genesis block"),
        "a non-validator made a ledger:\n{}",
        nvp.log()
    );
    let deploy_block = txids(&validators[0], 2);
    assert_eq!(deploy_block, vec![name.clone()], "block 1 is the deploy");
}

#[test]
fn a_non_validator_gets_through_with_one_validator_down() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nodes = network::network(dir.path(), 4, 1);
    network::process_chaincode(&mut nodes);
    for n in &mut nodes {
        n.start();
    }
    wait_peers(&nodes[4], &["vp0", "vp1", "vp2", "vp3"]);
    let name = deploy_example02(&nodes[4], 100, 200);
    wait_all(&nodes[..4], 2);

    // f = 1: the network goes on without vp3, and the non-validator, which
    // may pick vp3 first, must try another validator.
    nodes[3].kill();
    let mut sent = Vec::new();
    for i in 0..4u64 {
        let out = nodes[4].invoke(&name, "5");
        let txid = out.trim().to_string();
        assert!(!txid.is_empty(), "invoke through nvp0 printed no txid");
        sent.push(txid);
        wait_all(&nodes[..3], 3 + i);
    }
    for _ in 0..6 {
        assert_eq!(
            values(&nodes[4], &name),
            (Ok(80), Ok(220)),
            "query through nvp0 with vp3 down:\n{}",
            nodes[4].log()
        );
    }
    let head = same_head(&nodes[..4]);
    assert_eq!(head.height, 6);
    same_chain(&nodes[..4], head.height);
    let on_chain = txids(&nodes[0], head.height);
    for txid in &sent {
        assert!(
            on_chain.contains(txid),
            "{txid} sent through nvp0 is not on vp0's chain {on_chain:?}"
        );
    }
}
