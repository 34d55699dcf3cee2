//! Peer-to-peer framing of v0.6 `protos::Message` envelopes
//! (`fabrik_io::net::frame`, `fabrik_io::replica::envelope`).
//!
//! Two consensus messages, each as a replica sends it: the `PeerMsg` is
//! wrapped in `BatchMessage{pbft_message}` inside a `Message{CONSENSUS}`
//! envelope and framed with a u32 length prefix.
//!
//! - `pre_prepare_500`: a PRE-PREPARE carrying a batch of 500
//!   example02-style requests (~350-byte payloads, ~190 KB per frame), the
//!   largest message of normal operation.
//! - `prepare`: a PREPARE (~100 bytes), the most frequent one.
//!
//! `encode` = `envelope` + `frame::encode` (what the sender does once per
//! broadcast); `decode` = `frame::read` from an in-memory reader +
//! `BatchMessage` decode + `PeerMsg::from_batch_message` (what the receiver
//! does per message before handing it to the replica). No socket: QUIC and
//! TLS costs are not in these numbers.
//!
//! Run: `cargo bench -p fabrik-io --bench frame` (add `-- --quick`).

// One copy of the bench fixtures, shared with the core benches.
#[path = "../../core/benches/common/mod.rs"]
mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fabrik_core::pbft::{PeerMsg, batch_digest};
use fabrik_io::net::frame::{self, DEFAULT_MAX_FRAME};
use fabrik_io::replica::envelope;
use fabrik_proto::pbft::{self, BatchMessage, PrePrepare, Prepare, Request, RequestBatch};
use fabrik_proto::{ProstMessage, Timestamp};

fn pre_prepare(requests: u64) -> PeerMsg {
    let batch = RequestBatch {
        batch: (0..requests)
            .map(|i| Request {
                timestamp: Some(Timestamp {
                    seconds: 1_700_000_000,
                    nanos: i as i32,
                }),
                payload: common::invoke_tx(i).encode_to_vec(),
                replica_id: 1,
                signature: Vec::new(),
            })
            .collect(),
    };
    let pp = PrePrepare {
        view: 0,
        sequence_number: 42,
        batch_digest: batch_digest(&batch),
        request_batch: Some(batch),
        replica_id: 0,
    };
    PeerMsg::Pbft(pbft::Message {
        payload: Some(pbft::message::Payload::PrePrepare(pp)),
    })
}

fn prepare() -> PeerMsg {
    PeerMsg::Pbft(pbft::Message {
        payload: Some(pbft::message::Payload::Prepare(Prepare {
            view: 0,
            sequence_number: 42,
            batch_digest: "x".repeat(88),
            replica_id: 2,
        })),
    })
}

/// The receive path: frame, envelope, batch message, PBFT message.
fn decode(bytes: &[u8]) -> PeerMsg {
    let mut reader = bytes;
    let msg = futures::executor::block_on(frame::read(&mut reader, DEFAULT_MAX_FRAME))
        .expect("frame")
        .expect("one frame");
    let bm = BatchMessage::decode(msg.payload.as_slice()).expect("batch message");
    PeerMsg::from_batch_message(bm).expect("peer message")
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for (label, msg) in [
        ("pre_prepare_500", pre_prepare(500)),
        ("prepare", prepare()),
    ] {
        let bytes = frame::encode(&envelope(&msg), DEFAULT_MAX_FRAME).expect("encode");
        assert_eq!(decode(&bytes), msg);
        println!("{label}: {} bytes per frame", bytes.len());
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", label), &msg, |b, msg| {
            b.iter(|| frame::encode(&envelope(msg), DEFAULT_MAX_FRAME).expect("encode"));
        });
        group.bench_with_input(BenchmarkId::new("decode", label), &bytes, |b, bytes| {
            b.iter(|| decode(bytes));
        });
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = common::criterion();
    targets = benches
}
criterion_main!(group);
