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

/// `--peer-chaincodedev`: validator on, chaincode run by the user, NOOPS
/// (v0.6 meant to force NOOPS but set a wrong key; we set the right one).
pub fn apply_dev_mode(config: &mut Config) {
    config.peer.validator.enabled = true;
    config.chaincode.mode = ChaincodeMode::Dev;
    "noops".clone_into(&mut config.peer.validator.consensus.plugin);
}

/// `peerd node start`: takes the pid file, then runs the peer on a
/// multi-thread runtime until a shutdown signal.
///
/// # Errors
/// Data directory or pid-file problems, or the node's own error.
pub fn start(config: Config) -> Result<(), CliError> {
    let dir = config.peer.file_system_path.clone();
    std::fs::create_dir_all(&dir).map_err(|source| CliError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let lock = PidLock::acquire(&dir)?;
    tracing::info!(
        peer.id = %config.peer.id,
        listen = %config.peer.listen_address,
        pid_file = %lock.path().display(),
        consensus = %config.peer.validator.consensus.plugin,
        chaincode_mode = ?config.chaincode.mode,
        "starting peer"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(fabrik_io::node::run(config, shutdown_signal()));
    drop(runtime);
    drop(lock);
    result?;
    tracing::info!("peer stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, stopping"),
        () = term => tracing::info!("SIGTERM received, stopping"),
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
    let result = block_on(async {
        let mut client = AdminClient::new(dial(&address).await?);
        let reply = client
            .stop_server(())
            .await
            .map_err(|s| rpc_error("Admin.StopServer", &address, &s))?;
        Ok(reply.into_inner().status)
    });
    match result {
        Ok(code) => {
            println!("status:{}", status_name(code));
            Ok(())
        }
        Err(CliError::Connect { address, cause }) => stop_by_signal(ctx, &address, &cause),
        Err(e) => Err(e),
    }
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
