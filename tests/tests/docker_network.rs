//! Chaincode in Docker on a 4-validator PBFT network of real `peerd`
//! processes: example02 packaged as a static binary is deployed through
//! one peer, invoked through two others and queried on every peer; every
//! peer runs the chaincode in its own container built from its own image,
//! and all four hold the same chain.
//!
//! Gated on a Docker engine (see `docker_support`); the network's
//! containers and images are removed when the test ends and checked gone.

mod docker_support;

use docker_support::{Cleanup, PeerCli, deploy, engine, package, query, rt, static_binary};
use fabrik_io::chaincode::docker::{self, context};
use fabrik_tests::network::{self, Node, same_chain, wait_all};

fn docker_mode(nodes: &mut [Node], network_id: &str) {
    for n in nodes {
        // Applied after the harness's CORE_CHAINCODE_MODE=dev, so it wins.
        n.env.push(("CORE_CHAINCODE_MODE".into(), "docker".into()));
        n.env
            .push(("CORE_PEER_NETWORKID".into(), network_id.to_string()));
    }
}

#[test]
fn four_validators_each_run_example02_in_their_own_container() {
    let Some(engine) = engine() else { return };
    let cleanup = Cleanup::new(&engine, "pbft4");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut nodes = network::network(dir.path(), 4, 0);
    docker_mode(&mut nodes, &cleanup.network);
    for n in &mut nodes {
        n.spawn();
    }
    for n in &nodes {
        n.wait_up();
    }
    wait_all(&nodes, 1);

    let pkg = dir.path().join("example02-static.pkg");
    package(&nodes[0], &static_binary("example02"), &pkg);
    let name = deploy(&nodes[0], &pkg);
    wait_all(&nodes, 2);

    let transfer = |node: &Node, amount: &str| {
        node.invoke(&name, amount);
    };
    transfer(&nodes[1], "10");
    wait_all(&nodes, 3);
    transfer(&nodes[2], "5");
    wait_all(&nodes, 4);

    for n in &nodes {
        assert_eq!(
            query(n, &name, "a"),
            "Query Result: 85\n",
            "a on {}; log:\n{}",
            n.files.id,
            n.peer_log()
        );
        assert_eq!(
            query(n, &name, "b"),
            "Query Result: 215\n",
            "b on {}",
            n.files.id
        );
    }
    same_chain(&nodes, 4);

    // One container and one image per peer, each labelled with its owner.
    let rt = rt();
    let mut seen = Vec::new();
    for n in &nodes {
        let id = n.files.id.as_str();
        let expected = context::image_name(&cleanup.network, id, &name);
        let containers = rt
            .block_on(docker::list_containers(&engine, &cleanup.network, id))
            .expect("list containers");
        assert_eq!(containers, vec![expected.clone()], "containers of {id}");
        assert!(
            rt.block_on(docker::container_running(&engine, &expected)),
            "container {expected} of {id} is not running"
        );
        let labels = rt
            .block_on(docker::container_labels(&engine, &expected))
            .expect("container labels");
        assert_eq!(
            labels.get(context::LABEL_PEER).map(String::as_str),
            Some(id)
        );
        assert_eq!(labels.get(context::LABEL_CHAINCODE), Some(&name));
        let images = rt
            .block_on(docker::list_images(&engine, &cleanup.network, id))
            .expect("list images");
        assert_eq!(images, vec![format!("{expected}:latest")], "images of {id}");
        seen.push(expected);
    }
    let all = rt
        .block_on(docker::list_network_containers(&engine, &cleanup.network))
        .expect("list containers");
    assert_eq!(all.len(), 4, "four peers, four containers: {all:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "every peer has a container of its own");
}
