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
    /// Extra `peerd node start` flags (for example `--peer-chaincodedev`).
    pub start_args: Vec<String>,
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
            .args(&self.start_args)
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
            start_args: Vec::new(),
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
    try_http_get(address, path).unwrap_or_else(|| panic!("GET {path} from {address} failed"))
}

/// Makes every node launch deployed chaincode itself as a child process
/// (`chaincode.mode = process`, the testnet default the harness overrides
/// with dev mode). Tests that restart validators use it: a restarted
/// dev-mode peer may execute a batch before its chaincode registers again,
/// fail that transaction alone and diverge, which is the operator's fault
/// in dev mode, not the network's.
pub fn process_chaincode(nodes: &mut [Node]) {
    for n in nodes {
        n.env.retain(|(k, _)| k != "CORE_CHAINCODE_MODE");
        n.env.push(("CORE_CHAINCODE_MODE".into(), "process".into()));
    }
}

/// Deploys the example02 binary as a chaincode package through `node`
/// with `init a <a> b <b>`; its name (process mode, see
/// [`process_chaincode`]). The binary is deployed without its debug
/// information when `strip` is installed: a debug build packs to about
/// 18 MB, which every validator receives, hashes and stores, and on a busy
/// machine that alone can outlast PBFT's request timeout.
pub fn deploy_example02(node: &Node, a: u64, b: u64) -> String {
    let example02 = stripped(&binary("example02"), &node.files.dir.join("example02"));
    deploy_example02_from(node, &example02, a, b)
}

/// Deploys the example02 binary at `example02` as a chaincode package
/// through `node` with `init a <a> b <b>`; its name.
pub fn deploy_example02_from(node: &Node, example02: &Path, a: u64, b: u64) -> String {
    let ctor = format!(r#"{{"Args":["init","a","{a}","b","{b}"]}}"#);
    let out = ok(&node.cli(&[
        "chaincode",
        "deploy",
        "-p",
        &example02.display().to_string(),
        "-c",
        &ctor,
    ]));
    out.lines()
        .find_map(|l| l.strip_prefix("Deploy chaincode: "))
        .unwrap_or_else(|| panic!("no chaincode name in deploy output {out:?}"))
        .trim()
        .to_string()
}

/// Dev mode: runs example02 as `mycc` against every node, waits for them
/// to register, deploys it through `nodes[via]` with `init a 100 b 200` and
/// waits until every running node holds the deploy block. The chaincode
/// processes live as long as the returned guards.
pub fn deploy_dev_example02(nodes: &[Node], via: usize) -> Vec<ChildGuard> {
    let ccs = nodes.iter().map(|n| n.chaincode("mycc")).collect();
    std::thread::sleep(Duration::from_millis(500));
    ok(&nodes[via].cli(&[
        "chaincode",
        "deploy",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["init","a","100","b","200"]}"#,
    ]));
    wait_all(nodes, 2);
    ccs
}

/// example02's value of `key` on `node`: the number after `Query Result: `,
/// or the CLI's error output when the query fails.
pub fn query_value(node: &Node, name: &str, key: &str) -> Result<i64, String> {
    let out = node.query(name, key);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Query Result: "))
        .and_then(|v| v.trim().parse().ok());
    match value {
        Some(v) if out.status.success() => Ok(v),
        _ => Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )),
    }
}

/// A validator's chain head as its users see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `height` of REST `GET /chain`.
    pub height: u64,
    /// `currentBlockHash` of REST `GET /chain` (base64).
    pub current_block_hash: String,
    /// `stateHash` of the head block (Openchain.GetBlockByNumber).
    pub state_hash: Vec<u8>,
}

