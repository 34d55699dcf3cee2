//! `statetransfer.*`: v0.6 core.yaml's catch-up settings (reference §4.5),
//! with its names, defaults and `CORE_STATETRANSFER_*` variables. Durations
//! are held in ms. Mapping them onto `fabrik_core::statetransfer::Config`
//! belongs to the PBFT wiring.

use serde::{Deserialize, Serialize};

/// `statetransfer.*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateTransferConfig {
    /// `statetransfer.recoverdamage`: repair a damaged local chain from
    /// verified blocks. Only `true` is supported (v0.6's `false` stopped the
    /// peer instead).
    pub recoverdamage: bool,
    /// `statetransfer.blocksperrequest`: blocks or deltas asked of a peer in
    /// one request.
    pub blocksperrequest: u64,
    /// `statetransfer.maxdeltas`: a replica more blocks behind than this
    /// fetches a full state snapshot instead of replaying deltas.
    pub maxdeltas: u64,
    /// `statetransfer.timeout.*`
    pub timeout: StateTransferTimeouts,
}

impl Default for StateTransferConfig {
    fn default() -> Self {
        Self {
            recoverdamage: true,
            blocksperrequest: 20,
            maxdeltas: 200,
            timeout: StateTransferTimeouts::default(),
        }
    }
}

/// `statetransfer.timeout.*`, in ms (written `"2s"`, `"500ms"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateTransferTimeouts {
    /// `timeout.singleblock`: longest wait for the next block of a request.
    #[serde(with = "super::duration::millis")]
    pub singleblock: u64,
    /// `timeout.singlestatedelta`: longest wait for the next delta of a
    /// request, or the next chunk of a snapshot.
    #[serde(with = "super::duration::millis")]
    pub singlestatedelta: u64,
    /// `timeout.fullstate`: a whole snapshot.
    #[serde(with = "super::duration::millis")]
    pub fullstate: u64,
}

impl Default for StateTransferTimeouts {
    fn default() -> Self {
        Self {
            singleblock: 2_000,
            singlestatedelta: 2_000,
            fullstate: 60_000,
        }
    }
}

/// Checks the `statetransfer.*` values: the key at fault and the problem.
pub(super) fn validate(config: &StateTransferConfig) -> Result<(), (String, String)> {
    if !config.recoverdamage {
        return Err((
            "statetransfer.recoverdamage".into(),
            "only true is supported: peerd always repairs a damaged local chain from blocks verified against the network's hashes; remove the setting".into(),
        ));
    }
    if config.blocksperrequest == 0 {
        return Err((
            "statetransfer.blocksperrequest".into(),
            "must be at least 1".into(),
        ));
    }
    let timeouts = [
        (
            "statetransfer.timeout.singleblock",
            config.timeout.singleblock,
        ),
        (
            "statetransfer.timeout.singlestatedelta",
            config.timeout.singlestatedelta,
        ),
        ("statetransfer.timeout.fullstate", config.timeout.fullstate),
    ];
    if let Some((key, _)) = timeouts.iter().find(|(_, ms)| *ms == 0) {
        return Err((
            (*key).into(),
            "must be longer than 0; give a duration such as \"2s\"".into(),
        ));
    }
    Ok(())
}
