//! Chaincode in Docker containers, through bollard over the engine's local
//! unix socket (`vm.endpoint`).
//!
//! Each peer builds the image `<networkId>-<peerId>-<name>` `FROM scratch`
//! from the chaincode's code package (an in-memory tar context holding a
//! Dockerfile and the static binary; no registry, nothing pulled), reuses it
//! while it exists, and runs one container of the same name with
//! `CORE_CHAINCODE_ID_NAME`, `CORE_PEER_TLS_ENABLED=false` and the argument
//! `-peer.address=<peer.address>`. Containers use `NetworkMode=host` by
//! default, so a peer listening on 127.0.0.1 is reachable. Every image and
//! container carries the labels of [`context::labels`]; the peer removes its
//! containers by label on shutdown (and stale ones on first use).
//!
//! This module owns the engine calls; names, labels, the build context and
//! the static-binary check are pure functions in [`context`].

pub mod context;

use crate::config::ChaincodeMode;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, KillContainerOptions, ListContainersOptions,
    ListImagesOptions, LogsOptions, RemoveContainerOptions, RemoveImageOptions,
    WaitContainerOptions,
};
use context::BinaryKind;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

pub use bollard::Docker as Engine;

/// Engine request timeout (seconds) for ordinary calls.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long the start-up probe waits for the engine.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest build output line logged.
const MAX_LOG_LINE: usize = 300;
/// Most build output lines logged per build.
const MAX_BUILD_LINES: usize = 200;
/// Bytes of a container's log quoted in an error.
const LOG_TAIL_BYTES: usize = 2000;

/// Settings of the Docker launcher, taken from `vm.*` and `peer.*`.
#[derive(Debug, Clone)]
pub struct DockerSettings {
    /// `vm.endpoint` (`unix://` path).
    pub endpoint: String,
    /// `peer.networkId`.
    pub network_id: String,
    /// `peer.id`.
    pub peer_id: String,
    /// `vm.docker.hostConfig.NetworkMode`.
    pub network_mode: String,
    /// `vm.docker.hostConfig.Memory` (bytes, 0 = none).
    pub memory: i64,
    /// `vm.docker.hostConfig.NanoCpus` (0 = none).
    pub nano_cpus: i64,
    /// `vm.docker.hostConfig.PidsLimit` (0 = none).
    pub pids_limit: i64,
    /// How long an image build may take.
    pub build_timeout: Duration,
    /// Run a chaincode whose binary is not static as a process instead of
    /// failing (`chaincode.mode = auto`).
    pub process_fallback: bool,
}

impl DockerSettings {
    /// The settings of a peer with configuration `config`.
    pub fn from_config(config: &crate::config::Config, process_fallback: bool) -> Self {
        let host = &config.vm.docker.host_config;
        Self {
            endpoint: config.vm.endpoint.clone(),
            network_id: config.peer.network_id.clone(),
            peer_id: config.peer.id.clone(),
            network_mode: host.network_mode.clone(),
            memory: host.memory.max(0),
            nano_cpus: host.nano_cpus.max(0),
            pids_limit: host.pids_limit.max(0),
            build_timeout: Duration::from_millis(config.chaincode.startup_timeout.max(1000)),
            process_fallback,
        }
    }
}

/// A connection to the engine, negotiated down to the engine's API version.
///
/// # Errors
/// Text naming the endpoint and what to do.
pub async fn connect(endpoint: &str) -> Result<Docker, String> {
    let path = socket_path(endpoint)?;
    let docker =
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| {
                format!("cannot reach the Docker engine at {endpoint} (vm.endpoint): {e}")
            })?;
    let negotiate = tokio::time::timeout(PROBE_TIMEOUT, docker.negotiate_version());
    match negotiate.await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(format!(
            "the Docker engine at {endpoint} (vm.endpoint) does not answer: {e}"
        )),
        Err(_) => Err(format!(
            "the Docker engine at {endpoint} (vm.endpoint) did not answer within {PROBE_TIMEOUT:?}"
        )),
    }
}

