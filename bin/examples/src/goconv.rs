//! Go conversions the v0.6 examples rely on: `strconv.Atoi` (with its
//! error texts), `strconv.Itoa` and `encoding/json`'s HTML escaping.

/// Go `strconv.Atoi` on a 64-bit platform: an optional sign and decimal
/// digits; the error texts are Go's.
pub(crate) fn atoi(s: &str) -> Result<i64, String> {
    use std::num::IntErrorKind;
    s.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
            format!("strconv.Atoi: parsing {s:?}: value out of range")
        }
        _ => format!("strconv.Atoi: parsing {s:?}: invalid syntax"),
    })
}

/// `Aval, _ = strconv.Atoi(...)`: Go yields 0 on a syntax error and the
/// clamped value on overflow.
pub(crate) fn atoi_lenient(s: &str) -> i64 {
    use std::num::IntErrorKind;
    match s.parse::<i64>() {
        Ok(v) => v,
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => i64::MAX,
        Err(e) if *e.kind() == IntErrorKind::NegOverflow => i64::MIN,
        Err(_) => 0,
    }
}

/// Go `strconv.Itoa` as bytes.
pub(crate) fn itoa(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Go `json.Marshal` of a `[]string`: `null` for no elements, and `<`, `>`,
/// `&`, U+2028, U+2029 escaped as Go does.
pub(crate) fn json_strings(items: &[String]) -> Result<Vec<u8>, String> {
    if items.is_empty() {
        return Ok(b"null".to_vec());
    }
    let json = serde_json::to_string(items).map_err(|e| e.to_string())?;
    let escaped = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    Ok(escaped.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_matches_go() {
        assert_eq!(atoi("+42"), Ok(42));
        assert_eq!(atoi("-7"), Ok(-7));
        assert_eq!(
            atoi("x1").unwrap_err(),
            "strconv.Atoi: parsing \"x1\": invalid syntax"
        );
        assert_eq!(
            atoi("").unwrap_err(),
            "strconv.Atoi: parsing \"\": invalid syntax"
        );
        assert_eq!(
            atoi("99999999999999999999").unwrap_err(),
            "strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(atoi_lenient("abc"), 0);
        assert_eq!(atoi_lenient("-99999999999999999999"), i64::MIN);
    }

    #[test]
    fn json_matches_go() {
        assert_eq!(json_strings(&[]).unwrap(), b"null");
        let keys = vec!["a<b>&c".to_owned(), "k\"2".to_owned()];
        assert_eq!(
            json_strings(&keys).unwrap(),
            br#"["a\u003cb\u003e\u0026c","k\"2"]"#
        );
    }
}
