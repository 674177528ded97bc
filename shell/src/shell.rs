//! The shell on one UART: typed lines and binary frames, one request at a time.

use core::cell::RefCell;
use core::fmt::Write as _;

use embedded_cli::cli::{Cli, CliBuilder};
use embedded_cli::command::RawCommand;
use embedded_io::{Read, ReadReady, Write};
use heapless::Deque;
use tidenet_core::node::Node;
use tidenet_core::proto::{self, Header, Response, MAX_MESSAGE};
use tidenet_core::time::Instant;
use tidenet_core::{Error, Transport};

use crate::command::{self, Commands, Fault};
use crate::frame::{Framed, Framer, PROBE_MAX};
use crate::port::{Lines, Port, Tx};
use crate::render::render;

/// The longest typed line, in bytes.
pub const LINE_MAX: usize = 256;
/// Bytes of command history.
pub const HISTORY: usize = 256;
/// The longest binary frame: a whole message after COBS, which adds one byte
/// in 254, plus one.
pub const FRAME_MAX: usize = MAX_MESSAGE + MAX_MESSAGE / 254 + 1;
/// What the shell prints when it waits for a line.
pub const PROMPT: &str = "> ";
/// Bytes of input the shell takes off the UART while a request runs, to
/// run once it is done. A 16550 holds 16 bytes; at 921600 baud it fills in
/// under 200 µs, and `ping` or `remote` may wait a second.
pub const TYPEAHEAD: usize = 256;

/// Memory for one [`Shell`], kept by the caller (static, or on the stack) so
/// the shell allocates nothing, in the manner of embassy-net's resources.
pub struct Resources<U> {
    port: RefCell<Port<U>>,
    line: [u8; LINE_MAX],
    history: [u8; HISTORY],
    frame: [u8; FRAME_MAX],
    message: [u8; MAX_MESSAGE],
    data: [u8; LINE_MAX / 2],
    inner: [u8; MAX_MESSAGE],
    typeahead: Deque<u8, TYPEAHEAD>,
}

impl<U> Resources<U> {
    /// Resources for a shell on `uart`.
    pub const fn new(uart: U) -> Self {
        Resources {
            port: RefCell::new(Port {
                uart,
                muted: false,
                written: 0,
            }),
            line: [0; LINE_MAX],
            history: [0; HISTORY],
            frame: [0; FRAME_MAX],
            message: [0; MAX_MESSAGE],
            data: [0; LINE_MAX / 2],
            inner: [0; MAX_MESSAGE],
            typeahead: Deque::new(),
        }
    }
}

/// Where the reply to the running request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Binary,
}

/// Follows the line editor's input decoding (escape sequences, UTF-8) to tell
/// which bytes it echoes when the line has room: if one of those is not
/// echoed, the line is full. Mirrors embedded-cli 0.2.1's `InputGenerator`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Keys {
    escape: Escape,
    /// UTF-8 continuation bytes still to come.
    utf8: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Started,
    /// Inside `ESC [ ...`, until a byte from 0x40 to 0x7e.
    Sequence,
}

impl Keys {
    /// Whether the editor echoes `byte` when the line has room.
    fn echoes(&mut self, byte: u8) -> bool {
        match (self.escape, byte) {
            (Escape::Sequence, b) => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                false
            }
            (Escape::Started, b'[') => {
                self.escape = Escape::Sequence;
                false
            }
            (_, 0x1b) => {
                self.escape = Escape::Started;
                false
            }
            (_, b) => {
                self.escape = Escape::None;
                self.completes_char(b)
            }
        }
    }

    /// Whether `byte` completes a character, as the editor's UTF-8 decoder
    /// sees it; control bytes are not characters.
    fn completes_char(&mut self, byte: u8) -> bool {
        match byte {
            0x00..=0x1f => false,
            0x20..=0x7f => {
                self.utf8 = 0;
                true
            }
            0xc0..=0xdf => {
                self.utf8 = 1;
                false
            }
            0xe0..=0xef => {
                self.utf8 = 2;
                false
            }
            0xf0..=0xf7 => {
                self.utf8 = 3;
                false
            }
            0x80..=0xbf if self.utf8 > 0 => {
                self.utf8 -= 1;
                self.utf8 == 0
            }
            _ => false,
        }
    }

    /// Whether the editor is inside an escape sequence, where it would take
    /// Enter as one of the sequence's bytes.
    fn in_sequence(&self) -> bool {
        self.escape == Escape::Sequence
    }
}

/// The node's shell on one UART. See the crate docs.
pub struct Shell<'a, U: Write> {
    cli: Cli<Tx<'a, U>, U::Error, &'a mut [u8], &'a mut [u8]>,
    port: &'a RefCell<Port<U>>,
    framer: Framer<'a>,
    message: &'a mut [u8],
    data: &'a mut [u8],
    inner: &'a mut [u8],
    /// The request the node is running, if any; input is held in
    /// `typeahead` meanwhile.
    waiting: Option<Mode>,
    typeahead: &'a mut Deque<u8, TYPEAHEAD>,
    /// Bytes of a frame found to be noise, to be read again as text before
    /// the type-ahead and the UART.
    replay: Deque<u8, PROBE_MAX>,
    /// The line is in binary use: since the last Enter, a frame that decoded
    /// as a request has been answered. Errors about frames the shell could
    /// not read then go out as frames; otherwise as text.
    binary: bool,
    tag: u16,
    keys: Keys,
    /// The line being typed no longer fits.
    overflow: bool,
}

