//! Speculative execution of a block's invokes side by side.
//!
//! Serial execution pays every chaincode round trip in turn, so a block of
//! a few hundred transactions spends most of its time waiting on sockets.
//! Here up to [`WINDOW`] invokes run at once, each against committed state
//! (the state at the start of the block) in a private transaction context
//! that records what it read. Then, in block order, a speculated
//! transaction is applied only if nothing it read was written by an
//! earlier transaction of the block; otherwise (and whenever speculation
//! failed for any reason) it is executed again, serially, as before. A
//! chaincode is deterministic in its reads, so every block, state hash and
//! result is what serial execution gives.
//!
//! Only chaincodes whose shim registered for concurrent transactions take
//! part (a v0.6 shim takes one TRANSACTION at a time), and a chaincode
//! whose speculations mostly conflict (all transfers between the same two
//! accounts, say) is left out for a while so it does not pay twice.

use super::Executor;
use super::context::{InBlock, RangePage, StateAccess};
use fabrik_core::chaincode::{ExecKind, ExecResult};
use fabrik_core::ledger::batch::TxBatch;
use fabrik_core::ledger::delta::StateDelta;
use fabrik_proto::protos::{ChaincodeEvent, ChaincodeInvocationSpec, Transaction, transaction};
use futures::StreamExt as _;
use prost::Message as _;
use std::collections::{BTreeSet, HashMap};

/// Invokes speculated at once.
pub const WINDOW: usize = 64;
/// Blocks a chaincode sits out after most of its speculations conflicted.
const COOL_DOWN_BLOCKS: u32 = 16;

/// What one speculated invoke read and wrote.
#[derive(Debug, Default)]
pub struct Speculated {
    /// (chaincode, key) pairs read from uncommitted-capable state.
    keys: BTreeSet<(String, String)>,
    /// (chaincode, start, end) ranges read; empty end = unbounded.
    ranges: Vec<(String, String, String)>,
    /// Its writes.
    delta: StateDelta,
    /// Its chaincode event.
    event: Option<ChaincodeEvent>,
    /// The chaincode it invoked.
    chaincode: String,
}

impl Speculated {
    /// Whether an earlier transaction of the block (whose writes are in
    /// `written`) changed anything this one read.
    fn conflicts_with(&self, written: &StateDelta) -> bool {
        let key_hit = self
            .keys
            .iter()
            .any(|(cc, key)| written.get(cc, key).is_some());
        key_hit
            || self.ranges.iter().any(|(cc, start, end)| {
                written.updates(cc).is_some_and(|updates| {
                    updates
                        .keys()
                        .any(|k| k >= start && (end.is_empty() || k <= end))
                })
            })
    }
}

/// A private transaction context that records reads.
struct Recording<'a> {
    inner: InBlock<'a>,
    seen: &'a mut Speculated,
}

impl StateAccess for Recording<'_> {
    fn get(&mut self, cc: &str, key: &str, committed: bool) -> Result<Option<Vec<u8>>, String> {
        if !committed {
            self.seen.keys.insert((cc.to_owned(), key.to_owned()));
        }
        self.inner.get(cc, key, committed)
    }

    fn set(&mut self, cc: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        self.inner.set(cc, key, value)
    }

    fn delete(&mut self, cc: &str, key: &str) -> Result<(), String> {
        self.inner.delete(cc, key)
    }

    fn range(
        &mut self,
        cc: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
        committed: bool,
    ) -> Result<RangePage, String> {
        if !committed {
            let range = (cc.to_owned(), start.to_owned(), end.to_owned());
            self.seen.ranges.push(range);
        }
        self.inner.range(cc, start, end, after, limit, committed)
    }
}

/// Per chaincode, how many more blocks it sits out.
#[derive(Debug, Default)]
pub struct CoolDown(std::sync::Mutex<HashMap<String, u32>>);