/// The socket path of a `unix://` endpoint (or a bare absolute path).
///
/// # Errors
/// For any other scheme: the peer talks to Docker only over its local socket.
pub fn socket_path(endpoint: &str) -> Result<&str, String> {
    match endpoint.strip_prefix("unix://") {
        Some(path) if path.starts_with('/') => Ok(path),
        None if endpoint.starts_with('/') => Ok(endpoint),
        _ => Err(format!(
            "vm.endpoint {endpoint:?} is not a local unix socket; use unix:///var/run/docker.sock \
             (the peer talks to Docker only over its local socket)"
        )),
    }
}

/// Whether an engine answers at `endpoint`: its version, or why not.
///
/// # Errors
/// Text saying why the engine cannot be used.
pub async fn probe(endpoint: &str) -> Result<String, String> {
    let docker = connect(endpoint).await?;
    let version = tokio::time::timeout(PROBE_TIMEOUT, docker.version())
        .await
        .map_err(|_| {
            format!("the Docker engine at {endpoint} did not answer within {PROBE_TIMEOUT:?}")
        })?
        .map_err(|e| format!("the Docker engine at {endpoint} does not answer: {e}"))?;
    Ok(version.version.unwrap_or_else(|| "unknown version".into()))
}

/// The mode this peer runs chaincode in. An explicit `chaincode.mode` is
/// kept; `auto` becomes `docker` when an engine answers at `endpoint`, else
/// `process`. Logs which mode and why.
pub async fn choose_mode(configured: ChaincodeMode, endpoint: &str) -> ChaincodeMode {
    if configured != ChaincodeMode::Auto {
        tracing::info!(mode = ?configured, "chaincode mode set by chaincode.mode");
        return configured;
    }
    match probe(endpoint).await {
        Ok(version) => {
            tracing::info!(
                endpoint,
                version,
                "chaincode mode docker: a Docker engine answers (chaincode.mode = auto)"
            );
            ChaincodeMode::Docker
        }
        Err(why) => {
            tracing::info!("chaincode mode process: {why} (chaincode.mode = auto)");
            ChaincodeMode::Process
        }
    }
}

/// How a chaincode must be run, judged from its package.
#[derive(Debug)]
pub enum Plan {
    /// In a container built from this binary.
    Container(Vec<u8>),
    /// As a child process (auto mode, binary not static).
    Process,
}

/// The Docker side of the launcher: one per peer.
#[derive(Debug)]
pub struct DockerVm {
    docker: Docker,
    settings: DockerSettings,
}

impl DockerVm {
    /// Connects to the engine and removes containers a previous run of this
    /// peer left behind.
    ///
    /// # Errors
    /// Text naming the endpoint when the engine does not answer.
    pub async fn start(settings: DockerSettings) -> Result<Self, String> {
        let docker = connect(&settings.endpoint).await.map_err(|e| {
            format!("{e}; start Docker, fix vm.endpoint, or set chaincode.mode = \"process\"")
        })?;
        let vm = Self { docker, settings };
        let stale = vm.remove_all_containers().await;
        if stale > 0 {
            tracing::info!(
                count = stale,
                "removed chaincode containers left by a previous run of this peer"
            );
        }
        Ok(vm)
    }

    /// The settings.
    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    /// The image and container name of chaincode `name` on this peer.
    pub fn name_of(&self, chaincode: &str) -> String {
        context::image_name(&self.settings.network_id, &self.settings.peer_id, chaincode)
    }

    /// Decides how to run `chaincode` from its code package.
    ///
    /// # Errors
    /// Text naming the chaincode: no package, an invalid one, or a binary
    /// that cannot run `FROM scratch` (when there is no process fallback).
    pub fn plan(&self, chaincode: &str, code_package: Option<&[u8]>) -> Result<Plan, String> {
        plan(chaincode, code_package, self.settings.process_fallback)
    }

