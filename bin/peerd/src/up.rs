//! `peerd up`: the main job in one command. Starts a validating peer on
//! 127.0.0.1 as a child `peerd node start` with its own data directory,
//! deploys the example02 chaincode (the peer runs it as a child process),
//! invokes and queries it, printing each step and the resulting blocks, then
//! keeps serving until Ctrl-C (or exits with `--exit-after-demo`).

use crate::cli::UpArgs;
use crate::client::{block_on, dial};
use crate::error::CliError;
use fabrik_core::crypto::b64;
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

struct Network {
    dir: PathBuf,
    address: String,
    child: Child,
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
/// When the peer cannot start or a step of the demo fails; the message names
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
    let network = start_peer(&exe, &dir)?;
    println!(
        "==> peer vp0 is up at {} (data and logs in {})",
        network.address,
        dir.display()
    );
    block_on(demo(&network, &chaincode))?;
    if args.exit_after_demo {
        block_on(async {
            stop(&network.address).await;
            Ok(())
        })?;
        println!("==> demo finished; network stopped");
        return Ok(());
    }
    println!("==> the network keeps serving; try:");
    println!(
        "    CORE_PEER_ADDRESS={} {} chaincode query -n <name> -c '{{\"Args\":[\"query\",\"a\"]}}'",
        network.address,
        exe.display()
    );
    println!("==> press Ctrl-C to stop");
    block_on(async {
        let _ = tokio::signal::ctrl_c().await;
        stop(&network.address).await;
        Ok(())
    })?;
    println!("\n==> network stopped");
    Ok(())
}

fn start_peer(exe: &Path, dir: &Path) -> Result<Network, CliError> {
    let data = dir.join("vp0");
    std::fs::create_dir_all(&data)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", data.display())))?;
    let address = format!("127.0.0.1:{}", port()?);
    let log_path = data.join("peerd.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", log_path.display())))?;
    let err_log = log
        .try_clone()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let child = Command::new(exe)
        .args(["node", "start"])
        .env("CORE_PEER_ID", "vp0")
        .env("CORE_PEER_FILESYSTEMPATH", &data)
        .env("CORE_PEER_LISTENADDRESS", &address)
        .env("CORE_PEER_ADDRESS", &address)
        .env(
            "CORE_PEER_VALIDATOR_EVENTS_ADDRESS",
            format!("127.0.0.1:{}", port()?),
        )
        .env("CORE_REST_ADDRESS", format!("127.0.0.1:{}", port()?))
        .env("CORE_CHAINCODE_MODE", "process")
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| CliError::Usage(format!("cannot start {}: {e}", exe.display())))?;
    let network = Network {
        dir: data,
        address,
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if block_on(async { Ok(dial(&network.address).await.is_ok()) })? {
            return Ok(network);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CliError::Usage(format!(
        "the peer did not start; see {}",
        log_path.display()
    )))
}

fn step_error(step: &str, network: &Network, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!(
        "{step} failed: {e}; see {}",
        network.dir.join("peerd.log").display()
    ))
}

async fn demo(network: &Network, chaincode: &Path) -> Result<(), CliError> {
    let channel = dial(&network.address).await?;
    let mut devops = DevopsClient::new(channel.clone());
    let mut chain = OpenchainClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
    print_chain(&mut chain, network).await?;

    let ctor = args_of(&["init", "a", "100", "b", "200"]);
    println!(
        "==> deploy {} with {}",
        chaincode.display(),
        show_args(&ctor)
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
        .map_err(|e| step_error("deploy", network, e.message()))?
        .into_inner();
    let name = deployed
        .chaincode_spec
        .and_then(|s| s.chaincode_id)
        .map(|id| id.name)
        .unwrap_or_default();
    println!("    chaincode name: {name}");
    wait_height(&mut chain, network, 2).await?;
    query(&mut devops, network, &name, "a").await?;

    let transfer = args_of(&["invoke", "a", "b", "10"]);
    println!("==> invoke {}", show_args(&transfer));
    let invoked = devops
        .invoke(invocation(&name, transfer))
        .await
        .map_err(|e| step_error("invoke", network, e.message()))?;
    println!(
        "    txid: {}",
        String::from_utf8_lossy(&invoked.into_inner().msg)
    );
    wait_height(&mut chain, network, 3).await?;
    query(&mut devops, network, &name, "a").await?;
    query(&mut devops, network, &name, "b").await?;
    print_chain(&mut chain, network).await
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

async fn query(
    devops: &mut DevopsClient<tonic::transport::Channel>,
    network: &Network,
    name: &str,
    key: &str,
) -> Result<(), CliError> {
    let resp = devops
        .query(invocation(name, args_of(&["query", key])))
        .await
        .map_err(|e| step_error("query", network, e.message()))?
        .into_inner();
    let text = String::from_utf8_lossy(&resp.msg).into_owned();
    if resp.status != StatusCode::Success as i32 {
        return Err(step_error("query", network, text));
    }
    println!("==> query {key}: Query Result: {text}");
    Ok(())
}

async fn wait_height(
    chain: &mut OpenchainClient<tonic::transport::Channel>,
    network: &Network,
    height: u64,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    print!("    waiting for block {}", height - 1);
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
        network,
        format!("height {height} not reached in 60 s"),
    ))
}

async fn print_chain(
    chain: &mut OpenchainClient<tonic::transport::Channel>,
    network: &Network,
) -> Result<(), CliError> {
    let info = chain
        .get_blockchain_info(())
        .await
        .map_err(|e| step_error("chain info", network, e.message()))?
        .into_inner();
    println!("==> chain height {}", info.height);
    for n in 0..info.height {
        let block = chain
            .get_block_by_number(BlockNumber { number: n })
            .await
            .map_err(|e| step_error("reading a block", network, e.message()))?
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

async fn stop(address: &str) {
    if let Ok(channel) = dial(address).await {
        let _ = AdminClient::new(channel).stop_server(()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}
