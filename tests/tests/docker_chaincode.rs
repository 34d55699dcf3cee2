//! Chaincode in Docker containers, end to end through the real `peerd` CLI:
//! example02 built as a static binary, packaged with `peerd chaincode
//! package`, deployed on one peer in docker mode; invoke and query; the
//! container is killed (relaunched on next use), the image removed and the
//! peer restarted (rebuilt from the deploy transaction in the ledger), and
//! the peer's containers are gone after `peerd node stop`.
//!
//! Gated on a Docker engine at the default socket: without one the tests
//! print why and pass, unless `FABRIK_REQUIRE_DOCKER=1` (CI) makes them
//! fail. Each run uses its own `peer.networkId`, and everything labelled
//! with it is removed when the test ends, pass or fail.

use fabrik_io::chaincode::docker::{self, Engine, context};
use fabrik_tests::{Peer, eventually, ok, wait_height};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The engine when `CORE_VM_ENDPOINT` (which the peers also read) is unset.
const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";
const DEPLOY_02: &str = r#"{"Args":["init","a","100","b","200"]}"#;
const PEER_ID: &str = "vp0";
/// Static and stripped: the package travels in the deploy transaction.
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static -C strip=symbols";
/// A small dynamically linked executable present on Linux systems.
const DYNAMIC_BINARY: &str = "/usr/bin/true";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The engine, or `None` (skip) when none answers and CI does not require one.
fn engine() -> Option<Engine> {
    let required = std::env::var("FABRIK_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let endpoint = std::env::var("CORE_VM_ENDPOINT").unwrap_or_else(|_| DEFAULT_ENDPOINT.into());
    match rt().block_on(docker::connect(&endpoint)) {
        Ok(engine) => Some(engine),
        Err(why) if required => {
            panic!("FABRIK_REQUIRE_DOCKER=1 but no Docker engine answers: {why}")
        }
        Err(why) => {
            eprintln!(
                "skipping Docker chaincode test: {why} (set FABRIK_REQUIRE_DOCKER=1 to make this fail)"
            );
            None
        }
    }
}

/// Removes every container and image of one test network when dropped.
struct Cleanup {
    engine: Engine,
    network: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let removed = rt().block_on(docker::purge(&self.engine, &self.network, PEER_ID));
        eprintln!("cleanup of network {}: {removed:?}", self.network);
    }
}

/// example02 built once per run as a static binary, in its own target
/// directory (`target/static`) so the normal build cache is untouched.
fn static_example02() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = fabrik_tests::target_dir()
                .parent()
                .expect("target/")
                .join("static");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "-q",
                    "--release",
                    "-p",
                    "fabrik-examples",
                    "--bin",
                    "example02",
                ])
                .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
                .arg(&target)
                .env("RUSTFLAGS", STATIC_RUSTFLAGS)
                .status()
                .expect("run cargo build");
            assert!(status.success(), "static build of example02 failed");
            target.join("x86_64-unknown-linux-gnu/release/example02")
        })
        .clone()
}

fn query(peer: &Peer, name: &str, key: &str) -> String {
    let ctor = format!(r#"{{"Args":["query","{key}"]}}"#);
    ok(&peer.cli(&["chaincode", "query", "-n", name, "-c", &ctor]))
}

/// Queries until the answer is `expected` (a relaunch may take a moment).
fn query_eventually(peer: &Peer, name: &str, key: &str, expected: &str) {
    let ctor = format!(r#"{{"Args":["query","{key}"]}}"#);
    let got = eventually(Duration::from_secs(60), || {
        let out = peer.cli(&["chaincode", "query", "-n", name, "-c", &ctor]);
        (out.status.success() && out.stdout == expected.as_bytes()).then_some(())
    });
    assert!(
        got.is_some(),
        "query {key} never gave {expected:?}; log:\n{}",
        peer.log()
    );
}

fn package(peer: &Peer, binary: &Path, out: &Path) {
    let text = ok(&peer.cli(&[
        "chaincode",
        "package",
        &binary.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]));
    assert!(text.starts_with("Chaincode package: "), "{text}");
}

fn deploy(peer: &Peer, package: &Path) -> String {
    let out = ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-p",
        &package.display().to_string(),
        "-c",
        DEPLOY_02,
    ]));
    let name = out
        .strip_prefix("Deploy chaincode: ")
        .expect("deploy output")
        .trim()
        .to_string();
    assert_eq!(name.len(), 128, "v0.6 names are 128 hex characters: {name}");
    name
}

#[test]
fn example02_in_docker_survives_a_killed_container_and_a_removed_image() {
    let Some(engine) = engine() else { return };
    let network = format!("fabrik-test-{}", std::process::id());
    let _cleanup = Cleanup {
        engine: engine.clone(),
        network: network.clone(),
    };
    let rt = rt();
    let mut peer = Peer::new()
        .env("CORE_CHAINCODE_MODE", "docker")
        .env("CORE_PEER_NETWORKID", &network);
    let static_pkg = peer.dir.path().join("example02-static.pkg");
    let dynamic_pkg = peer.dir.path().join("true-dynamic.pkg");
    package(&peer, &static_example02(), &static_pkg);
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
