//! Terminals: pseudo-terminals, raw mode, and signals taken by a thread.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// The signals a session takes itself, so that it cleans up on each.
const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// A pseudo-terminal: the master end the relay uses, and the slave end kept
/// open so that the master keeps working between the people who attach.
pub(crate) struct Pty {
    pub(crate) master: File,
    pub(crate) path: String,
    _slave: File,
}

impl Pty {
    pub(crate) fn open() -> io::Result<Pty> {
        // SAFETY: plain libc calls on a descriptor this function owns; the
        // name buffer is large enough and NUL-terminated by ptsname_r.
        let (master, path) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            if fd < 0 {
                return Err(os_error("posix_openpt"));
            }
            let master = File::from_raw_fd(fd);
            if libc::grantpt(fd) != 0 {
                return Err(os_error("grantpt"));
            }
            if libc::unlockpt(fd) != 0 {
                return Err(os_error("unlockpt"));
            }
            let mut name = [0 as libc::c_char; 256];
            let rc = libc::ptsname_r(fd, name.as_mut_ptr(), name.len());
            if rc != 0 {
                let e = io::Error::from_raw_os_error(rc);
                return Err(io::Error::new(e.kind(), format!("ptsname_r: {e}")));
            }
            let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
            (master, path)
        };
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {path}: {e}")))?;
        // Raw, so the terminal neither echoes the node's output back into it
        // nor rewrites line endings; screen and picocom set raw mode too.
        make_raw(slave.as_raw_fd())?;
        Ok(Pty {
            master,
            path,
            _slave: slave,
        })
    }
}

/// A terminal in raw mode: no echo, no line buffering, no signals from keys,
/// no output processing. Dropping it restores the settings it found.
pub(crate) struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    pub(crate) fn enter(fd: RawFd) -> io::Result<RawMode> {
        make_raw(fd).map(|saved| RawMode { fd, saved })
    }
}

/// Puts the terminal `fd` in raw mode; returns the settings it had.
pub(crate) fn make_raw(fd: RawFd) -> io::Result<libc::termios> {
    let mut termios = MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios on success, checked before use.
    let saved = unsafe {
        if libc::tcgetattr(fd, termios.as_mut_ptr()) != 0 {
            return Err(os_error("tcgetattr"));
        }
        termios.assume_init()
    };
    let mut raw = saved;
    // SAFETY: cfmakeraw edits the struct it is given; tcsetattr reads it.
    unsafe {
        libc::cfmakeraw(&mut raw);
        if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
            return Err(os_error("tcsetattr"));
        }
    }
    Ok(saved)
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved);
        }
    }
}

/// The last OS error, with the call that failed.
pub(crate) fn os_error(call: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{call}: {e}"))
}

/// Blocks [`SIGNALS`] in this thread and the threads it starts.
pub(crate) fn block_signals() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before anything reads it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for signal in SIGNALS {
            libc::sigaddset(set.as_mut_ptr(), signal);
        }
        let set = set.assume_init();
        match libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) {
            0 => Ok(set),
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }
}

/// Waits for one of the blocked signals in `set`.
pub(crate) fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    let mut signal = 0;
    loop {
        // SAFETY: `set` is initialised and `signal` is a valid out-pointer.
        if unsafe { libc::sigwait(set, &mut signal) } == 0 {
            return signal;
        }
    }
}
