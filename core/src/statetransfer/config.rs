//! [`Config`]: the v0.6 `statetransfer.*` settings (reference §4.5) plus the
//! ledger settings a catch-up needs (bucket-tree shape, delta history).

use crate::ledger::BucketTreeConfig;
use crate::ledger::batch::DEFAULT_DELTA_HISTORY_SIZE;
use crate::time::Duration;

/// State-transfer settings. `recoverdamage` (v0.6, default true) has no
/// counterpart: a damaged local chain is always overwritten by verified
/// blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `statetransfer.blocksperrequest` (20): blocks or deltas per request.
    pub blocks_per_request: u64,
    /// `statetransfer.maxdeltas` (200): a larger gap takes a full snapshot.
    pub max_deltas: u64,
    /// `statetransfer.timeout.singleblock` (2 s): longest wait for the next
    /// block of a request.
    pub timeout_single_block: Duration,
    /// `statetransfer.timeout.singlestatedelta` (2 s): longest wait for the
    /// next delta of a request, and for the next chunk of a snapshot.
    pub timeout_single_state_delta: Duration,
    /// `statetransfer.timeout.fullstate` (60 s): a whole snapshot.
    pub timeout_full_state: Duration,
    /// `ledger.state.deltaHistorySize` (500): deltas kept when replaying.
    pub delta_history_size: u64,
    /// The state's bucket-tree shape (must equal the network's).
    pub state_config: BucketTreeConfig,
    /// Most candidate peers kept from a `Start` (extra ones are ignored).
    pub max_peers: usize,
    /// Most snapshot chunks buffered while a write is in flight.
    pub max_buffered_chunks: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            blocks_per_request: 20,
            max_deltas: 200,
            timeout_single_block: Duration::from_secs(2),
            timeout_single_state_delta: Duration::from_secs(2),
            timeout_full_state: Duration::from_secs(60),
            delta_history_size: DEFAULT_DELTA_HISTORY_SIZE,
            state_config: BucketTreeConfig::default(),
            max_peers: 64,
            max_buffered_chunks: 64,
        }
    }
}

impl Config {
    /// `blocks_per_request`, at least 1.
    pub(crate) fn page(&self) -> u64 {
        self.blocks_per_request.max(1)
    }
}
