//! `peerd testnet`: generates a whole local network in one directory — a
//! network CA, one Ed25519 key and certificate per node (the certificate's
//! DNS name and common name are the peer id, `vp0`.. for validators and
//! `nvp0`.. for non-validators), one `peerd.toml` per node with distinct
//! 127.0.0.1 ports, and a `docker-compose.yml` running the same network as
//! containers.
//!
//! Layout (`DIR` = `--out`):
//! ```text
//! DIR/ca.crt  DIR/ca.key (0600)          the network CA
//! DIR/<id>/node.crt  node.key (0600)     the node's identity
//! DIR/<id>/ca.crt                        a copy of the CA certificate
//! DIR/<id>/peerd.toml                    the node's configuration
//! DIR/<id>/data/                         its peer.fileSystemPath
//! DIR/docker-compose.yml
//! ```
//! Node `i` (validators first) uses ports `base + 10·i` (peer gRPC over TCP
//! and the peer transport over UDP), `+1` REST, `+2` events, `+3` operations.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// `peer.p2p.maxFrameSize` of generated nodes: deploy transactions carry
/// the chaincode package (a debug build of an example is tens of MB), so a
/// test network allows 64 MiB frames instead of the 4 MiB default.
pub const TESTNET_MAX_FRAME: usize = 64 << 20;

/// Ports between two nodes' blocks.
pub const PORT_STRIDE: u16 = 10;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestnetSpec {
    /// Number of validating peers (`vp0`..).
    pub validators: usize,
    /// Number of non-validating peers (`nvp0`..).
    pub non_validators: usize,
    /// The output directory (created; must not hold a network already).
    pub out: PathBuf,
    /// The first node's peer port.
    pub base_port: u16,
    /// `peer.validator.consensus.plugin` of the validators.
    pub plugin: String,
}

