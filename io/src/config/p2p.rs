//! The peer transport's keys: `peer.tls.*` (v0.6 names for the node's
//! certificate and key, plus the network CA as `peer.tls.rootcert.file`)
//! and `peer.p2p.*` (ours: frame and queue bounds of the QUIC transport).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `peer.tls.*`: the files `peerd testnet` writes for each node. With
/// `peer.tls.cert.file` empty the peer runs alone (no transport).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// `peer.tls.cert.*`
    pub cert: FileKey,
    /// `peer.tls.key.*`
    pub key: FileKey,
    /// `peer.tls.rootcert.*`: the network CA every peer must be signed by.
    pub rootcert: FileKey,
}

/// A `<name>.file` key (v0.6 spelling).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FileKey {
    /// The PEM file.
    pub file: PathBuf,
}

/// `peer.p2p.*` (ours): bounds of the peer transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct P2pConfig {
    /// `peer.p2p.maxFrameSize`: largest message frame in bytes; a larger
    /// length prefix closes the connection before anything is allocated.
    pub max_frame_size: usize,
    /// `peer.p2p.sendQueueSize`: messages queued per peer; more are dropped
    /// and counted.
    pub send_queue_size: usize,
    /// `peer.p2p.idleTimeout` in ms: a connection silent this long (keep-alives
    /// included) is dropped and redialed.
    #[serde(with = "super::duration::millis")]
    pub idle_timeout: u64,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            max_frame_size: 4 << 20,
            send_queue_size: 1000,
            idle_timeout: 6000,
        }
    }
}

/// Checks the transport keys: returns the key at fault and the problem.
pub(super) fn validate(config: &super::Config) -> Result<(), (String, String)> {
    let p2p = &config.peer.p2p;
    if p2p.max_frame_size < 1024 {
        return Err((
            "peer.p2p.maxFrameSize".into(),
            format!("must be at least 1024 bytes, found {}", p2p.max_frame_size),
        ));
    }
    if p2p.send_queue_size == 0 {
        return Err(("peer.p2p.sendQueueSize".into(), "must be at least 1".into()));
    }
    let tls = &config.peer.tls;
    let files = [
        ("peer.tls.cert.file", &tls.cert.file),
        ("peer.tls.key.file", &tls.key.file),
        ("peer.tls.rootcert.file", &tls.rootcert.file),
    ];
    let set = files
        .iter()
        .filter(|(_, f)| !f.as_os_str().is_empty())
        .count();
    let missing = files.iter().find(|(_, f)| f.as_os_str().is_empty());
    if let (true, Some((key, _))) = (set != 0, missing) {
        return Err((
            (*key).into(),
            "is empty while other peer.tls files are set; give the certificate, its key and the network CA (peerd testnet writes all three)".into(),
        ));
    }
    Ok(())
}
