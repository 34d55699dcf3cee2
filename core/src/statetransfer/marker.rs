//! The state marker: one `persistCF` key saying which block the committed
//! state corresponds to while (or after) a catch-up left it apart from the
//! chain head. It makes catch-up crash-safe: every write of a transfer
//! carries the marker, so after a crash the next transfer (and the node's
//! start-up) knows whether the state can be trusted.
//!
//! | marker | meaning |
//! |---|---|
//! | absent | the state is the state after the head block (normal) |
//! | empty value | the state is partial (a snapshot was being applied) |
//! | 8-byte big-endian `h` | the state is the state after block `h − 1` ("state height" `h`) |
//!
//! v0.6 keeps this knowledge in memory only; a peer killed mid-transfer
//! then serves queries from a half-written state.

use crate::ledger::LedgerError;
use crate::ledger::kv::{KvRead, Partition, WriteBatch};

/// `persistCF` key of the marker.
pub const STATE_MARKER_KEY: &[u8] = b"statetransfer.stateHeight";

/// What the committed state corresponds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateBasis {
    /// The head block: no transfer left the state apart from the chain.
    Head,
    /// The state after block `h − 1` (`h` = 0: the empty state).
    Height(u64),
    /// Partial or unknown: only a full snapshot can repair it.
    Unknown,
}

impl StateBasis {
    /// Whether queries may read the state (it matches the chain head).
    pub fn is_consistent(self) -> bool {
        matches!(self, StateBasis::Head)
    }
}

/// Reads the marker of `store`.
///
/// # Errors
/// Store failure.
pub fn state_basis<S: KvRead + ?Sized>(store: &S) -> Result<StateBasis, LedgerError> {
    let Some(value) = store.get(Partition::Persist, STATE_MARKER_KEY)? else {
        return Ok(StateBasis::Head);
    };
    let be: Result<[u8; 8], _> = value.try_into();
    Ok(match be {
        Ok(be) => StateBasis::Height(u64::from_be_bytes(be)),
        Err(_) => StateBasis::Unknown,
    })
}

/// Adds the write recording `basis` (`Head` deletes the marker).
pub(crate) fn put_basis(batch: &mut WriteBatch, basis: StateBasis) {
    let key = STATE_MARKER_KEY.to_vec();
    match basis {
        StateBasis::Head => batch.delete(Partition::Persist, key),
        StateBasis::Height(h) => batch.put(Partition::Persist, key, h.to_be_bytes().to_vec()),
        StateBasis::Unknown => batch.put(Partition::Persist, key, Vec::new()),
    }
}
