//! Framing of v0.6 `protos::Message` envelopes on a QUIC stream: a u32
//! big-endian length, then that many bytes of protobuf. A length above the
//! configured maximum is refused before anything is allocated.

use fabrik_proto::protos::Message;
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Default `peer.p2p.maxFrameSize`: 4 MiB (reliability.md A9).
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix exceeds the maximum frame size.
    #[error(
        "frame of {len} bytes exceeds the maximum frame size of {max} bytes (peer.p2p.maxFrameSize)"
    )]
    TooLarge {
        /// The announced length.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The stream failed or ended inside a frame.
    #[error("stream read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a `Message`.
    #[error("frame is not a protos.Message: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl FrameError {
    /// Whether the stream is unusable after this error (anything but a
    /// frame that merely failed to decode).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, FrameError::Decode(_))
    }
}

/// `msg` as one frame (length prefix and body).
///
/// # Errors
/// When the encoded message exceeds `max` bytes (it is not sent).
pub fn encode(msg: &Message, max: usize) -> Result<Vec<u8>, FrameError> {
    let len = msg.encoded_len();
    if len > max || u32::try_from(len).is_err() {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode(&mut out)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(out)
}

/// Reads one frame's bytes; `Ok(None)` on a clean end of stream between
/// frames (an end inside the length prefix is a truncated frame).
///
/// # Errors
/// [`FrameError::TooLarge`] before allocating, [`FrameError::Io`] on a
/// broken or truncated stream.
pub async fn read_raw<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while let Some(rest) = prefix.get_mut(got..).filter(|r| !r.is_empty()) {
        match reader.read(rest).await? {
            // Only an end before the first prefix byte is a clean end.
            0 if got == 0 => return Ok(None),
            0 => {
                return Err(FrameError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("stream ended inside a frame's length prefix ({got} of 4 bytes)"),
                )));
            }
            n => got += n,
        }
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    Ok(Some(body))
}

/// Reads and decodes one message; `Ok(None)` at a clean end of stream.
///
/// # Errors
/// As [`read_raw`], plus [`FrameError::Decode`] (the stream stays usable).
pub async fn read<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Message>, FrameError> {
    match read_raw(reader, max).await? {
        Some(body) => Ok(Some(Message::decode(body.as_slice())?)),
        None => Ok(None),
    }
}

/// Writes one already-encoded frame.
///
/// # Errors
/// When the stream is broken.
pub async fn write<W: AsyncWrite + Unpin>(writer: &mut W, frame: &[u8]) -> std::io::Result<()> {
    writer.write_all(frame).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use fabrik_proto::protos::message::Type;

    fn msg(payload: Vec<u8>) -> Message {
        Message {
            r#type: Type::Consensus as i32,
            payload,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn frames_round_trip_and_end_cleanly() {
        let mut bytes = encode(&msg(vec![1, 2, 3]), DEFAULT_MAX_FRAME).unwrap();
        bytes.extend(encode(&msg(vec![]), DEFAULT_MAX_FRAME).unwrap());
        assert_eq!(&bytes[..4], &[0, 0, 0, 7]);
        let mut r = bytes.as_slice();
        assert_eq!(read(&mut r, 100).await.unwrap(), Some(msg(vec![1, 2, 3])));
        assert_eq!(read(&mut r, 100).await.unwrap(), Some(msg(vec![])));
        assert_eq!(read(&mut r, 100).await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversized_prefix_is_refused_before_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        let err = read(&mut bytes.as_slice(), 1024).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 1024
            }
        ));
        assert!(err.is_fatal());
        assert!(encode(&msg(vec![0; 2000]), 1024).is_err());
    }

    #[tokio::test]
    async fn truncated_body_is_an_io_error_and_garbage_a_decode_error() {
        let bytes = [0, 0, 0, 9, 1, 2];
        assert!(matches!(
            read(&mut bytes.as_slice(), 100).await,
            Err(FrameError::Io(_))
        ));
        let garbage = [0, 0, 0, 2, 0xff, 0xff];
        let err = read(&mut garbage.as_slice(), 100).await.unwrap_err();
        assert!(!err.is_fatal());
    }
}