/// `node`'s head from REST `/chain` and its head block; `None` while it
/// does not answer.
pub fn head(node: &Node) -> Option<Head> {
    let chain = try_http_get(&node.files.rest, "/chain")?;
    let body = chain.split("\r\n\r\n").nth(1)?;
    let field = |name: &str| {
        let start = body.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = &body[start..];
        let end = rest.find([',', '}'])?;
        Some(rest[..end].trim_matches('"').to_string())
    };
    let height: u64 = field("height")?.parse().ok()?;
    let current_block_hash = field("currentBlockHash")?;
    let state_hash = block(&node.files.address, height.checked_sub(1)?)?.state_hash;
    Some(Head {
        height,
        current_block_hash,
        state_hash,
    })
}

/// Waits up to 60 s until every running validator reports the same head
/// (height, current block hash, state hash) twice in a row 1 s apart, so
/// none is still committing; the agreed head. Panics with every node's
/// head and log otherwise.
pub fn same_head(nodes: &[Node]) -> Head {
    let validators: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.running() && n.files.validator)
        .collect();
    let agreed = || {
        let heads: Vec<_> = validators.iter().map(|n| head(n)).collect();
        let first = heads.first()?.clone()?;
        heads
            .iter()
            .all(|h| h.as_ref() == Some(&first))
            .then_some(first)
    };
    let settled = eventually(Duration::from_secs(60), || {
        let before = agreed()?;
        std::thread::sleep(Duration::from_secs(1));
        (agreed()? == before).then_some(before)
    });
    settled.unwrap_or_else(|| {
        let mut report = String::new();
        for n in &validators {
            report.push_str(&format!("{}: {:?}\n", n.files.id, head(n)));
        }
        for n in &validators {
            report.push_str(&format!("--- {} log:\n{}\n", n.files.id, n.log()));
        }
        panic!("validators do not agree on the chain head:\n{report}")
    })
}

/// The ids of the transactions in blocks `1..upto` of `node`, in order.
pub fn txids(node: &Node, upto: u64) -> Vec<String> {
    (1..upto)
        .flat_map(|b| {
            block(&node.files.address, b)
                .unwrap_or_else(|| panic!("block {b} missing on {}", node.files.id))
                .transactions
        })
        .map(|t| t.txid)
        .collect()
}

/// [`http_get`] that answers `None` instead of panicking when the server
/// is not there (a node being restarted).
pub fn try_http_get(address: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    // A frozen or unreachable peer must not hang the test in connect.
    let mut stream = match address.parse() {
        Ok(addr) => std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?,
        Err(_) => std::net::TcpStream::connect(address).ok()?,
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The peer ids `node` lists in Openchain.GetPeers, sorted; `None` while
/// it does not answer.
pub fn peers(node: &Node) -> Option<Vec<String>> {
    use fabrik_proto::protos::openchain_client::OpenchainClient;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let mut ids: Vec<String> = rt.block_on(async {
        let mut client = OpenchainClient::connect(format!("http://{}", node.files.address))
            .await
            .ok()?;
        let peers = client.get_peers(()).await.ok()?.into_inner().peers;
        Some(
            peers
                .into_iter()
                .filter_map(|p| p.id.map(|i| i.name))
                .collect(),
        )
    })?;
    ids.sort();
    Some(ids)
}

/// Waits up to 60 s until `node` lists exactly `expected` (sorted) as
/// connected peers; panics with its log otherwise. A restarted node may
/// take a few seconds: a higher-id peer redials with backoff.
pub fn wait_peers(node: &Node, expected: &[&str]) {
    let got = eventually(Duration::from_secs(60), || {
        peers(node).filter(|ids| ids.iter().map(String::as_str).eq(expected.iter().copied()))
    });
    assert!(
        got.is_some(),
        "{} lists peers {:?}, expected {expected:?}:\n{}",
        node.files.id,
        peers(node),
        node.log()
    );
}

/// `binary` without debug information, written to `out`; `binary` itself
/// when `strip` is missing or fails.
pub fn stripped(binary: &Path, out: &Path) -> std::path::PathBuf {
    let ok = Command::new("strip")
        .arg("-o")
        .arg(out)
        .arg(binary)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        out.to_path_buf()
    } else {
        binary.to_path_buf()
    }
}
