//! A local network of `peerd node start` child processes on 127.0.0.1,
//! made by `peerd testnet` in a directory: started, waited for, dialled and
//! stopped. Shared by `peerd up` (the demo) and `peerd bench` (the load
//! generator), which differ only in what they do with the running network.

use crate::client::{block_on, dial};
use crate::error::CliError;
use fabrik_io::testnet::{self, NodeFiles, TestnetSpec};
use fabrik_proto::protos::{
    ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec, admin_client::AdminClient,
    chaincode_spec::Type, devops_client::DevopsClient, openchain_client::OpenchainClient,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Blocks holding a deploy carry the chaincode package: allow big replies.
pub const MAX_MESSAGE: usize = 256 << 20;

/// How long a freshly started peer may take to answer on gRPC.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One running peer: killed when dropped, so a failed run leaves nothing behind.
pub struct Peer {
    /// Its id (`vp0`, ...).
    pub id: String,
    /// Its gRPC address.
    pub address: String,
    /// Its REST address.
    pub rest: String,
    /// Its event hub address.
    pub events: String,
    /// Its operations address (`/metrics`, `/healthz`).
    pub operations: String,
    /// Its directory (config, keys, data, `peerd.log`).
    pub dir: PathBuf,
    /// The `peerd node start` process.
    pub child: Child,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The running peers, vp0 first.
pub struct Network {
    /// The peers in replica order.
    pub peers: Vec<Peer>,
}

impl Network {
    /// vp0.
    pub fn first(&self) -> &Peer {
        // `start` refuses to build an empty network.
        &self.peers[0]
    }

    /// The `i`-th peer, wrapping around.
    pub fn pick(&self, i: usize) -> &Peer {
        &self.peers[i % self.peers.len()]
    }
}

/// What to start.
pub struct NetworkPlan<'a> {
    /// The `peerd` executable.
    pub exe: &'a Path,
    /// Where the network's files go.
    pub dir: &'a Path,
    /// Number of validating peers (4 or more run PBFT, fewer NOOPS).
    pub validators: usize,
    /// `CORE_*` overrides given to every peer (batch size, chaincode mode, ...).
    pub env: &'a [(String, String)],
}

/// Generates the network's files and starts every peer, printing progress.
///
/// # Errors
/// When the files cannot be written or a peer does not come up; the message
/// names the peer's log file.
pub fn start(plan: &NetworkPlan<'_>) -> Result<Network, CliError> {
    if plan.validators == 0 {
        return Err(CliError::Usage("--validators must be at least 1".into()));
    }
    let spec = TestnetSpec {
        validators: plan.validators,
        non_validators: 0,
        out: plan.dir.to_path_buf(),
        // Below Linux's ephemeral range (32768+), so outgoing connections of
        // other programs cannot be sitting on the network's ports.
        base_port: 12_000 + (std::process::id() % 200) as u16 * 40,
        plugin: if plan.validators >= 4 {
            "pbft"
        } else {
            "noops"
        }
        .into(),
    };
    let files = testnet::generate(&spec).map_err(|e| CliError::Usage(e.to_string()))?;
    println!(
        "==> starting {} validating peer(s) ({}) in {}",
        plan.validators,
        if spec.plugin == "pbft" {
            "PBFT over QUIC with mutual TLS"
        } else {
            "NOOPS"
        },
        plan.dir.display()
    );
    let mut peers = Vec::new();
    for node in &files {
        peers.push(start_peer(plan.exe, node, plan.env)?);
    }
    for peer in &peers {
        wait_up(peer)?;
        println!(
            "    {} up at {} (log {})",
            peer.id,
            peer.address,
            peer.dir.join("peerd.log").display()
        );
    }
    // A transaction submitted before the validators are connected would be
    // broadcast to nobody; PBFT would only recover it by a view change.
    for peer in &peers {
        wait_ready(peer)?;
    }
    Ok(Network { peers })
}

fn start_peer(exe: &Path, node: &NodeFiles, env: &[(String, String)]) -> Result<Peer, CliError> {
    let log_path = node.dir.join("peerd.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", log_path.display())))?;
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let child = Command::new(exe)
        .args(["node", "start", "--config"])
        .arg(&node.config)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| CliError::Usage(format!("cannot start {}: {e}", exe.display())))?;
    Ok(Peer {
        id: node.id.clone(),
        address: node.address.clone(),
        rest: node.rest.clone(),
        events: node.events.clone(),
        operations: node.operations.clone(),
        dir: node.dir.clone(),
        child,
    })
}

