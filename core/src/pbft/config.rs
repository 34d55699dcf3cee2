//! PBFT configuration: the v0.6 `consensus/pbft/config.yaml` keys with their
//! defaults, the v0.6 timeout adjustments, validation that names the
//! offending key, and the derived quorum and watermark arithmetic
//! (reference §4.3, §4.4 "Identities and quorums").

use crate::crypto::{SigningKey, VerifyingKey, hash};
use crate::time::Duration;

use super::ReplicaId;

/// Why a configuration was refused; `key` is the v0.6 key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PBFT configuration key {key}: {reason}")]
pub struct ConfigError {
    /// The v0.6 key (e.g. `general.logmultiplier`).
    pub key: &'static str,
    /// What is wrong with its value.
    pub reason: String,
}

/// The replica's signing key and every replica's public key (index = id).
#[derive(Clone)]
pub struct Keys {
    secret: [u8; 32],
    public: Vec<VerifyingKey>,
}

impl Keys {
    /// Our 32 secret bytes and the public keys of replicas `0..N`.
    pub fn new(secret: [u8; 32], public: Vec<VerifyingKey>) -> Self {
        Keys { secret, public }
    }

    /// Deterministic keys for replica `id` of `n`, derived from `seed`
    /// (tests and simulation only; never for a real network).
    pub fn from_seed(seed: u64, n: usize, id: ReplicaId) -> Self {
        let secret_of = |i: u64| -> [u8; 32] {
            let h = hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat());
            let mut out = [0u8; 32];
            for (o, b) in out.iter_mut().zip(h.iter()) {
                *o = *b;
            }
            out
        };
        let public = (0..n as u64)
            .map(|i| SigningKey::from_bytes(&secret_of(i)).verifying_key())
            .collect();
        Keys {
            secret: secret_of(id),
            public,
        }
    }

    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.secret)
    }

    pub(crate) fn public_key(&self, id: ReplicaId) -> Option<&VerifyingKey> {
        usize::try_from(id).ok().and_then(|i| self.public.get(i))
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keys {{ public: {} keys, secret: .. }}",
            self.public.len()
        )
    }
}

/// Deliberately planted bugs, used only to prove the simulator's checkers
/// have teeth (reliability.md A9 "Simulator teeth").
#[cfg(any(test, feature = "sim"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlantedBug {
    /// Accept a PRE-PREPARE whose digest does not match its batch.
    SkipDigestCheck,
    /// Accept a PRE-PREPARE from a replica that is not the primary.
    AcceptNonPrimaryPrePrepare,
    /// Accept sequence numbers outside (h, h+L].
    NoWatermarkCheck,
    /// Send VIEW-CHANGE with an empty P-set.
    ForgetPSet,
    /// Commit with one COMMIT fewer than the quorum.
    CommitOneShort,
}

/// PBFT settings (v0.6 `general.*` keys) plus fabrik's own bounds.
#[derive(Debug, Clone)]
pub struct Config {
    /// This replica's id (`peer.id` = `vp<id>`).
    pub id: ReplicaId,
    /// `general.N`: number of replicas.
    pub n: usize,
    /// `general.f`: tolerated faults.
    pub f: usize,
    /// `general.K`: checkpoint period.
    pub k: u64,
    /// `general.logmultiplier`: L = K × logmultiplier.
    pub log_multiplier: u64,
    /// `general.batchsize`: requests per pre-prepare.
    pub batch_size: usize,
    /// fabrik: most bytes of requests per pre-prepare (at least one request
    /// always goes), so a batch fits the transport's frame.
    pub max_batch_bytes: usize,
    /// `general.byzantine`: omit one replica from every third broadcast.
    pub byzantine: bool,
    /// `general.viewchangeperiod`: rotate the primary every period × K
    /// sequence numbers (0 = off).
    pub view_change_period: u64,
    /// `general.timeout.batch`: upper bound on how long a request waits for
    /// a partial batch to be cut.
    pub timeout_batch: Duration,
    /// `general.timeout.request`.
    pub timeout_request: Duration,
    /// `general.timeout.viewchange`: first new-view timeout (doubles).
    pub timeout_view_change: Duration,
    /// `general.timeout.resendviewchange`.
    pub timeout_resend_view_change: Duration,
    /// `general.timeout.nullrequest` (zero = off).
    pub timeout_null_request: Duration,
    /// `general.timeout.broadcast` (used by the driver, not the replica).
    pub timeout_broadcast: Duration,
    /// fabrik: an idle primary (nothing in flight) cuts a batch at once
    /// instead of waiting for `timeout.batch`.
    pub adaptive_batching: bool,
    /// fabrik: cap on outstanding (not yet executed) requests. Each origin
    /// replica may hold at most 1/N of it at every replica, and admits new
    /// client requests of its own only up to half of that share
    /// ([`Config::local_admission_limit`]), so a request one replica
    /// accepted is never refused by another for lack of room.
    pub max_outstanding_requests: usize,
    /// fabrik: cap on the new-view timeout after doubling.
    pub max_view_change_timeout: Duration,
    /// Signing and verification keys.
    pub keys: Keys,
    /// Hook for signed client requests: when set, a request (local or
    /// relayed) it refuses is rejected with `BadRequestSignature`. v0.6
    /// left requests unsigned (`// XXX sign req`).
    pub request_verifier: Option<fn(&fabrik_proto::pbft::Request) -> bool>,
    /// A planted bug (simulator teeth checks only).
    #[cfg(any(test, feature = "sim"))]
    pub planted_bug: Option<PlantedBug>,
}

