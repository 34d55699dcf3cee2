//! v0.6 chaincode naming (`platforms/golang/hash.go`): the deploy txid and
//! chaincode name derived from the constructor message and the code package,
//! and the RFC 4122 version-4 UUID format of invoke/query txids.

use std::cmp::Ordering;

use fabrik_proto::ProstMessage;
use fabrik_proto::protos::ChaincodeInput;

use crate::crypto::hash_parts;

/// Why a chaincode name cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NamingError {
    /// The constructor message has no arguments (v0.6 message, verbatim).
    #[error("Cannot generate hashcode from empty ctor")]
    EmptyCtor,
}

/// The v0.6 network-mode chaincode name: `h = hash(marshal(ctor))`, then for
/// each file `h = hash(fileBytes ‖ h)`, then `hex(h)` (128 lowercase hex
/// characters).
///
/// `files` are `(path, bytes)` relative to the chaincode directory, with `/`
/// separators; they are hashed in the order Go's recursive `ReadDir` walk
/// visits them, i.e. sorted component by component (so `a/x` comes before
/// `a.go`), whatever order they are given in.
///
/// # Errors
/// [`NamingError::EmptyCtor`] when `ctor.args` is empty.
pub fn chaincode_name(
    ctor: &ChaincodeInput,
    files: &[(String, Vec<u8>)],
) -> Result<String, NamingError> {
    if ctor.args.is_empty() {
        return Err(NamingError::EmptyCtor);
    }
    let mut h = hash_parts(&[&ctor.encode_to_vec()]);
    let mut ordered: Vec<&(String, Vec<u8>)> = files.iter().collect();
    ordered.sort_by(|a, b| walk_order(&a.0, &b.0));
    for (_, bytes) in ordered {
        h = hash_parts(&[bytes, &h]);
    }
    Ok(hex::encode(h))
}

/// Order of a depth-first walk that lists each directory sorted by name.
fn walk_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// Formats 16 random bytes as a v0.6 txid: RFC 4122 variant and version 4
/// bits set, lowercase hex in 8-4-4-4-12 groups. The randomness comes from
/// the caller.
pub fn format_uuid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hash;

    fn ctor(args: &[&str]) -> ChaincodeInput {
        ChaincodeInput {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn empty_ctor_is_refused_with_the_v06_message() {
        let err = chaincode_name(&ctor(&[]), &[]).unwrap_err();
        assert_eq!(err.to_string(), "Cannot generate hashcode from empty ctor");
    }

    #[test]
    fn name_chains_file_hashes_in_walk_order() {
        let c = ctor(&["init", "a", "100"]);
        let marshalled = c.encode_to_vec();
        assert_eq!(marshalled, b"\x0a\x04init\x0a\x01a\x0a\x03100".to_vec());
        let files = vec![
            ("a.go".to_string(), b"two".to_vec()),
            ("a/x.go".to_string(), b"one".to_vec()),
        ];
        let h0 = hash(&marshalled);
        let h1 = hash(&[&b"one"[..], &h0].concat());
        let h2 = hash(&[&b"two"[..], &h1].concat());
        let name = chaincode_name(&c, &files).unwrap();
        assert_eq!(name, hex::encode(h2));
        assert_eq!(name.len(), 128);
        let no_files = chaincode_name(&c, &[]).unwrap();
        assert_eq!(no_files, hex::encode(h0));
    }

    #[test]
    fn uuid_has_v4_and_variant_bits() {
        assert_eq!(format_uuid([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(
            format_uuid([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        let u = format_uuid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc,
            0xde, 0xf0,
        ]);
        assert_eq!(u, "12345678-9abc-4ef0-9234-56789abcdef0");
    }
}
