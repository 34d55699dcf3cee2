//! `peerd up`: the main job in one command. Generates a network with
//! `peerd testnet` (4 validators running PBFT over QUIC with mutual TLS by
//! default), starts every peer as a child `peerd node start` on 127.0.0.1,
//! deploys the example02 chaincode through vp0 (each peer runs it as a child
//! process), invokes through vp1, queries every peer, prints each step and
//! the resulting blocks and checks they are identical on every peer, then
//! keeps serving until Ctrl-C (or exits with `--exit-after-demo`).

use crate::cli::UpArgs;
use crate::client::{block_on, dial};
use crate::error::CliError;
use fabrik_core::crypto::b64;
use fabrik_io::testnet::{self, NodeFiles, TestnetSpec};
use fabrik_proto::protos::{
    BlockNumber, ChaincodeId, ChaincodeInput, ChaincodeInvocationSpec, ChaincodeSpec,
    admin_client::AdminClient, chaincode_spec::Type, devops_client::DevopsClient,
    openchain_client::OpenchainClient, response::StatusCode,
};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Blocks holding a deploy carry the chaincode package: allow big replies.
const MAX_MESSAGE: usize = 256 << 20;

struct Peer {
    id: String,
    address: String,
    dir: PathBuf,
    child: Child,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Network {
    peers: Vec<Peer>,
}

impl Network {
    fn first(&self) -> &Peer {
        // `start_network` refuses to build an empty network.
        &self.peers[0]
    }

    fn pick(&self, i: usize) -> &Peer {
        &self.peers[i % self.peers.len()]
    }
}

fn port() -> Result<u16, CliError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::Usage(format!("cannot find a free port on 127.0.0.1: {e}")))
}

fn args_of(parts: &[&str]) -> ChaincodeInput {
    ChaincodeInput {
        args: parts.iter().map(|p| p.as_bytes().to_vec()).collect(),
    }
}

/// Runs the demo.
///
/// # Errors
/// When a peer cannot start or a step of the demo fails; the message names
/// the step and the peer's log file.
pub fn run(args: &UpArgs) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Usage(format!("cannot find peerd itself: {e}")))?;
    let chaincode = match &args.chaincode {
        Some(p) => p.clone(),
        None => exe.with_file_name("example02"),
    };
    if !chaincode.exists() {
        return Err(CliError::Usage(format!(
            "example02 chaincode not found at {}; build it with `cargo build --release` or pass --chaincode",
            chaincode.display()
        )));
    }
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("fabrik-up-{}", std::process::id())),
    };
    let network = start_network(&exe, &dir, args.validators)?;
    block_on(demo(&network, &chaincode))?;
    if args.exit_after_demo {
        block_on(async {
            stop(&network).await;
            Ok(())
        })?;
        println!("==> demo finished; network stopped");
        return Ok(());
    }
    println!("==> the network keeps serving; try:");
    println!(
        "    {} --config {} chaincode query -n <name> -c '{{\"Args\":[\"query\",\"a\"]}}'",
        exe.display(),
        dir.join("vp0").join("peerd.toml").display()
    );
    println!("==> press Ctrl-C to stop");
    block_on(async {
        let _ = tokio::signal::ctrl_c().await;
        stop(&network).await;
        Ok(())
    })?;
    println!("\n==> network stopped");
    Ok(())
}

fn start_network(exe: &Path, dir: &Path, validators: usize) -> Result<Network, CliError> {
    if validators == 0 {
        return Err(CliError::Usage("--validators must be at least 1".into()));
    }
    let spec = TestnetSpec {
        validators,
        non_validators: 0,
        out: dir.to_path_buf(),
        // Below Linux's ephemeral range (32768+), so outgoing connections of
        // other programs cannot be sitting on the network's ports.
        base_port: 12_000 + (std::process::id() % 200) as u16 * 40,
        plugin: if validators >= 4 { "pbft" } else { "noops" }.into(),
    };
    let files = testnet::generate(&spec).map_err(|e| CliError::Usage(e.to_string()))?;
    println!(
        "==> starting {validators} validating peer(s) ({}) in {}",
        if spec.plugin == "pbft" {
            "PBFT over QUIC with mutual TLS"
        } else {
            "NOOPS"
        },
        dir.display()
    );
    let mut peers = Vec::new();
    for node in &files {
        peers.push(start_peer(exe, node)?);
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
    Ok(Network { peers })
}

fn start_peer(exe: &Path, node: &NodeFiles) -> Result<Peer, CliError> {
    let log_path = node.dir.join("peerd.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", log_path.display())))?;
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let child = Command::new(exe)
        .args(["node", "start", "--config"])
        .arg(&node.config)
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| CliError::Usage(format!("cannot start {}: {e}", exe.display())))?;
    Ok(Peer {
        id: node.id.clone(),
        address: node.address.clone(),
        dir: node.dir.clone(),
        child,
    })
}

fn wait_up(peer: &Peer) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(30);
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

fn step_error(step: &str, peer: &Peer, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "{step} on {} failed: {e}; see {}",
        peer.id,
        peer.dir.join("peerd.log").display()
    ))
}

type Devops = DevopsClient<tonic::transport::Channel>;
type Chain = OpenchainClient<tonic::transport::Channel>;

async fn clients(peer: &Peer) -> Result<(Devops, Chain), CliError> {
    let channel = dial(&peer.address).await?;
    Ok((
        DevopsClient::new(channel.clone()),
        OpenchainClient::new(channel).max_decoding_message_size(MAX_MESSAGE),
    ))
}

