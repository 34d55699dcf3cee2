//! `pbft.*`: the v0.6 `consensus/pbft/config.yaml` keys, so that the v0.6
//! environment names apply unchanged (`pbft.general.N` ↔
//! `CORE_PBFT_GENERAL_N`, `pbft.general.timeout.request` ↔
//! `CORE_PBFT_GENERAL_TIMEOUT_REQUEST`). Durations are held in ms.
//! Mapping these onto `fabrik_core::pbft::Config` belongs to the PBFT wiring.

use serde::{Deserialize, Serialize};

/// `pbft.*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PbftConfig {
    /// `pbft.general.*`
    pub general: PbftGeneral,
    /// `pbft.keys.*` (fabrik): VIEW-CHANGE signing keys.
    pub keys: PbftKeys,
}

/// `pbft.keys.*`: this validator's Ed25519 signing key and every
/// validator's public key, so VIEW-CHANGE signatures can be checked (v0.6
/// signed them only with security on; fabrik always does). `peerd testnet`
/// writes both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PbftKeys {
    /// File holding this validator's 32-byte secret key as 64 hex characters
    /// (keep it 0600).
    pub signing: String,
    /// Every validator's public key as 64 hex characters, comma-separated,
    /// in replica order (vp0 first).
    pub verifying: String,
}

impl PbftKeys {
    /// The public keys in replica order.
    pub fn verifying_keys(&self) -> Vec<&str> {
        self.verifying
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect()
    }
}

/// `pbft.general.*` with the v0.6 defaults (reference §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PbftGeneral {
    /// `general.mode`: only `batch`.
    pub mode: String,
    /// `general.N`: number of validators.
    #[serde(rename = "N")]
    pub n: usize,
    /// `general.f`: tolerated faults (N ≥ 3f+1).
    pub f: usize,
    /// `general.K`: checkpoint period.
    #[serde(rename = "K")]
    pub k: u64,
    /// `general.logmultiplier`: L = K × logmultiplier.
    pub logmultiplier: u64,
    /// `general.batchsize`: requests per pre-prepare.
    pub batchsize: usize,
    /// `general.byzantine`: test mode.
    pub byzantine: bool,
    /// `general.viewchangeperiod`: rotate the primary every period × K (0 = off).
    pub viewchangeperiod: u64,
    /// `general.maxoutstanding` (fabrik): requests a replica holds before
    /// they execute. Each validator's own clients get 1/(2N) of it; past
    /// that they are refused with "the network is busy … retry later". A
    /// smaller value bounds the latency of an overloaded network, a larger
    /// one absorbs longer bursts.
    pub maxoutstanding: usize,
    /// `general.timeout.*`
    pub timeout: PbftTimeouts,
}

impl Default for PbftGeneral {
    fn default() -> Self {
        Self {
            mode: "batch".into(),
            n: 4,
            f: 1,
            k: 10,
            logmultiplier: 4,
            batchsize: 500,
            byzantine: false,
            viewchangeperiod: 0,
            maxoutstanding: 10_000,
            timeout: PbftTimeouts::default(),
        }
    }
}

/// `pbft.general.timeout.*`, in ms (written `"2s"`, `"500ms"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PbftTimeouts {
    /// `timeout.batch`
    #[serde(with = "super::duration::millis")]
    pub batch: u64,
    /// `timeout.request`
    #[serde(with = "super::duration::millis")]
    pub request: u64,
    /// `timeout.viewchange`
    #[serde(with = "super::duration::millis")]
    pub viewchange: u64,
    /// `timeout.resendviewchange`
    #[serde(with = "super::duration::millis")]
    pub resendviewchange: u64,
    /// `timeout.nullrequest` (0 = off)
    #[serde(with = "super::duration::millis")]
    pub nullrequest: u64,
    /// `timeout.broadcast`
    #[serde(with = "super::duration::millis")]
    pub broadcast: u64,
}

impl Default for PbftTimeouts {
    fn default() -> Self {
        Self {
            batch: 1000,
            request: 2000,
            viewchange: 2000,
            resendviewchange: 2000,
            nullrequest: 0,
            broadcast: 1000,
        }
    }
}

/// Checks the PBFT keys when the plugin is `pbft`: returns the key at
/// fault and the problem.
pub(super) fn validate(config: &super::Config) -> Result<(), (String, String)> {
    if config.peer.validator.consensus.plugin != "pbft" {
        return Ok(());
    }
    let g = &config.pbft.general;
    if g.mode != "batch" {
        return Err((
            "pbft.general.mode".into(),
            format!(
                "Invalid PBFT mode \"{}\"; only \"batch\" is supported",
                g.mode
            ),
        ));
    }
    let needed = g.f.saturating_mul(3).saturating_add(1);
    if g.n < needed {
        return Err((
            "pbft.general.N".into(),
            format!("need N >= 3f+1 = {needed} for f = {}, found {}", g.f, g.n),
        ));
    }
    let least = g.n.saturating_mul(2);
    if g.maxoutstanding < least {
        return Err((
            "pbft.general.maxoutstanding".into(),
            format!(
                "must be at least 2N = {least} (each validator's clients get 1/(2N) of it), found {}",
                g.maxoutstanding
            ),
        ));
    }
    Ok(())
}