impl CoolDown {
    fn sitting_out(&self, chaincode: &str) -> bool {
        self.lock().get(chaincode).is_some_and(|n| *n > 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One block went by: counts down, and benches chaincodes for which
    /// more than half of `tried` speculations `conflicted`.
    fn block_done(&self, tried: &HashMap<String, (u32, u32)>) {
        let mut map = self.lock();
        map.retain(|_, n| {
            *n = n.saturating_sub(1);
            *n > 0
        });
        for (cc, (attempts, conflicts)) in tried {
            if *conflicts * 2 > *attempts {
                tracing::debug!(chaincode = %cc, conflicts, attempts, "speculation mostly conflicts; serial for a while");
                map.insert(cc.clone(), COOL_DOWN_BLOCKS);
            }
        }
    }
}

impl Executor {
    /// Speculates every invoke of `txs` that may be (see the module docs);
    /// `None` for the others. Blocks holding a deploy are run serially.
    pub(super) async fn speculate_all(&self, txs: &[Transaction]) -> Vec<Option<Speculated>> {
        let deploys = txs
            .iter()
            .any(|t| t.r#type != transaction::Type::ChaincodeInvoke as i32);
        if txs.len() < 2 || deploys {
            return txs.iter().map(|_| None).collect();
        }
        // The futures are made up front: a closure inside the stream would
        // make the block's future lose `Send` (a higher-ranked lifetime).
        let runs: Vec<_> = txs.iter().map(|tx| self.speculate(tx)).collect();
        futures::stream::iter(runs).buffered(WINDOW).collect().await
    }

    async fn speculate(&self, tx: &Transaction) -> Option<Speculated> {
        if tx.r#type != transaction::Type::ChaincodeInvoke as i32 {
            return None;
        }
        let spec = ChaincodeInvocationSpec::decode(tx.payload.as_slice()).ok()?;
        let (name, input) = super::invocation_target(&spec);
        if name.is_empty() || self.cool_down.sitting_out(&name) {
            return None;
        }
        let stream = self
            .launcher
            .registry()
            .get(&name)
            .filter(|s| s.is_ready() && s.runs_concurrently())?;
        let mut own = TxBatch::new();
        own.tx_begin(&tx.txid).ok()?;
        let mut seen = Speculated {
            chaincode: name.clone(),
            ..Speculated::default()
        };
        let lookup = |n: &str| self.deployed_package(n);
        let exec = self.execution(
            &tx.txid,
            tx.timestamp,
            self.settings.execute_timeout,
            &lookup,
        );
        let result = {
            let mut state = Recording {
                inner: InBlock {
                    store: &self.store,
                    batch: &mut own,
                },
                seen: &mut seen,
            };
            exec.run(&mut state, &name, &stream, ExecKind::Transaction, input)
                .await
        };
        let ExecResult::Completed { event, .. } = result else {
            return None;
        };
        own.tx_finished(&tx.txid, true).ok()?;
        seen.delta = own.delta().clone();
        seen.event = event;
        Some(seen)
    }

    /// Runs `txs` in order into `batch`, taking each speculated result that
    /// is still valid and executing the rest serially.
    pub(super) async fn execute_in_order(
        &self,
        batch: &mut TxBatch,
        txs: &[Transaction],
        speculated: Vec<Option<Speculated>>,
    ) -> Vec<Result<Option<ChaincodeEvent>, String>> {
        let mut tried: HashMap<String, (u32, u32)> = HashMap::new();
        let mut results = Vec::with_capacity(txs.len());
        for (tx, spec) in txs.iter().zip(speculated) {
            let valid = spec.filter(|s| {
                let conflict = s.conflicts_with(batch.delta());
                let entry = tried.entry(s.chaincode.clone()).or_default();
                entry.0 += 1;
                entry.1 += u32::from(conflict);
                !conflict
            });
            let speculated = valid.is_some();
            let result = match valid {
                Some(s) => apply(batch, &self.store, tx, s),
                None => self.execute_tx(batch, tx).await,
            };
            tracing::trace!(txid = %tx.txid, speculated, ok = result.is_ok(), "transaction executed");
            results.push(result);
        }
        self.cool_down.block_done(&tried);
        let (attempts, conflicts) = tried.values().fold((0, 0), |(a, c), (x, y)| (a + x, c + y));
        tracing::debug!(
            transactions = txs.len(),
            speculated = attempts,
            conflicts,
            "block executed"
        );
        results
    }
}

/// Replays a speculated transaction's writes as one transaction of `batch`.
fn apply(
    batch: &mut TxBatch,
    store: &crate::store::Store,
    tx: &Transaction,
    s: Speculated,
) -> Result<Option<ChaincodeEvent>, String> {
    batch.tx_begin(&tx.txid).map_err(|e| e.to_string())?;
    for (cc, updates) in s.delta.iter() {
        for (key, update) in updates {
            let written = match &update.value {
                Some(value) => batch.set(store, cc, key, value.clone()),
                None => batch.delete(store, cc, key),
            };
            if let Err(e) = written {
                let _ = batch.tx_finished(&tx.txid, false);
                return Err(e.to_string());
            }
        }
    }
    batch
        .tx_finished(&tx.txid, true)
        .map_err(|e| e.to_string())?;
    Ok(s.event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(keys: &[(&str, &str)]) -> StateDelta {
        let mut d = StateDelta::new();
        for (cc, k) in keys {
            d.set(cc, k, b"v".to_vec(), None);
        }
        d
    }

    #[test]
    fn a_read_of_a_key_written_earlier_in_the_block_conflicts() {
        let mut s = Speculated::default();
        s.keys.insert(("cc".into(), "a".into()));
        assert!(s.conflicts_with(&written(&[("cc", "a")])));
        assert!(!s.conflicts_with(&written(&[("cc", "b")])));
        assert!(
            !s.conflicts_with(&written(&[("other", "a")])),
            "keys are per chaincode"
        );
    }

    #[test]
    fn a_range_read_conflicts_with_any_write_inside_it() {
        let mut s = Speculated::default();
        s.ranges.push(("cc".into(), "b".into(), "d".into()));
        assert!(s.conflicts_with(&written(&[("cc", "c")])));
        assert!(
            s.conflicts_with(&written(&[("cc", "d")])),
            "end is inclusive"
        );
        assert!(!s.conflicts_with(&written(&[("cc", "e")])));
        s.ranges[0].2 = String::new();
        assert!(
            s.conflicts_with(&written(&[("cc", "zzz")])),
            "empty end is unbounded"
        );
    }

    #[test]
    fn a_chaincode_whose_speculations_mostly_conflict_sits_out() {
        let cool = CoolDown::default();
        let tried = HashMap::from([("hot".to_string(), (10, 6)), ("cold".to_string(), (10, 1))]);
        cool.block_done(&tried);
        assert!(cool.sitting_out("hot"));
        assert!(!cool.sitting_out("cold"));
        for _ in 0..COOL_DOWN_BLOCKS {
            cool.block_done(&HashMap::new());
        }
        assert!(!cool.sitting_out("hot"), "it is tried again later");
    }
}