impl<'a, U: Read + ReadReady + Write> Shell<'a, U> {
    /// A shell on the UART in `resources`; prints the first prompt.
    pub fn new(resources: &'a mut Resources<U>) -> Result<Self, U::Error> {
        let Resources {
            port,
            line,
            history,
            frame,
            message,
            data,
            inner,
            typeahead,
        } = resources;
        let port = &*port;
        let cli = CliBuilder::default()
            .writer(Tx(port))
            .command_buffer(&mut line[..])
            .history_buffer(&mut history[..])
            .prompt(PROMPT)
            .build()?;
        Ok(Shell {
            cli,
            port,
            framer: Framer::new(frame),
            message,
            data,
            inner,
            waiting: None,
            typeahead,
            replay: Deque::new(),
            binary: false,
            tag: 0,
            keys: Keys::default(),
            overflow: false,
        })
    }

    /// Reads what the UART has, hands complete requests to `node`, and writes
    /// replies. While a request runs, input is taken off the UART into a
    /// [`TYPEAHEAD`]-byte buffer, so a small hardware FIFO does not overrun,
    /// and runs once the reply is out. Returns whether anything happened.
    pub fn poll<T: Transport, const N: usize>(
        &mut self,
        node: &mut Node<T, N>,
        now: Instant,
    ) -> Result<bool, U::Error> {
        let mut active = false;
        if let Some(mode) = self.waiting {
            let Some(reply) = node.take_reply() else {
                return self.hold_input();
            };
            self.waiting = None;
            self.deliver(mode, reply)?;
            active = true;
        }
        if let Some(e) = self.framer.expire(now) {
            self.frame_error(e)?;
            active = true;
        }
        while self.waiting.is_none() {
            let Some(byte) = self.read_byte()? else {
                break;
            };
            active = true;
            match self.framer.push(byte, now) {
                Framed::Text(byte) => self.on_key(byte, node, now)?,
                Framed::Pending => {}
                Framed::Frame(len) => {
                    let Some(message) = self.framer.buf().get(..len) else {
                        continue;
                    };
                    // A header the node cannot read makes the frame one the
                    // shell could not read; any other is answered under its
                    // tag, and a request marks the line as in binary use.
                    let Ok((header, body)) = proto::split(message) else {
                        self.frame_error(Error::MalformedRequest)?;
                        continue;
                    };
                    self.binary |= proto::decode_request(header, body).is_ok();
                    match node.request(message, now) {
                        Ok(()) => self.waiting = Some(Mode::Binary),
                        Err(e) => self.write_error_frame(e)?,
                    }
                }
                Framed::Bad(e) => self.frame_error(e)?,
                Framed::Noise(bytes) => {
                    // Cannot fail: no byte reaches the framer while any are
                    // left to replay, and both hold PROBE_MAX.
                    for byte in bytes {
                        let _ = self.replay.push_back(byte);
                    }
                }
            }
            if let Some(mode) = self.waiting {
                if let Some(reply) = node.take_reply() {
                    self.waiting = None;
                    self.deliver(mode, reply)?;
                }
            }
        }
        if self.waiting.is_some() {
            active |= self.hold_input()?;
        }
        Ok(active)
    }

    /// Moves what the UART has into the type-ahead buffer, while it has
    /// room. Returns whether it took anything.
    fn hold_input(&mut self) -> Result<bool, U::Error> {
        let mut took = false;
        while !self.typeahead.is_full() {
            let Some(byte) = self.read_uart()? else {
                break;
            };
            // Cannot fail: checked for room above.
            let _ = self.typeahead.push_back(byte);
            took = true;
        }
        Ok(took)
    }

    /// When [`poll`](Shell::poll) must run next at the latest: when a half
    /// frame times out. Input and replies come sooner.
    pub fn poll_at(&self) -> Option<Instant> {
        self.framer.expires_at()
    }

    /// The next input byte: replayed noise first, then held ones, then the
    /// UART's.
    fn read_byte(&mut self) -> Result<Option<u8>, U::Error> {
        match self
            .replay
            .pop_front()
            .or_else(|| self.typeahead.pop_front())
        {
            Some(byte) => Ok(Some(byte)),
            None => self.read_uart(),
        }
    }

    fn read_uart(&mut self) -> Result<Option<u8>, U::Error> {
        let Ok(mut port) = self.port.try_borrow_mut() else {
            return Ok(None);
        };
        if !port.uart.read_ready()? {
            return Ok(None);
        }
        let mut byte = [0u8];
        Ok((port.uart.read(&mut byte)? == 1).then_some(byte[0]))
    }

