//! Responses as plain, greppable text.
//!
//! Every reply ends with exactly one line that starts with `ok` or `error: `,
//! so a script reads lines until it sees one. Rows before it are `key=value`
//! pairs separated by spaces; a `data=` value, which may hold spaces, is
//! always last on its line.

use core::fmt::{self, Write};

use tidenet_core::proto::Response;
use tidenet_core::{LinkState, StreamState};

/// Writes `response` as lines, each ending in `\n`.
pub fn render(response: &Response<'_>, out: &mut impl Write) -> fmt::Result {
    match response {
        Response::Done => writeln!(out, "ok"),
        Response::Opened { stream } => writeln!(out, "ok stream={stream}"),
        Response::Sent { len } => writeln!(out, "ok sent={len}"),
        Response::Data { data } => {
            write!(out, "ok len={} data=", data.len())?;
            write_data(data, out)?;
            writeln!(out)
        }
        Response::Status(status) => {
            writeln!(out, "version={}", status.version)?;
            writeln!(out, "stack={}", status.stack)?;
            writeln!(out, "links={}", status.links)?;
            for port in &status.listening {
                writeln!(out, "listening={port}")?;
            }
            for s in &status.streams {
                let state = match s.state {
                    StreamState::Connecting => "connecting",
                    StreamState::Established => "established",
                    StreamState::Closing => "closing",
                    StreamState::Closed => "closed",
                };
                let origin = if s.accepted { "accepted" } else { "opened" };
                writeln!(
                    out,
                    "stream={} link={} state={state} port={} origin={origin}",
                    s.id, s.link, s.port
                )?;
            }
            writeln!(out, "ok")
        }
        Response::Links(links) => {
            for link in links {
                write!(out, "link={} local={} ", link.index, link.local)?;
                match link.peer {
                    Some(peer) => write!(out, "peer={peer} ")?,
                    None => write!(out, "peer=none ")?,
                }
                match link.state {
                    LinkState::Up => write!(out, "state=up ")?,
                    LinkState::Down(reason) => write!(out, "state=down reason={} ", reason.name())?,
                }
                match link.peer_id {
                    Some(id) => {
                        write!(out, "peer_dna=")?;
                        id.dna.iter().try_for_each(|b| write!(out, "{b:02x}"))?;
                        write!(out, " peer_port={} ", id.port)?;
                    }
                    None => write!(out, "peer_dna=none peer_port=none ")?,
                }
                match link.ugn {
                    Some(ugn) => write!(out, "ugn={ugn} ")?,
                    None => write!(out, "ugn=none ")?,
                }
                writeln!(
                    out,
                    "frames_tx={} frames_rx={} link_retransmits={}",
                    link.frames_tx, link.frames_rx, link.link_retransmits
                )?;
            }
            writeln!(out, "ok")
        }
        Response::Stats(stats) => {
            for field in stats.fields() {
                writeln!(out, "{}={}", field.name, field.value)?;
            }
            writeln!(out, "ok")
        }
        Response::Pong { peer, rtt_ns } => writeln!(out, "ok peer={peer} rtt_ns={rtt_ns}"),
        Response::Error(e) => writeln!(out, "error: {e}"),
    }
}

/// Printable ASCII as it is; anything else as `hex:..`, the form `send` takes,
/// so what `recv` prints can be sent back unchanged.
fn write_data(data: &[u8], out: &mut impl Write) -> fmt::Result {
    let printable = data.iter().all(|b| (0x20..0x7f).contains(b));
    if printable && !data.starts_with(b"hex:") {
        // Printable ASCII is UTF-8.
        return out.write_str(core::str::from_utf8(data).unwrap_or_default());
    }
    out.write_str("hex:")?;
    data.iter().try_for_each(|b| write!(out, "{b:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidenet_core::Error;

    fn text(response: &Response<'_>) -> std::string::String {
        let mut out = std::string::String::new();
        render(response, &mut out).unwrap();
        out
    }

    #[test]
    fn a_reset_reads_apart_from_a_close_in_one_error_line() {
        let reset = text(&Response::Error(Error::StreamReset(2)));
        assert!(
            reset.starts_with("error: stream-reset: stream 2 was reset before the peer closed it"),
            "{reset:?}"
        );
        assert!(reset.contains("reconnect"), "it says what to do: {reset:?}");
        assert_eq!(reset.lines().count(), 1, "{reset:?}");
        let closed = text(&Response::Error(Error::StreamClosed(2)));
        assert!(closed.starts_with("error: stream-closed: "), "{closed:?}");
    }
}