    /// Starts chaincode `chaincode` in a fresh container, building its image
    /// from `binary` when the image is missing. A container of the same name
    /// (dead, killed, or left over) is removed first.
    ///
    /// # Errors
    /// Text naming the chaincode, image or container and the next step.
    pub async fn run(
        &self,
        chaincode: &str,
        binary: &[u8],
        peer_address: &str,
    ) -> Result<String, String> {
        let name = self.name_of(chaincode);
        self.remove_container(&name).await?;
        if !self.image_exists(&name).await? {
            self.build(chaincode, &name, binary).await?;
        }
        let body = self.container_body(chaincode, &name, peer_address);
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        self.docker.create_container(Some(options), body).await.map_err(|e| {
            format!("cannot create container {name} for chaincode {chaincode}: {e}; check `docker ps -a`")
        })?;
        self.docker.start_container(&name, None).await.map_err(|e| {
            format!("cannot start container {name} for chaincode {chaincode}: {e}; see `docker logs {name}`")
        })?;
        tracing::info!(container = %name, "started chaincode container, waiting for it to register");
        Ok(name)
    }

    fn container_body(
        &self,
        chaincode: &str,
        name: &str,
        peer_address: &str,
    ) -> ContainerCreateBody {
        let s = &self.settings;
        let positive = |v: i64| (v > 0).then_some(v);
        ContainerCreateBody {
            image: Some(name.to_string()),
            entrypoint: Some(vec![context::BINARY_PATH.into()]),
            cmd: Some(vec![format!("-peer.address={peer_address}")]),
            user: Some(context::USER.into()),
            env: Some(vec![
                format!("CORE_CHAINCODE_ID_NAME={chaincode}"),
                "CORE_PEER_TLS_ENABLED=false".into(),
            ]),
            labels: Some(context::labels(&s.network_id, &s.peer_id, chaincode)),
            host_config: Some(HostConfig {
                network_mode: Some(s.network_mode.clone()).filter(|m| !m.is_empty()),
                memory: positive(s.memory),
                nano_cpus: positive(s.nano_cpus),
                pids_limit: positive(s.pids_limit),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn image_exists(&self, image: &str) -> Result<bool, String> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(format!(
                "cannot inspect image {image}: {e}; is the Docker engine healthy?"
            )),
        }
    }

    /// Builds image `image` `FROM scratch` holding `binary`, logging each
    /// build step.
    async fn build(&self, chaincode: &str, image: &str, binary: &[u8]) -> Result<(), String> {
        let s = &self.settings;
        let labels = context::labels(&s.network_id, &s.peer_id, chaincode);
        let tar = context::build_context(&context::dockerfile(&labels), binary)
            .map_err(|e| format!("image {image} for chaincode {chaincode}: {e}"))?;
        tracing::info!(
            image,
            bytes = binary.len(),
            "building chaincode image FROM scratch"
        );
        let options = BuildImageOptions {
            t: Some(image.to_string()),
            rm: true,
            forcerm: true,
            ..Default::default()
        };
        let fail = |e: String| {
            format!(
                "cannot build image {image} for chaincode {chaincode}: {e}; {}",
                context::BUILD_RETRY
            )
        };
        let stream = self
            .docker
            .build_image(options, None, Some(bollard::body_full(tar.into())));
        let outcome = tokio::time::timeout(s.build_timeout, follow_build(image, stream)).await;
        match outcome {
            Ok(Ok(())) => {
                tracing::info!(image, "chaincode image built");
                Ok(())
            }
            Ok(Err(e)) => Err(fail(e)),
            Err(_) => Err(format!(
                "cannot build image {image} for chaincode {chaincode}: the build took longer than {:?}; \
                 raise chaincode.startuptimeout, or check that the Docker engine is not overloaded (`docker info`)",
                s.build_timeout
            )),
        }
    }

    /// Waits until container `name` stops running; its exit code.
    pub async fn wait_exit(&self, name: &str) -> Option<i64> {
        let options = WaitContainerOptions {
            condition: "not-running".into(),
        };
        let mut stream = self.docker.wait_container(name, Some(options));
        match stream.next().await {
            Some(Ok(r)) => Some(r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
            Some(Err(e)) => {
                tracing::debug!(container = name, "waiting for the container failed: {e}");
                std::future::pending().await
            }
            None => std::future::pending().await,
        }
    }

    /// The last lines of container `name`'s output (bounded).
    pub async fn log_tail(&self, name: &str) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: "20".into(),
            ..Default::default()
        };
        let mut logs = self.docker.logs(name, Some(options));
        let mut text = String::new();
        let read = async {
            while let Some(Ok(chunk)) = logs.next().await {
                text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
                if text.len() > 4 * LOG_TAIL_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        context::tail(text.trim_end(), LOG_TAIL_BYTES).to_string()
    }

    /// Kills chaincode `chaincode`'s container (it is removed on next use).
    pub async fn kill(&self, chaincode: &str) {
        let name = self.name_of(chaincode);
        let options = KillContainerOptions {
            signal: "SIGKILL".into(),
        };
        match self.docker.kill_container(&name, Some(options)).await {
            Ok(()) => tracing::info!(container = %name, "killed chaincode container"),
            Err(e) => tracing::debug!(container = %name, "killing chaincode container: {e}"),
        }
    }

    /// Removes container `name` (running or not); absent is fine.
    async fn remove_container(&self, name: &str) -> Result<(), String> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => {
                tracing::info!(container = name, "removed chaincode container");
                Ok(())
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(format!(
                "cannot remove old container {name}: {e}; remove it with `docker rm -f {name}`"
            )),
        }
    }

    /// Stops and removes every container labelled as this peer's; how many.
    pub async fn remove_all_containers(&self) -> usize {
        let s = &self.settings;
        let names = list_containers(&self.docker, &s.network_id, &s.peer_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("cannot list this peer's chaincode containers: {e}");
                Vec::new()
            });
        let mut removed = 0;
        for name in names {
            match self.remove_container(&name).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        removed
    }
}

/// How `chaincode` must run, judged from its code package.
fn plan(
    chaincode: &str,
    code_package: Option<&[u8]>,
    process_fallback: bool,
) -> Result<Plan, String> {
    let bytes = code_package.filter(|b| !b.is_empty()).ok_or_else(|| {
        format!(
            "cannot launch chaincode {chaincode}: its deploy transaction carries no code package"
        )
    })?;
    let pkg = super::package::unpack(bytes)
        .map_err(|e| format!("cannot launch chaincode {chaincode}: {e}"))?;
    let binary = pkg.binary().unwrap_or_default();
    match (context::binary_kind(binary), process_fallback) {
        (BinaryKind::Static, _) => Ok(Plan::Container(binary.to_vec())),
        (_, true) => Ok(Plan::Process),
        (kind, false) => Err(format!(
            "cannot run chaincode {chaincode} in Docker: its binary is {}; a FROM scratch image needs a \
             statically linked Linux executable (build it with RUSTFLAGS=\"-C target-feature=+crt-static\" \
             and --target x86_64-unknown-linux-gnu, see the README), or set chaincode.mode = \"process\"",
            if kind == BinaryKind::Dynamic {
                "dynamically linked".to_string()
            } else {
                context::not_elf_description(binary)
            }
        )),
    }
}

/// Follows a build's output stream, logging each step; the first error.
async fn follow_build<S>(image: &str, mut stream: S) -> Result<(), String>
where
    S: futures::Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>> + Unpin,
{
    let mut logged = 0;
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| e.to_string())?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(detail);
        }
        let Some(line) = info
            .stream
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        else {
            continue;
        };
        if logged < MAX_BUILD_LINES {
            logged += 1;
            tracing::info!(image, "build: {}", context::tail(line, MAX_LOG_LINE));
        }
    }
    Ok(())
}

