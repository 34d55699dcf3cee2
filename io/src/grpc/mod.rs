//! The client-facing gRPC services on the peer's main port (Devops,
//! Openchain, Admin) and the transaction builders they share.

pub mod admin;
pub mod devops;
pub mod openchain;
pub mod txbuild;

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;

/// The connections accepted on `listener`, with Nagle's algorithm off.
/// tonic applies its own `tcp_nodelay` only to listeners it binds itself;
/// without this, small replies on a chaincode stream or an event stream
/// can wait for the peer's delayed ACK.
pub fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<TcpStream>> {
    TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!("cannot set TCP_NODELAY on an accepted connection: {e}");
            }
        })
    })
}
