//! A fabrik network run as Docker containers for the fault matrix: one
//! `FROM scratch` image holding a static `peerd` and example02, one
//! container per validator, and the faults the matrix injects (SIGKILL,
//! SIGTERM, pause, network disconnect, partitions) through the engine's API.
//!
//! Every pair of nodes has a private bridge network of its own, and each
//! node's `/etc/hosts` names every other node by its address on their
//! pair's network. Cutting a link is then taking the two nodes off their
//! pair's network: links inside a side of a partition keep their addresses
//! and connections, links across it go silent, as in a real partition.
//! Subnets come from a block reserved across test processes
//! ([`crate::network::reserve_base_port`]), so clusters running side by
//! side never overlap. Everything created carries the label [`LABEL`] and
//! is removed when the [`Cluster`] is dropped.

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig,
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
    /// Second octet of this cluster's subnets: 10.<octet>.<pair>.0/24.
    octet: u16,
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
        rt.block_on(sweep_leftovers(&docker));
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
        let slot = (crate::network::reserve_base_port() - 20_000) / 80;
        let cluster = Self {
            rt,
            docker,
            prefix,
            image,
            files,
            octet: 100 + slot,
            _dir: dir,
        };
        for (i, j) in cluster.pairs() {
            cluster.rt.block_on(cluster.create_pair_network(i, j))?;
        }
        for i in 0..validators {
            cluster.rt.block_on(cluster.create_node(i, env))?;
            for j in (0..validators).filter(|&j| j != i && j != cluster.first_peer(i)) {
                cluster.rt.block_on(cluster.join(i, j))?;
            }
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

    /// Every pair of nodes, each once.
    fn pairs(&self) -> Vec<(usize, usize)> {
        let n = self.len();
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect()
    }

    fn pair_index(&self, i: usize, j: usize) -> usize {
        let (a, b) = (i.min(j), i.max(j));
        self.pairs()
            .iter()
            .position(|&p| p == (a, b))
            .expect("a pair of this cluster")
    }

    fn pair_network(&self, i: usize, j: usize) -> String {
        format!("{}-link{}", self.prefix, self.pair_index(i, j))
    }

    /// Node `i`'s address on its link to node `j`.
    fn address_on_link(&self, i: usize, j: usize) -> String {
        format!("10.{}.{}.{}", self.octet, self.pair_index(i, j), 10 + i)
    }

    /// The peer whose link a node's container is created on.
    fn first_peer(&self, i: usize) -> usize {
        usize::from(i == 0)
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(LABEL.to_string(), self.prefix.clone())])
    }

    async fn create_pair_network(&self, i: usize, j: usize) -> Result<(), String> {
        let name = self.pair_network(i, j);
        let subnet = format!("10.{}.{}.0/24", self.octet, self.pair_index(i, j));
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(self.labels()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.clone()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(drop)
            .map_err(|e| format!("cannot create network {name} ({subnet}): {e}"))
    }

    /// Node `i`'s endpoint on its link to `j`, always the same address.
    fn endpoint(&self, i: usize, j: usize) -> EndpointSettings {
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: Some(self.address_on_link(i, j)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `/etc/hosts` lines naming every other node by its link address.
    fn hosts_of(&self, i: usize) -> Vec<String> {
        (0..self.len())
            .filter(|&j| j != i)
            .map(|j| format!("{}:{}", self.files[j].id, self.address_on_link(j, i)))
            .collect()
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
                extra_hosts: Some(self.hosts_of(i)),
                ..Default::default()
            }),
            // The engine takes one network at creation; the other links
            // are joined before the container starts.
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.pair_network(i, self.first_peer(i)),
                    self.endpoint(i, self.first_peer(i)),
                )])),
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

    /// Takes node `i` off every link: it reaches nobody, nobody reaches it.
    pub fn disconnect(&self, i: usize) -> Result<(), String> {
        for j in (0..self.len()).filter(|&j| j != i) {
            self.rt.block_on(self.leave(i, j))?;
        }
        Ok(())
    }

    /// Puts node `i` back on every link, at the same addresses.
    pub fn reconnect(&self, i: usize) -> Result<(), String> {
        for j in (0..self.len()).filter(|&j| j != i) {
            self.rt.block_on(self.join(i, j))?;
        }
        Ok(())
    }

    /// Cuts every link between nodes on different `sides`; links inside a
    /// side are untouched. Nodes in no side are cut from everyone.
    pub fn partition(&mut self, sides: &[Vec<usize>]) -> Result<(), String> {
        let side_of = |i: usize| sides.iter().position(|s| s.contains(&i));
        for (i, j) in self.pairs() {
            if side_of(i).is_none() || side_of(i) != side_of(j) {
                self.rt.block_on(self.leave(i, j))?;
                self.rt.block_on(self.leave(j, i))?;
            }
        }
        Ok(())
    }

    /// Ends a partition: every link back.
    pub fn heal(&mut self) -> Result<(), String> {
        for (i, j) in self.pairs() {
            self.rt.block_on(self.join(i, j))?;
            self.rt.block_on(self.join(j, i))?;
        }
        Ok(())
    }

    /// Node `i` onto its link with `j` (nothing if it is on it already).
    async fn join(&self, i: usize, j: usize) -> Result<(), String> {
        let network = self.pair_network(i, j);
        if self.on_network(i, &network).await {
            return Ok(());
        }
        let request = NetworkConnectRequest {
            container: self.container(i),
            endpoint_config: Some(self.endpoint(i, j)),
        };
        self.docker
            .connect_network(&network, request)
            .await
            .map_err(|e| format!("cannot connect {} to {network}: {e}", self.container(i)))
    }

    /// Node `i` off its link with `j` (nothing if it is off it already).
    async fn leave(&self, i: usize, j: usize) -> Result<(), String> {
        let network = self.pair_network(i, j);
        if !self.on_network(i, &network).await {
            return Ok(());
        }
        let request = NetworkDisconnectRequest {
            container: self.container(i),
            force: Some(true),
        };
        self.docker
            .disconnect_network(&network, request)
            .await
            .map_err(|e| {
                format!(
                    "cannot disconnect {} from {network}: {e}",
                    self.container(i)
                )
            })
    }

    async fn on_network(&self, i: usize, network: &str) -> bool {
        let Ok(inspect) = self
            .docker
            .inspect_container(&self.container(i), None)
            .await
        else {
            return false;
        };
        inspect
            .network_settings
            .and_then(|s| s.networks)
            .is_some_and(|n| n.contains_key(network))
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

    /// The last `lines` lines node `i`'s peerd printed (`usize::MAX`: all).
    pub fn logs(&self, i: usize, lines: usize) -> String {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: if lines == usize::MAX {
                "all".into()
            } else {
                lines.to_string()
            },
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
        for (i, j) in self.pairs() {
            let _ = self.docker.remove_network(&self.pair_network(i, j)).await;
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

/// Removes containers and networks a fault-matrix run left behind when its
/// process died before cleaning up (their label names the process).
async fn sweep_leftovers(docker: &Docker) {
    use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};
    let filters = HashMap::from([("label".to_string(), vec![LABEL.to_string()])]);
    let dead = |prefix: Option<&String>| {
        let pid = prefix
            .and_then(|p| p.strip_prefix("fabrik-fm-"))
            .and_then(|p| p.split('-').next())
            .and_then(|p| p.parse::<i32>().ok());
        // SAFETY: signal 0 sends nothing; it only checks the process exists.
        pid.is_some_and(|pid| unsafe { libc::kill(pid, 0) } != 0)
    };
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters.clone()),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for c in containers {
        if dead(c.labels.as_ref().and_then(|l| l.get(LABEL)))
            && let Some(id) = c.id
        {
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            };
            let _ = docker.remove_container(&id, Some(options)).await;
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap_or_default();
    for n in networks {
        if dead(n.labels.as_ref().and_then(|l| l.get(LABEL)))
            && let Some(name) = n.name
        {
            let _ = docker.remove_network(&name).await;
        }
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
