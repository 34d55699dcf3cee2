//! Where a running chaincode's state requests are served from: the open
//! transaction of the block being executed, or committed state for a query.

use crate::store::Store;
use fabrik_core::ledger::Ledger;
use fabrik_core::ledger::batch::TxBatch;

/// One page of a range query (key/values in key order) and whether more follow.
pub type RangePage = (Vec<(String, Vec<u8>)>, bool);

/// Reads and writes of one execution, scoped by chaincode name.
pub trait StateAccess: Send {
    /// The value of `key`; `committed` forces committed state (queries).
    ///
    /// # Errors
    /// A ledger error as text.
    fn get(
        &mut self,
        chaincode: &str,
        key: &str,
        committed: bool,
    ) -> Result<Option<Vec<u8>>, String>;

    /// Writes `key` in the open transaction.
    ///
    /// # Errors
    /// Refused outside a transaction, or a ledger error.
    fn set(&mut self, chaincode: &str, key: &str, value: Vec<u8>) -> Result<(), String>;

    /// Deletes `key` in the open transaction.
    ///
    /// # Errors
    /// Refused outside a transaction, or a ledger error.
    fn delete(&mut self, chaincode: &str, key: &str) -> Result<(), String>;

    /// One page of a range query and whether more follow.
    ///
    /// # Errors
    /// A ledger error as text.
    fn range(
        &mut self,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
        committed: bool,
    ) -> Result<RangePage, String>;
}

/// Committed state only: queries, and READY outside a block.
pub struct Committed<'a> {
    /// The store.
    pub store: &'a Store,
}

fn committed_range(
    store: &Store,
    chaincode: &str,
    start: &str,
    end: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<RangePage, String> {
    let rows = Ledger::new(store)
        .range_state(chaincode, start, end, after, limit.saturating_add(1))
        .map_err(|e| e.to_string())?;
    Ok(into_page(rows, limit))
}

/// `rows` read with `limit + 1` as one page of `limit` and whether more follow.
fn into_page(mut rows: Vec<(String, Vec<u8>)>, limit: usize) -> RangePage {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

impl StateAccess for Committed<'_> {
    fn get(&mut self, chaincode: &str, key: &str, _: bool) -> Result<Option<Vec<u8>>, String> {
        Ledger::new(self.store)
            .state(chaincode, key)
            .map_err(|e| e.to_string())
    }

    fn set(&mut self, _: &str, _: &str, _: Vec<u8>) -> Result<(), String> {
        Err("Cannot put state in query context".into())
    }

    fn delete(&mut self, _: &str, _: &str) -> Result<(), String> {
        Err("Cannot delete state in query context".into())
    }

    fn range(
        &mut self,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
        _: bool,
    ) -> Result<RangePage, String> {
        committed_range(self.store, chaincode, start, end, after, limit)
    }
}

/// The open transaction of the block being executed.
pub struct InBlock<'a> {
    /// The store (committed state under the batch).
    pub store: &'a Store,
    /// The batch context.
    pub batch: &'a mut TxBatch,
}

impl StateAccess for InBlock<'_> {
    fn get(
        &mut self,
        chaincode: &str,
        key: &str,
        committed: bool,
    ) -> Result<Option<Vec<u8>>, String> {
        if committed {
            return Committed { store: self.store }.get(chaincode, key, true);
        }
        self.batch
            .get(self.store, chaincode, key)
            .map_err(|e| e.to_string())
    }

    fn set(&mut self, chaincode: &str, key: &str, value: Vec<u8>) -> Result<(), String> {
        self.batch
            .set(self.store, chaincode, key, value)
            .map_err(|e| e.to_string())
    }

    fn delete(&mut self, chaincode: &str, key: &str) -> Result<(), String> {
        self.batch
            .delete(self.store, chaincode, key)
            .map_err(|e| e.to_string())
    }

    fn range(
        &mut self,
        chaincode: &str,
        start: &str,
        end: &str,
        after: Option<&str>,
        limit: usize,
        committed: bool,
    ) -> Result<RangePage, String> {
        if committed {
            return committed_range(self.store, chaincode, start, end, after, limit);
        }
        let rows = self
            .batch
            .range(
                self.store,
                chaincode,
                start,
                end,
                after,
                limit.saturating_add(1),
            )
            .map_err(|e| e.to_string())?;
        Ok(into_page(rows, limit))
    }
}
