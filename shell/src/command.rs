//! Typed shell commands, and how each becomes a [`Request`].

use core::fmt;
use core::net::IpAddr;

use embedded_cli::arguments::Arg;
use embedded_cli::command::RawCommand;
use embedded_cli::service::{FromRaw, ParseError};
use embedded_cli::Command;
use tidenet_core::proto::{Peer, Request, MAX_DATA};
use tidenet_core::Error;

/// The port `connect` uses when none is given: the demo's.
pub const DEFAULT_PORT: u16 = 7000;

/// The commands, as embedded-cli parses them and `help` lists them. The doc
/// comments are the help text. Keep them in alphabetical order: embedded-cli's
/// tab completion assumes it.
#[derive(Command)]
pub(crate) enum Commands<'a> {
    /// Close a stream
    Close {
        /// A stream id
        conn: u8,
    },

    /// Open a stream; prints its id
    Connect {
        /// A link index from 'links', or a peer address
        peer: &'a str,

        /// The peer's listening port (default 7000)
        port: Option<u16>,
    },

    /// List the links and the peer at the far end of each
    Links,

    /// Accept streams on a port; they appear in 'status'
    Listen {
        /// The port, 1 to 65535
        port: u16,
    },

    /// The same as links
    Peers,

    /// Measure the round trip to a peer
    Ping {
        /// A link index or a peer address
        peer: &'a str,
    },

    /// Show the bytes a stream has received (does not wait)
    Recv {
        /// A stream id
        conn: u8,
    },

    /// Run a command on the peer node and show its reply: remote 0 stats
    // Listed for help and completion; `parse` reads its trailing command by
    // hand, since embedded-cli has no rest-of-line argument.
    #[allow(dead_code)]
    Remote {
        /// A link index or a peer address
        peer: &'a str,

        /// The command and its arguments
        command: &'a str,
    },

    /// Queue text, or bytes written hex:0a1b.., on a stream
    Send {
        /// A stream id from 'connect' or 'status'
        conn: u8,

        /// The data; quote text with spaces
        data: &'a str,
    },

    /// Show the counters of every link added up, or of one; 'stats reset'
    /// zeroes them
    Stats {
        /// A link, as 'links' lists them, or 'reset' to zero the counters
        what: Option<&'a str>,

        /// After 'reset': the one link to zero
        link: Option<&'a str>,
    },

    /// Show this node's protocol version, stack, link count, listening
    /// ports and streams
    Status,
}

/// What was wrong with a typed line. The text follows the shell's
/// `error: <kind>: <what to do>` form.
#[derive(Debug, PartialEq, Eq)]
pub enum Fault<'a> {
    /// The line filled the line buffer.
    LineTooLong {
        /// The buffer's size.
        max: usize,
    },
    /// No command has this name.
    UnknownCommand(&'a str),
    /// A required argument was left out.
    MissingArgument {
        /// The command.
        command: &'a str,
        /// The argument, as help names it.
        name: &'a str,
    },
    /// An argument did not parse.
    BadArgument {
        /// The command.
        command: &'a str,
        /// What was typed.
        value: &'a str,
        /// What was expected instead.
        expected: &'static str,
    },
    /// An argument too many.
    UnexpectedArgument {
        /// The command.
        command: &'a str,
        /// The extra argument.
        value: &'a str,
    },
    /// An option (`-x`, `--name`); no command takes any.
    UnexpectedOption {
        /// The command.
        command: &'a str,
    },
    /// The node would refuse it; said before it is sent.
    Refused(Error),
}

impl fmt::Display for Fault<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::LineTooLong { max } => write!(
                f,
                "line-too-long: the line exceeded {max} bytes and was dropped; send long data in parts or in binary mode"
            ),
            Fault::UnknownCommand(name) => {
                write!(f, "unknown-command: '{name}' is not a command; type 'help' for the list")
            }
            Fault::MissingArgument { command, name } => {
                write!(f, "missing-argument: '{command}' needs {name}; see '{command} --help'")
            }
            Fault::BadArgument {
                command,
                value,
                expected,
            } => write!(
                f,
                "bad-argument: '{value}' is not {expected}; see '{command} --help'"
            ),
            Fault::UnexpectedArgument { command, value } => write!(
                f,
                "unexpected-argument: '{value}' is one too many for '{command}'; quote text with spaces"
            ),
            Fault::UnexpectedOption { command } => write!(
                f,
                "unexpected-option: '{command}' takes no options; put '--' before text that starts with '-'"
            ),
            Fault::Refused(e) => write!(f, "{e}"),
        }
    }
}

