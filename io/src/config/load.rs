//! Loading the configuration: finding the file, reading its TOML, applying
//! `CORE_*` environment overrides and checking every value. Errors name the
//! key, where the value came from (file or environment variable) and what is
//! expected.
//!
//! Keys are checked against the serialized defaults, so the file's schema is
//! exactly the `Config` struct's serde names (v0.6 spelling, e.g.
//! `peer.networkId`). The environment variable for a key is `CORE_` + the key
//! path upper-cased with `.` → `_` (`peer.validator.consensus.plugin` →
//! `CORE_PEER_VALIDATOR_CONSENSUS_PLUGIN`, `noops.block.wait` →
//! `CORE_NOOPS_BLOCK_WAIT`). Other `CORE_*` variables (`CORE_PBFT_*`,
//! `CORE_CHAINCODE_ID_NAME`, ...) belong to other components and are ignored.

use super::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The file searched for in `$PEER_CFG_PATH` and the working directory.
pub const CONFIG_FILE_NAME: &str = "peerd.toml";

const ENV_PREFIX: &str = "CORE_";

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A TOML file.
    File(PathBuf),
    /// An environment variable (its name).
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("in the built-in defaults"),
            Self::File(path) => write!(f, "in config file {}", path.display()),
            Self::Env(name) => write!(f, "from environment variable {name}"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file that was asked for explicitly does not exist.
    #[error("config file {} not found; check the path given with --config", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read config file {}: {source}; check that it is a readable file", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {} is not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key the peer does not know.
    #[error(
        "unknown key `{key}` {origin}; expected one of: {expected} (key names are case-sensitive, as in v0.6 core.yaml)"
    )]
    UnknownKey {
        /// Full dotted key path.
        key: String,
        /// Where it was found.
        origin: Origin,
        /// The keys allowed at that level.
        expected: String,
    },
    /// A known key with a value of the wrong type or out of range.
    #[error("bad value for `{key}` {origin}: {problem}")]
    BadValue {
        /// Full dotted key path.
        key: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong and what is expected.
        problem: String,
    },
}

/// One value set by the user: its key path, value and origin.
#[derive(Debug, Clone)]
struct Leaf {
    key: String,
    value: Value,
    origin: Origin,
}

/// Finds the config file: `flag` (`--config`) if given (it must exist), else
/// `<cfg_dir>/peerd.toml` (`$PEER_CFG_PATH`) if present, else
/// `<cwd>/peerd.toml` if present, else `None` (built-in defaults).
///
/// # Errors
/// [`ConfigError::NotFound`] when `flag` names no file.
pub fn find_config_file(
    flag: Option<&Path>,
    cfg_dir: Option<&Path>,
    cwd: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = flag {
        if path.is_file() {
            return Ok(Some(path.to_path_buf()));
        }
        return Err(ConfigError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let candidates = cfg_dir
        .map(|dir| dir.join(CONFIG_FILE_NAME))
        .into_iter()
        .chain([cwd.join(CONFIG_FILE_NAME)]);
    Ok(candidates.into_iter().find(|candidate| candidate.is_file()))
}

/// Loads the configuration: defaults, then the TOML file at `path` (if any),
/// then `CORE_*` overrides from `env`; then checks every value.
///
/// # Errors
/// The first problem found, naming the key, the file or variable, and what is
/// expected.
pub fn load(
    path: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    load_tracked(path, env).map(|loaded| loaded.config)
}

/// A loaded configuration and which keys the user chose.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// The dotted keys set by the file or a `CORE_*` variable (the rest are
    /// defaults), so a mode switch can tell a choice from a default.
    pub set_keys: BTreeSet<String>,
}

/// [`load`], also telling which keys the file or environment set.
///
/// # Errors
/// As [`load`].
pub fn load_tracked(
    path: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let schema = defaults_table()?;
    let mut leaves = Vec::new();
    if let Some(path) = path {
        let table = read_file(path)?;
        collect_leaves(
            &table,
            &schema,
            "",
            &Origin::File(path.to_path_buf()),
            &mut leaves,
        )?;
    }
    leaves.extend(env_leaves(env, &schema)?);
    let mut merged = schema.clone();
    for leaf in &leaves {
        check_leaf(&schema, leaf)?;
        set_leaf(&mut merged, &leaf.key, leaf.value.clone());
    }
    let mut config: Config = Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::BadValue {
            key: "(configuration)".into(),
            origin: path.map_or(Origin::Default, |p| Origin::File(p.to_path_buf())),
            problem: e.message().to_string(),
        })?;
    normalize(&mut config);
    validate(&config).map_err(|(key, problem)| ConfigError::BadValue {
        origin: origin_of(&leaves, &key),
        key,
        problem,
    })?;
    Ok(Loaded {
        config,
        set_keys: leaves.into_iter().map(|leaf| leaf.key).collect(),
    })
}

