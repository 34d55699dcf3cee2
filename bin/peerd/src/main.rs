//! `peerd`: the fabrik peer binary. Parses the command line, loads the
//! configuration, sets up logging and hands over to one module per command
//! group. Errors are printed as `Error: <text>` on stderr with exit code 1.

mod bench;
mod chaincode;
mod cli;
mod client;
mod context;
mod error;
mod events;
mod ledger;
mod localnet;
mod logging;
mod network;
mod node;
mod package;
mod pidfile;
mod testnet;
mod up;

use clap::Parser;
use cli::{
    ChaincodeCli, Cli, Command, ConfigCommand, EventsCommand, LedgerCommand, LogFormat,
    NetworkCommand, NodeCommand,
};
use context::Context;
use error::CliError;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    if matches!(cli.command, Command::Version) {
        println!(
            "peerd {} (Hyperledger Fabric v0.6 compatible peer)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(());
    }
    let mut ctx = Context::load(&cli)?;
    init_logging(&cli, &ctx)?;
    match cli.command {
        Command::Node(NodeCommand::Start { chaincode_dev }) => {
            if chaincode_dev {
                node::apply_dev_mode(&mut ctx.config, &ctx.set_keys);
            }
            node::start(ctx.config)
        }
        Command::Node(NodeCommand::Status) => node::status(&ctx),
        Command::Node(NodeCommand::Stop) => node::stop(&ctx),
        Command::Chaincode(ChaincodeCli::Package(args)) => package::run(&args),
        Command::Chaincode(ChaincodeCli::Peer(command)) => chaincode::run(&ctx, command),
        Command::Network(NetworkCommand::List) => network::list(&ctx),
        Command::Config(ConfigCommand::Show) => show_config(&ctx),
        Command::Events(EventsCommand::Listen(args)) => events::listen(&ctx, &args),
        Command::Ledger(LedgerCommand::Verify) => ledger::verify(&ctx),
        Command::Ledger(LedgerCommand::Block { number }) => ledger::block(&ctx, number),
        Command::Ledger(LedgerCommand::Tx { txid }) => ledger::tx(&ctx, &txid),
        Command::Up(args) => up::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Testnet(args) => testnet::run(&args),
        Command::Version => Ok(()),
    }
}

/// `--logging-level`, else `RUST_LOG`, else the config (`logging.level`,
/// then `logging.node`) for `node start`, `warning` for client commands.
fn init_logging(cli: &Cli, ctx: &Context) -> Result<(), CliError> {
    let logging = &ctx.config.logging;
    let config_spec = match cli.command {
        Command::Node(NodeCommand::Start { .. }) if !logging.level.is_empty() => {
            (logging.level.as_str(), "logging.level")
        }
        Command::Node(NodeCommand::Start { .. }) => (logging.node.as_str(), "logging.node"),
        Command::Up(_) => ("warning", "default for peerd up"),
        Command::Bench(_) => ("warning", "default for peerd bench"),
        _ => ("warning", "default for client commands"),
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = logging::choose_filter(
        cli.logging_level.as_deref(),
        rust_log.as_deref(),
        config_spec,
    )?;
    let format = cli.log_format.unwrap_or(if logging.format == "json" {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    logging::install(filter, format);
    Ok(())
}

/// `peerd config show`: the effective configuration as TOML.
fn show_config(ctx: &Context) -> Result<(), CliError> {
    let source = ctx.file.as_ref().map_or_else(
        || "built-in defaults".to_string(),
        |f| format!("file {}", f.display()),
    );
    let text = ctx
        .config
        .to_toml()
        .map_err(|e| CliError::Usage(format!("cannot render the configuration as TOML: {e}")))?;
    println!("# effective configuration: {source}, then CORE_* environment overrides\n{text}");
    Ok(())
}
