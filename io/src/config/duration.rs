//! Duration values in the configuration, written the v0.6 (viper) way:
//! `"1s"`, `"500ms"`, `"1m30s"`, or a bare number of seconds. Owns the
//! parser and the serde adapters for fields stored as whole milliseconds or
//! whole seconds.

use serde::de::{self, Visitor};
use std::fmt;

/// Parses `"1s"`, `"250ms"`, `"1m30s"`, `"1.5s"` or a bare `"2"` (seconds)
/// into milliseconds.
///
/// # Errors
/// A message saying what was expected, for the caller to attach to a key.
pub fn parse_millis(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return secs.checked_mul(1000).ok_or_else(|| too_long(text));
    }
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return Err(expected(text));
    }
    while !rest.is_empty() {
        let (ms, tail) = parse_segment(rest).ok_or_else(|| expected(text))?;
        total += ms;
        rest = tail;
    }
    if total > u64::MAX as f64 / 2.0 {
        return Err(too_long(text));
    }
    Ok(total.round() as u64)
}

/// One `<number><unit>` segment, in milliseconds, and what follows it.
fn parse_segment(text: &str) -> Option<(f64, &str)> {
    let num_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let number: f64 = text.get(..num_end)?.parse().ok()?;
    let after = text.get(num_end..)?;
    let unit_end = after
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(after.len());
    let factor = match after.get(..unit_end)? {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some((number * factor, after.get(unit_end..)?))
}

fn expected(text: &str) -> String {
    format!(
        "expected a duration such as \"1s\", \"500ms\", \"1m30s\" or a number of seconds, found \"{text}\""
    )
}

fn too_long(text: &str) -> String {
    format!("duration \"{text}\" is too long")
}

/// Renders milliseconds the way `parse_millis` reads them back.
#[must_use]
pub fn format_millis(ms: u64) -> String {
    match (ms / 1000, ms % 1000) {
        (secs, 0) => format!("{secs}s"),
        _ => format!("{ms}ms"),
    }
}

/// Reads a duration (string or integer seconds) as milliseconds.
struct MillisVisitor;

impl Visitor<'_> for MillisVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"1s\" or \"500ms\", or a whole number of seconds")
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<u64, E> {
        secs.checked_mul(1000)
            .ok_or_else(|| E::custom(too_long(&secs.to_string())))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<u64, E> {
        let secs = u64::try_from(secs)
            .map_err(|_| E::custom(format!("a duration cannot be negative, found {secs}")))?;
        self.visit_u64(secs)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        parse_millis(text).map_err(E::custom)
    }
}

/// Serde adapter for a field held in milliseconds.
pub mod millis {
    use super::{MillisVisitor, format_millis};
    use serde::{Deserializer, Serializer};

    /// Writes `"1s"` / `"250ms"`.
    ///
    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_millis(*ms))
    }

    /// Reads a duration string or a number of seconds.
    ///
    /// # Errors
    /// When the value is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(MillisVisitor)
    }
}

/// Serde adapter for a field held in whole seconds.
pub mod secs {
    use super::MillisVisitor;
    use serde::{Deserializer, Serializer};

    /// Writes `"5s"`.
    ///
    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<S: Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{secs}s"))
    }

    /// Reads a duration string or a number of seconds; rounds up to whole seconds.
    ///
    /// # Errors
    /// When the value is not a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(d.deserialize_any(MillisVisitor)?.div_ceil(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v06_durations() {
        assert_eq!(parse_millis("1s"), Ok(1000));
        assert_eq!(parse_millis("500ms"), Ok(500));
        assert_eq!(parse_millis("1m30s"), Ok(90_000));
        assert_eq!(parse_millis("1.5s"), Ok(1500));
        assert_eq!(parse_millis("2"), Ok(2000));
        assert_eq!(parse_millis(" 3s "), Ok(3000));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        for bad in ["", "s", "1x", "abc", "1s2", "-1s"] {
            let err = parse_millis(bad).expect_err(bad);
            assert!(err.contains("expected a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1, 250, 1000, 1500, 60_000] {
            assert_eq!(parse_millis(&format_millis(ms)), Ok(ms));
        }
    }
}
