//! Small helpers over the v0.6 `protos::Message` envelope: building a
//! message, naming its type for logs and errors, and decoding the persisted
//! discovery list.

use fabrik_proto::protos::{Message, PeersAddresses, message::Type};
use prost::Message as _;

/// A `Message` of `kind` carrying `payload` (no timestamp: the core has no
/// clock; no signature: peers are authenticated by mutual TLS).
pub fn message(kind: Type, payload: Vec<u8>) -> Message {
    Message {
        r#type: kind as i32,
        timestamp: None,
        payload,
        signature: Vec::new(),
    }
}

/// The v0.6 name of a message type (`DISC_HELLO`), or `UNKNOWN(n)`.
pub fn kind_name(raw: i32) -> String {
    match Type::try_from(raw) {
        Ok(kind) => kind.as_str_name().to_string(),
        Err(_) => format!("UNKNOWN({raw})"),
    }
}

/// Decodes the persisted discovery list (`persist` key `discovery`).
///
/// # Errors
/// The decode error's text when the bytes are not a `PeersAddresses`.
pub fn decode_peers_addresses(bytes: &[u8]) -> Result<Vec<String>, String> {
    PeersAddresses::decode(bytes)
        .map(|p| p.addresses)
        .map_err(|e| format!("discovery list is not a PeersAddresses message: {e}"))
}