async fn demo(network: &Network, chaincode: &Path) -> Result<(), CliError> {
    let vp0 = network.first();
    let (mut devops, mut chain) = clients(vp0).await?;
    print_chain(&mut chain, vp0).await?;

    let ctor = args_of(&["init", "a", "100", "b", "200"]);
    println!(
        "==> deploy {} with {} through {}",
        chaincode.display(),
        show_args(&ctor),
        vp0.id
    );
    let spec = ChaincodeSpec {
        r#type: Type::Golang as i32,
        chaincode_id: Some(ChaincodeId {
            path: chaincode.display().to_string(),
            name: String::new(),
        }),
        ctor_msg: Some(ctor),
        ..Default::default()
    };
    let deployed = devops
        .deploy(spec)
        .await
        .map_err(|e| step_error("deploy", vp0, e.message()))?
        .into_inner();
    let name = deployed
        .chaincode_spec
        .and_then(|s| s.chaincode_id)
        .map(|id| id.name)
        .unwrap_or_default();
    println!("    chaincode name: {name}");
    wait_everywhere(network, 2).await?;
    query(network.pick(network.peers.len() - 1), &name, "a").await?;

    let via = network.pick(1);
    let transfer = args_of(&["invoke", "a", "b", "10"]);
    println!("==> invoke {} through {}", show_args(&transfer), via.id);
    let (mut devops, _) = clients(via).await?;
    let invoked = devops
        .invoke(invocation(&name, transfer))
        .await
        .map_err(|e| step_error("invoke", via, e.message()))?;
    println!(
        "    txid: {}",
        String::from_utf8_lossy(&invoked.into_inner().msg)
    );
    wait_everywhere(network, 3).await?;
    for peer in &network.peers {
        query(peer, &name, "a").await?;
        query(peer, &name, "b").await?;
    }
    print_chain(&mut chain, vp0).await?;
    same_blocks(network, 3).await
}

fn invocation(name: &str, input: ChaincodeInput) -> ChaincodeInvocationSpec {
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

fn show_args(input: &ChaincodeInput) -> String {
    let args: Vec<String> = input
        .args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    format!("{args:?}")
}

async fn query(peer: &Peer, name: &str, key: &str) -> Result<(), CliError> {
    let (mut devops, _) = clients(peer).await?;
    let resp = devops
        .query(invocation(name, args_of(&["query", key])))
        .await
        .map_err(|e| step_error("query", peer, e.message()))?
        .into_inner();
    let text = String::from_utf8_lossy(&resp.msg).into_owned();
    if resp.status != StatusCode::Success as i32 {
        return Err(step_error("query", peer, text));
    }
    println!("==> query {key} on {}: Query Result: {text}", peer.id);
    Ok(())
}

/// Waits until every peer has `height` blocks.
async fn wait_everywhere(network: &Network, height: u64) -> Result<(), CliError> {
    for peer in &network.peers {
        let (_, mut chain) = clients(peer).await?;
        wait_height(&mut chain, peer, height).await?;
    }
    Ok(())
}

/// Checks that every peer holds the same blocks (same hashes).
async fn same_blocks(network: &Network, height: u64) -> Result<(), CliError> {
    let mut reference: Vec<Vec<u8>> = Vec::new();
    for peer in &network.peers {
        let (_, mut chain) = clients(peer).await?;
        for n in 0..height {
            let block = chain
                .get_block_by_number(BlockNumber { number: n })
                .await
                .map_err(|e| step_error("reading a block", peer, e.message()))?
                .into_inner();
            let hash = fabrik_core::ledger::block::block_hash(&block).to_vec();
            match reference.get(n as usize) {
                None => reference.push(hash),
                Some(h) if *h == hash => {}
                Some(_) => {
                    return Err(step_error(
                        "comparing chains",
                        peer,
                        format!("block {n} differs from vp0's"),
                    ));
                }
            }
        }
    }
    println!(
        "==> blocks 0..{} have identical hashes on all {} peer(s)",
        height - 1,
        network.peers.len()
    );
    Ok(())
}

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

async fn print_chain(chain: &mut Chain, peer: &Peer) -> Result<(), CliError> {
    let info = chain
        .get_blockchain_info(())
        .await
        .map_err(|e| step_error("chain info", peer, e.message()))?
        .into_inner();
    println!("==> chain height {} on {}", info.height, peer.id);
    for n in 0..info.height {
        let block = chain
            .get_block_by_number(BlockNumber { number: n })
            .await
            .map_err(|e| step_error("reading a block", peer, e.message()))?
            .into_inner();
        let hash = fabrik_core::ledger::block::block_hash(&block);
        let txs: Vec<String> = block.transactions.iter().map(|t| short(&t.txid)).collect();
        println!(
            "    block {n}: hash {}  state {}  txs {txs:?}",
            short(&b64(&hash)),
            short(&b64(&block.state_hash))
        );
    }
    Ok(())
}

fn short(s: &str) -> String {
    match s.get(..16) {
        Some(head) if s.len() > 16 => format!("{head}…"),
        _ => s.to_string(),
    }
}

async fn stop(network: &Network) {
    for peer in &network.peers {
        if let Ok(channel) = dial(&peer.address).await {
            let _ = AdminClient::new(channel).stop_server(()).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}
