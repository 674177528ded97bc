//! The shell protocol: requests a node executes and the responses it answers
//! with, encoded with postcard.
//!
//! The text shell, scripts speaking binary frames on the UART, and `remote`
//! requests between nodes all carry the same bytes, so a command means the
//! same thing however it arrives. Only [`crate::node::Node`] runs them.
//!
//! Every message is a [`Header`] followed by the body, both postcard:
//!
//! ```text
//! [version: u8][tag: varint u16][Request or Response]
//! ```
//!
//! The header's layout never changes, so a node can always read the version
//! and answer a request from a newer client with
//! [`Error::UnsupportedVersion`] instead of misreading it. Enum variants are
//! numbered by position: new ones go at the end, and anything else bumps
//! [`VERSION`]. The tag is the client's: the node copies it into the reply so
//! a client can match replies to requests.
//!
//! On the UART, binary messages travel as COBS frames between zero bytes (see
//! `tidenet-shell`); between nodes, in control datagrams after a
//! [`REMOTE_REQUEST`] or [`REMOTE_REPLY`] marker.

mod request;
mod response;

use serde::{Deserialize, Serialize};

use crate::addr::HardwareId;
use crate::Error;

pub use request::{Peer, Request};
pub use response::{Link, Response, Status, StreamInfo, MAX_LINKS, MAX_LISTENERS, MAX_STREAMS};

/// The protocol version this build speaks. Version 3: nodes have several
/// links; `stats` takes one, streams and `links` name theirs, and `links`
/// shows who is at each far end.
pub const VERSION: u8 = 3;

/// The largest encoded message a node takes or sends: a `send` of a full
/// line, a `recv` of up to [`MAX_DATA`] bytes, or a full stats table.
pub const MAX_MESSAGE: usize = 512;

/// The most payload bytes one `send` or `recv` carries, leaving room for the
/// header and the rest of the message inside [`MAX_MESSAGE`].
pub const MAX_DATA: usize = MAX_MESSAGE - 32;

/// Marks a control datagram that carries a request from a peer's `remote`.
pub const REMOTE_REQUEST: [u8; 4] = *b"TNrq";

/// Marks a control datagram that carries the reply to a remote request.
pub const REMOTE_REPLY: [u8; 4] = *b"TNrp";

/// Marks a control datagram that tells the peer who this end of the link is
/// (an [`Identity`]).
pub const IDENTITY: [u8; 4] = *b"TNid";

/// What each end of a link tells the other once the link is up, so that
/// `links` can name the board and port at every far end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// This end's FPGA DNA and port.
    pub id: HardwareId,
    /// Whether this end already knows the receiver's identity; if not, the
    /// receiver answers with its own.
    pub known: bool,
}

/// What precedes every request and response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The sender's protocol version.
    pub version: u8,
    /// The client's tag, echoed in the reply.
    pub tag: u16,
}

impl Header {
    /// A header of this build's version.
    pub const fn new(tag: u16) -> Self {
        Header {
            version: VERSION,
            tag,
        }
    }
}

/// Encodes `header` and `body` into `buf`; returns the bytes used.
///
/// Fails with [`Error::MessageTooLarge`] if they do not fit.
pub fn encode<T: Serialize>(header: Header, body: &T, buf: &mut [u8]) -> Result<usize, Error> {
    let max = buf.len();
    let message = (header, body);
    postcard::to_slice(&message, buf)
        .map(|used| used.len())
        .map_err(|_| {
            let size = postcard::experimental::serialized_size(&message).unwrap_or(usize::MAX);
            Error::message_too_large(size, max)
        })
}

/// Splits a message into its header and the encoded body.
///
/// Only the header is checked here, so a node can answer a message whose body
/// it cannot read with the right tag and a named error.
pub fn split(message: &[u8]) -> Result<(Header, &[u8]), Error> {
    postcard::take_from_bytes::<Header>(message).map_err(|_| Error::MalformedRequest)
}

/// Decodes a request after [`split`], refusing other versions.
pub fn decode_request(header: Header, body: &[u8]) -> Result<Request<'_>, Error> {
    if header.version != VERSION {
        return Err(Error::UnsupportedVersion {
            got: header.version,
            supported: VERSION,
        });
    }
    postcard::from_bytes(body).map_err(|_| Error::MalformedRequest)
}

/// Decodes a whole response message.
pub fn decode_response(message: &[u8]) -> Result<(Header, Response<'_>), Error> {
    let (header, body) = split(message).map_err(|_| Error::MalformedReply)?;
    if header.version != VERSION {
        return Err(Error::UnsupportedVersion {
            got: header.version,
            supported: VERSION,
        });
    }
    let response = postcard::from_bytes(body).map_err(|_| Error::MalformedReply)?;
    Ok((header, response))
}

#[cfg(test)]
mod tests;
