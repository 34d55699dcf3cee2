//! `chaincode_example02`: two entities with integer asset holdings and a
//! transfer between them (v0.6 `examples/chaincode/go/chaincode_example02`).

use crate::goconv::{atoi, atoi_lenient, itoa};
use fabrik_shim::{Chaincode, Stub};

/// The asset-transfer chaincode.
#[derive(Debug, Default, Clone, Copy)]
pub struct Example02;

fn int_arg(s: &str) -> Result<i64, String> {
    atoi(s).map_err(|_| "Expecting integer value for asset holding".to_owned())
}

/// The holding of `name`; "Entity not found" if it has none.
fn holding(stub: &Stub, name: &str) -> Result<i64, String> {
    let bytes = stub
        .get_state(name)
        .map_err(|_| "Failed to get state".to_owned())?;
    let bytes = bytes.ok_or_else(|| "Entity not found".to_owned())?;
    Ok(atoi_lenient(&String::from_utf8_lossy(&bytes)))
}

impl Example02 {
    fn delete(stub: &Stub, args: &[String]) -> Result<Vec<u8>, String> {
        let [name] = args else {
            return Err("Incorrect number of arguments. Expecting 1".to_owned());
        };
        stub.del_state(name)
            .map_err(|_| "Failed to delete state".to_owned())?;
        Ok(Vec::new())
    }

    fn transfer(stub: &Stub, args: &[String]) -> Result<Vec<u8>, String> {
        let [a, b, x] = args else {
            return Err("Incorrect number of arguments. Expecting 3".to_owned());
        };
        let a_val = holding(stub, a)?;
        let b_val = holding(stub, b)?;
        let x = atoi(x)
            .map_err(|_| "Invalid transaction amount, expecting a integer value".to_owned())?;
        stub.put_state(a, &itoa(a_val.wrapping_sub(x)))?;
        stub.put_state(b, &itoa(b_val.wrapping_add(x)))?;
        Ok(Vec::new())
    }
}

impl Chaincode for Example02 {
    /// `init A Aval B Bval` (the function name is ignored).
    fn init(&self, stub: &mut Stub, _function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let [a, a_val, b, b_val] = args else {
            return Err("Incorrect number of arguments. Expecting 4".to_owned());
        };
        let a_val = int_arg(a_val)?;
        let b_val = int_arg(b_val)?;
        stub.put_state(a, &itoa(a_val))?;
        stub.put_state(b, &itoa(b_val))?;
        Ok(Vec::new())
    }

    /// `delete A`, or any other function name: transfer `A B X`.
    fn invoke(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        if function == "delete" {
            return Self::delete(stub, args);
        }
        Self::transfer(stub, args)
    }

    /// `query A`: the raw stored value.
    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        if function != "query" {
            return Err("Invalid query function name. Expecting \"query\"".to_owned());
        }
        let [a] = args else {
            return Err(
                "Incorrect number of arguments. Expecting name of the person to query".to_owned(),
            );
        };
        match stub.get_state(a) {
            Err(_) => Err(format!("{{\"Error\":\"Failed to get state for {a}\"}}")),
            Ok(None) => Err(format!("{{\"Error\":\"Nil amount for {a}\"}}")),
            Ok(Some(value)) => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_shim::{MockBackend, mock_stub};
    use std::sync::Arc;

    type Entry = fn(&Example02, &mut Stub, &str, &[String]) -> Result<Vec<u8>, String>;

    fn call(f: Entry, ledger: &Arc<MockBackend>, args: &[&str]) -> Result<String, String> {
        let mut stub = mock_stub(ledger, "tx", args);
        let params: Vec<String> = args.iter().skip(1).map(|s| (*s).to_owned()).collect();
        let function = args.first().copied().unwrap_or("");
        f(&Example02, &mut stub, function, &params)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn canonical_run() {
        let l = Arc::new(MockBackend::new());
        assert_eq!(
            call(Example02::init, &l, &["init", "a", "100", "b", "200"]),
            Ok(String::new())
        );
        assert_eq!(
            call(Example02::query, &l, &["query", "a"]),
            Ok("100".into())
        );
        assert_eq!(
            call(Example02::invoke, &l, &["invoke", "a", "b", "10"]),
            Ok(String::new())
        );
        assert_eq!(call(Example02::query, &l, &["query", "a"]), Ok("90".into()));
        assert_eq!(
            call(Example02::query, &l, &["query", "b"]),
            Ok("210".into())
        );
        // No overdraft check.
        assert_eq!(
            call(Example02::invoke, &l, &["transfer", "a", "b", "100"]),
            Ok(String::new())
        );
        assert_eq!(
            call(Example02::query, &l, &["query", "a"]),
            Ok("-10".into())
        );
    }

    #[test]
    fn init_errors() {
        let l = Arc::new(MockBackend::new());
        let e = call(Example02::init, &l, &["init", "a", "100", "b"]);
        assert_eq!(e, Err("Incorrect number of arguments. Expecting 4".into()));
        let e = call(Example02::init, &l, &["init", "a", "x", "b", "1"]);
        assert_eq!(e, Err("Expecting integer value for asset holding".into()));
        let e = call(Example02::init, &l, &["init", "a", "1", "b", "1.5"]);
        assert_eq!(e, Err("Expecting integer value for asset holding".into()));
        assert!(l.snapshot().is_empty());
    }

    #[test]
    fn invoke_errors_and_delete() {
        let l = Arc::new(MockBackend::new());
        assert!(call(Example02::init, &l, &["init", "a", "1", "b", "2"]).is_ok());
        let e = call(Example02::invoke, &l, &["invoke", "a", "b"]);
        assert_eq!(e, Err("Incorrect number of arguments. Expecting 3".into()));
        let e = call(Example02::invoke, &l, &["invoke", "a", "zz", "1"]);
        assert_eq!(e, Err("Entity not found".into()));
        let e = call(Example02::invoke, &l, &["invoke", "a", "b", "ten"]);
        assert_eq!(
            e,
            Err("Invalid transaction amount, expecting a integer value".into())
        );
        let e = call(Example02::invoke, &l, &["delete"]);
        assert_eq!(e, Err("Incorrect number of arguments. Expecting 1".into()));
        assert_eq!(
            call(Example02::invoke, &l, &["delete", "a"]),
            Ok(String::new())
        );
        let e = call(Example02::query, &l, &["query", "a"]);
        assert_eq!(e, Err(r#"{"Error":"Nil amount for a"}"#.into()));
    }

    #[test]
    fn query_errors() {
        let l = Arc::new(MockBackend::new());
        let e = call(Example02::query, &l, &["get", "a"]);
        assert_eq!(
            e,
            Err("Invalid query function name. Expecting \"query\"".into())
        );
        let e = call(Example02::query, &l, &["query"]);
        assert_eq!(
            e,
            Err("Incorrect number of arguments. Expecting name of the person to query".into())
        );
    }
}
