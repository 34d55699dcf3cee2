//! The JSON form of a chaincode's constructor/invocation arguments
//! (`ChaincodeInput`), shared by the CLI's `-c/--ctor` flag and REST's
//! `ctorMsg`. Owns the v0.6 key rules and their exact error texts.
//!
//! v0.6 reads `{"Function": string, "Args": [string...]}` with key case
//! ignored; a non-empty `Function` is put in front of `Args`; strings become
//! raw bytes (never base64-decoded). The CLI is stricter than REST about
//! which keys may appear (see [`parse_cli_ctor`]).

use fabrik_proto::protos::ChaincodeInput;
use serde_json::{Map, Value};

/// Why the arguments JSON was refused. The texts are v0.6's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtorError {
    /// `-c '{}'` (the flag's default): nothing to call.
    #[error(
        "Empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'"
    )]
    Empty,
    /// Keys other than `Args`, or `Function` + `Args`.
    #[error(
        "Non-empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'"
    )]
    BadKeys,
    /// Not JSON, not an object, or a value of the wrong type.
    #[error("Chaincode argument error: {0}")]
    Invalid(String),
}

/// Parses the CLI's `-c/--ctor` JSON, as v0.6's `peer chaincode` did.
///
/// The object must hold exactly `Args`, or exactly `Function` and `Args`
/// (key case ignored). `{}` is [`CtorError::Empty`]; any other key set is
/// [`CtorError::BadKeys`]; bad JSON or a non-string argument is
/// [`CtorError::Invalid`].
///
/// # Errors
/// See above; the messages are v0.6's, word for word.
pub fn parse_cli_ctor(json: &str) -> Result<ChaincodeInput, CtorError> {
    let value: Value = serde_json::from_str(json).map_err(|e| CtorError::Invalid(e.to_string()))?;
    let Value::Object(object) = &value else {
        return Err(CtorError::Invalid(format!(
            "expected a JSON object such as {{\"Args\":[\"init\"]}}, found {}",
            kind(&value)
        )));
    };
    if object.is_empty() {
        return Err(CtorError::Empty);
    }
    let has = |name: &str| object.keys().any(|k| k.eq_ignore_ascii_case(name));
    let (args, function) = (has("args"), has("function"));
    if !args || (object.len() == 2 && !function) || object.len() > 2 {
        return Err(CtorError::BadKeys);
    }
    input_from_object(object)
}

/// Parses REST's `ctorMsg` the lenient v0.6 way (Go `encoding/json` with a
/// custom unmarshaller): key case ignored, `Function` and `Args` both
/// optional, other keys ignored, `null` is no arguments.
///
/// # Errors
/// [`CtorError::Invalid`] when the value is not an object or `Function` /
/// `Args` has the wrong type.
pub fn parse_ctor_msg(value: &Value) -> Result<ChaincodeInput, CtorError> {
    match value {
        Value::Null => Ok(ChaincodeInput::default()),
        Value::Object(object) => input_from_object(object),
        other => Err(CtorError::Invalid(format!(
            "ctorMsg must be a JSON object, found {}",
            kind(other)
        ))),
    }
}

/// `[Function] + Args` as raw bytes.
fn input_from_object(object: &Map<String, Value>) -> Result<ChaincodeInput, CtorError> {
    let function = match field(object, "Function") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(CtorError::Invalid(format!(
                "Function must be a string, found {}",
                kind(other)
            )));
        }
    };
    let mut args = Vec::new();
    if !function.is_empty() {
        args.push(function.into_bytes());
    }
    match field(object, "Args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::String(s) = item else {
                    return Err(CtorError::Invalid(format!(
                        "Args[{i}] must be a string, found {}",
                        kind(item)
                    )));
                };
                args.push(s.clone().into_bytes());
            }
        }
        Some(other) => {
            return Err(CtorError::Invalid(format!(
                "Args must be an array of strings, found {}",
                kind(other)
            )));
        }
    }
    Ok(ChaincodeInput { args })
}

