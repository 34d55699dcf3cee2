//! `peerd up`: the main job in one command. Generates a network with
//! `peerd testnet` (4 validators running PBFT over QUIC with mutual TLS by
//! default), starts every peer as a child `peerd node start` on 127.0.0.1,
//! deploys the example02 chaincode through vp0 (each peer runs it as a child
//! process), invokes through vp1, queries every peer, prints each step and
//! the resulting blocks and checks they are identical on every peer, then
//! keeps serving until Ctrl-C (or exits with `--exit-after-demo`).

use crate::cli::UpArgs;
use crate::client::block_on;
use crate::error::CliError;
use crate::localnet::{
    self, Chain, Network, NetworkPlan, Peer, args_of, clients, deploy_binary, invocation,
    step_error, wait_everywhere,
};
use fabrik_core::crypto::b64;
use fabrik_proto::protos::{BlockNumber, ChaincodeInput, response::StatusCode};
use std::path::Path;

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
    let network = localnet::start(&NetworkPlan {
        exe: &exe,
        dir: &dir,
        validators: args.validators,
        env: &[],
    })?;
    block_on(demo(&network, &chaincode))?;
    if args.exit_after_demo {
        block_on(async {
            localnet::stop(&network).await;
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
        localnet::stop(&network).await;
        Ok(())
    })?;
    println!("\n==> network stopped");
    Ok(())
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
    let name = deploy_binary(&mut devops, chaincode, ctor)
        .await
        .map_err(|e| step_error("deploy", vp0, e.message()))?;
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
