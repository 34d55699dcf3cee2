//! A fault hook, for tests only: `FABRIK_STATE_TRANSFER_DELAY_MS=N` makes
//! every state transfer wait N milliseconds after it starts (the state is
//! already marked invalid) before its first request goes out, so an
//! end-to-end test can watch a peer while it catches up: its queries answer
//! "state may be inconsistent, cannot query" for at least that long. A
//! transfer on a quiet test box otherwise ends in milliseconds.
//!
//! Gate: as [`crate::crashpoint`], compiled only into builds with debug
//! assertions; a release build ignores the variable and logs an error
//! saying so. A debug build that honours it warns at each transfer.

use std::time::Duration;

/// The environment variable that slows state transfer.
pub const ENV: &str = "FABRIK_STATE_TRANSFER_DELAY_MS";

/// The delay before a state transfer starts, if [`ENV`] asks for one.
#[cfg(debug_assertions)]
pub fn before_transfer() -> Option<Duration> {
    static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        let text = std::env::var(ENV).ok()?;
        match text.trim().parse::<u64>() {
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(e) => {
                tracing::error!("{ENV}={text:?} is not a number of milliseconds ({e}); ignored");
                None
            }
        }
    })
}

/// Release builds have no fault hooks.
#[cfg(not(debug_assertions))]
pub fn before_transfer() -> Option<Duration> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if std::env::var_os(ENV).is_some() {
        WARNED.call_once(|| {
            tracing::error!("{ENV} is set but this hook exists only in debug builds; ignored");
        });
    }
    None
}