/// Parses a line into a request. `data` holds decoded `send` bytes and
/// `inner` the encoded request of a `remote`.
pub(crate) fn parse<'a>(
    raw: RawCommand<'a>,
    data: &'a mut [u8],
    inner: &'a mut [u8],
) -> Result<Request<'a>, Fault<'a>> {
    if raw.name() != "remote" {
        return parse_local(raw, data);
    }
    let mut args = raw.args().args();
    let peer = match args.next() {
        Some(Ok(Arg::Value(peer))) => parse_peer("remote", peer)?,
        _ => {
            return Err(Fault::MissingArgument {
                command: "remote",
                name: "<PEER>",
            })
        }
    };
    let Some(Ok(Arg::Value(name))) = args.next() else {
        return Err(Fault::MissingArgument {
            command: "remote",
            name: "<COMMAND>",
        });
    };
    let request = parse_local(RawCommand::new(name, args.into_args()), data)?;
    let encoded = postcard::to_slice(&request, inner).map_err(|_| {
        Fault::Refused(Error::message_too_large(
            postcard::experimental::serialized_size(&request).unwrap_or(usize::MAX),
            MAX_DATA,
        ))
    })?;
    Ok(Request::Remote {
        peer,
        request: encoded,
    })
}

fn parse_local<'a>(raw: RawCommand<'a>, data: &'a mut [u8]) -> Result<Request<'a>, Fault<'a>> {
    let command = raw.name();
    // The derive ignores arguments to commands that take none; refuse them.
    let extra = match raw.args().args().next() {
        Some(Ok(Arg::Value(value))) => Some(Fault::UnexpectedArgument { command, value }),
        Some(_) => Some(Fault::UnexpectedOption { command }),
        None => None,
    };
    let no_arguments = |request| extra.map_or(Ok(request), Err);
    let parsed = Commands::parse(raw).map_err(|e| match e {
        ParseError::UnknownCommand => Fault::UnknownCommand(command),
        ParseError::MissingRequiredArgument { name } => Fault::MissingArgument { command, name },
        ParseError::ParseValueError { value, expected } => Fault::BadArgument {
            command,
            value,
            expected: match expected {
                "u8" => "a number from 0 to 255",
                "u16" => "a number from 0 to 65535",
                other => other,
            },
        },
        ParseError::UnexpectedArgument { value } => Fault::UnexpectedArgument { command, value },
        _ => Fault::UnexpectedOption { command },
    })?;
    Ok(match parsed {
        Commands::Status => no_arguments(Request::Status)?,
        Commands::Links | Commands::Peers => no_arguments(Request::Links)?,
        Commands::Connect { peer, port } => Request::Connect {
            peer: parse_peer(command, peer)?,
            port: nonzero_port(port.unwrap_or(DEFAULT_PORT))?,
        },
        Commands::Listen { port } => Request::Listen {
            port: nonzero_port(port)?,
        },
        Commands::Send { conn, data: text } => Request::Send {
            stream: conn,
            data: parse_data(text, data)?,
        },
        Commands::Recv { conn } => Request::Recv {
            stream: conn,
            max: MAX_DATA as u16,
        },
        Commands::Close { conn } => Request::Close { stream: conn },
        Commands::Ping { peer } => Request::Ping {
            peer: parse_peer(command, peer)?,
        },
        Commands::Stats { what, link } => {
            let link_number = |value: &'a str, expected| {
                value.parse().map_err(|_| Fault::BadArgument {
                    command,
                    value,
                    expected,
                })
            };
            match (what, link) {
                (None, _) => Request::Stats { link: None },
                (Some("reset"), None) => Request::ResetStats { link: None },
                (Some("reset"), Some(link)) => Request::ResetStats {
                    link: Some(link_number(link, "a link number")?),
                },
                (Some(what), None) => Request::Stats {
                    link: Some(link_number(what, "a link number or 'reset'")?),
                },
                (Some(_), Some(value)) => return Err(Fault::UnexpectedArgument { command, value }),
            }
        }
        Commands::Remote { .. } => return Err(Fault::Refused(Error::NotRemotable)),
    })
}

fn parse_peer<'a>(command: &'a str, peer: &'a str) -> Result<Peer, Fault<'a>> {
    if let Ok(index) = peer.parse::<u8>() {
        return Ok(Peer::Link(index));
    }
    peer.parse::<IpAddr>()
        .map(Peer::Addr)
        .map_err(|_| Fault::BadArgument {
            command,
            value: peer,
            expected: "a link index from 'links' or an address like 169.254.1.2",
        })
}

fn nonzero_port(port: u16) -> Result<u16, Fault<'static>> {
    match port {
        0 => Err(Fault::Refused(Error::InvalidPort)),
        _ => Ok(port),
    }
}

/// `hex:0a1b..` as bytes, anything else as its UTF-8 bytes.
fn parse_data<'a>(text: &'a str, buf: &'a mut [u8]) -> Result<&'a [u8], Fault<'a>> {
    let Some(hex) = text.strip_prefix("hex:") else {
        return Ok(text.as_bytes());
    };
    let bad = Fault::BadArgument {
        command: "send",
        value: text,
        expected: "hex: followed by pairs of hex digits",
    };
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 || digits.len() / 2 > buf.len() {
        return Err(bad);
    }
    let nibble = |c: u8| char::from(c).to_digit(16);
    for (byte, pair) in buf.iter_mut().zip(digits.chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => *byte = (hi << 4 | lo) as u8,
            _ => return Err(bad),
        }
    }
    Ok(&buf[..digits.len() / 2])
}
