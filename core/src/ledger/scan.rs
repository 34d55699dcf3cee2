//! Paged scans over a [`KvRead`] range, so that whole-partition walks (state
//! hash from scratch, snapshots, wipes) never ask the store for everything at
//! once.

use super::error::LedgerError;
use super::kv::{KvRead, Partition};

/// Entries fetched per store call in full scans.
pub(crate) const SCAN_PAGE: usize = 1024;

/// The smallest key greater than `key`.
pub(crate) fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Calls `f` on every entry with `start <= key < end` (empty `end`: no upper
/// bound) in ascending order, fetching `page` entries at a time.
pub(crate) fn for_each<S, F>(
    store: &S,
    partition: Partition,
    start: &[u8],
    end: &[u8],
    page: usize,
    mut f: F,
) -> Result<(), LedgerError>
where
    S: KvRead + ?Sized,
    F: FnMut(Vec<u8>, Vec<u8>) -> Result<(), LedgerError>,
{
    let page = page.max(1);
    let mut lower = start.to_vec();
    loop {
        let entries = store.range(partition, &lower, end, page)?;
        let full = entries.len() >= page;
        let next = entries.last().map(|(k, _)| successor(k));
        for (k, v) in entries {
            f(k, v)?;
        }
        match next {
            Some(next) if full => lower = next,
            _ => return Ok(()),
        }
    }
}
