//! `benchcc`: the chaincode behind `peerd bench`'s workloads. `noop` touches
//! no state (the cost of ordering, the chaincode round trip and the commit
//! alone); `rw <read key> <write key> <size>` reads one key and writes one
//! value of `size` bytes (the 1-read-1-write key-value workload).

use fabrik_shim::{Chaincode, Stub};

/// Largest value `rw` writes, so a typo cannot ask for gigabytes.
const MAX_VALUE: usize = 1 << 20;

/// The benchmark chaincode.
#[derive(Debug, Default, Clone, Copy)]
pub struct BenchChaincode;

/// A value of `size` bytes that depends on the key and the old value's
/// length, so every peer writes the same bytes.
fn value_for(key: &str, old_len: usize, size: usize) -> Vec<u8> {
    let seed: Vec<u8> = format!("{key}:{old_len}:").into_bytes();
    seed.iter().copied().cycle().take(size).collect()
}

fn read_write(stub: &mut Stub, args: &[String]) -> Result<Vec<u8>, String> {
    let [read, write, size, ..] = args else {
        return Err("rw needs three arguments: a key to read, a key to write and a size".into());
    };
    let size: usize = size
        .parse()
        .ok()
        .filter(|s| *s <= MAX_VALUE)
        .ok_or_else(|| format!("rw size {size:?} is not a number up to {MAX_VALUE}"))?;
    let old = stub
        .get_state(read)
        .map_err(|e| format!("rw failed reading {read}: {e}"))?;
    let value = value_for(write, old.map_or(0, |v| v.len()), size);
    stub.put_state(write, &value)
        .map_err(|e| format!("rw failed writing {write}: {e}"))?;
    Ok(Vec::new())
}

impl Chaincode for BenchChaincode {
    /// Does nothing.
    fn init(&self, _stub: &mut Stub, _function: &str, _args: &[String]) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }

    /// `noop`, or `rw <read key> <write key> <size>`.
    fn invoke(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match function {
            "noop" => Ok(Vec::new()),
            "rw" => read_write(stub, args),
            _ => Err(format!(
                "benchcc has no function {function:?}; use noop or rw"
            )),
        }
    }

    /// `len <key>`: the length of the key's value.
    fn query(&self, stub: &mut Stub, function: &str, args: &[String]) -> Result<Vec<u8>, String> {
        match (function, args) {
            ("len", [key, ..]) => stub
                .get_state(key)
                .map(|v| v.map_or(0, |v| v.len()).to_string().into_bytes())
                .map_err(|e| format!("len failed reading {key}: {e}")),
            _ => Err(format!("benchcc has no query {function:?}; use len <key>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_shim::{MockBackend, mock_stub};
    use std::sync::Arc;

    fn invoke(l: &Arc<MockBackend>, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut stub = mock_stub(l, "tx", args);
        let params: Vec<String> = args.iter().skip(1).map(|s| (*s).to_owned()).collect();
        BenchChaincode.invoke(&mut stub, args[0], &params)
    }

    fn len(l: &Arc<MockBackend>, key: &str) -> String {
        let mut stub = mock_stub(l, "q", &["len", key]);
        let v = BenchChaincode
            .query(&mut stub, "len", &[key.to_owned()])
            .expect("len");
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn rw_writes_a_value_of_the_asked_size_and_noop_writes_nothing() {
        let l = Arc::new(MockBackend::default());
        invoke(&l, &["noop"]).expect("noop");
        assert_eq!(len(&l, "k1"), "0");
        invoke(&l, &["rw", "k0", "k1", "1024"]).expect("rw");
        assert_eq!(len(&l, "k1"), "1024");
        invoke(&l, &["rw", "k1", "k2", "100"]).expect("rw");
        assert_eq!(len(&l, "k2"), "100");
    }

    #[test]
    fn bad_arguments_name_the_problem() {
        let l = Arc::new(MockBackend::default());
        assert_eq!(
            invoke(&l, &["rw", "a"]).unwrap_err(),
            "rw needs three arguments: a key to read, a key to write and a size"
        );
        assert_eq!(
            invoke(&l, &["rw", "a", "b", "lots"]).unwrap_err(),
            "rw size \"lots\" is not a number up to 1048576"
        );
        assert_eq!(
            invoke(&l, &["transfer"]).unwrap_err(),
            "benchcc has no function \"transfer\"; use noop or rw"
        );
    }
}
