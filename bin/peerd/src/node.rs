//! `peerd node start|status|stop`: runs the peer (`fabrik_io::node::run`)
//! under the pid-file lock until Ctrl-C / SIGTERM / Admin.StopServer, and the
//! two Admin client calls.

use crate::client::{block_on, dial, rpc_error};
use crate::context::Context;
use crate::error::CliError;
use crate::pidfile::{self, PID_FILE_NAME, PidLock};
use fabrik_io::config::{ChaincodeMode, Config};
use fabrik_proto::protos::admin_client::AdminClient;
use fabrik_proto::protos::server_status::StatusCode;
use std::collections::BTreeSet;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The consensus plugin key, as the file and `CORE_*` variables name it.
const PLUGIN_KEY: &str = "peer.validator.consensus.plugin";

/// `--peer-chaincodedev`: validator on, chaincode run by the user, and NOOPS
/// unless the file or environment chose a plugin. v0.6 meant to force NOOPS
/// but set a key nobody read, so its dev-mode test networks kept running
/// their configured PBFT; a chosen plugin wins here for the same reason.
pub fn apply_dev_mode(config: &mut Config, set_keys: &BTreeSet<String>) {
    config.peer.validator.enabled = true;
    config.chaincode.mode = ChaincodeMode::Dev;
    if !set_keys.contains(PLUGIN_KEY) {
        "noops".clone_into(&mut config.peer.validator.consensus.plugin);
    }
}

/// `peerd node start`: listens for SIGINT/SIGTERM, takes the pid file, then
/// runs the peer on a multi-thread runtime until a signal (or StopServer).
/// The handlers are installed before the pid file is written, so a
/// `peerd node stop` that finds the pid always gets a clean shutdown.
///
/// # Errors
/// Data directory or pid-file problems, or the node's own error.
pub fn start(config: Config) -> Result<(), CliError> {
    let dir = config.peer.file_system_path.clone();
    std::fs::create_dir_all(&dir).map_err(|source| CliError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let signals = Signals::install();
        let lock = PidLock::acquire(&dir)?;
        tracing::info!(
            peer.id = %config.peer.id,
            listen = %config.peer.listen_address,
            pid_file = %lock.path().display(),
            consensus = %config.peer.validator.consensus.plugin,
            chaincode_mode = ?config.chaincode.mode,
            "starting peer"
        );
        let result = fabrik_io::node::run(config, signals.wait()).await;
        drop(lock);
        result?;
        tracing::info!("peer stopped");
        Ok(())
    })
}

/// SIGINT (Ctrl-C) and SIGTERM listeners, registered up front.
struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl Signals {
    /// Registers both handlers; must run inside the runtime.
    fn install() -> Self {
        let register = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        Self {
            interrupt: register(SignalKind::interrupt(), "SIGINT"),
            terminate: register(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Resolves on the first of the two signals.
    async fn wait(mut self) {
        let interrupt = recv_or_pending(self.interrupt.as_mut());
        let terminate = recv_or_pending(self.terminate.as_mut());
        tokio::select! {
            () = interrupt => tracing::info!("SIGINT received, stopping"),
            () = terminate => tracing::info!("SIGTERM received, stopping"),
        }
    }
}

async fn recv_or_pending(signal: Option<&mut Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

fn status_name(code: i32) -> &'static str {
    StatusCode::try_from(code)
        .unwrap_or(StatusCode::Undefined)
        .as_str_name()
}

/// `peerd node status`: prints `status:STARTED`, or `status:UNKNOWN` and fails.
///
/// # Errors
/// When the peer cannot be reached (after printing `status:UNKNOWN`).
pub fn status(ctx: &Context) -> Result<(), CliError> {
    let address = ctx.peer_address().to_string();
    let result = block_on(async {
        let mut client = AdminClient::new(dial(&address).await?);
        let reply = client
            .get_status(())
            .await
            .map_err(|s| rpc_error("Admin.GetStatus", &address, &s))?;
        Ok(reply.into_inner().status)
    });
    match result {
        Ok(code) => {
            println!("status:{}", status_name(code));
            Ok(())
        }
        Err(e) => {
            println!("status:{}", StatusCode::Unknown.as_str_name());
            Err(e)
        }
    }
}

/// `peerd node stop`: Admin.StopServer; if the peer cannot be reached,
/// SIGTERM the pid in `<peer.fileSystemPath>/peer.pid` (only while that
/// file is still locked by a running peer).
///
/// # Errors
/// When neither way works.
pub fn stop(ctx: &Context) -> Result<(), CliError> {
    let address = ctx.peer_address().to_string();
    let outcome = block_on(async {
        let channel = match dial(&address).await {
            Ok(channel) => channel,
            Err(e) => return Ok(StopOutcome::Unreachable(e)),
        };
        match AdminClient::new(channel).stop_server(()).await {
            Ok(reply) => Ok(StopOutcome::Replied(reply.into_inner().status)),
            // The peer went away mid-call: it is stopping, as asked.
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                ) =>
            {
                Ok(StopOutcome::Replied(StatusCode::Stopped as i32))
            }
            Err(s) => Err(rpc_error("Admin.StopServer", &address, &s)),
        }
    })?;
    match outcome {
        StopOutcome::Replied(code) => {
            println!("status:{}", status_name(code));
            Ok(())
        }
        StopOutcome::Unreachable(CliError::Connect { address, cause }) => {
            stop_by_signal(ctx, &address, &cause)
        }
        StopOutcome::Unreachable(e) => Err(e),
    }
}

/// What Admin.StopServer came to.
enum StopOutcome {
    /// The peer answered (or dropped the call while exiting).
    Replied(i32),
    /// No connection could be made.
    Unreachable(CliError),
}

fn stop_by_signal(ctx: &Context, address: &str, cause: &str) -> Result<(), CliError> {
    let path = ctx.config.peer.file_system_path.join(PID_FILE_NAME);
    let not_running = |why: &str| {
        CliError::Usage(format!(
            "cannot connect to peer at {address} ({cause}) and {why}; the peer does not seem to be running"
        ))
    };
    if !path.exists() {
        return Err(not_running(&format!(
            "there is no pid file at {}",
            path.display()
        )));
    }
    if !pidfile::is_held(&path)? {
        return Err(not_running(&format!(
            "pid file {} is stale (not locked)",
            path.display()
        )));
    }
    let pid = pidfile::read_pid(&path)?;
    // SAFETY: kill(2) with a pid read from the locked pid file and a valid signal number.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        let err = std::io::Error::last_os_error();
        return Err(CliError::Usage(format!(
            "cannot send SIGTERM to peer pid {pid} (from {}): {err}",
            path.display()
        )));
    }
    tracing::info!(pid, "sent SIGTERM");
    println!("status:{}", StatusCode::Stopped.as_str_name());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_mode(set_keys: &[&str], plugin: &str) -> Config {
        let mut config = Config::default();
        plugin.clone_into(&mut config.peer.validator.consensus.plugin);
        let keys = set_keys.iter().map(|k| (*k).to_owned()).collect();
        apply_dev_mode(&mut config, &keys);
        config
    }

    #[test]
    fn dev_mode_keeps_a_chosen_plugin_and_defaults_to_noops() {
        let chosen = dev_mode(&[PLUGIN_KEY], "pbft");
        assert_eq!(chosen.peer.validator.consensus.plugin, "pbft");
        assert_eq!(chosen.chaincode.mode, ChaincodeMode::Dev);
        assert!(chosen.peer.validator.enabled);
        let unchosen = dev_mode(&["peer.id"], "pbft");
        assert_eq!(unchosen.peer.validator.consensus.plugin, "noops");
    }
}
