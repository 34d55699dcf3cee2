//! What the Docker chaincode tests (`docker_*.rs`) share: the gate on a
//! Docker engine, a network id per test and the guard that removes and
//! then checks for everything labelled with it, the static chaincode
//! binaries, and the CLI steps (package, deploy, query, invoke --wait) run
//! against a single [`Peer`] or a testnet [`Node`] alike.
//!
//! Gated on a Docker engine at the default socket: without one the tests
//! print why and pass, unless `FABRIK_REQUIRE_DOCKER=1` (CI) makes them
//! fail.

#![allow(dead_code)] // each test binary uses its own part of this module

use fabrik_io::chaincode::docker::{self, Engine};
use fabrik_tests::network::Node;
use fabrik_tests::{Peer, binary, eventually, ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The engine when `CORE_VM_ENDPOINT` (which the peers also read) is unset.
pub const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";
/// example02's (and faultcc's) usual ctor.
pub const DEPLOY_02: &str = r#"{"Args":["init","a","100","b","200"]}"#;
/// Static and stripped: the package travels in the deploy transaction.
const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static -C strip=symbols";
/// Prefix of every test network id; the rest is `<pid>-<tag>`.
pub const NETWORK_PREFIX: &str = "fabrik-test-";

/// A current-thread runtime for one engine call.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The engine, or `None` (skip) when none answers and CI does not require one.
pub fn engine() -> Option<Engine> {
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

/// The `peer.networkId` of one test: unique per process and tag, so tests
/// sharing a process (plain `cargo test`) never purge each other's objects.
pub fn network_id(tag: &str) -> String {
    format!("{NETWORK_PREFIX}{}-{tag}", std::process::id())
}

/// Removes every container and image of one test network when dropped,
/// pass or fail, then checks that none is left (declare it before the
/// peers, so they are killed first and cannot relaunch anything).
pub struct Cleanup {
    /// The engine.
    pub engine: Engine,
    /// The test's `peer.networkId`.
    pub network: String,
}

impl Cleanup {
    /// The guard of network `network_id(tag)`.
    pub fn new(engine: &Engine, tag: &str) -> Self {
        Self {
            engine: engine.clone(),
            network: network_id(tag),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let rt = rt();
        let removed = rt.block_on(docker::purge_network(&self.engine, &self.network));
        eprintln!("cleanup of network {}: {removed:?}", self.network);
        let containers = rt.block_on(docker::list_network_containers(&self.engine, &self.network));
        let images = rt.block_on(docker::list_network_images(&self.engine, &self.network));
        let left = (containers, images);
        let clean = matches!(&left, (Ok(c), Ok(i)) if c.is_empty() && i.is_empty());
        if !clean && !std::thread::panicking() {
            panic!(
                "Docker objects of test network {} left after cleanup (containers, images): {left:?}; \
                 remove them with `docker rm -f` / `docker rmi -f`",
                self.network
            );
        }
    }
}

/// Where the static chaincode builds go (`target/static`), apart from the
/// normal build cache.
fn static_target() -> PathBuf {
    fabrik_tests::target_dir()
        .parent()
        .expect("target/")
        .join("static")
}

/// `name` (example02 or faultcc) built as a static binary, once per test
/// process; both are built together so the two tests asking for them do
/// not rebuild each other's.
pub fn static_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "--release", "-p", "fabrik-examples"])
            .args(["--bin", "example02", "--bin", "faultcc"])
            .args(["--target", "x86_64-unknown-linux-gnu", "--target-dir"])
            .arg(static_target())
            .env("RUSTFLAGS", STATIC_RUSTFLAGS)
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "static build of example02 and faultcc failed"
        );
    });
    let path = static_target()
        .join("x86_64-unknown-linux-gnu/release")
        .join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A `peerd` command line pointed at one peer: a single [`Peer`] (by
/// environment) or a testnet [`Node`] (by its configuration file).
pub trait PeerCli {
    /// `peerd` with this peer's settings, arguments still to add.
    fn peerd(&self) -> Command;
    /// Everything the peer logged.
    fn peer_log(&self) -> String;

    /// Runs `peerd <args>` to completion.
    fn run(&self, args: &[&str]) -> Output {
        self.peerd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run peerd cli")
    }
}

impl PeerCli for Peer {
    fn peerd(&self) -> Command {
        let mut c = Command::new(binary("peerd"));
        c.envs(self.envs());
        c
    }
    fn peer_log(&self) -> String {
        self.log()
    }
}

impl PeerCli for Node {
    fn peerd(&self) -> Command {
        let mut c = Command::new(binary("peerd"));
        c.arg("--config").arg(&self.files.config);
        c
    }
    fn peer_log(&self) -> String {
        self.log()
    }
}

/// `peerd chaincode package <binary> -o <out>`.
pub fn package(peer: &impl PeerCli, binary: &Path, out: &Path) {
    let text = ok(&peer.run(&[
        "chaincode",
        "package",
        &binary.display().to_string(),
        "-o",
        &out.display().to_string(),
    ]));
    assert!(text.starts_with("Chaincode package: "), "{text}");
}

/// `peerd chaincode deploy -p <package> -c <DEPLOY_02>`; the chaincode name.
pub fn deploy(peer: &impl PeerCli, package: &Path) -> String {
    let out = ok(&peer.run(&[
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

/// `peerd chaincode query -n <name> -c {"Args":[args...]}`.
pub fn query_args(peer: &impl PeerCli, name: &str, args: &[&str]) -> Output {
    let ctor = serde_json::json!({ "Args": args }).to_string();
    peer.run(&["chaincode", "query", "-n", name, "-c", &ctor])
}

/// example02's `query <key>`: the CLI's output, asserting success.
pub fn query(peer: &impl PeerCli, name: &str, key: &str) -> String {
    ok(&query_args(peer, name, &["query", key]))
}

/// Queries until the answer is `expected` (a relaunch may take a moment).
pub fn query_eventually(peer: &impl PeerCli, name: &str, key: &str, expected: &str) {
    let got = eventually(Duration::from_secs(60), || {
        let out = query_args(peer, name, &["query", key]);
        (out.status.success() && out.stdout == expected.as_bytes()).then_some(())
    });
    assert!(
        got.is_some(),
        "query {key} never gave {expected:?}; log:\n{}",
        peer.peer_log()
    );
}

/// `peerd chaincode invoke --wait -n <name> -c {"Args":[args...]}`: the
/// txid and `Ok` when committed, or the CLI's error text when rejected.
pub fn invoke_wait(peer: &impl PeerCli, name: &str, args: &[&str]) -> (String, Result<(), String>) {
    let ctor = serde_json::json!({ "Args": args }).to_string();
    let out = peer.run(&[
        "chaincode",
        "invoke",
        "--wait",
        "--wait-timeout",
        "120",
        "-n",
        name,
        "-c",
        &ctor,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let txid = stdout.lines().next().unwrap_or_default().trim().to_string();
    assert_eq!(txid.len(), 36, "no txid printed: {stdout:?}; {out:?}");
    let result = if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    (txid, result)
}

/// `peerd events listen --rejections` running in the background, its
/// output collected in a file; killed when dropped.
pub struct Rejections {
    child: fabrik_tests::ChildGuard,
    out: PathBuf,
}

impl Rejections {
    /// Starts listening and waits until the listener is connected (it
    /// prints nothing before, so give it the time a connection takes).
    pub fn listen(peer: &impl PeerCli, out: PathBuf) -> Self {
        let file = std::fs::File::create(&out).expect("rejections file");
        let child = peer
            .peerd()
            .args(["events", "listen", "--rejections"])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn peerd events listen");
        // The listener has no "ready" output; a second is ample on a busy
        // box, and a missed rejection fails the test loudly, not silently.
        std::thread::sleep(Duration::from_secs(1));
        Self {
            child: fabrik_tests::ChildGuard(child),
            out,
        }
    }

    /// Waits up to 60 s for the rejection of transaction `txid`; its
    /// `errorMsg`, the reason a user is told.
    pub fn wait_for(&mut self, txid: &str) -> String {
        let find = |text: &str| {
            text.lines().find_map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).ok()?;
                let r = v.get("rejection")?;
                (r["tx"]["txid"] == txid).then(|| r["errorMsg"].as_str().unwrap_or("").to_string())
            })
        };
        let found = eventually(Duration::from_secs(60), || {
            find(&std::fs::read_to_string(&self.out).ok()?)
        });
        found.unwrap_or_else(|| {
            let all = std::fs::read_to_string(&self.out).unwrap_or_default();
            let exited = self.child.0.try_wait();
            panic!(
                "no rejection of {txid}; listener ({exited:?}) printed:\n{}",
                text_tail(&all)
            )
        })
    }
}

/// The end of a long text, for a panic message.
fn text_tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(4000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
