//! `peerd testnet`: writes a local test network (see `fabrik_io::testnet`)
//! and prints how to start each node.

use crate::cli::TestnetArgs;
use crate::error::CliError;
use fabrik_io::testnet::{TestnetSpec, generate};

/// Generates the network and prints one start command per node.
///
/// # Errors
/// A usage error naming the bad flag or the file that could not be written.
pub fn run(args: &TestnetArgs) -> Result<(), CliError> {
    let plugin = args.consensus.trim().to_ascii_lowercase();
    if plugin != "pbft" && plugin != "noops" {
        return Err(CliError::Usage(format!(
            "--consensus must be pbft or noops, found \"{}\"",
            args.consensus
        )));
    }
    let spec = TestnetSpec {
        validators: args.validators,
        non_validators: args.non_validators,
        out: args.out.clone(),
        base_port: args.base_port,
        plugin,
    };
    let nodes = generate(&spec).map_err(|e| CliError::Usage(e.to_string()))?;
    println!(
        "Generated a network of {} validators and {} non-validators in {}",
        args.validators,
        args.non_validators,
        args.out.display()
    );
    for node in &nodes {
        println!(
            "  {:<5} peer {}  rest {}  events {}:  peerd node start --config {}",
            node.id,
            node.address,
            node.rest,
            node.events,
            node.config.display()
        );
    }
    println!(
        "Containers: docker compose -f {} up",
        args.out.join("docker-compose.yml").display()
    );
    Ok(())
}
