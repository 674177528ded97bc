//! The node's shell: a person types commands on the UART, a script sends the
//! same requests as binary frames, and both reach the node as one protocol.
//!
//! Each typed line is parsed by embedded-cli (prompt, line editing, history,
//! tab completion and `help` come with it) into a
//! [`tidenet_core::proto::Request`], encoded with postcard and handed to a
//! [`tidenet_core::node::Node`], the one place requests run. The encoded
//! reply is decoded and printed as plain lines: rows of `key=value`, then one
//! line that starts with `ok` or `error: <kind>: <what to do>`.
//!
//! Binary mode shares the UART. A zero byte opens a COBS frame and the next
//! zero closes it; the node answers each frame with a frame, and typed text
//! between frames still works. A zero followed by bytes that cannot begin a
//! request is line noise: it is dropped and the bytes after it are text, so a
//! command typed right after noise still runs. Errors about frames the shell
//! could not read go out as frames only while a script is using the line (a
//! request has come as a frame since the last Enter), and as text lines
//! otherwise. See the `frame` module for the rules and the docs' shell
//! reference for the wire format.
//!
//! The shell knows no transport: it speaks only to a `Node` over any
//! [`tidenet_core::Transport`]. It is `#![no_std]` and allocation-free; the
//! `std` feature adds [`client`], which scripts and tests use to speak to a
//! shell over any byte stream.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(feature = "std")]
pub mod client;
mod command;
mod frame;
mod port;
mod render;
mod shell;

pub use command::{Fault, DEFAULT_PORT};
pub use frame::FRAME_TIMEOUT;
pub use render::render;
pub use shell::{Resources, Shell, FRAME_MAX, HISTORY, LINE_MAX, PROMPT, TYPEAHEAD};