/// The value under `name`, preferring the exact spelling, else any case.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(input: &ChaincodeInput) -> Vec<&str> {
        input
            .args
            .iter()
            .map(|a| std::str::from_utf8(a).expect("utf8"))
            .collect()
    }

    #[test]
    fn args_only() {
        let input = parse_cli_ctor(r#"{"Args":["init","a","100","b","200"]}"#).expect("valid");
        assert_eq!(args(&input), ["init", "a", "100", "b", "200"]);
    }

    #[test]
    fn function_is_prepended_and_equals_args_form() {
        let a =
            parse_cli_ctor(r#"{"Function":"init","Args":["a","100","b","200"]}"#).expect("valid");
        let b = parse_cli_ctor(r#"{"Args":["init","a","100","b","200"]}"#).expect("valid");
        assert_eq!(a, b);
    }

    #[test]
    fn keys_are_case_insensitive() {
        let input =
            parse_cli_ctor(r#"{"function":"invoke","ARGS":["a","b","10"]}"#).expect("valid");
        assert_eq!(args(&input), ["invoke", "a", "b", "10"]);
    }

    #[test]
    fn empty_function_adds_nothing() {
        let input = parse_cli_ctor(r#"{"Function":"","Args":["query","a"]}"#).expect("valid");
        assert_eq!(args(&input), ["query", "a"]);
    }

    #[test]
    fn strings_are_raw_bytes_not_base64() {
        let input = parse_cli_ctor(r#"{"Args":["aGVsbG8=","é"]}"#).expect("valid");
        assert_eq!(
            input.args,
            vec![b"aGVsbG8=".to_vec(), "é".as_bytes().to_vec()]
        );
    }

    #[test]
    fn empty_object_has_the_v06_text() {
        for json in ["{}", "{ }"] {
            assert_eq!(
                parse_cli_ctor(json).expect_err(json).to_string(),
                "Empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'"
            );
        }
    }

    #[test]
    fn other_key_sets_have_the_v06_text() {
        for json in [
            r#"{"Function":"init"}"#,
            r#"{"Argz":["a"]}"#,
            r#"{"Args":["a"],"Other":1}"#,
            r#"{"Args":["a"],"args":["b"]}"#,
            r#"{"Function":"f","Args":[],"x":1}"#,
        ] {
            assert_eq!(parse_cli_ctor(json), Err(CtorError::BadKeys), "{json}");
        }
        assert_eq!(
            CtorError::BadKeys.to_string(),
            "Non-empty JSON chaincode parameters must contain the following keys: 'Args' or 'Function' and 'Args'"
        );
    }

    #[test]
    fn bad_json_and_types_are_argument_errors() {
        for json in [
            "{",
            "[\"a\"]",
            "42",
            r#"{"Args":"a"}"#,
            r#"{"Args":[1]}"#,
            r#"{"Function":3,"Args":[]}"#,
        ] {
            let err = parse_cli_ctor(json).expect_err(json).to_string();
            assert!(
                err.starts_with("Chaincode argument error: "),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn rest_ctor_msg_is_lenient() {
        assert_eq!(
            args(&parse_ctor_msg(&json!({"function":"init","args":["a","1"]})).expect("valid")),
            ["init", "a", "1"]
        );
        assert_eq!(
            args(&parse_ctor_msg(&json!({"Args":["query","a"]})).expect("valid")),
            ["query", "a"]
        );
        assert_eq!(
            args(&parse_ctor_msg(&json!({"Function":"init"})).expect("valid")),
            ["init"]
        );
        assert!(parse_ctor_msg(&json!({})).expect("valid").args.is_empty());
        assert!(parse_ctor_msg(&Value::Null).expect("valid").args.is_empty());
        assert_eq!(
            args(&parse_ctor_msg(&json!({"Args":["a"],"extra":true})).expect("valid")),
            ["a"]
        );
        assert!(parse_ctor_msg(&json!({"Args":[1]})).is_err());
        assert!(parse_ctor_msg(&json!("init")).is_err());
    }
}
