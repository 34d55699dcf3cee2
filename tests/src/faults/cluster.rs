//! A fabrik network run as Docker containers for the fault matrix: one
//! `FROM scratch` image holding a static `peerd` and example02, one
//! container per validator on a private bridge network made for the run,
//! and the faults the matrix injects (SIGKILL, SIGTERM, pause, network
//! disconnect, partitions) through the engine's API.
//!
//! Peers address each other by host name (`vp0:7051`), so a partition is
//! made by moving containers from the shared network onto one network per
//! side: the engine's DNS then resolves only the names on the same side,
//! and the peers' QUIC connections across the cut die with the old
//! addresses. Everything created carries the label [`LABEL`] and is removed
//! when the [`Cluster`] is dropped.

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, KillContainerOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use fabrik_io::testnet::{self, NodeFiles, TestnetSpec};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::Path;

/// Label on every container, network and image the fault matrix makes.
pub const LABEL: &str = "org.fabrik.faultmatrix";
/// Port of every peer's gRPC API and QUIC transport inside its container.
pub const PEER_PORT: u16 = 7051;
const REST_PORT: u16 = 7050;
const OPERATIONS_PORT: u16 = 9443;

/// A network of validators running as containers.
pub struct Cluster {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    prefix: String,
    image: String,
    files: Vec<NodeFiles>,
    /// Networks made for partitions, removed on heal.
    side_networks: Vec<String>,
    _dir: tempfile::TempDir,
}

/// Where the static binaries for the image are.
pub struct Binaries<'a> {
    /// A statically linked `peerd`.
    pub peerd: &'a Path,
    /// A statically linked example02 chaincode.
    pub example02: &'a Path,
}

