//! Chaincode in Docker containers, end to end through the real `peerd` CLI:
//! example02 built as a static binary, packaged with `peerd chaincode
//! package`, deployed on one peer in docker mode; invoke and query; the
//! container is killed (relaunched on next use), the image removed and the
//! peer restarted (rebuilt from the deploy transaction in the ledger), and
//! the peer's containers are gone after `peerd node stop`.
//!
//! Gated on a Docker engine (see `docker_support`). Each run uses its own
//! `peer.networkId`, and everything labelled with it is removed when the
//! test ends, pass or fail, and checked to be gone.

mod docker_support;

use docker_support::{
    Cleanup, deploy, engine, package, query, query_eventually, rt, static_binary,
};
use fabrik_io::chaincode::docker::{self, context};
use fabrik_tests::{Peer, eventually, ok, wait_height};
use std::path::Path;
use std::time::Duration;

const PEER_ID: &str = "vp0";
/// A small dynamically linked executable present on Linux systems.
const DYNAMIC_BINARY: &str = "/usr/bin/true";

#[test]
fn example02_in_docker_survives_a_killed_container_and_a_removed_image() {
    let Some(engine) = engine() else { return };
    let cleanup = Cleanup::new(&engine, "single");
    let network = cleanup.network.clone();
    let rt = rt();
    let mut peer = Peer::new()
        .env("CORE_CHAINCODE_MODE", "docker")
        .env("CORE_PEER_NETWORKID", &network);
    let static_pkg = peer.dir.path().join("example02-static.pkg");
    let dynamic_pkg = peer.dir.path().join("true-dynamic.pkg");
    package(&peer, &static_binary("example02"), &static_pkg);
    package(&peer, Path::new(DYNAMIC_BINARY), &dynamic_pkg);
    peer.start(&[]);
    wait_height(&peer, 1);

    // A binary that cannot run FROM scratch fails its deploy only, clearly.
    let dynamic = deploy(&peer, &dynamic_pkg);
    wait_height(&peer, 2);
    let log = eventually(Duration::from_secs(10), || {
        let log = peer.log();
        let expected =
            format!("cannot run chaincode {dynamic} in Docker: its binary is dynamically linked");
        log.contains(&expected).then_some(())
    });
    assert!(
        log.is_some(),
        "no clear error for the dynamic binary {dynamic}; log:\n{}",
        peer.log()
    );

    let name = deploy(&peer, &static_pkg);
    wait_height(&peer, 3);
    ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        &name,
        "-c",
        r#"{"Args":["invoke","a","b","10"]}"#,
    ]));
    wait_height(&peer, 4);
    assert_eq!(query(&peer, &name, "a"), "Query Result: 90\n");
    assert_eq!(query(&peer, &name, "b"), "Query Result: 210\n");

    let container = context::image_name(&network, PEER_ID, &name);
    let containers = rt
        .block_on(docker::list_containers(&engine, &network, PEER_ID))
        .expect("list containers");
    assert_eq!(containers, vec![container.clone()]);
    let labels = rt
        .block_on(docker::container_labels(&engine, &container))
        .expect("container labels");
    assert_eq!(labels.get(context::LABEL_CHAINCODE), Some(&name));
    let images = rt
        .block_on(docker::list_images(&engine, &network, PEER_ID))
        .expect("list images");
    assert_eq!(images, vec![format!("{container}:latest")]);

    // Killed container: relaunched on next use, values unchanged.
    rt.block_on(docker::kill_container(&engine, &container))
        .expect("docker kill");
    query_eventually(&peer, &name, "a", "Query Result: 90\n");
    assert!(
        rt.block_on(docker::container_running(&engine, &container)),
        "container was not relaunched"
    );

    // Image removed and peer restarted: rebuilt from the deploy transaction.
    peer.kill();
    rt.block_on(docker::purge(&engine, &network, PEER_ID))
        .expect("remove containers and image");
    peer.start(&[]);
    query_eventually(&peer, &name, "b", "Query Result: 210\n");
    let images = rt
        .block_on(docker::list_images(&engine, &network, PEER_ID))
        .expect("list images");
    assert_eq!(
        images,
        vec![format!("{container}:latest")],
        "image not rebuilt"
    );

    // A stopped peer leaves no container behind.
    ok(&peer.cli(&["node", "stop"]));
    let gone = eventually(Duration::from_secs(30), || {
        let left = rt
            .block_on(docker::list_containers(&engine, &network, PEER_ID))
            .ok()?;
        left.is_empty().then_some(())
    });
    assert!(
        gone.is_some(),
        "containers left after node stop; log:\n{}",
        peer.log()
    );
}