/// Names of the containers (any state) labelled as owned by peer
/// `peer_id` of network `network_id`.
///
/// # Errors
/// The engine's error as text.
pub async fn list_containers(
    docker: &Docker,
    network_id: &str,
    peer_id: &str,
) -> Result<Vec<String>, String> {
    containers_matching(docker, context::owner_filter(network_id, peer_id)).await
}

/// Names of the containers (any state) of every peer of network `network_id`.
///
/// # Errors
/// The engine's error as text.
pub async fn list_network_containers(
    docker: &Docker,
    network_id: &str,
) -> Result<Vec<String>, String> {
    containers_matching(docker, context::network_filter(network_id)).await
}

/// Tags (or ids, when untagged) of the images of every peer of network
/// `network_id`.
///
/// # Errors
/// The engine's error as text.
pub async fn list_network_images(docker: &Docker, network_id: &str) -> Result<Vec<String>, String> {
    images_matching(docker, context::network_filter(network_id)).await
}

/// Removes every container and image of every peer of network
/// `network_id` (for tests and tooling); how many objects were removed.
///
/// # Errors
/// The engine's error as text.
pub async fn purge_network(docker: &Docker, network_id: &str) -> Result<usize, String> {
    let containers = list_network_containers(docker, network_id).await?;
    let images = list_network_images(docker, network_id).await?;
    Ok(remove_all(docker, containers, images).await)
}

