//! A terminal for PID 1's `/dev/console`, for inits that log only to a terminal: systemd opens
//! `/dev/console` for every message and drops it unless `isatty` holds (systemd/systemd:
//! src/basic/terminal-util.c (open_terminal) returns -ENOTTY). The launcher holds both ends of
//! a pseudo-terminal, binds the slave over the sandbox's `/dev/console`, and copies what
//! arrives on the master into the run's console log.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

/// Both ends of the console's pseudo-terminal, held by the launcher for the whole run: while
/// the slave is open here, PID 1 closing its own descriptors never hangs the terminal up.
#[derive(Debug)]
pub struct ConsoleTty {
    master: OwnedFd,
    _slave: OwnedFd,
    slave_path: PathBuf,
}

impl ConsoleTty {
    /// A new raw (no `\n` → `\r\n`) pseudo-terminal with a non-blocking master.
    pub fn open() -> std::io::Result<ConsoleTty> {
        let pty = nix::pty::openpty(None, None)?;
        let mut mode = tcgetattr(&pty.slave)?;
        cfmakeraw(&mut mode);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &mode)?;
        let flags = OFlag::from_bits_truncate(fcntl(&pty.master, FcntlArg::F_GETFL)?);
        fcntl(&pty.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        let slave_path = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))?;
        Ok(ConsoleTty {
            master: pty.master,
            _slave: pty.slave,
            slave_path,
        })
    }

    /// The slave's path on the host (`/dev/pts/N`), bound over the sandbox's `/dev/console`.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The master, to poll for output.
    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Append everything waiting on the master to `log`. Best effort: the console is for
    /// reading a run, never evidence a verdict rests on.
    pub fn copy_to(&self, log: &Path) {
        let mut buffer = [0u8; 16 * 1024];
        let mut master = std::fs::File::from(match self.master.try_clone() {
            Ok(fd) => fd,
            Err(_) => return,
        });
        let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        else {
            return;
        };
        // Stops at EAGAIN (nothing more now) or any error. Carriage returns go: systemd turns
        // output processing back on when it resets the terminal, and a log reads better
        // without them.
        while let Ok(length) = master.read(&mut buffer) {
            let text: Vec<u8> = buffer[..length]
                .iter()
                .copied()
                .filter(|byte| *byte != b'\r')
                .collect();
            if length == 0 || out.write_all(&text).is_err() {
                return;
            }
        }
    }
}
