//! Golden strings for the v0.6 JSON rendering (expected texts written by
//! hand from the Go `encoding/json` rules, base64 computed independently).

use super::*;
use fabrik_proto::ProstMessage;
use fabrik_proto::protos::{ChaincodeId, PeerId};

fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos })
}

fn sample_tx() -> Transaction {
    Transaction {
        r#type: 2,
        chaincode_id: ChaincodeId {
            path: String::new(),
            name: "mycc".into(),
        }
        .encode_to_vec(),
        payload: b"pay".to_vec(),
        txid: "a<b>&c".into(),
        timestamp: ts(1_700_000_000, 5),
        ..Transaction::default()
    }
}

#[test]
fn transaction_uses_proto_names_base64_integer_enums_and_omits_zero_values() {
    assert_eq!(
        transaction(&sample_tx()),
        r#"{"type":2,"chaincodeID":"EgRteWNj","payload":"cGF5","txid":"a\u003cb\u003e\u0026c","timestamp":{"seconds":1700000000,"nanos":5}}"#
    );
    assert_eq!(transaction(&Transaction::default()), "{}");
}

#[test]
fn block_renders_nested_transactions_hashes_and_non_hash_data() {
    let b = Block {
        transactions: vec![sample_tx()],
        state_hash: vec![1, 2, 3],
        previous_block_hash: vec![0xff, 0xfe],
        non_hash_data: Some(NonHashData {
            local_ledger_commit_timestamp: ts(7, 0),
            chaincode_events: vec![
                ChaincodeEvent::default(),
                ChaincodeEvent {
                    chaincode_id: "mycc".into(),
                    tx_id: "t".into(),
                    event_name: "e".into(),
                    payload: b"pay".to_vec(),
                },
            ],
        }),
        ..Block::default()
    };
    let tx = transaction(&sample_tx());
    assert_eq!(
        block(&b),
        format!(
            r#"{{"transactions":[{tx}],"stateHash":"AQID","previousBlockHash":"//4=","nonHashData":{{"localLedgerCommitTimestamp":{{"seconds":7}},"chaincodeEvents":[{{}},{{"chaincodeID":"mycc","txID":"t","eventName":"e","payload":"cGF5"}}]}}}}"#
        )
    );
}

#[test]
fn genesis_like_block_has_only_non_hash_data() {
    let b = Block {
        non_hash_data: Some(NonHashData {
            local_ledger_commit_timestamp: ts(9, 1),
            chaincode_events: vec![],
        }),
        ..Block::default()
    };
    assert_eq!(
        block(&b),
        r#"{"nonHashData":{"localLedgerCommitTimestamp":{"seconds":9,"nanos":1}}}"#
    );
}

#[test]
fn blockchain_info_omits_an_empty_previous_hash() {
    let info = BlockchainInfo {
        height: 1,
        current_block_hash: vec![1, 2, 3],
        previous_block_hash: vec![],
    };
    assert_eq!(
        blockchain_info(&info),
        r#"{"height":1,"currentBlockHash":"AQID"}"#
    );
    let info = BlockchainInfo {
        height: 2,
        current_block_hash: vec![1, 2, 3],
        previous_block_hash: vec![0xff, 0xfe],
    };
    assert_eq!(
        blockchain_info(&info),
        r#"{"height":2,"currentBlockHash":"AQID","previousBlockHash":"//4="}"#
    );
}

#[test]
fn peer_endpoint_matches_the_v06_example() {
    let p = PeerEndpoint {
        id: Some(PeerId { name: "vp0".into() }),
        address: "172.17.0.3:7051".into(),
        r#type: 1,
        pki_id: vec![],
    };
    assert_eq!(
        peer_endpoint(&p),
        r#"{"ID":{"name":"vp0"},"address":"172.17.0.3:7051","type":1}"#
    );
    assert_eq!(
        peers_message(std::slice::from_ref(&p)),
        r#"{"peers":[{"ID":{"name":"vp0"},"address":"172.17.0.3:7051","type":1}]}"#
    );
    assert_eq!(peers_message(&[]), "{}");
}

#[test]
fn strings_are_escaped_as_go_does() {
    assert_eq!(
        go_string("a\"b\\c\n\t\u{1}\u{2028}é"),
        r#""a\"b\\c\n\t\u0001\u2028é""#
    );
    assert_eq!(
        rest_error("No blocks in blockchain."),
        r#"{"Error":"No blocks in blockchain."}"#
    );
    assert_eq!(rest_ok("fine"), r#"{"OK":"fine"}"#);
}

#[test]
fn events_render_as_one_keyed_object() {
    let rej = Event {
        event: Some(event::Event::Rejection(Rejection {
            tx: Some(Transaction::default()),
            error_msg: "boom".into(),
        })),
    };
    assert_eq!(
        event_line(&rej).as_deref(),
        Some(r#"{"rejection":{"tx":{},"errorMsg":"boom"}}"#)
    );
    let cc = Event {
        event: Some(event::Event::ChaincodeEvent(ChaincodeEvent::default())),
    };
    assert_eq!(event_payload(&cc), Some(("chaincode", "{}".to_string())));
    assert_eq!(event_line(&cc).as_deref(), Some(r#"{"chaincodeEvent":{}}"#));
    assert_eq!(event_line(&Event { event: None }), None);
}
