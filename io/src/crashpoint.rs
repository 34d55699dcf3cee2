//! Crash points, for tests only: the process aborts at a chosen durable
//! write, as a machine losing power or a `kill -9` at that instant would
//! stop it (the page cache survives an abort, so this is a *process* crash,
//! not a torn sector; the store-truncation tests cover damaged files).
//!
//! Every durable write of a peer goes through [`crate::store::Store::apply`]
//! (block commits with their state and indexes, PBFT `consensus.*` state,
//! the state-transfer marker, the discovery list), which numbers them from 1
//! in the order they start in this process and calls [`before`] and
//! [`after`] around the fsynced commit. [`ENV`] is read once, when the first
//! store is opened:
//!
//! - `FABRIK_CRASH_AT_WRITE=count`: only print every write to stderr,
//!   `crash point: durable write #N: <what>`;
//! - `FABRIK_CRASH_AT_WRITE=before:N` (or just `N`): print as `count` does,
//!   then `std::process::abort()` just before write N reaches the store
//!   (nothing of it is on disk);
//! - `FABRIK_CRASH_AT_WRITE=after:N`: abort just after write N is fsynced,
//!   before anyone (consensus, a client, the event hub) learns of it.
//!
//! Gate: the hook is compiled only into builds with debug assertions (the
//! `dev` and `test` profiles the tests use). A release build ignores the
//! variable and logs an error saying so; a debug build that honours it
//! prints a warning at start that it will crash on purpose.

/// The environment variable that arms a crash point.
pub const ENV: &str = "FABRIK_CRASH_AT_WRITE";

/// When to crash, as parsed from [`ENV`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Print every write, never crash.
    Count,
    /// Abort before durable write N (1-based).
    Before(u64),
    /// Abort after durable write N (1-based) is on disk.
    After(u64),
}

impl Plan {
    /// Parses `count`, `N`, `before:N` or `after:N` (N ≥ 1).
    ///
    /// # Errors
    /// Any other text, with what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let number = |n: &str| match n.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "{ENV}={text:?}: expected count, N, before:N or after:N with N >= 1"
            )),
        };
        if text.eq_ignore_ascii_case("count") {
            Ok(Self::Count)
        } else if let Some(n) = text.strip_prefix("before:") {
            number(n).map(Self::Before)
        } else if let Some(n) = text.strip_prefix("after:") {
            number(n).map(Self::After)
        } else {
            number(text).map(Self::Before)
        }
    }
}

#[cfg(debug_assertions)]
mod imp {
    use super::{ENV, Plan};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
    static WRITES: AtomicU64 = AtomicU64::new(0);

    pub fn init() {
        PLAN.get_or_init(|| {
            let text = std::env::var(ENV).ok()?;
            match Plan::parse(&text) {
                Ok(plan) => {
                    let msg = format!(
                        "{ENV}={text}: TEST CRASH POINTS ARMED ({plan:?}); this peerd will \
                         abort on purpose at that durable write. Never set this in production."
                    );
                    eprintln!("crash point: {msg}");
                    tracing::warn!("{msg}");
                    Some(plan)
                }
                Err(e) => {
                    eprintln!("crash point: {e}; ignored");
                    tracing::error!("{e}; ignored");
                    None
                }
            }
        });
    }

    fn plan() -> Option<Plan> {
        PLAN.get().copied().flatten()
    }

    pub fn before(what: impl FnOnce() -> String) -> u64 {
        let Some(plan) = plan() else {
            return 0;
        };
        let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
        eprintln!("crash point: durable write #{n}: {}", what());
        if plan == Plan::Before(n) {
            eprintln!("crash point: aborting before durable write #{n}");
            std::process::abort();
        }
        n
    }

    pub fn after(n: u64) {
        if n != 0 && plan() == Some(Plan::After(n)) {
            eprintln!("crash point: aborting after durable write #{n}");
            std::process::abort();
        }
    }
}

#[cfg(not(debug_assertions))]
mod imp {
    use super::ENV;

    pub fn init() {
        static WARNED: std::sync::Once = std::sync::Once::new();
        if std::env::var_os(ENV).is_some() {
            WARNED.call_once(|| {
                tracing::error!(
                    "{ENV} is set but crash points exist only in debug builds; ignored"
                );
            });
        }
    }

    pub fn before(_what: impl FnOnce() -> String) -> u64 {
        0
    }

    pub fn after(_n: u64) {}
}

/// Reads [`ENV`] (first call only) and announces an armed crash point.
pub fn init() {
    imp::init();
}

/// Called before a durable write starts; `what` describes it for the log.
/// Aborts if this is the armed `before:N` write. Returns the write's number
/// (0 when no crash point is armed).
pub fn before(what: impl FnOnce() -> String) -> u64 {
    imp::before(what)
}

/// Called once write `n` (from [`before`]) is durable; aborts if this is
/// the armed `after:N` write.
pub fn after(n: u64) {
    imp::after(n);
}

#[cfg(test)]
mod tests {
    use super::Plan;

    #[test]
    fn plans_parse() {
        assert_eq!(Plan::parse("count"), Ok(Plan::Count));
        assert_eq!(Plan::parse("7"), Ok(Plan::Before(7)));
        assert_eq!(Plan::parse("before:3"), Ok(Plan::Before(3)));
        assert_eq!(Plan::parse("after:12"), Ok(Plan::After(12)));
        assert!(Plan::parse("0").is_err());
        assert!(Plan::parse("after:x").is_err());
        assert!(Plan::parse("sometimes").is_err());
    }
}
