//! Bad input from chaincodes and clients against one dev-mode peer: the
//! peer answers with an error naming the problem and keeps serving.

use fabrik_proto::protos::{
    self, ChaincodeId, ChaincodeMessage, PutStateInfo, chaincode_message::Type,
    chaincode_support_client::ChaincodeSupportClient, events_client::EventsClient,
};
use fabrik_tests::{Peer, eventually, ok, wait_height};
use prost::Message;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

fn msg(ty: Type, txid: &str, payload: Vec<u8>) -> ChaincodeMessage {
    ChaincodeMessage {
        r#type: ty as i32,
        txid: txid.into(),
        payload,
        ..Default::default()
    }
}

struct RawChaincode {
    tx: mpsc::Sender<ChaincodeMessage>,
    rx: tonic::Streaming<ChaincodeMessage>,
}

impl RawChaincode {
    async fn register(address: &str, name: &str) -> Self {
        let mut client = ChaincodeSupportClient::connect(format!("http://{address}"))
            .await
            .expect("connect");
        let (tx, out) = mpsc::channel(16);
        tx.send(msg(
            Type::Register,
            "",
            ChaincodeId {
                name: name.into(),
                path: String::new(),
            }
            .encode_to_vec(),
        ))
        .await
        .expect("send");
        let rx = client
            .register(ReceiverStream::new(out))
            .await
            .expect("register")
            .into_inner();
        Self { tx, rx }
    }

