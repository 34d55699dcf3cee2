//! The peer's configuration: v0.6 `core.yaml` key names (and the NOOPS/PBFT
//! plugin keys), held in one TOML file and overridable by `CORE_*`
//! environment variables. Every listener defaults to 127.0.0.1.
//!
//! This module owns the data and its defaults; loading, environment
//! overrides and validation live in `config::load` (re-exported here as
//! [`load`] and [`find_config_file`]), duration syntax in `config::duration`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub mod duration;
mod load;
mod p2p;
mod pbft;
mod statetransfer;

pub use p2p::{FileKey, P2pConfig, TlsConfig};
pub use pbft::{PbftConfig, PbftGeneral, PbftTimeouts};
pub use statetransfer::{StateTransferConfig, StateTransferTimeouts};

pub use load::{
    CONFIG_FILE_NAME, ConfigError, Loaded, Origin, env_name, find_config_file, load, load_tracked,
};

/// The whole configuration of one peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `peer.*`
    pub peer: PeerConfig,
    /// `chaincode.*`
    pub chaincode: ChaincodeConfig,
    /// `rest.*`
    pub rest: RestConfig,
    /// `ledger.*`
    pub ledger: LedgerConfig,
    /// `noops.*` (v0.6 `consensus/noops/config.yaml`, env `CORE_NOOPS_*`)
    pub noops: NoopsConfig,
    /// `logging.*`
    pub logging: LoggingConfig,
    /// `vm.*`: the Docker engine that runs chaincode containers.
    pub vm: VmConfig,
    /// `operations.*` (ours): the metrics, health and readiness server.
    pub operations: OperationsConfig,
    /// `pbft.*` (v0.6 `consensus/pbft/config.yaml`, env `CORE_PBFT_*`)
    pub pbft: PbftConfig,
    /// `statetransfer.*` (v0.6 core.yaml, env `CORE_STATETRANSFER_*`)
    pub statetransfer: StateTransferConfig,
}

/// `peer.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct PeerConfig {
    /// `peer.id`: this peer's name (`vpN` under PBFT).
    pub id: String,
    /// `peer.networkId`: used in chaincode container names.
    pub network_id: String,
    /// `peer.listenAddress`: where the main gRPC server binds.
    pub listen_address: String,
    /// `peer.address`: the address this peer advertises (and the CLI dials).
    pub address: String,
    /// `peer.fileSystemPath`: data directory (ledger, pid file).
    pub file_system_path: PathBuf,
    /// `peer.validator.*`
    pub validator: ValidatorConfig,
    /// `peer.discovery.*`
    pub discovery: DiscoveryConfig,
    /// `peer.tls.*`: this node's certificate and key and the network CA.
    pub tls: TlsConfig,
    /// `peer.p2p.*` (ours): peer transport bounds.
    pub p2p: P2pConfig,
}

impl Config {
    /// The configuration as TOML, in the file's own key names (what
    /// `peerd config show` prints); durations are written as `"1s"`.
    ///
    /// # Errors
    /// Only if a value cannot be represented in TOML (not expected).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            id: "vp0".into(),
            network_id: "dev".into(),
            listen_address: "127.0.0.1:7051".into(),
            address: "127.0.0.1:7051".into(),
            file_system_path: PathBuf::from("/var/fabrik/production"),
            validator: ValidatorConfig::default(),
            discovery: DiscoveryConfig::default(),
            tls: TlsConfig::default(),
            p2p: P2pConfig::default(),
        }
    }
}

/// `peer.validator.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidatorConfig {
    /// `peer.validator.enabled`
    pub enabled: bool,
    /// `peer.validator.consensus.*`
    pub consensus: ConsensusConfig,
    /// `peer.validator.events.*`
    pub events: EventsConfig,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            consensus: ConsensusConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