impl Config {
    /// v0.6 defaults for replica `id` of `n` tolerating `f` faults.
    pub fn new(id: ReplicaId, n: usize, f: usize, keys: Keys) -> Self {
        Config {
            id,
            n,
            f,
            k: 10,
            log_multiplier: 4,
            batch_size: 500,
            max_batch_bytes: usize::MAX,
            byzantine: false,
            view_change_period: 0,
            timeout_batch: Duration::from_secs(1),
            timeout_request: Duration::from_secs(2),
            timeout_view_change: Duration::from_secs(2),
            timeout_resend_view_change: Duration::from_secs(2),
            timeout_null_request: Duration::ZERO,
            timeout_broadcast: Duration::from_secs(1),
            adaptive_batching: true,
            max_outstanding_requests: 10_000,
            max_view_change_timeout: Duration::from_secs(300),
            keys,
            request_verifier: None,
            #[cfg(any(test, feature = "sim"))]
            planted_bug: None,
        }
    }

    /// Checks the values and applies v0.6's timeout adjustments: a request
    /// timeout not above the batch timeout becomes 1.5 × batch; a non-zero
    /// null-request timeout not above the request timeout becomes 1.5 ×
    /// request.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first offending key.
    pub fn validated(mut self) -> Result<Self, ConfigError> {
        let bad = |key, reason: String| Err(ConfigError { key, reason });
        let needed = self.f.saturating_mul(3).saturating_add(1);
        if self.n < needed || self.n == 0 {
            return bad(
                "general.N",
                format!("need N >= 3f+1 = {needed}, got {}", self.n),
            );
        }
        if self.k == 0 {
            return bad("general.K", "must be positive".into());
        }
        if self.log_multiplier < 2 {
            return bad(
                "general.logmultiplier",
                format!("must be >= 2, got {}", self.log_multiplier),
            );
        }
        if self.batch_size == 0 {
            return bad("general.batchsize", "must be positive".into());
        }
        if self.timeout_batch.is_zero() {
            return bad("general.timeout.batch", "must be positive".into());
        }
        if self.timeout_view_change.is_zero() {
            return bad("general.timeout.viewchange", "must be positive".into());
        }
        if self.timeout_resend_view_change.is_zero() {
            return bad(
                "general.timeout.resendviewchange",
                "must be positive".into(),
            );
        }
        if usize::try_from(self.id).map_or(true, |id| id >= self.n) {
            return bad(
                "peer.id",
                format!("replica id {} not below N = {}", self.id, self.n),
            );
        }
        if self.keys.public.len() != self.n {
            return bad(
                "general.N",
                format!("{} public keys for N = {}", self.keys.public.len(), self.n),
            );
        }
        if self.timeout_request <= self.timeout_batch {
            self.timeout_request = self.timeout_batch.mul_f64(1.5);
        }
        if !self.timeout_null_request.is_zero() && self.timeout_null_request <= self.timeout_request
        {
            self.timeout_null_request = self.timeout_request.mul_f64(1.5);
        }
        Ok(self)
    }

    /// Outstanding requests of one origin replica that every replica holds
    /// (`max_outstanding_requests / N`).
    pub fn origin_limit(&self) -> usize {
        (self.max_outstanding_requests / self.n.max(1)).max(1)
    }

    /// Outstanding requests of its own up to which a replica accepts new
    /// client requests: half its [`Config::origin_limit`], leaving room for
    /// replicas that have not yet executed what it already has.
    pub fn local_admission_limit(&self) -> usize {
        (self.origin_limit() / 2).max(1)
    }

    /// Log size L = K × logmultiplier.
    pub fn log_size(&self) -> u64 {
        self.k.saturating_mul(self.log_multiplier)
    }

    /// v0.6 `intersectionQuorum`: Q = ⌊(N+f+2)/2⌋.
    pub fn quorum(&self) -> usize {
        self.n.saturating_add(self.f).saturating_add(2) / 2
    }

    /// v0.6 `allCorrectReplicasQuorum`: N − f (the view-change quorum).
    pub fn all_correct_quorum(&self) -> usize {
        self.n.saturating_sub(self.f)
    }

    /// f + 1: a weak certificate, the join rule, the fall-behind rule.
    pub fn weak_quorum(&self) -> usize {
        self.f.saturating_add(1)
    }

    /// primary(v) = v mod N.
    pub fn primary(&self, view: u64) -> ReplicaId {
        view % (self.n.max(1) as u64)
    }

    /// Whether `id` names a replica of this network.
    pub fn is_replica(&self, id: ReplicaId) -> bool {
        usize::try_from(id).is_ok_and(|i| i < self.n)
    }

    #[cfg(any(test, feature = "sim"))]
    pub(crate) fn bug(&self, bug: PlantedBug) -> bool {
        self.planted_bug == Some(bug)
    }

    #[cfg(not(any(test, feature = "sim")))]
    pub(crate) fn bug(&self, _bug: PlantedBug) -> bool {
        false
    }
}

/// Without the `sim` feature no bug can be planted.
#[cfg(not(any(test, feature = "sim")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlantedBug {
    SkipDigestCheck,
    AcceptNonPrimaryPrePrepare,
    NoWatermarkCheck,
    ForgetPSet,
    CommitOneShort,
}
