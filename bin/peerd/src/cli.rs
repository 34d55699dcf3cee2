//! The command line: clap types for every `peerd` command and flag (the
//! v0.6 `peer` command set, plus `config show`). No behaviour lives here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// fabrik peer: a Hyperledger Fabric v0.6 compatible validating peer.
#[derive(Debug, Parser)]
#[command(name = "peerd", version, about, disable_version_flag = true)]
pub struct Cli {
    /// Print the version (v0.6's `-v/--version`).
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    pub version: (),

    /// Config file (TOML). Default: $PEER_CFG_PATH/peerd.toml, else
    /// ./peerd.toml, else built-in defaults. CORE_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Peer to talk to (overrides peer.address / CORE_PEER_ADDRESS).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub peer_address: Option<String>,

    /// Log levels, v0.6 syntax: level[:module1,module2=level[:...]], e.g.
    /// `info:consensus=debug`. Without it RUST_LOG is used, then the config.
    #[arg(long, global = true, value_name = "SPEC")]
    pub logging_level: Option<String>,

    /// Log line format (default: logging.format from the config).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run, check or stop a peer.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Package, deploy, invoke and query chaincode.
    #[command(subcommand)]
    Chaincode(ChaincodeCli),
    /// Look at the peer network.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Follow the peer's events (blocks, rejections, chaincode events).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Inspect and verify the ledger of a stopped peer.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Start a local network on 127.0.0.1, deploy example02, invoke and query
    /// it through the peers, print every step, then keep serving until Ctrl-C.
    Up(UpArgs),
    /// Load-test a network: start one (or target a running one), drive
    /// concurrent gRPC or REST clients at fixed offered rates and report
    /// committed tx/s, commit latency percentiles, CPU and peak RSS per peer.
    Bench(BenchArgs),
    /// Generate a local test network in a directory: a network CA, a key and
    /// certificate per node, one peerd.toml per node and a docker-compose file.
    Testnet(TestnetArgs),
    /// Print the version.
    Version,
}

/// `peerd node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Start the peer (holds <peer.fileSystemPath>/peer.pid locked while running).
    Start {
        /// Development mode: validator on, NOOPS consensus, chaincode.mode=dev
        /// (you run the chaincode process yourself).
        #[arg(long = "peer-chaincodedev")]
        chaincode_dev: bool,
    },
    /// Ask the peer for its status; prints `status:STARTED` or `status:UNKNOWN`.
    Status,
    /// Stop the peer (Admin.StopServer; if unreachable, SIGTERM the pid in peer.pid).
    Stop,
}

/// `peerd chaincode ...`: `package` (local) and the commands sent to a peer.
#[derive(Debug, Subcommand)]
pub enum ChaincodeCli {
    /// Write a code package (gzipped tar of a chaincode binary and a
    /// manifest) for `peerd chaincode deploy -p <file>`.
    Package(PackageArgs),
    /// Deploy, invoke or query through a peer.
    #[command(flatten)]
    Peer(ChaincodeCommand),
}

/// `peerd chaincode package` flags.
#[derive(Debug, Clone, Args)]
pub struct PackageArgs {
    /// The chaincode binary (statically linked to run in Docker).
    #[arg(value_name = "BINARY")]
    pub binary: PathBuf,
    /// Where to write the package.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// `peerd chaincode deploy|invoke|query`
#[derive(Debug, Subcommand)]
pub enum ChaincodeCommand {
    /// Deploy chaincode; prints `Deploy chaincode: <name>`.
    Deploy(ChaincodeArgs),
    /// Invoke chaincode; prints the transaction ID on stdout (v0.6 only logged it).
    Invoke(InvokeArgs),
    /// Query chaincode; prints `Query Result: <result>`.
    Query(QueryArgs),
}

/// The v0.6 chaincode flags.
#[derive(Debug, Clone, Args)]
pub struct ChaincodeArgs {
    /// Chaincode language.
    #[arg(short = 'l', long = "lang", default_value = "golang")]
    pub lang: String,
    /// Arguments as JSON: {"Args":["fn","a"]} or {"Function":"fn","Args":["a"]}.
    #[arg(short = 'c', long = "ctor", default_value = "{}")]
    pub ctor: String,
    /// Attributes as a JSON array of strings.
    #[arg(short = 'a', long = "attributes", default_value = "[]")]
    pub attributes: String,
    /// Chaincode path (deploy in network mode).
    #[arg(short = 'p', long = "path")]
    pub path: Option<String>,
    /// Chaincode name (as returned by deploy, or chosen in dev mode).
    #[arg(short = 'n', long = "name")]
    pub name: Option<String>,
    /// User name (security context) for the transaction.
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Transaction ID generation algorithm (`sha256`, or empty for a UUID).
    #[arg(short = 't', long = "tid")]
    pub tid: Option<String>,
}

/// `peerd chaincode invoke` flags.
#[derive(Debug, Clone, Args)]
pub struct InvokeArgs {
    /// The common chaincode flags.
    #[command(flatten)]
    pub common: ChaincodeArgs,
    /// Wait until the transaction is committed (prints `committed in block
    /// N`) or rejected (prints the reason and exits with 1).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait_timeout: u64,
}

/// `peerd events ...`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print every block (and optionally rejection and chaincode) event as
    /// one JSON line, from peer.validator.events.address.
    Listen(ListenArgs),
}