/// The defaults as a TOML table: the schema every key is checked against.
fn defaults_table() -> Result<Table, ConfigError> {
    let bad = |problem: String| ConfigError::BadValue {
        key: "(defaults)".into(),
        origin: Origin::Default,
        problem,
    };
    match Value::try_from(Config::default()) {
        Ok(Value::Table(table)) => Ok(table),
        Ok(other) => Err(bad(format!(
            "defaults are not a table but {}",
            other.type_str()
        ))),
        Err(e) => Err(bad(e.to_string())),
    }
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ConfigError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    text.parse::<Table>().map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Walks the user's table against the schema: unknown keys and
/// table/value mix-ups are errors; every value becomes a [`Leaf`].
fn collect_leaves(
    user: &Table,
    schema: &Table,
    prefix: &str,
    origin: &Origin,
    out: &mut Vec<Leaf>,
) -> Result<(), ConfigError> {
    for (name, value) in user {
        let key = join(prefix, name);
        let bad = |problem: String| ConfigError::BadValue {
            key: key.clone(),
            origin: origin.clone(),
            problem,
        };
        match (schema.get(name), value) {
            (None, _) => {
                let expected = schema
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::UnknownKey {
                    key,
                    origin: origin.clone(),
                    expected,
                });
            }
            (Some(Value::Table(sub_schema)), Value::Table(sub_user)) => {
                collect_leaves(sub_user, sub_schema, &key, origin, out)?;
            }
            (Some(Value::Table(sub_schema)), other) => {
                let keys = sub_schema
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(bad(format!(
                    "expected a table `[{key}]` with keys {keys}, found {}",
                    other.type_str()
                )));
            }
            (Some(_), Value::Table(_)) => {
                return Err(bad("expected a single value, found a table".into()));
            }
            (Some(_), _) => out.push(Leaf {
                key,
                value: value.clone(),
                origin: origin.clone(),
            }),
        }
    }
    Ok(())
}

/// `CORE_*` variables of known sections that are not peer settings: the
/// chaincode shim reads them (v0.6 §3), and a shell that starts chaincode
/// may export them before running `peerd`.
const SHIM_VARIABLES: [&str; 3] = [
    "CORE_CHAINCODE_ID_NAME",
    "CORE_PEER_TLS_ENABLED",
    "CORE_PEER_TLS_SERVERHOSTOVERRIDE",
];

/// The error a variable gets when it falls inside a known section but names
/// no key of it, as a misspelt file key does; `None` outside every section
/// (other programs' `CORE_*` settings, such as v0.6's `security.*`).
fn unknown_env_key(name: &str, schema: &Table) -> Option<ConfigError> {
    if SHIM_VARIABLES.contains(&name) {
        return None;
    }
    let mut rest = name.strip_prefix(ENV_PREFIX)?;
    let mut table = schema;
    let mut section = String::new();
    loop {
        let inner = table.iter().find_map(|(child, value)| {
            let Value::Table(sub) = value else {
                return None;
            };
            let tail = rest
                .strip_prefix(&child.to_uppercase())?
                .strip_prefix('_')?;
            Some((child, sub, tail))
        });
        let Some((child, sub, tail)) = inner else {
            break;
        };
        section = join(&section, child);
        table = sub;
        rest = tail;
    }
    if section.is_empty() {
        return None;
    }
    Some(ConfigError::UnknownKey {
        key: join(&section, &rest.to_lowercase().replace('_', ".")),
        origin: Origin::Env(name.to_owned()),
        expected: table
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Every leaf key of the schema with its default value.
fn schema_leaves(schema: &Table, prefix: &str, out: &mut BTreeMap<String, (String, Value)>) {
    for (name, value) in schema {
        let key = join(prefix, name);
        if let Value::Table(sub) = value {
            schema_leaves(sub, &key, out);
        } else {
            out.insert(env_name(&key), (key, value.clone()));
        }
    }
}

/// `peer.networkId` → `CORE_PEER_NETWORKID`.
#[must_use]
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase().replace('.', "_"))
}

/// The `CORE_*` variables that name a key of ours, converted to the key's type.
fn env_leaves(
    env: impl Iterator<Item = (String, String)>,
    schema: &Table,
) -> Result<Vec<Leaf>, ConfigError> {
    let mut index = BTreeMap::new();
    schema_leaves(schema, "", &mut index);
    let mut leaves = Vec::new();
    for (name, text) in env {
        let Some((key, default)) = index.get(&name) else {
            if let Some(unknown) = unknown_env_key(&name, schema) {
                return Err(unknown);
            }
            continue;
        };
        let origin = Origin::Env(name.clone());
        let value = from_env_text(&text, default).map_err(|problem| ConfigError::BadValue {
            key: key.clone(),
            origin: origin.clone(),
            problem,
        })?;
        leaves.push(Leaf {
            key: key.clone(),
            value,
            origin,
        });
    }
    leaves.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(leaves)
}

/// Reads an environment string as the TOML type of the key's default.
fn from_env_text(text: &str, default: &Value) -> Result<Value, String> {
    let trimmed = text.trim();
    match default {
        Value::Integer(_) => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("expected a whole number, found \"{text}\"")),
        Value::Float(_) => trimmed
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, found \"{text}\"")),
        Value::Boolean(_) => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, found \"{text}\"")),
        },
        Value::String(_) => Ok(Value::String(text.to_string())),
        other => Err(format!(
            "a {} cannot be set from the environment",
            other.type_str()
        )),
    }
}