fn wait_up(peer: &Peer) -> Result<(), CliError> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if block_on(async { Ok(dial(&peer.address).await.is_ok()) })? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CliError::Usage(format!(
        "peer {} did not start; see {}",
        peer.id,
        peer.dir.join("peerd.log").display()
    )))
}

/// Waits until the peer's `/readyz` answers 200 (caught up and connected
/// to enough validators).
fn wait_ready(peer: &Peer) -> Result<(), CliError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match readyz(&peer.operations) {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CliError::Usage(format!(
        "peer {} did not become ready within {START_TIMEOUT:?} ({}); see {}",
        peer.id,
        last.trim(),
        peer.dir.join("peerd.log").display()
    )))
}

/// `GET /readyz` on the operations address: `Ok` on 200, else the body.
fn readyz(operations: &str) -> Result<(), String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(operations).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /readyz HTTP/1.0\r\nHost: {operations}\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(reply.split("\r\n\r\n").nth(1).unwrap_or(&reply).to_string())
    }
}

/// An error for `step` on `peer`, pointing at its log.
pub fn step_error(step: &str, peer: &Peer, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "{step} on {} failed: {e}; see {}",
        peer.id,
        peer.dir.join("peerd.log").display()
    ))
}

/// A Devops client.
pub type Devops = DevopsClient<tonic::transport::Channel>;
/// An Openchain client.
pub type Chain = OpenchainClient<tonic::transport::Channel>;

/// Devops and Openchain clients on one connection to `peer`.
///
/// # Errors
/// When the peer does not answer.
pub async fn clients(peer: &Peer) -> Result<(Devops, Chain), CliError> {
    let channel = dial(&peer.address).await?;
    Ok((
        DevopsClient::new(channel.clone()),
        OpenchainClient::new(channel).max_decoding_message_size(MAX_MESSAGE),
    ))
}

/// Asks every peer to stop, then gives them a moment to close their stores.
pub async fn stop(network: &Network) {
    for peer in &network.peers {
        if let Ok(channel) = dial(&peer.address).await {
            let _ = AdminClient::new(channel).stop_server(()).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The chaincode input made of `parts`.
pub fn args_of(parts: &[&str]) -> ChaincodeInput {
    ChaincodeInput {
        args: parts.iter().map(|p| p.as_bytes().to_vec()).collect(),
    }
}

/// An invocation of chaincode `name` with `input`.
pub fn invocation(name: &str, input: ChaincodeInput) -> ChaincodeInvocationSpec {
    ChaincodeInvocationSpec {
        chaincode_spec: Some(ChaincodeSpec {
            r#type: Type::Golang as i32,
            chaincode_id: Some(ChaincodeId {
                path: String::new(),
                name: name.to_string(),
            }),
            ctor_msg: Some(input),
            ..Default::default()
        }),
        id_generation_alg: String::new(),
    }
}

/// Waits until every peer has `height` blocks.
pub async fn wait_everywhere(network: &Network, height: u64) -> Result<(), CliError> {
    for peer in &network.peers {
        let (_, mut chain) = clients(peer).await?;
        wait_height(&mut chain, peer, height).await?;
    }
    Ok(())
}

/// Waits until `peer` has `height` blocks, printing a dot per poll.
async fn wait_height(chain: &mut Chain, peer: &Peer, height: u64) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    print!("    waiting for block {} on {}", height - 1, peer.id);
    while Instant::now() < deadline {
        let count = chain
            .get_block_count(())
            .await
            .map(|r| r.into_inner().count)
            .unwrap_or(0);
        if count >= height {
            println!(" ... committed");
            return Ok(());
        }
        print!(".");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(step_error(
        "waiting for a block",
        peer,
        format!("height {height} not reached in 60 s"),
    ))
}

/// Deploys the chaincode binary at `binary` with `ctor` through `devops`;
/// the chaincode's name (the deploy txid).
///
/// # Errors
/// The peer's refusal.
pub async fn deploy_binary(
    devops: &mut Devops,
    binary: &Path,
    ctor: ChaincodeInput,
) -> Result<String, tonic::Status> {
    let spec = ChaincodeSpec {
        r#type: Type::Golang as i32,
        chaincode_id: Some(ChaincodeId {
            path: binary.display().to_string(),
            name: String::new(),
        }),
        ctor_msg: Some(ctor),
        ..Default::default()
    };
    let deployed = devops.deploy(spec).await?.into_inner();
    Ok(deployed
        .chaincode_spec
        .and_then(|s| s.chaincode_id)
        .map(|id| id.name)
        .unwrap_or_default())
}