/// Every chaincode container and image of any fabrik peer, with the
/// `peer.networkId` it is labelled with: `(network, kind, name)`, kind
/// being `container` or `image` (for tests that look for leftovers).
///
/// # Errors
/// The engine's error as text.
pub async fn list_all_owned(
    docker: &Docker,
) -> Result<Vec<(String, &'static str, String)>, String> {
    let filter = HashMap::from([(
        "label".to_string(),
        vec![context::LABEL_NETWORK.to_string()],
    )]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filter.clone()),
        ..Default::default()
    };
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    let options = ListImagesOptions {
        filters: Some(filter),
        ..Default::default()
    };
    let images = docker
        .list_images(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    let network = |labels: Option<&HashMap<String, String>>| {
        labels
            .and_then(|l| l.get(context::LABEL_NETWORK))
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for c in containers {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .cloned()
            .unwrap_or_default();
        out.push((
            network(c.labels.as_ref()),
            "container",
            name.trim_start_matches('/').to_string(),
        ));
    }
    for i in images {
        let name = i.repo_tags.first().cloned().unwrap_or_else(|| i.id.clone());
        out.push((network(Some(&i.labels)), "image", name));
    }
    Ok(out)
}

async fn containers_matching(
    docker: &Docker,
    filters: HashMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            c.names?
                .first()
                .map(|n| n.trim_start_matches('/').to_string())
        })
        .collect())
}

/// Tags of the images labelled as owned by peer `peer_id` of network `network_id`.
///
/// # Errors
/// The engine's error as text.
pub async fn list_images(
    docker: &Docker,
    network_id: &str,
    peer_id: &str,
) -> Result<Vec<String>, String> {
    images_matching(docker, context::owner_filter(network_id, peer_id)).await
}

async fn images_matching(
    docker: &Docker,
    filters: HashMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    let options = ListImagesOptions {
        filters: Some(filters),
        ..Default::default()
    };
    let list = docker
        .list_images(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .flat_map(|i| i.repo_tags.into_iter().next().or(Some(i.id)))
        .collect())
}

/// Removes every container and image of peer `peer_id` of network
/// `network_id` (for tests and tooling); how many objects were removed.
///
/// # Errors
/// The engine's error as text.
pub async fn purge(docker: &Docker, network_id: &str, peer_id: &str) -> Result<usize, String> {
    let containers = list_containers(docker, network_id, peer_id).await?;
    let images = list_images(docker, network_id, peer_id).await?;
    Ok(remove_all(docker, containers, images).await)
}

/// Force-removes `containers`, then `images`; how many went.
async fn remove_all(docker: &Docker, containers: Vec<String>, images: Vec<String>) -> usize {
    let mut removed = 0;
    for name in containers {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        removed += usize::from(docker.remove_container(&name, Some(options)).await.is_ok());
    }
    for image in images {
        let options = RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        removed += usize::from(
            docker
                .remove_image(&image, Some(options), None)
                .await
                .is_ok(),
        );
    }
    removed
}