/// One generated node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFiles {
    /// Peer id.
    pub id: String,
    /// Whether it validates.
    pub validator: bool,
    /// Its directory.
    pub dir: PathBuf,
    /// Its `peerd.toml`.
    pub config: PathBuf,
    /// Peer address (gRPC over TCP, transport over UDP).
    pub address: String,
    /// REST address.
    pub rest: String,
    /// Events address.
    pub events: String,
    /// Operations address.
    pub operations: String,
    /// Every validator's PBFT public key (`pbft.keys.verifying`).
    pub pbft_verifying: String,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// A count or port that cannot work.
    #[error("{0}")]
    Spec(String),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("cannot make certificates: {0}")]
    Cert(#[from] rcgen::Error),
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> TestnetError + '_ {
    move |source| TestnetError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// The ids of a network: `vp0..`, then `nvp0..`.
pub fn node_ids(validators: usize, non_validators: usize) -> Vec<(String, bool)> {
    (0..validators)
        .map(|i| (format!("vp{i}"), true))
        .chain((0..non_validators).map(|i| (format!("nvp{i}"), false)))
        .collect()
}

fn check(spec: &TestnetSpec) -> Result<(), TestnetError> {
    if spec.validators == 0 {
        return Err(TestnetError::Spec(
            "--validators must be at least 1 (non-validators forward to validators)".into(),
        ));
    }
    let nodes = spec.validators + spec.non_validators;
    let last = u64::from(spec.base_port) + u64::from(PORT_STRIDE) * nodes as u64;
    if spec.base_port < 1024 || last > u64::from(u16::MAX) {
        return Err(TestnetError::Spec(format!(
            "--base-port {} leaves no room for {nodes} nodes ({PORT_STRIDE} ports each, up to 65535); pick a base between 1024 and {}",
            spec.base_port,
            u64::from(u16::MAX).saturating_sub(u64::from(PORT_STRIDE) * nodes as u64)
        )));
    }
    if spec.out.join("ca.crt").exists() {
        return Err(TestnetError::Spec(format!(
            "{} already holds a network ({} exists); choose another --out or remove it",
            spec.out.display(),
            spec.out.join("ca.crt").display()
        )));
    }
    Ok(())
}

/// Generates the network described by `spec`.
///
/// # Errors
/// [`TestnetError`] naming the bad option or the file that could not be written.
pub fn generate(spec: &TestnetSpec) -> Result<Vec<NodeFiles>, TestnetError> {
    check(spec)?;
    std::fs::create_dir_all(&spec.out).map_err(write_err(&spec.out))?;
    let out = spec.out.canonicalize().map_err(write_err(&spec.out))?;
    let (ca_params, ca_key) = make_ca()?;
    let ca_pem = ca_params.self_signed(&ca_key)?.pem();
    write_file(&out.join("ca.crt"), ca_pem.as_bytes(), false)?;
    write_file(&out.join("ca.key"), ca_key.serialize_pem().as_bytes(), true)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let pbft_secrets: Vec<[u8; 32]> = (0..spec.validators).map(|_| rand::random()).collect();
    let pbft_verifying = pbft_verifying_keys(&pbft_secrets);
    let mut nodes = Vec::new();
    for (i, (id, validator)) in node_ids(spec.validators, spec.non_validators)
        .into_iter()
        .enumerate()
    {
        let port = spec.base_port + PORT_STRIDE * i as u16;
        let node = node_files(&out, &id, validator, port);
        std::fs::create_dir_all(node.dir.join("data")).map_err(write_err(&node.dir))?;
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let cert = node_params(&id)?.signed_by(&key, &issuer)?;
        write_file(&node.dir.join("node.crt"), cert.pem().as_bytes(), false)?;
        write_file(
            &node.dir.join("node.key"),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        write_file(&node.dir.join("ca.crt"), ca_pem.as_bytes(), false)?;
        if let Some(secret) = pbft_secrets.get(i).filter(|_| validator) {
            write_file(
                &node.dir.join(PBFT_KEY),
                hex::encode(secret).as_bytes(),
                true,
            )?;
        }
        nodes.push(node);
    }
    let root = nodes.first().map(|n| n.address.clone()).unwrap_or_default();
    for node in &mut nodes {
        node.pbft_verifying.clone_from(&pbft_verifying);
    }
    for node in &nodes {
        let text = node_config(spec, node, &root);
        write_file(&node.config, text.as_bytes(), false)?;
    }
    let compose = docker_compose(spec, &nodes);
    write_file(&out.join("docker-compose.yml"), compose.as_bytes(), false)?;
    Ok(nodes)
}

/// This validator's PBFT (VIEW-CHANGE) signing key file.
const PBFT_KEY: &str = "pbft.key";

/// The validators' PBFT public keys, comma-separated in replica order.
fn pbft_verifying_keys(secrets: &[[u8; 32]]) -> String {
    secrets
        .iter()
        .map(|s| {
            hex::encode(
                fabrik_core::crypto::SigningKey::from_bytes(s)
                    .verifying_key()
                    .to_bytes(),
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn make_ca() -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "fabrik network CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((params, key))
}

fn node_params(id: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(vec![id.to_string()])?;
    params.distinguished_name.push(DnType::CommonName, id);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

fn node_files(out: &Path, id: &str, validator: bool, port: u16) -> NodeFiles {
    let dir = out.join(id);
    let at = |offset: u16| format!("127.0.0.1:{}", port + offset);
    NodeFiles {
        id: id.to_string(),
        validator,
        config: dir.join("peerd.toml"),
        dir,
        address: at(0),
        rest: at(1),
        events: at(2),
        operations: at(3),
        pbft_verifying: String::new(),
    }
}

/// Writes `bytes` to `path`; `secret` files are created with mode 0600.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TestnetError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(write_err(path))?;
    file.write_all(bytes).map_err(write_err(path))
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    Value::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn path_value(p: &Path) -> Value {
    text(p.display().to_string())
}

/// The node's `peerd.toml`.
pub fn node_config(spec: &TestnetSpec, node: &NodeFiles, root: &str) -> String {
    let n = spec.validators;
    let f = n.saturating_sub(1) / 3;
    let plugin = if node.validator {
        spec.plugin.as_str()
    } else {
        "noops"
    };
    let peer = table(vec![
        ("id", text(&node.id)),
        ("listenAddress", text(&node.address)),
        ("address", text(&node.address)),
        ("fileSystemPath", path_value(&node.dir.join("data"))),
        (
            "validator",
            table(vec![
                ("enabled", Value::Boolean(node.validator)),
                ("consensus", table(vec![("plugin", text(plugin))])),
                ("events", table(vec![("address", text(&node.events))])),
            ]),
        ),
        ("discovery", table(vec![("rootnode", text(root))])),
        (
            "p2p",
            table(vec![(
                "maxFrameSize",
                Value::Integer(TESTNET_MAX_FRAME as i64),
            )]),
        ),
        (
            "tls",
            table(vec![
                (
                    "cert",
                    table(vec![("file", path_value(&node.dir.join("node.crt")))]),
                ),
                (
                    "key",
                    table(vec![("file", path_value(&node.dir.join("node.key")))]),
                ),
                (
                    "rootcert",
                    table(vec![("file", path_value(&node.dir.join("ca.crt")))]),
                ),
            ]),
        ),
    ]);
    let mut doc = Table::new();
    doc.insert("peer".into(), peer);
    doc.insert("chaincode".into(), table(vec![("mode", text("process"))]));
    doc.insert("rest".into(), table(vec![("address", text(&node.rest))]));
    doc.insert(
        "operations".into(),
        table(vec![("address", text(&node.operations))]),
    );
    let mut pbft = vec![(
        "general",
        table(vec![
            ("N", Value::Integer(n as i64)),
            ("f", Value::Integer(f as i64)),
            // As v0.6's own multi-peer compose files: a deploy carries the
            // chaincode package, and 2 s is short for megabytes on a busy box.
            ("timeout", table(vec![("request", text("10s"))])),
        ]),
    )];
    if node.validator {
        pbft.push((
            "keys",
            table(vec![
                ("signing", path_value(&node.dir.join(PBFT_KEY))),
                ("verifying", text(&node.pbft_verifying)),
            ]),
        ));
    }
    doc.insert("pbft".into(), table(pbft));
    let body = toml::to_string_pretty(&doc).unwrap_or_default();
    format!(
        "# {} of a {n}-validator fabrik test network (made by `peerd testnet`).\n# Start it with: peerd node start --config {}\n\n{body}",
        node.id,
        node.config.display()
    )
}

/// A compose file running the network as containers of an image holding
/// `peerd` (build it yourself and tag it `fabrik/peerd`). Each node's
/// directory is mounted at /etc/fabrik, so every file the config names by
/// its host path is named again by its path in the container; addresses
/// are the service names; published ports listen on 127.0.0.1 only.
pub fn docker_compose(spec: &TestnetSpec, nodes: &[NodeFiles]) -> String {
    let mut out = String::from(
        "# fabrik test network (made by `peerd testnet`). Needs an image `fabrik/peerd`\n# with a static peerd at /usr/local/bin/peerd. Run: docker-compose up\nservices:\n",
    );
    let root = nodes.first().map_or("vp0", |n| n.id.as_str());
    for node in nodes {
        let host_port = node.address.rsplit(':').next().unwrap_or("7051");
        let rest_port = node.rest.rsplit(':').next().unwrap_or("7050");
        let _ = write!(
            out,
            "  {id}:\n    image: fabrik/peerd\n    hostname: {id}\n    command: [\"peerd\", \"node\", \"start\", \"--config\", \"/etc/fabrik/peerd.toml\"]\n    volumes:\n      - ./{id}:/etc/fabrik\n    environment:\n      CORE_PEER_LISTENADDRESS: \"0.0.0.0:7051\"\n      CORE_PEER_ADDRESS: \"{id}:7051\"\n      CORE_PEER_DISCOVERY_ROOTNODE: \"{root}:7051\"\n      CORE_PEER_FILESYSTEMPATH: \"/var/fabrik/production\"\n      CORE_PEER_VALIDATOR_EVENTS_ADDRESS: \"0.0.0.0:7053\"\n      CORE_REST_ADDRESS: \"0.0.0.0:7050\"\n      CORE_OPERATIONS_ADDRESS: \"0.0.0.0:9443\"\n      CORE_PEER_TLS_CERT_FILE: \"/etc/fabrik/node.crt\"\n      CORE_PEER_TLS_KEY_FILE: \"/etc/fabrik/node.key\"\n      CORE_PEER_TLS_ROOTCERT_FILE: \"/etc/fabrik/ca.crt\"\n{signing}    ports:\n      - \"127.0.0.1:{host_port}:7051/tcp\"\n      - \"127.0.0.1:{host_port}:7051/udp\"\n      - \"127.0.0.1:{rest_port}:7050/tcp\"\n",
            id = node.id,
            signing = if node.validator {
                format!("      CORE_PBFT_KEYS_SIGNING: \"/etc/fabrik/{PBFT_KEY}\"\n")
            } else {
                String::new()
            },
        );
    }
    let _ = spec;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    fn spec(out: &Path) -> TestnetSpec {
        TestnetSpec {
            validators: 4,
            non_validators: 1,
            out: out.to_path_buf(),
            base_port: 30000,
            plugin: "pbft".into(),
        }
    }

    #[test]
    fn generates_loadable_configs_private_keys_and_compose() {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let nodes = generate(&spec(dir.path())).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let ids: Vec<_> = nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["vp0", "vp1", "vp2", "vp3", "nvp0"]);
        for node in &nodes {
            let config = crate::config::load(Some(&node.config), std::iter::empty()).unwrap();
            assert_eq!(config.peer.id, node.id);
            assert_eq!(config.peer.validator.enabled, node.validator);
            assert_eq!(config.pbft.general.n, 4);
            assert_eq!(config.pbft.general.f, 1);
            assert_eq!(config.peer.discovery.rootnode, "127.0.0.1:30000");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(node.dir.join("node.key"))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600);
            }
            let cert = std::fs::read(&config.peer.tls.cert.file).unwrap();
            let der = rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
            assert_eq!(crate::net::tls::peer_id(&der).unwrap(), node.id);
        }
        assert_eq!(nodes[1].address, "127.0.0.1:30010");
        let compose = std::fs::read_to_string(dir.path().join("docker-compose.yml")).unwrap();
        assert!(compose.contains("  nvp0:\n") && compose.contains("127.0.0.1:30040:7051/udp"));
        // Every file a node's config names must be renamed for the mount.
        assert!(compose.contains("CORE_PBFT_KEYS_SIGNING: \"/etc/fabrik/pbft.key\""));
        assert_eq!(compose.matches("CORE_PBFT_KEYS_SIGNING").count(), 4);
        assert!(
            generate(&spec(dir.path())).is_err(),
            "refuses to overwrite a network"
        );
    }

    #[test]
    fn refuses_impossible_specs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path());
        s.validators = 0;
        assert!(
            generate(&s)
                .unwrap_err()
                .to_string()
                .contains("--validators")
        );
        s.validators = 4;
        s.base_port = 65530;
        assert!(
            generate(&s)
                .unwrap_err()
                .to_string()
                .contains("--base-port")
        );
    }
}