/// Deserializes the defaults with this one value in place, so a wrong type
/// is reported against its own key and origin.
fn check_leaf(schema: &Table, leaf: &Leaf) -> Result<(), ConfigError> {
    let mut table = schema.clone();
    set_leaf(&mut table, &leaf.key, leaf.value.clone());
    match Value::Table(table).try_into::<Config>() {
        Ok(_) => Ok(()),
        Err(e) => Err(ConfigError::BadValue {
            key: leaf.key.clone(),
            origin: leaf.origin.clone(),
            problem: e.message().to_string(),
        }),
    }
}

/// Sets a dotted key in a table whose intermediate tables exist.
fn set_leaf(table: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut current = table;
    for part in parts {
        match current.get_mut(part) {
            Some(Value::Table(sub)) => current = sub,
            _ => return,
        }
    }
    current.insert(last.to_string(), value);
}

fn origin_of(leaves: &[Leaf], key: &str) -> Origin {
    leaves
        .iter()
        .rev()
        .find(|leaf| leaf.key == key)
        .map_or(Origin::Default, |leaf| leaf.origin.clone())
}

/// Canonical spellings: v0.6 compared the plugin name case-insensitively.
fn normalize(config: &mut Config) {
    let plugin = &mut config.peer.validator.consensus.plugin;
    *plugin = plugin.trim().to_ascii_lowercase();
    config.logging.format = config.logging.format.trim().to_ascii_lowercase();
}

/// Checks that need more than a type: returns the key and the problem.
fn validate(config: &Config) -> Result<(), (String, String)> {
    let peer = &config.peer;
    if peer.id.trim().is_empty() {
        return Err((
            "peer.id".into(),
            "must not be empty; name this peer, e.g. vp0".into(),
        ));
    }
    if peer.id.chars().any(char::is_whitespace) {
        return Err((
            "peer.id".into(),
            format!("must not contain spaces, found \"{}\"", peer.id),
        ));
    }
    if peer.file_system_path.as_os_str().is_empty() {
        return Err((
            "peer.fileSystemPath".into(),
            "must not be empty; give the data directory".into(),
        ));
    }
    check_address("peer.listenAddress", &peer.listen_address)?;
    check_address("peer.address", &peer.address)?;
    check_address(
        "peer.validator.events.address",
        &peer.validator.events.address,
    )?;
    check_address("rest.address", &config.rest.address)?;
    for node in peer
        .discovery
        .rootnode
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        check_address("peer.discovery.rootnode", node)?;
    }
    validate_sizes(config)
}

fn validate_sizes(config: &Config) -> Result<(), (String, String)> {
    let plugin = config.peer.validator.consensus.plugin.as_str();
    if plugin != "noops" && plugin != "pbft" {
        return Err((
            "peer.validator.consensus.plugin".into(),
            format!("expected \"noops\" or \"pbft\", found \"{plugin}\""),
        ));
    }
    let positive = [
        (
            "peer.validator.consensus.buffersize",
            config.peer.validator.consensus.buffersize,
        ),
        (
            "peer.validator.events.buffersize",
            config.peer.validator.events.buffersize,
        ),
        ("noops.block.size", config.noops.block.size),
    ];
    if let Some((key, _)) = positive.iter().find(|(_, n)| *n == 0) {
        return Err(((*key).into(), "must be at least 1".into()));
    }
    super::p2p::validate(config)?;
    super::pbft::validate(config)?;
    super::statetransfer::validate(&config.statetransfer)?;
    let format = config.logging.format.as_str();
    if format != "text" && format != "json" {
        return Err((
            "logging.format".into(),
            format!("expected \"text\" or \"json\", found \"{format}\""),
        ));
    }
    Ok(())
}

/// `host:port` with a non-empty host and a numeric port.
fn check_address(key: &str, address: &str) -> Result<(), (String, String)> {
    let ok = address.rsplit_once(':').is_some_and(|(host, port)| {
        !host.trim().is_empty()
            && !host.contains(char::is_whitespace)
            && port.parse::<u16>().is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err((
            key.into(),
            format!("expected host:port such as 127.0.0.1:7051, found \"{address}\""),
        ))
    }
}
