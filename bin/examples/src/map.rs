//! `map`: a key/value map with `put`, `remove`, `get` and `keys` (v0.6
//! `examples/chaincode/go/map`).

use crate::goconv::json_strings;
use fabrik_shim::{Chaincode, Stub};

/// The map chaincode.
#[derive(Debug, Default, Clone, Copy)]
pub struct MapChaincode;

/// `keys`: every key of this chaincode via RangeQueryState("", ""), as a
/// JSON array (`null` when empty, as Go marshals a nil slice).
fn keys(stub: &Stub) -> Result<Vec<u8>, String> {
    let failed = |e: String| format!("keys operation failed. Error accessing state: {e}");
    let iter = stub.range_query_state("", "").map_err(failed)?;
    let mut keys = Vec::new();
    for entry in iter {
        let (key, _) = entry.map_err(failed)?;
        keys.push(key);
    }
    json_strings(&keys).map_err(|e| format!("keys operation failed. Error marshaling JSON: {e}"))
}

impl Chaincode for MapChaincode {
    /// Does nothing.
    fn init(&self, _stub: &mut Stub, _function: &str, _args: &[String]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    /// `put k v` or `remove k`.
    fn invoke(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match (function, args) {
            ("put", [key, value, ..]) => stub
                .put_state(key, value.as_bytes())
                .map_err(|e| format!("put operation failed. Error updating state: {e}"))?,
            ("put", _) => {
                return Err("put operation must include two arguments, a key and value".to_owned());
            }
            ("remove", [key, ..]) => stub
                .del_state(key)
                .map_err(|e| format!("remove operation failed. Error updating state: {e}"))?,
            ("remove", _) => {
                return Err("remove operation must include one argument, a key".to_owned());
            }
            _ => return Err("Unsupported operation".to_owned()),
        }
        Ok(Vec::new())
    }

    /// `get k` (the value, empty if missing) or `keys`.
    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match (function, args) {
            ("get", [key, ..]) => stub
                .get_state(key)
                .map(Option::unwrap_or_default)
                .map_err(|e| format!("get operation failed. Error accessing state: {e}")),
            ("get", _) => Err("get operation must include one argument, a key".to_owned()),
            ("keys", _) => keys(stub),
            _ => Err("Unsupported operation".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_shim::{MockBackend, mock_stub};
    use std::sync::Arc;

    fn run(kind: &str, l: &Arc<MockBackend>, args: &[&str]) -> Result<String, String> {
        let mut stub = mock_stub(l, "tx", args);
        let params: Vec<String> = args.iter().skip(1).map(|s| (*s).to_owned()).collect();
        let f = args.first().copied().unwrap_or("");
        let r = match kind {
            "invoke" => MapChaincode.invoke(&mut stub, f, &params),
            _ => MapChaincode.query(&mut stub, f, &params),
        };
        r.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn put_get_remove_and_keys_across_pages() {
        let l = Arc::new(MockBackend::new());
        assert_eq!(run("query", &l, &["keys"]), Ok("null".into()));
        for k in ["k3", "k1", "k2", "k4", "k5"] {
            assert_eq!(
                run("invoke", &l, &["put", k, &format!("v{k}")]),
                Ok(String::new())
            );
        }
        assert_eq!(run("query", &l, &["get", "k2"]), Ok("vk2".into()));
        assert_eq!(run("query", &l, &["get", "nope"]), Ok(String::new()));
        assert_eq!(
            run("query", &l, &["keys"]),
            Ok(r#"["k1","k2","k3","k4","k5"]"#.into())
        );
        assert_eq!(run("invoke", &l, &["remove", "k3"]), Ok(String::new()));
        assert_eq!(
            run("query", &l, &["keys"]),
            Ok(r#"["k1","k2","k4","k5"]"#.into())
        );
    }

    #[test]
    fn errors() {
        let l = Arc::new(MockBackend::new());
        let e = run("invoke", &l, &["put", "k"]);
        assert_eq!(
            e,
            Err("put operation must include two arguments, a key and value".into())
        );
        let e = run("invoke", &l, &["remove"]);
        assert_eq!(
            e,
            Err("remove operation must include one argument, a key".into())
        );
        assert_eq!(
            run("invoke", &l, &["get", "k"]),
            Err("Unsupported operation".into())
        );
        let e = run("query", &l, &["get"]);
        assert_eq!(
            e,
            Err("get operation must include one argument, a key".into())
        );
        assert_eq!(
            run("query", &l, &["put"]),
            Err("Unsupported operation".into())
        );
    }
}
