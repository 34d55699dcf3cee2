//! The in-memory executor of a simulated replica: one block per executed
//! batch, hash-chained, so equal histories give equal BlockchainInfo and
//! therefore equal checkpoint ids; state transfer copies a donor's chain.

use std::collections::BTreeMap;

use fabrik_proto::protos::BlockchainInfo;
use prost::Message as _;

use crate::crypto::{b64, hash_parts};

/// The genesis head every simulated ledger starts from (height 1).
pub fn genesis() -> BlockchainInfo {
    BlockchainInfo {
        height: 1,
        current_block_hash: hash_parts(&[b"genesis"]).to_vec(),
        previous_block_hash: Vec::new(),
    }
}

/// A ledger: the head after each executed sequence number.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    blocks: BTreeMap<u64, BlockchainInfo>,
}

impl Chain {
    /// The current head.
    pub fn head(&self) -> BlockchainInfo {
        self.blocks
            .values()
            .next_back()
            .cloned()
            .unwrap_or_else(genesis)
    }

    /// The sequence number of the last block (0 for genesis): what v0.6
    /// reads back from the head block's `Metadata{seqNo}`.
    pub fn last_seq(&self) -> u64 {
        self.blocks.keys().next_back().copied().unwrap_or(0)
    }

    /// Commits the block for `seq` carrying a batch with digest `content`.
    pub fn append(&mut self, seq: u64, content: &str) -> BlockchainInfo {
        let prev = self.head();
        let current = hash_parts(&[
            &prev.current_block_hash,
            &seq.to_le_bytes(),
            content.as_bytes(),
        ])
        .to_vec();
        let info = BlockchainInfo {
            height: prev.height.saturating_add(1),
            current_block_hash: current,
            previous_block_hash: prev.current_block_hash,
        };
        self.blocks.insert(seq, info.clone());
        info
    }

    /// The head as of sequence number `seq`.
    pub fn info_at(&self, seq: u64) -> BlockchainInfo {
        self.blocks
            .range(..=seq)
            .next_back()
            .map(|(_, i)| i.clone())
            .unwrap_or_else(genesis)
    }

    /// Whether our head at `seq` has checkpoint id `id`.
    pub fn matches(&self, seq: u64, id: &str) -> bool {
        b64(&self.info_at(seq).encode_to_vec()) == id
    }

    /// The prefix of this chain up to `seq`.
    pub fn prefix(&self, seq: u64) -> Chain {
        Chain {
            blocks: self
                .blocks
                .range(..=seq)
                .map(|(s, i)| (*s, i.clone()))
                .collect(),
        }
    }
}
