//! Golden encodings worked out by hand from the v0.6 field numbers.

use crate::pbft;
use crate::protos::{self, chaincode_message, transaction};
use prost::Message;

#[test]
fn chaincode_message_register_encodes_type_then_payload() {
    let id = protos::ChaincodeId {
        path: String::new(),
        name: "mycc".into(),
    };
    // ChaincodeID{name=2:"mycc"} = 12 04 'm' 'y' 'c' 'c'
    assert_eq!(id.encode_to_vec(), b"\x12\x04mycc");
    let msg = protos::ChaincodeMessage {
        r#type: chaincode_message::Type::Register as i32,
        payload: id.encode_to_vec(),
        ..Default::default()
    };
    // type=1 varint 1 -> 08 01; payload=3 bytes len 6 -> 1a 06 ...
    assert_eq!(msg.encode_to_vec(), b"\x08\x01\x1a\x06\x12\x04mycc");
}

#[test]
fn transaction_fields_use_v06_numbers() {
    let tx = protos::Transaction {
        r#type: transaction::Type::ChaincodeInvoke as i32,
        txid: "t1".into(),
        timestamp: Some(prost_types::Timestamp {
            seconds: 1,
            nanos: 0,
        }),
        ..Default::default()
    };
    // 08 02 | txid=5 -> 2a 02 't' '1' | timestamp=6 -> 32 02 (08 01)
    assert_eq!(tx.encode_to_vec(), b"\x08\x02\x2a\x02t1\x32\x02\x08\x01");
}

#[test]
fn block_with_nonhashdata_places_it_at_field_7() {
    let block = protos::Block {
        state_hash: vec![0xaa],
        previous_block_hash: vec![0xbb],
        non_hash_data: Some(protos::NonHashData::default()),
        ..Default::default()
    };
    // stateHash=4 -> 22 01 aa | previousBlockHash=5 -> 2a 01 bb | nonHashData=7 -> 3a 00
    assert_eq!(block.encode_to_vec(), b"\x22\x01\xaa\x2a\x01\xbb\x3a\x00");
}

#[test]
fn peer_message_consensus_type_is_21() {
    let msg = protos::Message {
        r#type: protos::message::Type::Consensus as i32,
        payload: vec![1],
        ..Default::default()
    };
    assert_eq!(msg.encode_to_vec(), b"\x08\x15\x1a\x01\x01");
}

#[test]
fn pbft_prepare_and_batch_message_wrapping() {
    let prepare = pbft::Prepare {
        view: 1,
        sequence_number: 2,
        batch_digest: "d".into(),
        replica_id: 3,
    };
    assert_eq!(
        prepare.encode_to_vec(),
        b"\x08\x01\x10\x02\x1a\x01d\x20\x03"
    );
    let inner = pbft::Message {
        payload: Some(pbft::message::Payload::Prepare(prepare)),
    };
    // prepare is field 3 of `message`
    let inner_bytes = inner.encode_to_vec();
    assert_eq!(inner_bytes, b"\x1a\x09\x08\x01\x10\x02\x1a\x01d\x20\x03");
    let outer = pbft::BatchMessage {
        payload: Some(pbft::batch_message::Payload::PbftMessage(
            inner_bytes.clone(),
        )),
    };
    // pbft_message is field 3 of `batch_message`
    let mut expected = vec![0x1a, inner_bytes.len() as u8];
    expected.extend_from_slice(&inner_bytes);
    assert_eq!(outer.encode_to_vec(), expected);
}

#[test]
fn new_view_xset_encodes_in_key_order() {
    let mut nv = pbft::NewView {
        view: 1,
        ..Default::default()
    };
    nv.xset.insert(5, "b".into());
    nv.xset.insert(3, String::new());
    // xset=3 map entries {key=1 varint, value=2 string}; keys ascending.
    assert_eq!(
        nv.encode_to_vec(),
        b"\x08\x01\x1a\x02\x08\x03\x1a\x05\x08\x05\x12\x01b"
    );
}

#[test]
fn events_interest_oneof_at_field_2() {
    let interest = protos::Interest {
        event_type: protos::EventType::Chaincode as i32,
        reg_info: Some(protos::interest::RegInfo::ChaincodeRegInfo(
            protos::ChaincodeReg {
                chaincode_id: "cc".into(),
                event_name: String::new(),
            },
        )),
    };
    assert_eq!(interest.encode_to_vec(), b"\x08\x02\x12\x04\x0a\x02cc");
}