    /// Feeds one typed byte to the line editor, running the line on Enter.
    fn on_key<T: Transport, const N: usize>(
        &mut self,
        byte: u8,
        node: &mut Node<T, N>,
        now: Instant,
    ) -> Result<(), U::Error> {
        let enter = byte == b'\r' || byte == b'\n';
        if enter {
            // A person is at the line; or a script typed, and wants text.
            self.binary = false;
        }
        if enter && self.keys.in_sequence() {
            // Line noise left a sequence open; end it with a final byte the
            // editor ignores, so that Enter still runs the line.
            self.on_key(b'~', node, now)?;
        }
        let echoes = self.keys.echoes(byte);
        let written = self.port.borrow().written;
        let overflow = self.overflow;
        let mut ran = false;
        let (port, data, inner, message) = (
            self.port,
            &mut *self.data,
            &mut *self.inner,
            &mut *self.message,
        );
        let (waiting, tag) = (&mut self.waiting, &mut self.tag);
        self.cli.process_byte::<Commands<'_>, _>(
            byte,
            &mut RawCommand::processor(|cli, raw| {
                ran = true;
                let out = cli.writer();
                if overflow {
                    let _ = writeln!(out, "error: {}", Fault::LineTooLong { max: LINE_MAX });
                    return Ok(());
                }
                let request = match command::parse(raw, data, inner) {
                    Ok(request) => request,
                    Err(fault) => {
                        let _ = writeln!(out, "error: {fault}");
                        return Ok(());
                    }
                };
                *tag = tag.wrapping_add(1);
                let started = proto::encode(Header::new(*tag), &request, message)
                    .and_then(|len| node.request(&message[..len], now));
                if let Err(e) = started {
                    let _ = writeln!(out, "error: {e}");
                    return Ok(());
                }
                match node.take_reply() {
                    Some(reply) => {
                        let _ = render_reply(reply, out);
                    }
                    None => {
                        // The reply comes in a later poll, which prints the
                        // prompt after it; the editor's prompt now would be
                        // printed above the reply.
                        *waiting = Some(Mode::Text);
                        port.borrow_mut().muted = true;
                    }
                }
                Ok(())
            }),
        )?;
        self.port.borrow_mut().muted = false;
        if echoes && self.port.borrow().written == written {
            self.overflow = true;
        }
        if enter {
            if self.overflow && !ran {
                // A full line of spaces runs no command; say so all the same.
                self.cli.write(|w| {
                    let _ = writeln!(w, "error: {}", Fault::LineTooLong { max: LINE_MAX });
                    Ok(())
                })?;
            }
            self.overflow = false;
        }
        Ok(())
    }

    /// Writes the reply to the request that was running.
    fn deliver(&mut self, mode: Mode, reply: &[u8]) -> Result<(), U::Error> {
        match mode {
            Mode::Binary => self.write_frame(reply),
            Mode::Text => {
                let mut port = self.port.borrow_mut();
                let mut lines = Lines {
                    uart: &mut port.uart,
                    error: None,
                };
                let _ = render_reply(reply, &mut lines).and_then(|()| lines.write_str(PROMPT));
                match lines.error {
                    Some(e) => Err(e),
                    None => port.uart.flush(),
                }
            }
        }
    }

    /// Reports a frame the shell could not read: under tag 0 while the line
    /// is in binary use, else as a text line above the one being typed.
    fn frame_error(&mut self, e: Error) -> Result<(), U::Error> {
        if self.binary {
            return self.write_error_frame(e);
        }
        self.cli.write(|w| {
            let _ = writeln!(w, "error: {e}");
            Ok(())
        })
    }

    /// Answers a frame that could not be used, under tag 0.
    fn write_error_frame(&mut self, e: Error) -> Result<(), U::Error> {
        let len = proto::encode(Header::new(0), &Response::Error(e), self.message).unwrap_or(0);
        let (message, port) = (&self.message[..len], self.port);
        write_cobs(&mut port.borrow_mut().uart, message, self.framer.buf())
    }

    fn write_frame(&mut self, message: &[u8]) -> Result<(), U::Error> {
        write_cobs(&mut self.port.borrow_mut().uart, message, self.framer.buf())
    }
}

/// Writes `message` as `0x00 <COBS> 0x00`, encoding it in `scratch`.
fn write_cobs<U: Write>(uart: &mut U, message: &[u8], scratch: &mut [u8]) -> Result<(), U::Error> {
    // A message fits FRAME_MAX by construction; a failure writes an empty frame,
    // which the client reads as malformed rather than waiting forever.
    let len = cobs::try_encode(message, scratch).unwrap_or(0);
    uart.write_all(&[0])?;
    uart.write_all(&scratch[..len])?;
    uart.write_all(&[0])?;
    uart.flush()
}

fn render_reply(reply: &[u8], out: &mut impl core::fmt::Write) -> core::fmt::Result {
    match proto::decode_response(reply) {
        Ok((_, response)) => render(&response, out),
        Err(e) => writeln!(out, "error: {e}"),
    }
}