/// `peer.validator.consensus.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    /// `peer.validator.consensus.plugin`: `pbft`, anything else is NOOPS.
    pub plugin: String,
    /// `peer.validator.consensus.buffersize`: consensus inbox bound.
    pub buffersize: usize,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        Self {
            plugin: "noops".into(),
            buffersize: 1000,
        }
    }
}

/// `peer.validator.events.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `peer.validator.events.address`
    pub address: String,
    /// `peer.validator.events.buffersize`: per-subscriber buffer.
    pub buffersize: usize,
    /// `peer.validator.events.timeout` in ms: <0 drop, 0 block, >0 wait then drop.
    pub timeout: i64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7053".into(),
            buffersize: 100,
            timeout: 10,
        }
    }
}

/// `peer.discovery.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct DiscoveryConfig {
    /// `peer.discovery.rootnode`: comma-separated `host:port` list.
    pub rootnode: String,
    /// `peer.discovery.period` in seconds (file/env: `"5s"` or a number of seconds).
    #[serde(with = "duration::secs")]
    pub period: u64,
    /// `peer.discovery.persist`
    pub persist: bool,
    /// `peer.discovery.touchPeriod` in seconds (file/env: `"6s"` or a number of seconds).
    #[serde(with = "duration::secs")]
    pub touch_period: u64,
    /// `peer.discovery.touchMaxNodes`
    pub touch_max_nodes: usize,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            rootnode: String::new(),
            period: 5,
            persist: true,
            touch_period: 6,
            touch_max_nodes: 100,
        }
    }
}

/// How chaincode runs (`chaincode.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChaincodeMode {
    /// Chosen at start-up (the default): `docker` when a Docker engine
    /// answers at `vm.endpoint`, else `process`. In this mode a chaincode
    /// whose binary is not statically linked runs as a process.
    #[default]
    Auto,
    /// Docker containers built `FROM scratch` by the peer (static binaries).
    /// v0.6's `net` is read as this.
    #[serde(alias = "net")]
    Docker,
    /// The peer spawns the chaincode binary as a child process.
    Process,
    /// The user runs the chaincode (`--peer-chaincodedev`).
    Dev,
}

/// `chaincode.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ChaincodeConfig {
    /// `chaincode.mode`
    pub mode: ChaincodeMode,
    /// `chaincode.startuptimeout` in ms (launch and Init).
    #[serde(rename = "startuptimeout")]
    pub startup_timeout: u64,
    /// `chaincode.executetimeout` in ms (invoke and query; v0.6 hard-coded 30000).
    #[serde(rename = "executetimeout")]
    pub execute_timeout: u64,
    /// `chaincode.keepalive` in seconds (0 = off).
    pub keepalive: u64,
    /// `chaincode.system.*`: the system chaincodes to run in process.
    pub system: SystemChaincodeConfig,
    /// `chaincode.unackedWrites`: grant a fabrik shim that asks for it
    /// writes without a RESPONSE (one round trip less per PUT_STATE /
    /// DEL_STATE). `false` answers every write, as v0.6 does.
    pub unacked_writes: bool,
}

/// `chaincode.system.*`: which built-in system chaincodes run (v0.6 read a
/// whitelist here and enabled none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemChaincodeConfig {
    /// `chaincode.system.bench`: the `bench` system chaincode (benchcc's
    /// `noop`, `rw` and `len`, in process), for measuring ordering and
    /// commit without a chaincode process.
    pub bench: bool,
}

impl Default for ChaincodeConfig {
    fn default() -> Self {
        Self {
            mode: ChaincodeMode::Auto,
            startup_timeout: 300_000,
            execute_timeout: 30_000,
            keepalive: 0,
            system: SystemChaincodeConfig::default(),
            unacked_writes: true,
        }
    }
}

/// `rest.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestConfig {
    /// `rest.enabled`
    pub enabled: bool,
    /// `rest.address`
    pub address: String,
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address: "127.0.0.1:7050".into(),
        }
    }
}

/// `operations.*`: the operations server (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperationsConfig {
    /// `operations.address`; empty disables the server.
    pub address: String,
}

