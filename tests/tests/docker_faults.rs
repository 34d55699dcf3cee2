//! Chaincodes that fail, seen through a real `peerd` and the CLI: one that
//! exits in the middle of a transaction (docker and process mode), one
//! that never answers (docker mode; the dev-mode case is in
//! e2e_bad_input.rs), and one whose image cannot be built. Each fails its
//! own transaction with an error naming the chaincode, and the peer keeps
//! serving: the chaincode is relaunched on next use and later transactions
//! give the right values. Also: a peer id the engine once refused to build
//! images for (too long, with a `$`) works.
//!
//! The misbehaving chaincode is `faultcc` (bin/examples): example02 plus
//! `crash` (writes `a`, then exits with status 3 before answering) and
//! `hang`. Docker tests are gated on an engine (see `docker_support`).

mod docker_support;

use docker_support::{
    Cleanup, Rejections, deploy, engine, invoke_wait, package, query, query_args, query_eventually,
    rt, static_binary,
};
use fabrik_io::chaincode::docker::{self, Engine, context};
use fabrik_tests::{Client, Peer, wait_for_tx, wait_height};
use std::path::Path;

const PEER_ID: &str = "vp0";

/// A single peer in docker mode on test network `network`.
fn docker_peer(network: &str) -> Peer {
    Peer::new()
        .env("CORE_CHAINCODE_MODE", "docker")
        .env("CORE_PEER_NETWORKID", network)
}

/// Packages `binary` and deploys it with example02's ctor; its name.
fn deploy_binary(peer: &Peer, binary: &Path, file: &str) -> String {
    let pkg = peer.dir.path().join(file);
    package(peer, binary, &pkg);
    deploy(peer, &pkg)
}

/// What the peer reports about a chaincode that went away mid-transaction.
fn vanished(name: &str) -> String {
    format!("Transaction or query returned with failure: chaincode {name} closed its stream")
}

