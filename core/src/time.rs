//! Injected time: a monotonic [`Instant`] the caller supplies, and a table of
//! named timers whose minimum deadline is what a machine reports from
//! `poll_timeout`.

use std::collections::BTreeMap;
use std::ops::{Add, Sub};
pub use std::time::Duration;

/// Monotonic time in nanoseconds since an arbitrary epoch chosen by the
/// driver (or the simulator). The core never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant(0);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let nanos = u64::try_from(rhs.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// Deadlines keyed by a machine's own timer kind `T` (a fieldless enum, or a
/// small key such as a txid). Setting a timer replaces its deadline.
#[derive(Debug, Clone)]
pub struct TimerTable<T: Ord + Clone> {
    deadlines: BTreeMap<T, Instant>,
}

impl<T: Ord + Clone> Default for TimerTable<T> {
    fn default() -> Self {
        Self {
            deadlines: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Clone> TimerTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms (or re-arms) `timer` to fire at `at`.
    pub fn set(&mut self, timer: T, at: Instant) {
        self.deadlines.insert(timer, at);
    }

    /// Arms `timer` only if it is not already armed ("soft start").
    pub fn set_if_unset(&mut self, timer: T, at: Instant) {
        self.deadlines.entry(timer).or_insert(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: &T) {
        self.deadlines.remove(timer);
    }

    /// Whether `timer` is armed.
    pub fn is_set(&self, timer: &T) -> bool {
        self.deadlines.contains_key(timer)
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: &T) -> Option<Instant> {
        self.deadlines.get(timer).copied()
    }

    /// The earliest deadline of all armed timers.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Disarms and returns every timer whose deadline is at or before `now`,
    /// earliest first.
    pub fn expire(&mut self, now: Instant) -> Vec<T> {
        let mut due: Vec<(Instant, T)> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, at)| (*at, t.clone()))
            .collect();
        due.sort_by_key(|d| d.0);
        for (_, t) in &due {
            self.deadlines.remove(t);
        }
        due.into_iter().map(|(_, t)| t).collect()
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_expires_in_deadline_order_and_reports_the_minimum() {
        let mut t = TimerTable::new();
        t.set("b", Instant::from_nanos(20));
        t.set("a", Instant::from_nanos(10));
        t.set_if_unset("a", Instant::from_nanos(5));
        assert_eq!(t.next_deadline(), Some(Instant::from_nanos(10)));
        assert!(t.expire(Instant::from_nanos(9)).is_empty());
        assert_eq!(t.expire(Instant::from_nanos(25)), vec!["a", "b"]);
        assert!(t.is_empty());
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let a = Instant::from_nanos(5);
        assert_eq!(a - Instant::from_nanos(10), Duration::ZERO);
        assert_eq!((a + Duration::from_nanos(7)).as_nanos(), 12);
    }
}
