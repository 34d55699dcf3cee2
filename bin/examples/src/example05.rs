//! `chaincode_example05`: chaincode calling chaincode — sums the `a` and
//! `b` holdings of an example02 instance (v0.6
//! `examples/chaincode/go/chaincode_example05`).

use crate::goconv::{atoi, itoa};
use fabrik_shim::{Chaincode, Stub};

/// The summing chaincode.
#[derive(Debug, Default, Clone, Copy)]
pub struct Example05;

/// `query <entity>` on chaincode `name`, as an integer.
fn queried_holding(stub: &Stub, name: &str, entity: &str) -> Result<i64, String> {
    let args = [b"query".to_vec(), entity.as_bytes().to_vec()];
    let response = stub
        .query_chaincode(name, &args)
        .map_err(|e| format!("Failed to query chaincode. Got error: {e}"))?;
    atoi(&String::from_utf8_lossy(&response))
        .map_err(|e| format!("Error retrieving state from ledger for queried chaincode: {e}"))
}

/// a + b of chaincode `name`.
fn sum_of(stub: &Stub, name: &str) -> Result<i64, String> {
    let a = queried_holding(stub, name, "a")?;
    let b = queried_holding(stub, name, "b")?;
    Ok(a.wrapping_add(b))
}

impl Chaincode for Example05 {
    /// `init <sumKey> <N>`.
    fn init(&self, stub: &mut Stub, _function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let [sum, value] = args else {
            return Err("Incorrect number of arguments. Expecting 2".to_owned());
        };
        let value = atoi(value).map_err(|_| "Expecting integer value for sum".to_owned())?;
        stub.put_state(sum, &itoa(value))?;
        Ok(Vec::new())
    }

    /// `<any> <chaincodeName> <sumKey>`: stores and returns a + b.
    fn invoke(&self, stub: &mut Stub, _function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        let [name, sum] = args else {
            return Err("Incorrect number of arguments. Expecting 2".to_owned());
        };
        let total = sum_of(stub, name)?;
        stub.put_state(sum, &itoa(total))?;
        Ok(itoa(total))
    }

    /// `query <chaincodeName> <sumKey>`: returns a + b without storing it.
    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        if function != "query" {
            return Err("Invalid query function name. Expecting \"query\"".to_owned());
        }
        let [name, _sum] = args else {
            return Err("Incorrect number of arguments. Expecting 2".to_owned());
        };
        sum_of(stub, name).map(itoa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Example02;
    use fabrik_shim::{MockBackend, mock_stub};
    use std::sync::Arc;

    /// An example05 ledger whose chaincode calls run example02 queries on
    /// its own ledger `ex02` (registered under the name "ex02").
    fn setup() -> (Arc<MockBackend>, Arc<MockBackend>) {
        let ex02 = Arc::new(MockBackend::new());
        let mut stub = mock_stub(&ex02, "d", &["init", "a", "100", "b", "200"]);
        let params: Vec<String> = ["a", "100", "b", "200"].map(String::from).to_vec();
        assert!(Example02.init(&mut stub, "init", &params).is_ok());
        let callee = Arc::clone(&ex02);
        let ledger = Arc::new(MockBackend::with_callee(move |name, args, query| {
            if name != "ex02" || !query {
                return Err(format!("handler not found for chaincode {name}"));
            }
            let strs: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let refs: Vec<&str> = strs.iter().map(String::as_str).collect();
            let mut stub = mock_stub(&callee, "q", &refs);
            let f = refs.first().copied().unwrap_or("");
            Example02.query(&mut stub, f, strs.get(1..).unwrap_or(&[]))
        }));
        (ledger, ex02)
    }

    fn run(kind: &str, l: &Arc<MockBackend>, args: &[&str]) -> Result<String, String> {
        let mut stub = mock_stub(l, "tx", args);
        let params: Vec<String> = args.iter().skip(1).map(|s| (*s).to_owned()).collect();
        let f = args.first().copied().unwrap_or("");
        let r = match kind {
            "init" => Example05.init(&mut stub, f, &params),
            "invoke" => Example05.invoke(&mut stub, f, &params),
            _ => Example05.query(&mut stub, f, &params),
        };
        r.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    #[test]
    fn sums_example02_holdings() {
        let (l, _) = setup();
        assert_eq!(run("init", &l, &["init", "sum", "0"]), Ok(String::new()));
        assert_eq!(
            run("query", &l, &["query", "ex02", "sum"]),
            Ok("300".into())
        );
        assert_eq!(l.snapshot().get("sum").cloned(), Some(b"0".to_vec()));
        assert_eq!(
            run("invoke", &l, &["invoke", "ex02", "sum"]),
            Ok("300".into())
        );
        assert_eq!(l.snapshot().get("sum").cloned(), Some(b"300".to_vec()));
    }

    #[test]
    fn errors() {
        let (l, ex02) = setup();
        assert_eq!(
            run("init", &l, &["init", "sum"]),
            Err("Incorrect number of arguments. Expecting 2".into())
        );
        assert_eq!(
            run("init", &l, &["init", "sum", "x"]),
            Err("Expecting integer value for sum".into())
        );
        assert_eq!(
            run("invoke", &l, &["invoke", "ex02"]),
            Err("Incorrect number of arguments. Expecting 2".into())
        );
        let e = run("query", &l, &["sum", "ex02", "sum"]);
        assert_eq!(
            e,
            Err("Invalid query function name. Expecting \"query\"".into())
        );
        let e = run("invoke", &l, &["invoke", "nope", "sum"]);
        assert_eq!(
            e,
            Err(
                "Failed to query chaincode. Got error: handler not found for chaincode nope".into()
            )
        );
        ex02.set("a", b"abc");
        let e = run("query", &l, &["query", "ex02", "sum"]);
        assert_eq!(
            e,
            Err("Error retrieving state from ledger for queried chaincode: strconv.Atoi: parsing \"abc\": invalid syntax"
                .into())
        );
    }
}
