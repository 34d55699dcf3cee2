//! Fuzz oracles (feature `fuzzing`; style.md 10.6): pure functions over
//! `&[u8]` shared by the cargo-fuzz targets in `fuzz/fuzz_targets/` and the
//! corpus replay test `tests/tests/fuzz_corpus.rs`. Each oracle either
//! returns normally or panics on a violated property, which is exactly what
//! libFuzzer and the replay test detect.
//!
//! - wire oracles ([`wire_peer`], [`wire_chaincode`], [`wire_block`],
//!   [`wire_transaction`], [`wire_pbft`], [`state_delta`]): decode must not
//!   panic; whatever decodes must re-encode and decode to an equal value
//!   with byte-identical canonical encoding;
//! - machine oracles ([`chaincode_handler`], [`shim_handler`],
//!   [`peer_handler`], [`pbft_replica`]): the bytes are read by [`Reader`]
//!   as a sequence of operations fed to one machine; no panic plus the
//!   machine's documented guarantees are checked after every operation;
//! - [`pbft_cluster`]: the bytes schedule a four-replica cluster (which
//!   message next, drop, duplicate, timer, client request) and the
//!   simulator's [`crate::sim::Checker`] must report no violation.

// Oracles exist to panic on violations: that is how the fuzzer sees them.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::fmt::Debug;

use fabrik_proto::Timestamp;
use fabrik_proto::pbft::{
    self, BatchMessage, Checkpoint, Commit, FetchRequestBatch, NewView, PrePrepare, Prepare,
    Request, RequestBatch, ViewChange,
};
use fabrik_proto::protos::{
    self, Block, BlockchainInfo, ChaincodeId, ChaincodeInput, ChaincodeMessage, ChaincodeSpec,
    HelloMessage, PeerEndpoint, PeerId, PeersMessage, PutStateInfo, RangeQueryState,
    RangeQueryStateKeyValue, RangeQueryStateNext, RangeQueryStateResponse, SyncBlockRange,
    SyncBlocks, Transaction,
};
use prost::Message as _;

use crate::ledger::StateDelta;
use crate::machine::Machine;
use crate::pbft::{self as core_pbft, PeerMsg, Replica, batch_digest};
use crate::sim::{Chain, Checker, genesis};
use crate::time::{Duration, Instant};
use crate::{chaincode, peer, shim};

/// Most operations one machine oracle runs (keeps each input well under
/// the 1 s libFuzzer timeout).
const MAX_OPS: usize = 400;

// ───────────────────────────── byte reader ─────────────────────────────

/// Reads fuzz bytes as small structured choices; past the end every read
/// returns zero / empty, so any input is a valid operation sequence.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.u16()) % n
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `max` raw bytes (length from one byte).
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max.saturating_add(1)).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head.to_vec()
    }

    pub fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

// ───────────────────────────── wire oracles ─────────────────────────────

/// decode → encode → decode: equal values and identical canonical bytes.
fn roundtrip<M: prost::Message + Default + PartialEq + Debug>(data: &[u8]) -> Option<M> {
    let first = M::decode(data).ok()?;
    let bytes = first.encode_to_vec();
    let second = M::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("re-decoding our own encoding failed: {e}; value {first:?}"));
    assert_eq!(first, second, "decode(encode(x)) != x");
    assert_eq!(
        bytes,
        second.encode_to_vec(),
        "encoding is not canonical for {second:?}"
    );
    Some(first)
}

