//! What every command starts from: the effective configuration (found and
//! loaded via `fabrik_io::config`, then the global `--peer-address` flag
//! applied) and the file it came from.

use crate::cli::Cli;
use crate::error::CliError;
use fabrik_io::config::{self, Config};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The effective configuration.
    pub config: Config,
    /// The config file used, if any.
    pub file: Option<PathBuf>,
    /// The keys the file or a `CORE_*` variable set.
    pub set_keys: BTreeSet<String>,
}

impl Context {
    /// Finds and loads the configuration for this invocation.
    ///
    /// # Errors
    /// Config errors, or a malformed `--peer-address`.
    pub fn load(cli: &Cli) -> Result<Self, CliError> {
        let cfg_dir = std::env::var_os("PEER_CFG_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let file = config::find_config_file(cli.config.as_deref(), cfg_dir.as_deref(), &cwd)?;
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let config::Loaded {
            mut config,
            set_keys,
        } = config::load_tracked(file.as_deref(), env)?;
        if let Some(address) = &cli.peer_address {
            check_peer_address(address)?;
            config.peer.address.clone_from(address);
        }
        Ok(Self {
            config,
            file,
            set_keys,
        })
    }

    /// The address the CLI dials (`peer.address`).
    #[must_use]
    pub fn peer_address(&self) -> &str {
        &self.config.peer.address
    }
}

fn check_peer_address(address: &str) -> Result<(), CliError> {
    let ok = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "bad --peer-address \"{address}\": expected host:port such as 127.0.0.1:7051"
        )))
    }
}
