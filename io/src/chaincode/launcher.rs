//! Getting a chaincode connected: in `docker` mode the peer runs the binary
//! from the deploy transaction's code package in a container built `FROM
//! scratch` (see [`super::docker`]); in `process` mode it unpacks the binary
//! and starts it as a child process that dials back; in `dev` mode the user
//! runs it. Either way the launcher waits for REGISTER within
//! `chaincode.startuptimeout`, and [`Launcher::kill`] ends a chaincode that
//! must be relaunched on next use.

use super::docker::{DockerSettings, DockerVm, Plan};
use super::package;
use super::registry::Registry;
use super::stream::StreamHandle;
use crate::config::ChaincodeMode;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

/// Launch settings.
#[derive(Debug, Clone)]
pub struct LaunchConfig {
    /// How chaincode runs.
    pub mode: ChaincodeMode,
    /// Where chaincode binaries and their logs are written.
    pub dir: PathBuf,
    /// Address the chaincode dials (`-peer.address=`).
    pub peer_address: String,
    /// Wait for REGISTER this long.
    pub startup_timeout: Duration,
}

/// Starts chaincodes and remembers their processes.
#[derive(Debug)]
pub struct Launcher {
    config: LaunchConfig,
    registry: Registry,
    children: Mutex<HashMap<String, Child>>,
    launching: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    docker: Option<DockerSettings>,
    vm: tokio::sync::OnceCell<DockerVm>,
    /// What a chaincode run as a child process dials instead of
    /// [`LaunchConfig::peer_address`] (see [`Launcher::with_process_address`]).
    process_address: Option<String>,
}

impl Launcher {
    /// A launcher over `registry`.
    pub fn new(config: LaunchConfig, registry: Registry) -> Self {
        Self {
            config,
            registry,
            children: Mutex::default(),
            launching: Mutex::default(),
            docker: None,
            vm: tokio::sync::OnceCell::new(),
            process_address: None,
        }
    }

    /// Chaincode run as a child process (process mode, or auto mode with a
    /// binary that cannot run in a container) dials `address`, the peer's
    /// own socket on this host (see [`local_dial_address`]), rather than the
    /// advertised `peer.address`: a child process shares the peer's host,
    /// and the advertised name may lead through a network interface that
    /// comes and goes (a partition cut the chaincode off from its own peer,
    /// tests/FAULTS.md B3).
    #[must_use]
    pub fn with_process_address(mut self, address: String) -> Self {
        self.process_address = Some(address);
        self
    }

    /// Sets the Docker settings (used in `docker` and `auto` mode).
    #[must_use]
    pub fn with_docker(mut self, settings: DockerSettings) -> Self {
        self.docker = Some(settings);
        self
    }

    /// Connects to the Docker engine now (docker mode) and removes this
    /// peer's containers left by a previous run; logs why when it cannot.
    pub async fn prepare(&self) {
        if self.uses_docker()
            && let Err(e) = self.vm().await
        {
            tracing::warn!("{e}");
        }
    }

    fn uses_docker(&self) -> bool {
        match self.config.mode {
            ChaincodeMode::Docker => true,
            ChaincodeMode::Auto => self.docker.is_some(),
            ChaincodeMode::Process | ChaincodeMode::Dev => false,
        }
    }

    async fn vm(&self) -> Result<&DockerVm, String> {
        let settings = self.docker.clone().ok_or_else(|| {
            "docker mode needs the vm.* settings; set chaincode.mode = \"process\" to run chaincode as processes".to_string()
        })?;
        self.vm.get_or_try_init(|| DockerVm::start(settings)).await
    }

    /// The registry chaincodes register in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The launch mode.
    pub fn mode(&self) -> ChaincodeMode {
        self.config.mode
    }

    /// Returns the connected stream of `name`, starting the chaincode from
    /// `code_package` first when it is not connected (process mode).
    ///
    /// # Errors
    /// A message naming the chaincode: not registered (dev mode), cannot be
    /// started, or did not register in time.
    pub async fn ensure_connected(
        &self,
        name: &str,
        code_package: Option<&[u8]>,
    ) -> Result<StreamHandle, String> {
        if let Some(h) = self.registry.get(name) {
            return Ok(h);
        }
        let gate = {
            let mut launching = self.launching.lock().await;
            Arc::clone(launching.entry(name.to_string()).or_default())
        };
        let _one_at_a_time = gate.lock().await;
        if let Some(h) = self.registry.get(name) {
            return Ok(h);
        }
        match self.config.mode {
            ChaincodeMode::Dev => Err(format!("handler not found for chaincode {name}")),
            _ if self.uses_docker() => self.start_docker(name, code_package).await,
            _ => self.start_process(name, code_package).await,
        }
    }

    async fn start_docker(
        &self,
        name: &str,
        code_package: Option<&[u8]>,
    ) -> Result<StreamHandle, String> {
        let vm = self
            .vm()
            .await
            .map_err(|e| format!("cannot launch chaincode {name}: {e}"))?;
        let binary = match vm.plan(name, code_package)? {
            Plan::Container(binary) => binary,
            Plan::Process => {
                tracing::info!(
                    chaincode = %short(name),
                    "the chaincode binary is not statically linked: running it as a process (chaincode.mode = auto)"
                );
                return self.start_process(name, code_package).await;
            }
        };
        let container = vm.run(name, &binary, &self.config.peer_address).await?;
        let timeout = self.config.startup_timeout;
        tokio::select! {
            registered = self.registry.wait_for(name, timeout) => match registered {
                Some(handle) => Ok(handle),
                None => {
                    vm.kill(name).await;
                    Err(format!(
                        "Timeout expired while starting chaincode {name} (waited {timeout:?} for container \
                         {container} to register); see `docker logs {container}`"
                    ))
                }
            },
            code = vm.wait_exit(&container) => {
                let tail = vm.log_tail(&container).await;
                Err(format!(
                    "chaincode {name} exited with code {} before registering (container {container}); \
                     its last output:\n{tail}",
                    code.unwrap_or(-1)
                ))
            }
        }
    }

