//! `peerd ledger verify|block|tx`: offline tools over the ledger store of a
//! stopped peer (`<peer.fileSystemPath>/db`).
//!
//! `verify` recomputes every block hash and checks it against the next
//! block's `previousBlockHash` and the block-hash index (which also covers
//! the head block), checks that genesis has no previous hash, then rebuilds
//! the bucket-tree state hash from the stored key/values and compares it with
//! the head block's `stateHash`; it stops at the first mismatch and names the
//! block. `block N` and `tx ID` print v0.6 JSON (as REST does: block deploy
//! payloads without their code package, transactions in full).

use crate::context::Context;
use crate::error::CliError;
use crate::pidfile::{PID_FILE_NAME, is_held};
use base64::Engine as _;
use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::block::{block_hash, without_code_packages};
use fabrik_core::ledger::buckettree::{BucketTreeConfig, compute_from_scratch};
use fabrik_io::jsonv06;
use fabrik_io::store::Store;

fn b64(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".into();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens the store of the stopped peer the configuration describes.
fn open(ctx: &Context) -> Result<Store, CliError> {
    let root = &ctx.config.peer.file_system_path;
    let pid = root.join(PID_FILE_NAME);
    if pid.exists() && is_held(&pid).unwrap_or(false) {
        return Err(CliError::Usage(format!(
            "a peer is running on {} (its {} is locked); stop it with `peerd node stop` first",
            root.display(),
            pid.display()
        )));
    }
    let dir = root.join("db");
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "no ledger at {} (peer.fileSystemPath = {}); point --config or CORE_PEER_FILESYSTEMPATH at the peer's data",
            dir.display(),
            root.display()
        )));
    }
    Store::open(&dir).map_err(|e| CliError::Failure(e.to_string()))
}

fn failure(text: String) -> CliError {
    CliError::Failure(format!("ledger verify: {text}"))
}

/// What `verify` found on a sound ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Number of blocks checked.
    pub height: u64,
    /// The head block's hash.
    pub head_hash: Vec<u8>,
    /// The recomputed state hash (empty for an empty state).
    pub state_hash: Vec<u8>,
}

/// Checks the hash chain and the state hash of `store`.
///
/// # Errors
/// The first mismatch, naming the block.
pub fn verify_store(store: &Store, buckets: &BucketTreeConfig) -> Result<Verified, CliError> {
    let ledger = Ledger::new(store);
    let height = ledger.height().map_err(|e| failure(e.to_string()))?;
    if height == 0 {
        return Err(failure("the chain is empty (no genesis block)".into()));
    }
    let mut prev: Option<Vec<u8>> = None;
    let mut head = None;
    for n in 0..height {
        let block = ledger
            .block(n)
            .map_err(|e| failure(format!("block {n}: {e}")))?;
        let expected_prev = prev.clone().unwrap_or_default();
        if block.previous_block_hash != expected_prev {
            let culprit = n.saturating_sub(1);
            return Err(failure(format!(
                "block {culprit} does not match block {n}'s previousBlockHash: block {culprit} hashes to {}, block {n} records {}; one of them was changed",
                b64(&expected_prev),
                b64(&block.previous_block_hash)
            )));
        }
        let hash = block_hash(&block).to_vec();
        match ledger.block_number_by_hash(&hash) {
            Ok(m) if m == n => {}
            Ok(m) => {
                return Err(failure(format!(
                    "block {n}: the block-hash index maps its hash to block {m}"
                )));
            }
            Err(e) => {
                return Err(failure(format!(
                    "block {n} was changed: its hash {} is not in the block-hash index ({e})",
                    b64(&hash)
                )));
            }
        }
        prev = Some(hash);
        head = Some(block);
    }
    let head = head.unwrap_or_default();
    let state = compute_from_scratch(store, buckets).map_err(|e| failure(format!("state: {e}")))?;
    let state = state.map(|h| h.to_vec()).unwrap_or_default();
    if state != head.state_hash {
        return Err(failure(format!(
            "state hash mismatch at head block {}: the stored state hashes to {}, the block records {}",
            height - 1,
            b64(&state),
            b64(&head.state_hash)
        )));
    }
    Ok(Verified {
        height,
        head_hash: prev.unwrap_or_default(),
        state_hash: state,
    })
}

fn buckets(ctx: &Context) -> Result<BucketTreeConfig, CliError> {
    let s = &ctx.config.ledger.state;
    BucketTreeConfig::new(s.num_buckets, s.max_grouping_at_each_level)
        .map_err(|e| CliError::Usage(format!("ledger.state: {e}")))
}

/// `peerd ledger verify`.
///
/// # Errors
/// A running peer, no ledger, or the first mismatch found.
pub fn verify(ctx: &Context) -> Result<(), CliError> {
    let store = open(ctx)?;
    let v = verify_store(&store, &buckets(ctx)?)?;
    println!(
        "ledger OK: {} blocks, head hash {}, state hash {}",
        v.height,
        b64(&v.head_hash),
        b64(&v.state_hash)
    );
    Ok(())
}

/// `peerd ledger block N`.
///
/// # Errors
/// A running peer, no ledger, or no such block.
pub fn block(ctx: &Context, number: u64) -> Result<(), CliError> {
    let store = open(ctx)?;
    let block = Ledger::new(&store)
        .block(number)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    println!("{}", jsonv06::block(&without_code_packages(&block)));
    Ok(())
}

/// `peerd ledger tx ID`.
///
/// # Errors
/// A running peer, no ledger, or no such transaction.
pub fn tx(ctx: &Context, txid: &str) -> Result<(), CliError> {
    let store = open(ctx)?;
    let tx = Ledger::new(&store)
        .transaction(txid)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    println!("{}", jsonv06::transaction(&tx));
    Ok(())
}