impl Cluster {
    /// Builds (or reuses) the image, generates a `validators`-node testnet
    /// and starts it as containers on a fresh private network.
    ///
    /// # Errors
    /// What the engine refused, naming the object.
    pub fn start(
        validators: usize,
        binaries: &Binaries<'_>,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| format!("cannot reach the Docker engine: {e}"))?;
        let image = rt.block_on(build_image(&docker, binaries))?;
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let files = testnet::generate(&TestnetSpec {
            validators,
            non_validators: 0,
            out: dir.path().to_path_buf(),
            base_port: 20_000,
            plugin: "pbft".into(),
        })
        .map_err(|e| format!("testnet: {e}"))?;
        let prefix = format!("fabrik-fm-{}-{}", std::process::id(), unique());
        let cluster = Self {
            rt,
            docker,
            prefix,
            image,
            files,
            side_networks: Vec::new(),
            _dir: dir,
        };
        cluster
            .rt
            .block_on(cluster.create_network(&cluster.shared_network()))?;
        for i in 0..validators {
            cluster.rt.block_on(cluster.create_node(i, env))?;
        }
        for i in 0..validators {
            cluster.start_node(i)?;
        }
        Ok(cluster)
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the cluster has no nodes (never, once started).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `vpN`, the peer id of node `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.files[i].id
    }

    fn container(&self, i: usize) -> String {
        format!("{}-{}", self.prefix, self.files[i].id)
    }

    fn shared_network(&self) -> String {
        format!("{}-net", self.prefix)
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(LABEL.to_string(), self.prefix.clone())])
    }

    async fn create_network(&self, name: &str) -> Result<(), String> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(self.labels()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(drop)
            .map_err(|e| format!("cannot create network {name}: {e}"))
    }

    fn endpoint(&self, i: usize) -> EndpointSettings {
        EndpointSettings {
            aliases: Some(vec![self.files[i].id.clone()]),
            ..Default::default()
        }
    }

    async fn create_node(&self, i: usize, extra_env: &[(&str, &str)]) -> Result<(), String> {
        let node = &self.files[i];
        let host_dir = node.dir.display().to_string();
        let mut env = vec![
            format!("CORE_PEER_LISTENADDRESS=0.0.0.0:{PEER_PORT}"),
            format!("CORE_PEER_ADDRESS={}:{PEER_PORT}", node.id),
            format!(
                "CORE_PEER_DISCOVERY_ROOTNODE={}:{PEER_PORT}",
                self.files[0].id
            ),
            "CORE_PEER_FILESYSTEMPATH=/var/fabrik".into(),
            "CORE_PEER_VALIDATOR_EVENTS_ADDRESS=0.0.0.0:7053".into(),
            format!("CORE_REST_ADDRESS=0.0.0.0:{REST_PORT}"),
            format!("CORE_OPERATIONS_ADDRESS=0.0.0.0:{OPERATIONS_PORT}"),
            "CORE_CHAINCODE_MODE=process".into(),
        ];
        env.extend(extra_env.iter().map(|(k, v)| format!("{k}={v}")));
        let name = self.container(i);
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            hostname: Some(node.id.clone()),
            cmd: Some(vec![
                "node".into(),
                "start".into(),
                "--config".into(),
                node.config.display().to_string(),
            ]),
            env: Some(env),
            labels: Some(self.labels()),
            host_config: Some(HostConfig {
                // The generated config names its key files by their host
                // paths, so the node directory is mounted where it is.
                binds: Some(vec![format!("{host_dir}:{host_dir}:ro")]),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(self.shared_network(), self.endpoint(i))])),
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        self.docker
            .create_container(Some(options), body)
            .await
            .map(drop)
            .map_err(|e| format!("cannot create container {name}: {e}"))
    }

    /// Starts (or restarts after a kill or stop) node `i`'s container.
    pub fn start_node(&self, i: usize) -> Result<(), String> {
        let name = self.container(i);
        self.rt
            .block_on(self.docker.start_container(&name, None))
            .map_err(|e| format!("cannot start {name}: {e}"))
    }

    /// SIGKILL to node `i`'s peerd: no chance to flush or say goodbye.
    pub fn kill(&self, i: usize) -> Result<(), String> {
        let name = self.container(i);
        let options = KillContainerOptions {
            signal: "SIGKILL".into(),
        };
        self.rt
            .block_on(self.docker.kill_container(&name, Some(options)))
            .map_err(|e| format!("cannot kill {name}: {e}"))
    }

    /// SIGTERM to node `i`'s peerd, SIGKILL after 10 s if it has not exited.
    pub fn terminate(&self, i: usize) -> Result<(), String> {
        let name = self.container(i);
        let options = StopContainerOptions {
            signal: Some("SIGTERM".into()),
            t: Some(10),
        };
        self.rt
            .block_on(self.docker.stop_container(&name, Some(options)))
            .map_err(|e| format!("cannot stop {name}: {e}"))
    }

    /// Freezes every process of node `i` (cgroup freezer).
    pub fn pause(&self, i: usize) -> Result<(), String> {
        let name = self.container(i);
        self.rt
            .block_on(self.docker.pause_container(&name))
            .map_err(|e| format!("cannot pause {name}: {e}"))
    }

    /// Thaws node `i`.
    pub fn unpause(&self, i: usize) -> Result<(), String> {
        let name = self.container(i);
        self.rt
            .block_on(self.docker.unpause_container(&name))
            .map_err(|e| format!("cannot unpause {name}: {e}"))
    }

    /// Takes node `i` off every network it is on.
    pub fn disconnect(&self, i: usize) -> Result<(), String> {
        for network in self.networks_of(i)? {
            self.rt.block_on(self.leave(i, &network))?;
        }
        Ok(())
    }

    /// Puts node `i` back on the shared network.
    pub fn reconnect(&self, i: usize) -> Result<(), String> {
        self.rt.block_on(self.join(i, &self.shared_network()))
    }

    /// Splits the nodes into `sides`: each side gets a network of its own
    /// and no route to the others. Nodes in no side keep no network.
    pub fn partition(&mut self, sides: &[Vec<usize>]) -> Result<(), String> {
        for i in 0..self.len() {
            self.disconnect(i)?;
        }
        for (s, side) in sides.iter().enumerate() {
            let network = format!("{}-side{s}", self.prefix);
            self.rt.block_on(self.create_network(&network))?;
            self.side_networks.push(network.clone());
            for &i in side {
                self.rt.block_on(self.join(i, &network))?;
            }
        }
        Ok(())
    }

    /// Ends a partition: every node back on the shared network only.
    pub fn heal(&mut self) -> Result<(), String> {
        for i in 0..self.len() {
            self.disconnect(i)?;
            self.reconnect(i)?;
        }
        for network in std::mem::take(&mut self.side_networks) {
            let _ = self.rt.block_on(self.docker.remove_network(&network));
        }
        Ok(())
    }

    async fn join(&self, i: usize, network: &str) -> Result<(), String> {
        let request = NetworkConnectRequest {
            container: self.container(i),
            endpoint_config: Some(self.endpoint(i)),
        };
        self.docker
            .connect_network(network, request)
            .await
            .map_err(|e| format!("cannot connect {} to {network}: {e}", self.container(i)))
    }

    async fn leave(&self, i: usize, network: &str) -> Result<(), String> {
        let request = NetworkDisconnectRequest {
            container: self.container(i),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network, request)
            .await
            .map_err(|e| {
                format!(
                    "cannot disconnect {} from {network}: {e}",
                    self.container(i)
                )
            })
    }

    fn networks_of(&self, i: usize) -> Result<Vec<String>, String> {
        let name = self.container(i);
        let inspect = self
            .rt
            .block_on(self.docker.inspect_container(&name, None))
            .map_err(|e| format!("cannot inspect {name}: {e}"))?;
        Ok(inspect
            .network_settings
            .and_then(|s| s.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default())
    }

    /// Node `i`'s IP address as the host reaches it (any of its networks),
    /// or `None` while it is on none or not running.
    pub fn ip(&self, i: usize) -> Option<String> {
        let inspect = self
            .rt
            .block_on(self.docker.inspect_container(&self.container(i), None))
            .ok()?;
        let running = inspect.state.as_ref().and_then(|s| s.running) == Some(true);
        let paused = inspect.state.as_ref().and_then(|s| s.paused) == Some(true);
        if !running || paused {
            return None;
        }
        inspect
            .network_settings?
            .networks?
            .into_values()
            .filter_map(|e| e.ip_address)
            .find(|ip| !ip.is_empty())
    }

    /// `ip:7051`, node `i`'s gRPC API.
    pub fn grpc(&self, i: usize) -> Option<String> {
        self.ip(i).map(|ip| format!("{ip}:{PEER_PORT}"))
    }

    /// `ip:9443`, node `i`'s operations (metrics, health) address.
    pub fn operations(&self, i: usize) -> Option<String> {
        self.ip(i).map(|ip| format!("{ip}:{OPERATIONS_PORT}"))
    }

    /// The last lines node `i`'s peerd printed.
    pub fn logs(&self, i: usize, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(&self.container(i), Some(options));
        self.rt.block_on(async {
            let mut out = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                out.push_str(&chunk.to_string());
            }
            out
        })
    }

    async fn remove_everything(&self) {
        for i in 0..self.len() {
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            let _ = self
                .docker
                .remove_container(&self.container(i), Some(options))
                .await;
        }
        for network in self.side_networks.iter().chain([&self.shared_network()]) {
            let _ = self.docker.remove_network(network).await;
        }
        // Other clusters of the same run may still use the image; the
        // engine refuses to remove it then, and the last one removes it.
        let _ = self
            .docker
            .remove_image(
                &self.image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.rt.block_on(self.remove_everything());
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Builds the `FROM scratch` image holding both binaries; its tag is a
/// hash of their contents, so a rebuilt peerd never runs an old image.
async fn build_image(docker: &Docker, binaries: &Binaries<'_>) -> Result<String, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let peerd = read(binaries.peerd)?;
    let example02 = read(binaries.example02)?;
    let digest = fabrik_core::crypto::hash(&[peerd.as_slice(), &example02].concat());
    let image = format!("fabrik-faultmatrix:{}", hex_prefix(&digest));
    if docker.inspect_image(&image).await.is_ok() {
        return Ok(image);
    }
    let dockerfile = format!(
        "FROM scratch\nLABEL {LABEL}=image\nCOPY peerd /peerd\nCOPY example02 /example02\nENTRYPOINT [\"/peerd\"]\n"
    );
    let context = tar_context(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("peerd", &peerd, 0o755),
        ("example02", &example02, 0o755),
    ])?;
    let options = BuildImageOptions {
        t: Some(image.clone()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = stream.next().await {
        let info = step.map_err(|e| format!("cannot build image {image}: {e}"))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(format!("cannot build image {image}: {detail}"));
        }
    }
    Ok(image)
}

fn hex_prefix(digest: &[u8]) -> String {
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn tar_context(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>, String> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        tar.append_data(&mut header, name, *bytes)
            .map_err(|e| format!("image context: {e}"))?;
    }
    tar.into_inner().map_err(|e| format!("image context: {e}"))
}
