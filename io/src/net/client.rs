//! A raw diagnostic client of the peer transport: dials a peer with a
//! node's certificate and writes arbitrary bytes on the peer stream. Used by
//! the loopback tests (oversized frames, HELLOs claiming another id) and
//! handy to probe a peer by hand.

use super::{frame, resolve, tls};
use fabrik_proto::protos::Message;
use std::time::Duration;

/// An open connection and stream to one peer.
#[derive(Debug)]
pub struct RawClient {
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl RawClient {
    /// Dials `address` presenting the certificate in `files` and opens the
    /// peer stream.
    ///
    /// # Errors
    /// The TLS, dial or stream error as text.
    pub async fn connect(files: &tls::TlsFiles, address: &str) -> Result<Self, String> {
        let setup = tls::setup(files, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let mut endpoint = quinn::Endpoint::client(any).map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(setup.client);
        let addr = resolve(address).map_err(|e| e.to_string())?;
        let conn = endpoint
            .connect(addr, "fabrik-peer")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        Ok(Self {
            _endpoint: endpoint,
            conn,
            send,
            recv,
        })
    }

    /// Writes raw bytes on the stream.
    ///
    /// # Errors
    /// When the stream is closed.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        frame::write(&mut self.send, bytes)
            .await
            .map_err(|e| e.to_string())
    }

    /// Writes one framed message.
    ///
    /// # Errors
    /// When the stream is closed.
    pub async fn send(&mut self, msg: &Message) -> Result<(), String> {
        let bytes = frame::encode(msg, usize::MAX >> 1).map_err(|e| e.to_string())?;
        self.write_raw(&bytes).await
    }

    /// Reads the next message (up to 4 MiB), or `None` when the stream ends.
    ///
    /// # Errors
    /// When the stream breaks.
    pub async fn recv(&mut self) -> Result<Option<Message>, String> {
        frame::read(&mut self.recv, frame::DEFAULT_MAX_FRAME)
            .await
            .map_err(|e| e.to_string())
    }

    /// Waits up to `timeout` for the peer to close the connection; returns
    /// the close reason it gave.
    pub async fn closed(&self, timeout: Duration) -> Option<String> {
        tokio::time::timeout(timeout, self.conn.closed())
            .await
            .ok()
            .map(|e| e.to_string())
    }
}