    /// Kills chaincode `name` (its container or process) so that the next
    /// use relaunches it, e.g. after it let an execution time out on
    /// `stream`.
    ///
    /// `stream` is closed and leaves the registry at once, whatever the
    /// chaincode does: a chaincode cut off from the peer (its connection
    /// silent rather than reset) would otherwise stay registered, and every
    /// later execution would be handed to it and time out in turn. The
    /// process or container is killed only while `stream` is still the
    /// chaincode's current connection: one relaunched meanwhile (by a
    /// query, say) is left alone.
    pub async fn kill(&self, name: &str, stream: &StreamHandle) {
        // An in-flight launch of `name` finishes first, so a process it
        // started is told apart from the one that timed out.
        let gate = {
            let mut launching = self.launching.lock().await;
            Arc::clone(launching.entry(name.to_string()).or_default())
        };
        let _one_at_a_time = gate.lock().await;
        let current = self.registry.get(name);
        stream.close();
        self.registry.deregister(name, stream.id());
        if current.is_some_and(|h| h.id() != stream.id()) {
            tracing::debug!(chaincode = %short(name), "chaincode already relaunched; not killing it");
            return;
        }
        tracing::info!(chaincode = %short(name), "stopping chaincode; relaunched on next use");
        if let Some(vm) = self.vm.get() {
            vm.kill(name).await;
        }
        let child = self.children.lock().await.remove(name);
        if let Some(mut child) = child
            && let Err(e) = child.kill().await
        {
            tracing::debug!(chaincode = %short(name), "killing chaincode process: {e}");
        }
    }

    async fn start_process(
        &self,
        name: &str,
        code_package: Option<&[u8]>,
    ) -> Result<StreamHandle, String> {
        let bytes = code_package.filter(|b| !b.is_empty()).ok_or_else(|| {
            format!(
                "cannot launch chaincode {name}: its deploy transaction carries no code package"
            )
        })?;
        let pkg =
            package::unpack(bytes).map_err(|e| format!("cannot launch chaincode {name}: {e}"))?;
        let binary = pkg.binary().unwrap_or_default();
        let dir = self.config.dir.join(dir_name(name));
        let exe = dir.join(package::BINARY);
        write_executable(&exe, binary)
            .map_err(|e| format!("cannot write chaincode {name} to {}: {e}", exe.display()))?;
        let log = dir.join("chaincode.log");
        let child = self.spawn(name, &exe, &log)?;
        self.children.lock().await.insert(name.to_string(), child);
        tracing::info!(chaincode = %short(name), "started chaincode process, waiting for it to register");
        self.registry.wait_for(name, self.config.startup_timeout).await.ok_or_else(|| {
            format!(
                "Timeout expired while starting chaincode {name} (waited {:?}); see its log at {}",
                self.config.startup_timeout,
                log.display()
            )
        })
    }

    fn spawn(
        &self,
        name: &str,
        exe: &std::path::Path,
        log: &std::path::Path,
    ) -> Result<Child, String> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
        };
        let (out, err) = match (open(), open()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(format!("cannot open chaincode log {}", log.display())),
        };
        let address = self
            .process_address
            .as_deref()
            .unwrap_or(&self.config.peer_address);
        Command::new(exe)
            .arg(format!("-peer.address={address}"))
            .env("CORE_CHAINCODE_ID_NAME", name)
            .env("CORE_PEER_TLS_ENABLED", "false")
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start chaincode {name} ({}): {e}", exe.display()))
    }

    /// Stops every chaincode process this peer started, and stops and
    /// removes its chaincode containers (by label).
    pub async fn shutdown(&self) {
        for (name, mut child) in self.children.lock().await.drain() {
            if let Err(e) = child.kill().await {
                tracing::debug!(chaincode = %short(&name), "stopping chaincode process: {e}");
            }
        }
        if let Some(vm) = self.vm.get() {
            let removed = vm.remove_all_containers().await;
            tracing::info!(count = removed, "removed this peer's chaincode containers");
        }
    }
}

/// The address a process on this host dials to reach a server listening on
/// `listen` (`peer.listenAddress`): the wildcard hosts `0.0.0.0` and `::`
/// become loopback, anything else is kept.
pub fn local_dial_address(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let loopback = if addr.is_ipv4() {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            } else {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            };
            std::net::SocketAddr::new(loopback, addr.port()).to_string()
        }
        _ => listen.to_string(),
    }
}

/// The first 16 characters of a (128-hex) chaincode name, for paths and logs.
pub fn short(name: &str) -> &str {
    name.get(..16).unwrap_or(name)
}

/// A directory name for `name` that cannot escape the chaincode directory.
fn dir_name(name: &str) -> String {
    let safe = name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe && !name.is_empty() {
        name.to_string()
    } else {
        hex::encode(fabrik_core::crypto::hash(name.as_bytes()))
    }
}

fn write_executable(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::local_dial_address;

    #[test]
    fn a_wildcard_listen_address_is_dialled_on_loopback() {
        assert_eq!(local_dial_address("0.0.0.0:7051"), "127.0.0.1:7051");
        assert_eq!(local_dial_address("[::]:7051"), "[::1]:7051");
        assert_eq!(local_dial_address("10.0.0.5:7051"), "10.0.0.5:7051");
        assert_eq!(local_dial_address("peer0:7051"), "peer0:7051");
    }
}