/// `protos::Message` (peer stream) and the payload its type announces.
pub fn wire_peer(data: &[u8]) {
    let Some(msg) = roundtrip::<protos::Message>(data) else {
        return;
    };
    use protos::message::Type;
    let p = msg.payload.as_slice();
    match Type::try_from(msg.r#type) {
        Ok(Type::DiscHello) => {
            roundtrip::<HelloMessage>(p);
        }
        Ok(Type::DiscPeers) => {
            roundtrip::<PeersMessage>(p);
        }
        Ok(Type::DiscNewmsg) => {
            let _ = peer::decode_peers_addresses(p);
        }
        Ok(Type::ChainTransaction) => {
            roundtrip::<Transaction>(p);
        }
        Ok(Type::SyncGetBlocks) => {
            roundtrip::<SyncBlockRange>(p);
        }
        Ok(Type::SyncBlocks) => {
            roundtrip::<SyncBlocks>(p);
        }
        Ok(Type::SyncStateGetSnapshot) => {
            roundtrip::<protos::SyncStateSnapshotRequest>(p);
        }
        Ok(Type::SyncStateSnapshot) => {
            if let Some(s) = roundtrip::<protos::SyncStateSnapshot>(p) {
                state_delta(&s.delta);
            }
        }
        Ok(Type::SyncStateGetDeltas) => {
            roundtrip::<protos::SyncStateDeltasRequest>(p);
        }
        Ok(Type::SyncStateDeltas) => {
            if let Some(d) = roundtrip::<protos::SyncStateDeltas>(p) {
                d.deltas.iter().for_each(|x| state_delta(x));
            }
        }
        Ok(Type::Response) => {
            roundtrip::<protos::Response>(p);
        }
        Ok(Type::Consensus) => wire_pbft(p),
        _ => {}
    }
    let _ = peer::kind_name(msg.r#type);
}

/// `protos::ChaincodeMessage` and the payload its type announces.
pub fn wire_chaincode(data: &[u8]) {
    let Some(msg) = roundtrip::<ChaincodeMessage>(data) else {
        return;
    };
    use protos::chaincode_message::Type;
    let p = msg.payload.as_slice();
    match Type::try_from(msg.r#type) {
        Ok(Type::Register) => {
            roundtrip::<ChaincodeId>(p);
        }
        Ok(Type::Init | Type::Transaction | Type::Query | Type::Ready) => {
            roundtrip::<ChaincodeInput>(p);
        }
        Ok(Type::PutState) => {
            roundtrip::<PutStateInfo>(p);
        }
        Ok(Type::RangeQueryState) => {
            roundtrip::<RangeQueryState>(p);
        }
        Ok(Type::RangeQueryStateNext) => {
            roundtrip::<RangeQueryStateNext>(p);
        }
        Ok(Type::RangeQueryStateClose) => {
            roundtrip::<protos::RangeQueryStateClose>(p);
        }
        Ok(Type::InvokeChaincode | Type::InvokeQuery) => {
            roundtrip::<ChaincodeSpec>(p);
        }
        Ok(Type::Response) => {
            roundtrip::<RangeQueryStateResponse>(p);
        }
        _ => {}
    }
}

/// `protos::Block` (and its `BlockState` envelope).
pub fn wire_block(data: &[u8]) {
    roundtrip::<Block>(data);
    if let Some(bs) = roundtrip::<protos::BlockState>(data) {
        state_delta(&bs.state_delta);
    }
}

/// `protos::Transaction` and the deployment/invocation spec it carries.
pub fn wire_transaction(data: &[u8]) {
    let Some(tx) = roundtrip::<Transaction>(data) else {
        return;
    };
    roundtrip::<protos::ChaincodeDeploymentSpec>(&tx.payload);
    roundtrip::<protos::ChaincodeInvocationSpec>(&tx.payload);
    roundtrip::<ChaincodeId>(&tx.chaincode_id);
}

/// `pbft::BatchMessage` → [`PeerMsg`] → `BatchMessage` → [`PeerMsg`], and
/// the same bytes as a bare `pbft::Message`.
pub fn wire_pbft(data: &[u8]) {
    if let Some(bm) = roundtrip::<BatchMessage>(data)
        && let Ok(pm) = PeerMsg::from_batch_message(bm)
    {
        let again = PeerMsg::from_batch_message(pm.to_batch_message())
            .unwrap_or_else(|e| panic!("our own envelope was refused: {e}; {pm:?}"));
        assert_eq!(pm, again, "PeerMsg envelope round trip");
    }
    if let Some(m) = roundtrip::<pbft::Message>(data)
        && let Some(pbft::message::Payload::PrePrepare(pp)) = &m.payload
        && let Some(b) = &pp.request_batch
    {
        let _ = batch_digest(b);
    }
}

/// The v0.6 state-delta encoding: decode → encode → decode equal.
pub fn state_delta(data: &[u8]) {
    let Ok(d) = StateDelta::decode(data) else {
        return;
    };
    let bytes = d.encode();
    let again = StateDelta::decode(&bytes)
        .unwrap_or_else(|e| panic!("re-decoding our own delta failed: {e}; {d:?}"));
    assert_eq!(d, again, "delta round trip");
    assert_eq!(bytes, again.encode(), "delta encoding not canonical");
    let _ = d.crypto_hash();
}

// ───────────────────── peer-side chaincode handler ─────────────────────

const TXIDS: [&str; 4] = ["tx0", "tx1", "tx2", "tx3"];

mod cluster;
mod machines;

pub use cluster::{pbft_cluster, pbft_replica};
pub use machines::{chaincode_handler, peer_handler, shim_handler};
