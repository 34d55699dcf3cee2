use proptest::prelude::*;

use super::*;
use crate::ledger::codec::ReadError;

fn sample() -> StateDelta {
    let mut d = StateDelta::new();
    d.set("a", "k1", b"v".to_vec(), None);
    d.delete("a", "k2", Some(b"p".to_vec()));
    d
}

#[test]
fn encoding_is_the_v06_layout_in_sorted_order() {
    let expected: Vec<u8> = [
        &[1][..],
        &[1, b'a'],
        &[2],
        &[2, b'k', b'1'],
        &[1, 1, b'v'],
        &[0],
        &[2, b'k', b'2'],
        &[0],
        &[1, 1, b'p'],
    ]
    .concat();
    assert_eq!(sample().encode(), expected);
    assert_eq!(StateDelta::decode(&expected), Ok(sample()));
    assert_eq!(StateDelta::new().encode(), vec![0]);
    assert_eq!(StateDelta::decode(&[0]), Ok(StateDelta::new()));
}

#[test]
fn decoding_accepts_any_order_and_keeps_empty_values() {
    // keys in reverse order, as a Go map may emit them; value = empty bytes
    let bytes: Vec<u8> = [
        &[1, 1, b'a', 2][..],
        &[1, b'z', 1, 0, 0],
        &[1, b'b', 0, 1, 1, b'x'],
    ]
    .concat();
    let d = StateDelta::decode(&bytes).unwrap();
    assert_eq!(
        d.get("a", "z"),
        Some(&UpdatedValue {
            value: Some(vec![]),
            previous_value: None
        })
    );
    assert_eq!(
        d.get("a", "b"),
        Some(&UpdatedValue {
            value: None,
            previous_value: Some(b"x".to_vec())
        })
    );
    assert_eq!(StateDelta::decode(&d.encode()), Ok(d));
}

#[test]
fn decoding_is_total_with_typed_errors() {
    assert_eq!(
        StateDelta::decode(&[]),
        Err(DeltaDecodeError::Read {
            what: "chaincode count",
            source: ReadError::Truncated {
                offset: 0,
                needed: 1,
                remaining: 0
            }
        })
    );
    assert_eq!(
        StateDelta::decode(&[1, 5, b'a']),
        Err(DeltaDecodeError::Read {
            what: "chaincode id",
            source: ReadError::Truncated {
                offset: 2,
                needed: 5,
                remaining: 1
            }
        })
    );
    assert_eq!(
        StateDelta::decode(&[1, 1, b'a', 1, 1, b'k', 2]),
        Err(DeltaDecodeError::BadMarker {
            marker: 2,
            offset: 6
        })
    );
    assert_eq!(
        StateDelta::decode(&[0, 9]),
        Err(DeltaDecodeError::TrailingBytes { count: 1 })
    );
    assert_eq!(
        StateDelta::decode(&[1, 1, 0xff, 0]),
        Err(DeltaDecodeError::NotUtf8 {
            what: "chaincode id",
            offset: 1
        })
    );
    assert_eq!(
        StateDelta::decode(&[2, 1, b'a', 0, 1, b'a', 0]),
        Err(DeltaDecodeError::DuplicateChaincode {
            chaincode: "a".into()
        })
    );
    assert_eq!(
        StateDelta::decode(&[1, 1, b'a', 2, 1, b'k', 0, 0, 1, b'k', 0, 0]),
        Err(DeltaDecodeError::DuplicateKey {
            chaincode: "a".into(),
            key: "k".into()
        })
    );
    // a huge declared length is refused before allocating
    let huge = [1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert!(matches!(
        StateDelta::decode(&huge),
        Err(DeltaDecodeError::Read {
            what: "chaincode id",
            source: ReadError::Truncated { .. }
        })
    ));
    // a huge count with no entries fails on the first missing entry
    let many = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(matches!(
        StateDelta::decode(&many),
        Err(DeltaDecodeError::Read { .. })
    ));
}

#[test]
fn set_keeps_the_first_previous_value() {
    let mut d = StateDelta::new();
    d.set("cc", "k", b"1".to_vec(), Some(b"0".to_vec()));
    d.set("cc", "k", b"2".to_vec(), Some(b"1".to_vec()));
    assert_eq!(
        d.get("cc", "k"),
        Some(&UpdatedValue {
            value: Some(b"2".to_vec()),
            previous_value: Some(b"0".to_vec())
        })
    );
    d.delete("cc", "k", None);
    assert_eq!(
        d.get("cc", "k"),
        Some(&UpdatedValue {
            value: None,
            previous_value: Some(b"0".to_vec())
        })
    );
    assert_eq!(d.len(), 1);
}

#[test]
fn apply_changes_is_v06_merge() {
    let mut batch = StateDelta::new();
    batch.set("cc", "a", b"1".to_vec(), Some(b"0".to_vec()));
    let mut tx = StateDelta::new();
    tx.delete("cc", "a", Some(b"1".to_vec()));
    tx.set("cc", "b", b"9".to_vec(), None);
    tx.set("dd", "x", b"y".to_vec(), Some(b"old".to_vec()));
    batch.apply_changes(tx);
    assert_eq!(
        batch.get("cc", "a"),
        Some(&UpdatedValue {
            value: None,
            previous_value: Some(b"0".to_vec())
        })
    );
    assert_eq!(
        batch.get("cc", "b"),
        Some(&UpdatedValue {
            value: Some(b"9".to_vec()),
            previous_value: None
        })
    );
    assert_eq!(
        batch.get("dd", "x"),
        Some(&UpdatedValue {
            value: Some(b"y".to_vec()),
            previous_value: Some(b"old".to_vec())
        })
    );
    assert_eq!(batch.len(), 3);
}

#[test]
fn crypto_hash_is_v06() {
    assert_eq!(StateDelta::new().crypto_hash(), None);
    // "a" ‖ "k1" ‖ "v" ‖ "k2" (the delete contributes its key only)
    assert_eq!(sample().crypto_hash(), Some(hash(b"ak1vk2")));
    assert_eq!(
        crate::crypto::b64(&hash(b"ak1vk2"))[..8],
        crate::crypto::b64(&sample().crypto_hash().unwrap())[..8]
    );
}

fn arb_delta() -> impl Strategy<Value = StateDelta> {
    let value = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4));
    let entry = ("[a-c]{0,2}", "[a-d]{0,3}", value.clone(), value);
    proptest::collection::vec(entry, 0..12).prop_map(|entries| {
        let mut d = StateDelta::new();
        for (cc, key, value, prev) in entries {
            match value {
                Some(v) => d.set(&cc, &key, v, prev),
                None => d.delete(&cc, &key, prev),
            }
        }
        d
    })
}

proptest! {
    #[test]
    fn encode_decode_round_trips(d in arb_delta()) {
        prop_assert_eq!(StateDelta::decode(&d.encode()), Ok(d));
    }

    #[test]
    fn decode_never_panics_and_reencodes_stably(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = StateDelta::decode(&bytes) {
            prop_assert_eq!(StateDelta::decode(&d.encode()), Ok(d));
        }
    }
}