/// The crash scenario, the same in every mode; `container` checks the
/// container after each relaunch (docker mode).
fn crash_mid_transaction(peer: &Peer, name: &str, container: &dyn Fn()) {
    // Alone: the invoke is rejected with the chaincode's name, the write it
    // made before dying is dropped, and the next use relaunches it.
    let (txid, result) = invoke_wait(peer, name, &["crash"]);
    let err = result.expect_err("a crashed invoke must not commit");
    let expected = format!("transaction {txid} was rejected: {}", vanished(name));
    assert!(err.contains(&expected), "{err}\nlog:\n{}", peer.log());
    query_eventually(peer, name, "a", "Query Result: 100\n");
    container();

    // Back to back between two transfers (an idle peer cuts the first into
    // a block of its own; the crash and the second transfer usually share
    // the next, executed side by side): whatever the blocks, only the
    // crashed invoke fails.
    let mut client = Client::connect(&peer.address).expect("connect");
    let first = client
        .invoke(name, &["invoke", "a", "b", "10"])
        .expect("t1");
    let crash = client.invoke(name, &["crash"]).expect("crash");
    let last = client.invoke(name, &["invoke", "a", "b", "5"]).expect("t3");
    let height = wait_for_tx(peer, &last).max(wait_for_tx(peer, &first));
    let committed: Vec<String> = (1..height)
        .filter_map(|n| fabrik_tests::block(&peer.address, n))
        .flat_map(|b| b.transactions.into_iter().map(|t| t.txid))
        .collect();
    assert!(!committed.contains(&crash), "the crashed invoke committed");
    assert_eq!(query(peer, name, "a"), "Query Result: 85\n");
    assert_eq!(query(peer, name, "b"), "Query Result: 215\n");
    container();

    // A query that crashes it: the querying user is told, by name.
    let out = query_args(peer, name, &["crash", "a"]);
    assert!(!out.status.success(), "a crashed query succeeded: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&vanished(name)), "{stderr}");
    query_eventually(peer, name, "b", "Query Result: 215\n");
    let (_, later) = invoke_wait(peer, name, &["invoke", "b", "a", "15"]);
    later.expect("an invoke after the crashes commits");
    assert_eq!(query(peer, name, "a"), "Query Result: 100\n");
    assert_eq!(query(peer, name, "b"), "Query Result: 200\n");
    container();
}

/// Asserts the one container of chaincode `name` is running again.
fn relaunched(engine: &Engine, network: &str, name: &str) {
    let rt = rt();
    let container = context::image_name(network, PEER_ID, name);
    let containers = rt
        .block_on(docker::list_containers(engine, network, PEER_ID))
        .expect("list containers");
    assert_eq!(containers, vec![container.clone()]);
    assert!(
        rt.block_on(docker::container_running(engine, &container)),
        "container {container} was not relaunched"
    );
}

#[test]
fn a_chaincode_exiting_mid_transaction_fails_that_transaction_only_in_docker() {
    let Some(engine) = engine() else { return };
    let cleanup = Cleanup::new(&engine, "crash");
    let mut peer = docker_peer(&cleanup.network);
    peer.start(&[]);
    wait_height(&peer, 1);
    let name = deploy_binary(&peer, &static_binary("faultcc"), "faultcc-static.pkg");
    wait_height(&peer, 2);
    crash_mid_transaction(&peer, &name, &|| {
        relaunched(&engine, &cleanup.network, &name)
    });
}

#[test]
fn a_chaincode_exiting_mid_transaction_fails_that_transaction_only_as_a_process() {
    let mut peer = Peer::new().env("CORE_CHAINCODE_MODE", "process");
    peer.start(&[]);
    wait_height(&peer, 1);
    let faultcc = fabrik_tests::binary("faultcc");
    let name = deploy_binary(&peer, &faultcc, "faultcc.pkg");
    wait_height(&peer, 2);
    crash_mid_transaction(&peer, &name, &|| {});
}

#[test]
fn a_chaincode_that_hangs_in_docker_times_out_and_is_relaunched() {
    let Some(engine) = engine() else { return };
    let cleanup = Cleanup::new(&engine, "hang");
    let mut peer = docker_peer(&cleanup.network).env("CORE_CHAINCODE_EXECUTETIMEOUT", "2000");
    peer.start(&[]);
    wait_height(&peer, 1);
    let name = deploy_binary(&peer, &static_binary("faultcc"), "faultcc-static.pkg");
    wait_height(&peer, 2);
    let timeout =
        "Failed to execute transaction or query(Timeout expired while executing transaction)";

    let (txid, result) = invoke_wait(&peer, &name, &["hang"]);
    let err = result.expect_err("a hung invoke must not commit");
    assert!(
        err.contains(&format!("transaction {txid} was rejected: {timeout}")),
        "{err}"
    );
    // The v0.6 text does not name the chaincode; the peer's log does.
    let log = peer.log();
    assert!(
        log.lines().any(
            |l| l.contains("execution timed out; stopping the chaincode")
                && l.contains(&name)
                && l.contains(&txid)
        ),
        "no log line naming {name} and {txid}:\n{log}"
    );
    query_eventually(&peer, &name, "a", "Query Result: 100\n");
    relaunched(&engine, &cleanup.network, &name);

    let out = query_args(&peer, &name, &["hang", "a"]);
    assert!(!out.status.success(), "a hung query succeeded: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(timeout), "{stderr}");

    let (_, later) = invoke_wait(&peer, &name, &["invoke", "a", "b", "10"]);
    later.expect("an invoke after the timeouts commits");
    assert_eq!(query(&peer, &name, "a"), "Query Result: 90\n");
    assert_eq!(query(&peer, &name, "b"), "Query Result: 210\n");
    relaunched(&engine, &cleanup.network, &name);
}

#[test]
fn a_chaincode_whose_image_cannot_be_built_fails_its_deploy_by_name() {
    let Some(engine) = engine() else { return };
    let cleanup = Cleanup::new(&engine, "noimage");
    let mut peer = docker_peer(&cleanup.network);
    peer.start(&[]);
    wait_height(&peer, 1);
    let mut rejections = Rejections::listen(&peer, peer.dir.path().join("rejections.jsonl"));

    // A wrapper script packaged in place of the compiled chaincode.
    let script = peer.dir.path().join("run-chaincode.sh");
    std::fs::write(&script, "#!/bin/sh\nexec ./example02 \"$@\"\n").expect("script");
    let bad = deploy_binary(&peer, &script, "script.pkg");
    let reason = rejections.wait_for(&bad);
    assert!(
        reason.starts_with(&format!(
            "cannot run chaincode {bad} in Docker: its binary is a script (`#!/bin/sh`), not a compiled executable; \
             a FROM scratch image needs a statically linked Linux executable (build it with"
        )),
        "{reason}"
    );
    assert!(
        reason.ends_with("or set chaincode.mode = \"process\""),
        "{reason}"
    );
    let out = query_args(&peer, &bad, &["query", "a"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains(&format!("Could not get deployment transaction for {bad}")),
        "{out:?}"
    );
    let images = rt()
        .block_on(docker::list_network_images(&engine, &cleanup.network))
        .expect("list images");
    assert!(
        images.is_empty(),
        "an image was built for the script: {images:?}"
    );

    // The peer keeps serving other chaincodes.
    let good = deploy_binary(&peer, &static_binary("example02"), "example02-static.pkg");
    let (_, result) = invoke_wait(&peer, &good, &["invoke", "a", "b", "10"]);
    result.expect("example02 invoke after the failed deploy");
    assert_eq!(query(&peer, &good, "a"), "Query Result: 90\n");
    relaunched(&engine, &cleanup.network, &good);
}

#[test]
fn an_unusual_network_id_still_gives_an_image_that_builds_and_is_cleaned_up() {
    let Some(engine) = engine() else { return };
    // Longer than an image name may be beside a 128-character chaincode
    // name (the engine refused every build), and with a `$` the image
    // builder would substitute in the image's labels (so the image escaped
    // the clean-up by label).
    let cleanup = Cleanup {
        engine: engine.clone(),
        network: format!(
            "{}-$net{}",
            docker_support::network_id("odd"),
            "n".repeat(100)
        ),
    };
    let mut peer = docker_peer(&cleanup.network);
    peer.start(&[]);
    wait_height(&peer, 1);
    let name = deploy_binary(&peer, &static_binary("example02"), "example02-static.pkg");
    let (_, result) = invoke_wait(&peer, &name, &["invoke", "a", "b", "10"]);
    result.unwrap_or_else(|e| panic!("{e}\nlog:\n{}", peer.log()));
    assert_eq!(query(&peer, &name, "a"), "Query Result: 90\n");
    let rt = rt();
    let images = rt
        .block_on(docker::list_network_images(&engine, &cleanup.network))
        .expect("list images");
    assert_eq!(
        images.len(),
        1,
        "the image is found by its network label: {images:?}"
    );
    let container = context::image_name(&cleanup.network, PEER_ID, &name);
    assert!(
        container.len() < 238,
        "{} characters: {container}",
        container.len()
    );
    let labels = rt
        .block_on(docker::container_labels(&engine, &container))
        .expect("container labels");
    assert_eq!(labels.get(context::LABEL_NETWORK), Some(&cleanup.network));
}
