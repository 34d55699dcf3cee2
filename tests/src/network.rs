//! A `peerd testnet` network run as real `peerd node start` processes for
//! end-to-end tests: port blocks reserved across test processes, start,
//! kill and restart of single nodes, and the checks every multi-peer test
//! makes (heights reached, identical block hashes).

use crate::{ChildGuard, binary, block, eventually, height, ok};
use fabrik_core::ledger::block::block_hash;
use fabrik_io::testnet::{self, NodeFiles, PORT_STRIDE, TestnetSpec};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// One node of a generated testnet and, while it runs, its process.
pub struct Node {
    /// The node's generated files and addresses.
    pub files: NodeFiles,
    /// The running `peerd` process, if started.
    pub child: Option<Child>,
    /// Extra environment for every start (for example `CORE_PBFT_GENERAL_K`).
    pub env: Vec<(String, String)>,
}

impl Node {
    /// Starts the node and waits until its gRPC API answers.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_up();
    }

    /// Starts the node without waiting; output is appended to `peerd.log`.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.files.dir.join("peerd.log"))
            .expect("log");
        let child = Command::new(binary("peerd"))
            .args(["node", "start", "--config"])
            .arg(&self.files.config)
            .env("CORE_CHAINCODE_MODE", "dev")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn peerd");
        self.child = Some(child);
    }

    /// Waits up to 30 s for the node's gRPC API; panics with its log.
    pub fn wait_up(&self) {
        let up = eventually(Duration::from_secs(30), || {
            height(&self.files.address).map(|_| ())
        });
        assert!(
            up.is_some(),
            "{} did not start:\n{}",
            self.files.id,
            self.log()
        );
    }

    /// Whether the node's process was started and not killed since.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL: the process gets no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Everything the node has logged across its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.files.dir.join("peerd.log")).unwrap_or_default()
    }

    /// Runs a `peerd` CLI command against this node's configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(binary("peerd"))
            .arg("--config")
            .arg(&self.files.config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("peerd cli")
    }

    /// Runs example02 in dev mode against this node under `name`.
    pub fn chaincode(&self, name: &str) -> ChildGuard {
        let child = Command::new(binary("example02"))
            .env("CORE_CHAINCODE_ID_NAME", name)
            .env("CORE_PEER_ADDRESS", &self.files.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn example02");
        ChildGuard(child)
    }

    /// `peerd chaincode invoke` of example02's transfer from a to b.
    pub fn invoke(&self, name: &str, amount: &str) -> String {
        let ctor = format!(r#"{{"Args":["invoke","a","b","{amount}"]}}"#);
        ok(&self.cli(&["chaincode", "invoke", "-n", name, "-c", &ctor]))
    }

    /// `peerd chaincode query` of example02's key `key`; the CLI's output.
    pub fn query(&self, name: &str, key: &str) -> Output {
        let ctor = format!(r#"{{"Args":["query","{key}"]}}"#);
        self.cli(&["chaincode", "query", "-n", name, "-c", &ctor])
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// First port of the range test networks are placed in: below Linux's
/// ephemeral range (32768+), so outgoing connections of tests running
/// alongside cannot be sitting on them.
const FIRST_PORT: u16 = 20_000;
/// Ports per reserved block: room for 8 nodes.
const BLOCK: u16 = 8 * PORT_STRIDE;
const BLOCKS: u16 = (32_000 - FIRST_PORT) / BLOCK;

/// A block of ports no other test process on this machine holds: claimed
/// by creating a lock file naming this process, taken over when the
/// process that made it has exited. Held until this process exits, which
/// under nextest is the end of the test.
pub fn reserve_base_port() -> u16 {
    let dir = std::env::temp_dir().join("fabrik-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock directory");
    let me = std::process::id();
    let start = (me as u16).wrapping_mul(7) % BLOCKS;
    for i in 0..BLOCKS {
        let slot = (start + i) % BLOCKS;
        if claim(&dir.join(slot.to_string()), me) {
            return FIRST_PORT + slot * BLOCK;
        }
    }
    panic!(
        "every test port block is held; stale files in {}?",
        dir.display()
    );
}

fn claim(lock: &Path, me: u32) -> bool {
    use std::io::Write;
    for _ in 0..2 {
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock);
        if let Ok(mut f) = created {
            let _ = write!(f, "{me}");
            return true;
        }
        let holder = std::fs::read_to_string(lock).unwrap_or_default();
        // A block this process holds already belongs to an earlier network
        // of the same test; a file being written this instant reads empty.
        match holder.trim().parse::<i32>() {
            Ok(pid) if pid as u32 == me || process_exists(pid) => return false,
            Ok(_) => {
                let _ = std::fs::remove_file(lock);
            }
            Err(_) => return false,
        }
    }
    false
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A fresh PBFT testnet (not started) of `validators` validating peers and
/// `non_validators` non-validating peers, generated in `dir`.
pub fn network(dir: &Path, validators: usize, non_validators: usize) -> Vec<Node> {
    assert!(
        validators + non_validators <= 8,
        "a port block holds 8 nodes"
    );
    let spec = TestnetSpec {
        validators,
        non_validators,
        out: dir.to_path_buf(),
        base_port: reserve_base_port(),
        plugin: "pbft".into(),
    };
    testnet::generate(&spec)
        .expect("generate testnet")
        .into_iter()
        .map(|files| Node {
            files,
            child: None,
            env: Vec::new(),
        })
        .collect()
}

/// Waits up to 60 s for every running node to reach `expected` blocks.
pub fn wait_all(nodes: &[Node], expected: u64) {
    for n in nodes.iter().filter(|n| n.running()) {
        let reached = eventually(Duration::from_secs(60), || {
            (height(&n.files.address) >= Some(expected)).then_some(())
        });
        assert!(
            reached.is_some(),
            "{} stuck at {:?} < {expected}:\n{}",
            n.files.id,
            height(&n.files.address),
            n.log()
        );
    }
}

/// Asserts blocks `0..upto` have identical hashes on every running node.
pub fn same_chain(nodes: &[Node], upto: u64) {
    let live = nodes.iter().find(|n| n.running()).expect("a live node");
    let reference: Vec<_> = (0..upto)
        .map(|b| block_hash(&block(&live.files.address, b).expect("block")))
        .collect();
    for n in nodes.iter().filter(|n| n.running()) {
        for (b, expected) in reference.iter().enumerate() {
            let got = block(&n.files.address, b as u64).map(|blk| block_hash(&blk));
            assert_eq!(
                got.as_ref(),
                Some(expected),
                "block {b} differs on {}",
                n.files.id
            );
        }
    }
}

/// A plain HTTP/1.1 GET over a TCP stream; returns the whole response.
pub fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("response");
    out
}
