//! Helpers shared by fabrik's end-to-end tests: building and locating the
//! workspace binaries, free ports, and a running `peerd` process with its
//! own data directory that is killed when dropped.

pub mod faults;
pub mod network;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace's target profile directory (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds `peerd` and the example chaincodes once per test process and
/// returns the path of binary `name`.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "peerd", "-p", "fabrik-examples"])
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of peerd and the examples failed"
        );
    });
    let path = target_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A port on 127.0.0.1 that was free a moment ago and that this test process
/// has not handed out before: the kernel may return a just-released port on
/// the next bind, and two listeners of one peer must never share one.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if HANDED_OUT.lock().expect("port registry").insert(port) {
            return port;
        }
    }
}

/// A `peerd node start` child process with its own data directory and ports.
pub struct Peer {
    /// Data directory (peer.fileSystemPath).
    pub dir: tempfile::TempDir,
    /// Main gRPC address.
    pub address: String,
    /// Events address.
    pub events: String,
    /// REST address.
    pub rest: String,
    /// Operations (metrics, health) address.
    pub operations: String,
    child: Option<Child>,
    exited: Option<std::process::ExitStatus>,
    extra_env: Vec<(String, String)>,
}

impl Peer {
    /// A peer (not yet started) with fresh ports and an empty data directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            address: format!("127.0.0.1:{}", free_port()),
            events: format!("127.0.0.1:{}", free_port()),
            rest: format!("127.0.0.1:{}", free_port()),
            operations: format!("127.0.0.1:{}", free_port()),
            child: None,
            exited: None,
            extra_env: Vec::new(),
        }
    }

    /// Adds an environment variable for the peer process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.extra_env.push((key.into(), value.into()));
        self
    }

    /// Sets (`Some`) or removes (`None`) an environment variable for the
    /// peer processes started from now on.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.extra_env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.extra_env.push((key.into(), value.into()));
        }
    }

    /// The environment that points a peerd process (node or CLI) at this peer.
    pub fn envs(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "CORE_PEER_FILESYSTEMPATH".to_string(),
                self.dir.path().display().to_string(),
            ),
            ("CORE_PEER_LISTENADDRESS".to_string(), self.address.clone()),
            ("CORE_PEER_ADDRESS".to_string(), self.address.clone()),
            (
                "CORE_PEER_VALIDATOR_EVENTS_ADDRESS".to_string(),
                self.events.clone(),
            ),
            ("CORE_REST_ADDRESS".to_string(), self.rest.clone()),
            (
                "CORE_OPERATIONS_ADDRESS".to_string(),
                self.operations.clone(),
            ),
        ];
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Starts `peerd node start <args>` and waits until it answers.
    pub fn start(&mut self, args: &[&str]) {
        self.spawn(args);
        if let Err(e) = self.wait_started(Duration::from_secs(30)) {
            panic!("{e}");
        }
    }

    /// Starts `peerd node start <args>` without waiting for it.
    pub fn spawn(&mut self, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("peerd.log"))
            .expect("peer log");
        let child = Command::new(binary("peerd"))
            .args(["node", "start"])
            .args(args)
            .envs(self.envs())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn peerd");
        self.child = Some(child);
        self.exited = None;
    }

    /// Waits until the spawned peer answers `node status` with STARTED.
    ///
    /// # Errors
    /// The reason (the process exited, with its status, or the time ran
    /// out) and the log.
    pub fn wait_started(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Err(format!(
                    "peerd exited ({status}) before it started; log:\n{}",
                    self.log()
                ));
            }
            if self.cli(&["node", "status"]).stdout == b"status:STARTED\n" {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("peerd did not start; log:\n{}", self.log()))
    }

    /// The exit status once the last started peer process has ended,
    /// `None` while it runs (or when none was started or it was killed).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        if let Some(child) = self.child.as_mut() {
            self.exited = child.try_wait().ok()?;
            if self.exited.is_some() {
                self.child = None;
            }
        }
        self.exited
    }

    /// Waits up to `timeout` for the peer process to end; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        eventually(timeout, || self.try_wait())
    }

    /// The peer's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("peerd.log")).unwrap_or_default()
    }

    /// Runs a `peerd` CLI command against this peer.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(binary("peerd"))
            .args(args)
            .envs(self.envs())
            .stdin(Stdio::null())
            .output()
            .expect("run peerd cli")
    }

    /// Kills the peer with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a chaincode binary against this peer (dev mode).
    pub fn chaincode(&self, binary_name: &str, name: &str) -> ChildGuard {
        let child = Command::new(binary(binary_name))
            .env("CORE_CHAINCODE_ID_NAME", name)
            .env("CORE_PEER_ADDRESS", &self.address)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chaincode");
        ChildGuard(child)
    }
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A child process killed on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` every 50 ms until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stdout of a CLI run as text, asserting success.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The chain height reported by the peer's Openchain service.
pub fn height(address: &str) -> Option<u64> {
    use fabrik_proto::protos::openchain_client::OpenchainClient;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let mut client = OpenchainClient::connect(format!("http://{address}"))
            .await
            .ok()?;
        client
            .get_block_count(())
            .await
            .ok()
            .map(|r| r.into_inner().count)
    })
}

/// Block `n` from the peer's Openchain service.
pub fn block(address: &str, n: u64) -> Option<fabrik_proto::protos::Block> {
    use fabrik_proto::protos::{BlockNumber, openchain_client::OpenchainClient};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let mut client = OpenchainClient::connect(format!("http://{address}"))
            .await
            .ok()?
            .max_decoding_message_size(256 << 20);
        client
            .get_block_by_number(BlockNumber { number: n })
            .await
            .ok()
            .map(|r| r.into_inner())
    })
}

/// Waits until the peer's height is `expected`; panics with the log if not.
pub fn wait_height(peer: &Peer, expected: u64) {
    let reached = eventually(Duration::from_secs(30), || {
        (height(&peer.address) == Some(expected)).then_some(())
    });
    assert!(
        reached.is_some(),
        "height {:?}, expected {expected}; peer log:\n{}",
        height(&peer.address),
        peer.log()
    );
}

/// Waits until a committed block holds transaction `txid`; returns the
/// chain height at that moment.
pub fn wait_for_tx(peer: &Peer, txid: &str) -> u64 {
    let found = eventually(Duration::from_secs(30), || {
        let h = height(&peer.address)?;
        (1..h)
            .rev()
            .take(5)
            .any(|n| {
                block(&peer.address, n)
                    .is_some_and(|b| b.transactions.iter().any(|t| t.txid == txid))
            })
            .then_some(h)
    });
    found.unwrap_or_else(|| {
        panic!(
            "transaction {txid} never committed; peer log:\n{}",
            peer.log()
        )
    })
}

/// A gRPC client (Devops and Openchain) of one peer on its own runtime, for
/// tests that submit many transactions without a CLI process each.
pub struct Client {
    rt: tokio::runtime::Runtime,
    devops: fabrik_proto::protos::devops_client::DevopsClient<tonic::transport::Channel>,
    chain: fabrik_proto::protos::openchain_client::OpenchainClient<tonic::transport::Channel>,
}

impl Client {
    /// Connects to the peer's main gRPC address; `None` if it does not answer.
    pub fn connect(address: &str) -> Option<Self> {
        Self::connect_with_timeout(address, Duration::from_secs(30))
    }

    /// As [`Client::connect`], with every call giving up after `timeout`
    /// (a paused peer never answers).
    pub fn connect_with_timeout(address: &str, timeout: Duration) -> Option<Self> {
        use fabrik_proto::protos::{
            devops_client::DevopsClient, openchain_client::OpenchainClient,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let channel = rt.block_on(async {
            tonic::transport::Endpoint::from_shared(format!("http://{address}"))
                .ok()?
                .connect_timeout(Duration::from_secs(2).min(timeout))
                .timeout(timeout)
                .connect()
                .await
                .ok()
        })?;
        Some(Self {
            devops: DevopsClient::new(channel.clone()),
            chain: OpenchainClient::new(channel).max_decoding_message_size(256 << 20),
            rt,
        })
    }

    fn spec(name: &str, args: &[&str]) -> fabrik_proto::protos::ChaincodeSpec {
        use fabrik_proto::protos::{ChaincodeId, ChaincodeInput, ChaincodeSpec, chaincode_spec};
        ChaincodeSpec {
            r#type: chaincode_spec::Type::Golang as i32,
            chaincode_id: Some(ChaincodeId {
                name: name.into(),
                path: String::new(),
            }),
            ctor_msg: Some(ChaincodeInput {
                args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            }),
            ..Default::default()
        }
    }

    /// Devops.Deploy of dev-mode chaincode `name` with `args`.
    ///
    /// # Errors
    /// The gRPC status as text.
    pub fn deploy(&mut self, name: &str, args: &[&str]) -> Result<(), String> {
        let spec = Self::spec(name, args);
        self.rt
            .block_on(self.devops.deploy(spec))
            .map(drop)
            .map_err(|s| s.to_string())
    }

    fn call(&mut self, query: bool, name: &str, args: &[&str]) -> Result<String, String> {
        use fabrik_proto::protos::{ChaincodeInvocationSpec, response::StatusCode};
        let spec = ChaincodeInvocationSpec {
            chaincode_spec: Some(Self::spec(name, args)),
            id_generation_alg: String::new(),
        };
        let reply = if query {
            self.rt.block_on(self.devops.query(spec))
        } else {
            self.rt.block_on(self.devops.invoke(spec))
        }
        .map_err(|s| s.to_string())?
        .into_inner();
        let text = String::from_utf8_lossy(&reply.msg).into_owned();
        if reply.status == StatusCode::Failure as i32 {
            return Err(text);
        }
        Ok(text)
    }

    /// Devops.Invoke; the txid.
    ///
    /// # Errors
    /// The gRPC status or the peer's failure message.
    pub fn invoke(&mut self, name: &str, args: &[&str]) -> Result<String, String> {
        self.call(false, name, args)
    }

    /// Devops.Query; the result as text.
    ///
    /// # Errors
    /// The gRPC status or the peer's failure message.
    pub fn query(&mut self, name: &str, args: &[&str]) -> Result<String, String> {
        self.call(true, name, args)
    }

    /// Openchain.GetBlockCount.
    pub fn height(&mut self) -> Option<u64> {
        let reply = self.rt.block_on(self.chain.get_block_count(())).ok()?;
        Some(reply.into_inner().count)
    }

    /// Openchain.GetBlockByNumber.
    pub fn block(&mut self, number: u64) -> Option<fabrik_proto::protos::Block> {
        use fabrik_proto::protos::BlockNumber;
        let reply = self
            .rt
            .block_on(self.chain.get_block_by_number(BlockNumber { number }))
            .ok()?;
        Some(reply.into_inner())
    }
}

/// What the v0.6 CLI prints for a query of chaincode `name` that was never
/// deployed (Devops.Query's text, as the peer sends it).
pub fn v06_never_deployed_error(name: &str) -> String {
    format!(
        "Error:Failed to launch chaincode spec(Could not get deployment transaction for {name} \
         - LedgerError - ResourceNotFound: ledger: resource not found)"
    )
}

/// The `ChaincodeDeploymentSpec` bytes v0.6 puts in a dev-mode deploy of
/// `name` (CLI `deploy -n` or REST): the GOLANG chaincode spec with the
/// ctor args, and no effective date and no code package.
pub fn v06_dev_deployment_spec(name: &str, args: &[&str]) -> Vec<u8> {
    use fabrik_proto::protos::{
        ChaincodeDeploymentSpec, ChaincodeId, ChaincodeInput, ChaincodeSpec,
    };
    use prost::Message as _;
    ChaincodeDeploymentSpec {
        chaincode_spec: Some(ChaincodeSpec {
            r#type: 1,
            chaincode_id: Some(ChaincodeId {
                name: name.to_owned(),
                ..Default::default()
            }),
            ctor_msg: Some(ChaincodeInput {
                args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}