impl Default for OperationsConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:9443".into(),
        }
    }
}

/// `ledger.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// `ledger.state.*`
    pub state: LedgerStateConfig,
}

/// `ledger.state.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct LedgerStateConfig {
    /// `ledger.state.deltaHistorySize`: state deltas kept for catch-up.
    pub delta_history_size: u64,
    /// `ledger.state.dataStructure.configs.numBuckets` (flattened).
    pub num_buckets: u64,
    /// `ledger.state.dataStructure.configs.maxGroupingAtEachLevel` (flattened).
    pub max_grouping_at_each_level: u64,
}

impl Default for LedgerStateConfig {
    fn default() -> Self {
        Self {
            delta_history_size: 500,
            num_buckets: 1_000_003,
            max_grouping_at_each_level: 5,
        }
    }
}

/// `noops.*` (v0.6 NOOPS plugin keys `block.size`, `block.wait`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NoopsConfig {
    /// `noops.block.*`
    pub block: NoopsBlockConfig,
}

/// `noops.block.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoopsBlockConfig {
    /// `noops.block.size`: transactions per block.
    pub size: usize,
    /// `noops.block.wait` in ms: cut a partial block this long after its first tx.
    /// In the file and `CORE_NOOPS_BLOCK_WAIT` it is written as v0.6 does:
    /// `"1s"`, `"500ms"`, or a bare number of **seconds**.
    #[serde(with = "duration::millis")]
    pub wait: u64,
}

impl Default for NoopsBlockConfig {
    fn default() -> Self {
        Self {
            size: 500,
            wait: 1000,
        }
    }
}

/// `logging.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `logging.level`: when non-empty, overrides `logging.node` (v0.6
    /// `CORE_LOGGING_LEVEL`). Same syntax.
    pub level: String,
    /// `logging.node`: level spec for `peerd node`, v0.6 syntax
    /// `level[:module1,module2=level[:...]]`.
    pub node: String,
    /// `logging.format`: `text` or `json`.
    pub format: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: String::new(),
            node: "info".into(),
            format: "text".into(),
        }
    }
}

/// `vm.*` (v0.6 `core.yaml` `vm` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VmConfig {
    /// `vm.endpoint`: the Docker engine's local socket (`unix://` only: the
    /// peer talks to Docker over the local socket, never over TCP).
    pub endpoint: String,
    /// `vm.docker.*`
    pub docker: VmDockerConfig,
}

impl Default for VmConfig {
    fn default() -> Self {
        Self {
            endpoint: "unix:///var/run/docker.sock".into(),
            docker: VmDockerConfig::default(),
        }
    }
}

/// `vm.docker.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct VmDockerConfig {
    /// `vm.docker.hostConfig.*`: limits and network of chaincode containers.
    pub host_config: DockerHostConfig,
}

/// `vm.docker.hostConfig.*`, named after Docker's own `HostConfig` fields
/// as in v0.6 (env `CORE_VM_DOCKER_HOSTCONFIG_MEMORY`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "PascalCase")]
pub struct DockerHostConfig {
    /// `NetworkMode`: `host` (default) lets the chaincode reach a peer that
    /// listens on 127.0.0.1; any other mode needs a `peer.address` the
    /// container can reach.
    pub network_mode: String,
    /// `Memory`: memory limit in bytes (v0.6 default 2 GiB; 0 = none).
    pub memory: i64,
    /// `NanoCpus`: CPU limit in 10⁻⁹ CPUs (default 1 CPU; 0 = none).
    pub nano_cpus: i64,
    /// `PidsLimit`: most processes and threads in the container (0 = none).
    pub pids_limit: i64,
}

impl Default for DockerHostConfig {
    fn default() -> Self {
        Self {
            network_mode: "host".into(),
            memory: 2_147_483_648,
            nano_cpus: 1_000_000_000,
            pids_limit: 256,
        }
    }
}

#[cfg(test)]
mod load_tests;