    async fn next(&mut self) -> Option<ChaincodeMessage> {
        tokio::time::timeout(Duration::from_secs(10), self.rx.next())
            .await
            .ok()
            .flatten()
            .and_then(Result::ok)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn started_peer_with_example02() -> (Peer, fabrik_tests::ChildGuard) {
    let mut peer = Peer::new();
    peer.start(&["--peer-chaincodedev"]);
    let cc = peer.chaincode("example02", "mycc");
    std::thread::sleep(Duration::from_millis(300));
    ok(&peer.cli(&[
        "chaincode",
        "deploy",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["init","a","100","b","200"]}"#,
    ]));
    wait_height(&peer, 2);
    (peer, cc)
}

fn assert_still_serving(peer: &Peer) {
    let out = ok(&peer.cli(&[
        "chaincode",
        "query",
        "-n",
        "mycc",
        "-c",
        r#"{"Args":["query","a"]}"#,
    ]));
    assert_eq!(out, "Query Result: 100\n");
}

#[test]
fn chaincode_protocol_violations_get_errors_and_the_peer_keeps_serving() {
    let (peer, _cc) = started_peer_with_example02();
    rt().block_on(async {
        let mut rogue = RawChaincode::register(&peer.address, "rogue").await;
        assert_eq!(
            rogue.next().await.map(|m| m.r#type),
            Some(Type::Registered as i32)
        );

        // PUT_STATE outside any transaction.
        let put = PutStateInfo {
            key: "k".into(),
            value: b"v".to_vec(),
        }
        .encode_to_vec();
        rogue
            .tx
            .send(msg(Type::PutState, "no-such-tx", put))
            .await
            .expect("send");
        let reply = rogue
            .next()
            .await
            .expect("a reply to PUT_STATE outside a transaction");
        assert_eq!(reply.r#type, Type::Error as i32, "got {reply:?}");
        assert_eq!(reply.txid, "no-such-tx");

        // A duplicate registration of a live name is refused.
        let mut dup = RawChaincode::register(&peer.address, "mycc").await;
        let reply = dup.next().await;
        assert!(
            reply
                .as_ref()
                .is_none_or(|m| m.r#type == Type::Error as i32),
            "duplicate REGISTER must get ERROR or a closed stream, got {reply:?}"
        );
        assert!(
            dup.next().await.is_none(),
            "the duplicate's stream must end"
        );

        // An unknown message type.
        rogue
            .tx
            .send(ChaincodeMessage {
                r#type: 99,
                ..Default::default()
            })
            .await
            .expect("send");
        let reply = rogue.next().await;
        assert!(
            reply
                .as_ref()
                .is_none_or(|m| m.r#type == Type::Error as i32),
            "got {reply:?}"
        );
    });
    assert_still_serving(&peer);
}

#[test]
fn never_deployed_chaincode_fails_clearly() {
    let (peer, _cc) = started_peer_with_example02();
    let out = peer.cli(&[
        "chaincode",
        "query",
        "-n",
        "nope",
        "-c",
        r#"{"Args":["query","a"]}"#,
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // v0.6's Devops.Query text, which the CLI prints as the peer sent it.
    assert!(
        err.contains(&fabrik_tests::v06_never_deployed_error("nope")),
        "stderr: {err}"
    );
    // An invoke is accepted (it only learns the txid) and then rejected in the block.
    let txid = ok(&peer.cli(&[
        "chaincode",
        "invoke",
        "-n",
        "nope",
        "-c",
        r#"{"Args":["invoke","a","b","1"]}"#,
    ]));
    assert_eq!(txid.trim().len(), 36, "invoke prints the txid");
    wait_height(&peer, 3);
    let block = fabrik_tests::block(&peer.address, 2).expect("block 2");
    assert!(
        block.transactions.is_empty(),
        "the failed invoke is left out of the block"
    );
    assert_still_serving(&peer);
}

#[test]
fn a_failed_invoke_is_left_out_of_its_block_and_publishes_a_rejection() {
    let (peer, _cc) = started_peer_with_example02();
    rt().block_on(async {
        let mut client = EventsClient::connect(format!("http://{}", peer.events)).await.expect("events");
        let (tx, out) = mpsc::channel(4);
        let interests = vec![
            protos::Interest { event_type: protos::EventType::Rejection as i32, reg_info: None },
            protos::Interest { event_type: protos::EventType::Block as i32, reg_info: None },
        ];
        let register = protos::Event { event: Some(protos::event::Event::Register(protos::Register { events: interests })) };
        tx.send(register.clone()).await.expect("send");
        let mut events = client.chat(ReceiverStream::new(out)).await.expect("chat").into_inner();
        let echo = events.next().await.expect("echo").expect("echo ok");
        assert_eq!(echo, register, "the hub echoes the registration");

        let txid = ok(&peer.cli(&["chaincode", "invoke", "-n", "mycc", "-c", r#"{"Args":["invoke","a","b","ten"]}"#]));
        let mut rejection = None;
        let mut block = None;
        while rejection.is_none() || block.is_none() {
            let ev = tokio::time::timeout(Duration::from_secs(20), events.next()).await.expect("event in time");
            match ev.expect("stream open").expect("event").event {
                Some(protos::event::Event::Rejection(r)) => rejection = Some(r),
                Some(protos::event::Event::Block(b)) => block = Some(b),
                other => panic!("unexpected event {other:?}"),
            }
        }
        let rejection = rejection.expect("rejection");
        assert_eq!(rejection.tx.map(|t| t.txid), Some(txid.trim().to_string()));
        assert_eq!(
            rejection.error_msg,
            "Transaction or query returned with failure: Invalid transaction amount, expecting a integer value"
        );
        assert!(block.expect("block").transactions.is_empty());
        drop(tx);
    });
    wait_height(&peer, 3);
    let unchanged = eventually(Duration::from_secs(5), || {
        let out = peer.cli(&[
            "chaincode",
            "query",
            "-n",
            "mycc",
            "-c",
            r#"{"Args":["query","a"]}"#,
        ]);
        (out.stdout == b"Query Result: 100\n").then_some(())
    });
    assert!(unchanged.is_some(), "a rejected invoke changes no state");
}

#[test]
fn a_chaincode_that_never_answers_fails_its_transaction_with_the_v06_timeout_text() {
    let mut peer = Peer::new()
        .env("CORE_CHAINCODE_STARTUPTIMEOUT", "1500")
        .env("CORE_CHAINCODE_EXECUTETIMEOUT", "1500");
    peer.start(&["--peer-chaincodedev"]);
    rt().block_on(async {
        // Registers, then never answers INIT.
        let mut silent = RawChaincode::register(&peer.address, "silent").await;
        assert_eq!(
            silent.next().await.map(|m| m.r#type),
            Some(Type::Registered as i32)
        );
        let mut client = EventsClient::connect(format!("http://{}", peer.events))
            .await
            .expect("events");
        let (tx, out) = mpsc::channel(4);
        let interest = protos::Interest {
            event_type: protos::EventType::Rejection as i32,
            reg_info: None,
        };
        let register = protos::Event {
            event: Some(protos::event::Event::Register(protos::Register {
                events: vec![interest],
            })),
        };
        tx.send(register).await.expect("send");
        let mut events = client
            .chat(ReceiverStream::new(out))
            .await
            .expect("chat")
            .into_inner();
        events.next().await.expect("echo").expect("echo ok");

        ok(&peer.cli(&[
            "chaincode",
            "deploy",
            "-n",
            "silent",
            "-c",
            r#"{"Args":["init"]}"#,
        ]));
        let init = silent.next().await.expect("INIT reaches the chaincode");
        assert_eq!(init.r#type, Type::Init as i32);
        let ev = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("rejection in time");
        let Some(protos::event::Event::Rejection(r)) = ev.expect("open").expect("event").event
        else {
            panic!("expected a rejection");
        };
        assert_eq!(
            r.error_msg,
            "Failed to execute transaction or query(Timeout expired while executing transaction)"
        );
        drop(tx);
    });
    wait_height(&peer, 2);
    assert!(
        fabrik_tests::block(&peer.address, 1)
            .expect("block 1")
            .transactions
            .is_empty()
    );
}