/// Labels of container `name`, when it exists.
pub async fn container_labels(docker: &Docker, name: &str) -> Option<HashMap<String, String>> {
    docker
        .inspect_container(name, None)
        .await
        .ok()?
        .config?
        .labels
}

/// Whether container `name` is running.
pub async fn container_running(docker: &Docker, name: &str) -> bool {
    let state = docker
        .inspect_container(name, None)
        .await
        .ok()
        .and_then(|c| c.state);
    state.and_then(|s| s.running).unwrap_or(false)
}

/// Sends SIGKILL to container `name`.
///
/// # Errors
/// The engine's error as text, naming the container.
pub async fn kill_container(docker: &Docker, name: &str) -> Result<(), String> {
    let options = KillContainerOptions {
        signal: "SIGKILL".into(),
    };
    docker
        .kill_container(name, Some(options))
        .await
        .map_err(|e| format!("cannot kill container {name}: {e}"))
}

/// Removes image `name` (forced).
///
/// # Errors
/// The engine's error as text, naming the image.
pub async fn remove_image(docker: &Docker, name: &str) -> Result<(), String> {
    let options = RemoveImageOptions {
        force: true,
        ..Default::default()
    };
    docker
        .remove_image(name, Some(options), None)
        .await
        .map(drop)
        .map_err(|e| format!("cannot remove image {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_unix_sockets_are_endpoints() {
        assert_eq!(
            socket_path("unix:///var/run/docker.sock"),
            Ok("/var/run/docker.sock")
        );
        assert_eq!(socket_path("/run/docker.sock"), Ok("/run/docker.sock"));
        let err = socket_path("tcp://127.0.0.1:2375").unwrap_err();
        assert!(err.contains("not a local unix socket"), "{err}");
        assert!(socket_path("unix://relative").is_err());
    }

    fn build_info(stream: Option<&str>, error: Option<&str>) -> bollard::models::BuildInfo {
        bollard::models::BuildInfo {
            stream: stream.map(str::to_string),
            error_detail: error.map(|m| bollard::models::ErrorDetail {
                message: Some(m.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_build_reports_the_engines_first_error() {
        let lines = vec![
            Ok(build_info(Some("Step 1/3 : FROM scratch\n"), None)),
            Ok(build_info(None, Some("no space left on device"))),
            Ok(build_info(Some("never read\n"), None)),
        ];
        let got = follow_build("img", futures::stream::iter(lines)).await;
        assert_eq!(got, Err("no space left on device".to_string()));
        let fine = vec![Ok(build_info(Some("Successfully built 0123\n"), None))];
        assert_eq!(
            follow_build("img", futures::stream::iter(fine)).await,
            Ok(())
        );
    }

    #[test]
    fn a_binary_that_cannot_run_from_scratch_is_refused_by_name() {
        let script = super::super::package::build(b"#!/bin/sh\nexec true\n", "run.sh").unwrap();
        let Err(e) = plan("cc1", Some(&script), false) else {
            panic!("a script was accepted");
        };
        assert!(
            e.starts_with(
                "cannot run chaincode cc1 in Docker: its binary is a script (`#!/bin/sh`), not a compiled executable; "
            ),
            "{e}"
        );
        assert!(e.ends_with("or set chaincode.mode = \"process\""), "{e}");
        let Err(e) = plan("cc2", None, false) else {
            panic!("no package was accepted");
        };
        assert!(e.contains("cc2") && e.contains("no code package"), "{e}");
    }

    #[test]
    fn settings_come_from_the_config() {
        let mut config = crate::config::Config::default();
        config.peer.id = "vp3".into();
        config.vm.docker.host_config.memory = -5;
        let s = DockerSettings::from_config(&config, true);
        assert_eq!((s.peer_id.as_str(), s.network_id.as_str()), ("vp3", "dev"));
        assert_eq!(s.memory, 0, "negative limits mean none");
        assert_eq!(s.network_mode, "host");
        assert_eq!(s.pids_limit, 256);
        assert!(s.process_fallback);
    }
}