/// `peerd events listen` flags.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Also print rejected transactions.
    #[arg(long)]
    pub rejections: bool,
    /// Also print the events of this chaincode (its name).
    #[arg(long, value_name = "NAME")]
    pub chaincode: Option<String>,
    /// With --chaincode: only events of this name (default: all).
    #[arg(long, value_name = "EVENT", requires = "chaincode")]
    pub event: Option<String>,
}

/// `peerd ledger ...` (the peer must be stopped).
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the block-hash chain and the state hash; report the first mismatch.
    Verify,
    /// Print block N as v0.6 JSON.
    Block {
        /// The block number.
        number: u64,
    },
    /// Print transaction ID as v0.6 JSON.
    Tx {
        /// The transaction ID (a deploy's ID is the chaincode name).
        txid: String,
    },
}

/// `peerd chaincode query` flags.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// The common chaincode flags.
    #[command(flatten)]
    pub common: ChaincodeArgs,
    /// Print the result as raw bytes.
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// Print the result in hex.
    #[arg(short = 'x', long = "hex")]
    pub hex: bool,
}

/// `peerd up` flags.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Stop the network and exit once the demo has run.
    #[arg(long)]
    pub exit_after_demo: bool,
    /// Where to put the network's data (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Number of validating peers (4 or more run PBFT; fewer run NOOPS).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// The example02 chaincode binary (default: `example02` next to peerd).
    #[arg(long, value_name = "FILE")]
    pub chaincode: Option<PathBuf>,
}

/// The transactions `peerd bench` submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// example02 `invoke a b 1` transfers.
    Example02,
    /// A chaincode call that touches no state.
    Noop,
    /// Read one key and write it back with a 100-byte value.
    Kv100,
    /// Read one key and write it back with a 1 KiB value.
    Kv1k,
}

/// How `peerd bench` clients submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchApi {
    /// `Devops.Invoke` over gRPC.
    Grpc,
    /// JSON-RPC `invoke` on REST `/chaincode`.
    Rest,
}

/// `peerd bench` flags.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Number of validating peers to start (4 or more run PBFT; 1 runs NOOPS).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Bench a running network instead: its peers' gRPC addresses,
    /// comma-separated, vp0 first (each peer's event hub is asked for its
    /// address through `--events`).
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub target: Vec<String>,
    /// With `--target`: the peers' event hub addresses, in the same order.
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub events: Vec<String>,
    /// With `--target` and `--api rest`: the peers' REST addresses.
    #[arg(long, value_delimiter = ',', value_name = "HOST:PORT")]
    pub rest: Vec<String>,
    /// What to submit.
    #[arg(long, value_enum, default_value_t = Workload::Example02)]
    pub workload: Workload,
    /// Client API.
    #[arg(long, value_enum, default_value_t = BenchApi::Grpc)]
    pub api: BenchApi,
    /// Concurrent clients (each with its own connection, spread over the peers).
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Offered rates in tx/s, one step each (0 = closed loop: every client
    /// submits as soon as its previous submission is answered).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    pub rate: Vec<u64>,
    /// Search for the knee (highest rate with ≥95% committed and p99 < 1 s),
    /// starting from the first `--rate` and doubling, then bisecting; then
    /// run half and twice the knee.
    #[arg(long)]
    pub knee: bool,
    /// Seconds of load per step.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds to wait after a step for its transactions to commit.
    #[arg(long, default_value_t = 10)]
    pub drain: u64,
    /// Distinct keys the kv workloads write (keys beyond it wrap around);
    /// make it large to grow the state.
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// `chaincode.mode` of the peers bench starts: process or docker.
    #[arg(long, default_value = "process")]
    pub chaincode_mode: String,
    /// The chaincode binary to deploy (default: example02 or benchcc next to
    /// peerd; docker mode needs a static build).
    #[arg(long, value_name = "FILE")]
    pub chaincode: Option<PathBuf>,
    /// PBFT `general.batchsize` of the peers bench starts.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Invoke the built-in `bench` system chaincode (benchcc's functions,
    /// run inside the peer: no chaincode process, no deploy) instead of
    /// deploying benchcc; bench enables it on the peers it starts
    /// (`chaincode.system.bench`). Not for `--workload example02`.
    #[arg(long)]
    pub system_chaincode: bool,
    /// Where the started network's files go and stay (default: a new
    /// temporary directory, removed after a run that succeeded).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where to write the results as JSON.
    #[arg(long, value_name = "FILE", default_value = "bench.json")]
    pub json: PathBuf,
}

/// `peerd network ...`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List the peers this peer is connected to, as `{"Peers":[...]}`.
    #[command(visible_alias = "ls")]
    List,
}

/// `peerd config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file, then CORE_* overrides) as TOML.
    Show,
}

/// `peerd testnet` flags.
#[derive(Debug, Clone, Args)]
pub struct TestnetArgs {
    /// Number of validating peers (vp0, vp1, ...).
    #[arg(long, value_name = "N")]
    pub validators: usize,
    /// Number of non-validating peers (nvp0, ...).
    #[arg(long, value_name = "M", default_value_t = 0)]
    pub non_validators: usize,
    /// Output directory (created; must not hold a network already).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// First node's peer port; node i uses base + 10*i (peer), +1 (REST),
    /// +2 (events), +3 (operations).
    #[arg(long, value_name = "PORT", default_value_t = 7051)]
    pub base_port: u16,
    /// Consensus plugin of the validators (pbft or noops).
    #[arg(long, value_name = "PLUGIN", default_value = "pbft")]
    pub consensus: String,
}
