//! `peerd network list`: Openchain.GetPeers, printed as v0.6 did:
//! `{"Peers":[...]}` with Go `encoding/json` field names (`ID`, `address`,
//! `type` as an integer, `pkiID` as base64) and zero values omitted.

use crate::client::{block_on, dial, rpc_error};
use crate::context::Context;
use crate::error::CliError;
use base64::Engine;
use fabrik_proto::protos::PeerEndpoint;
use fabrik_proto::protos::openchain_client::OpenchainClient;
use serde::Serialize;

#[derive(Serialize)]
struct PeersJson {
    #[serde(rename = "Peers")]
    peers: Vec<PeerJson>,
}

#[derive(Serialize)]
struct PeerIdJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
}

#[derive(Serialize)]
struct PeerJson {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<PeerIdJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    address: String,
    #[serde(rename = "type", skip_serializing_if = "is_zero")]
    kind: i32,
    #[serde(rename = "pkiID", skip_serializing_if = "String::is_empty")]
    pki_id: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn peer_json(peer: PeerEndpoint) -> PeerJson {
    PeerJson {
        id: peer.id.map(|id| PeerIdJson { name: id.name }),
        address: peer.address,
        kind: peer.r#type,
        pki_id: base64::engine::general_purpose::STANDARD.encode(&peer.pki_id),
    }
}

/// Renders the peers as v0.6's `peer network list` did.
#[must_use]
pub fn render(peers: Vec<PeerEndpoint>) -> String {
    let json = PeersJson {
        peers: peers.into_iter().map(peer_json).collect(),
    };
    serde_json::to_string(&json).unwrap_or_else(|_| String::from("{\"Peers\":[]}"))
}

/// `peerd network list`.
///
/// # Errors
/// When the peer cannot be reached or refuses the call.
pub fn list(ctx: &Context) -> Result<(), CliError> {
    let address = ctx.peer_address().to_string();
    let peers = block_on(async {
        let mut client = OpenchainClient::new(dial(&address).await?);
        let reply = client
            .get_peers(())
            .await
            .map_err(|s| rpc_error("Openchain.GetPeers", &address, &s))?;
        Ok(reply.into_inner().peers)
    })?;
    println!("{}", render(peers));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::protos::PeerId;

    #[test]
    fn lone_peer_prints_empty_list() {
        assert_eq!(render(Vec::new()), r#"{"Peers":[]}"#);
    }

    #[test]
    fn fields_use_go_names_and_order() {
        let peer = PeerEndpoint {
            id: Some(PeerId { name: "vp1".into() }),
            address: "127.0.0.1:7151".into(),
            r#type: 1,
            pki_id: vec![1, 2, 3],
        };
        assert_eq!(
            render(vec![peer]),
            r#"{"Peers":[{"ID":{"name":"vp1"},"address":"127.0.0.1:7151","type":1,"pkiID":"AQID"}]}"#
        );
    }
}
