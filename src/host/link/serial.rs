//! Serial ports through termios: raw 8N1, no flow control, non-blocking; and pseudo-terminal pairs for tests.

use super::sys::{cvt, cvt_size};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// termios speed constant for a baud rate (the standard rates only).
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        500_000 => libc::B500000,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        2_000_000 => libc::B2000000,
        3_000_000 => libc::B3000000,
        4_000_000 => libc::B4000000,
        _ => return None,
    })
}

/// The baud rates [`Serial::open`] accepts.
pub const BAUD_RATES: &str = "9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000, 2000000, \
                              3000000, 4000000";

/// Put `fd` in raw 8N1 mode at `baud`, no flow control, reads return what is there.
fn make_raw(fd: RawFd, baud: u32) -> io::Result<()> {
    let sp = speed(baud).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("unsupported baud rate {baud} (use one of {BAUD_RATES})"))
    })?;
    // SAFETY: an all-zero termios is a valid buffer for tcgetattr to fill.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor and `t` a valid termios.
    unsafe {
        cvt(libc::tcgetattr(fd, &mut t))?;
        libc::cfmakeraw(&mut t);
        t.c_cflag |= libc::CLOCAL | libc::CREAD;
        t.c_cflag &= !(libc::CRTSCTS | libc::CSTOPB | libc::PARENB);
        t.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        cvt(libc::cfsetispeed(&mut t, sp))?;
        cvt(libc::cfsetospeed(&mut t, sp))?;
        cvt(libc::tcsetattr(fd, libc::TCSANOW, &t))?;
    }
    Ok(())
}

/// An open serial port (or pseudo-terminal) in raw, non-blocking mode.
pub struct Serial {
    fd: OwnedFd,
}

impl Serial {
    /// Open `path` at `baud` (raw 8N1, non-blocking, not the controlling terminal).
    pub fn open(path: &Path, baud: u32) -> io::Result<Serial> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        // SAFETY: `c` is a valid C string.
        let fd =
            cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        make_raw(fd.as_raw_fd(), baud)?;
        Ok(Serial { fd })
    }

    /// Read what is available (`Ok(0)`: nothing now).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length.
        let r = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        match cvt_size(r) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Write what fits now (`Ok(0)`: the output queue is full).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for reads of its length.
        let r = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr() as *const libc::c_void, buf.len()) };
        match cvt_size(r) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Whether the other end is gone: the device was unplugged (USB adapters), or the terminal hung up (a
    /// pseudo-terminal's master closed). Reads then return nothing (or EIO) for ever; the port has to be reopened.
    pub fn hung_up(&self) -> bool {
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: 0, revents: 0 };
        // SAFETY: one valid pollfd; a zero timeout does not block.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }

    /// Wait up to `timeout_ms` for bytes to read; whether some are there.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
        }
        Ok(n > 0)
    }
}

impl AsRawFd for Serial {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A pseudo-terminal pair standing in for a UART (tests, simulations). The slave side is kept open here (in raw
/// mode) so the master never reads a hang-up while the program under test opens and closes it.
pub struct Pty {
    /// The master side: what the "robot" reads and writes.
    pub master: File,
    /// The slave side, held open.
    pub slave: File,
    /// The slave's path, for [`Serial::open`] or `--serial`.
    pub path: PathBuf,
}

/// Open a new pseudo-terminal pair, both sides raw.
pub fn open_pty() -> io::Result<Pty> {
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname_r on a descriptor we own; the name buffer is large enough
    // and NUL-terminated by ptsname_r on success.
    let (master, path) = unsafe {
        let m = cvt(libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC))?;
        let master = OwnedFd::from_raw_fd(m);
        cvt(libc::grantpt(m))?;
        cvt(libc::unlockpt(m))?;
        let mut name = [0 as libc::c_char; 128];
        let r = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
        if r != 0 {
            return Err(io::Error::from_raw_os_error(r));
        }
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_bytes().to_vec();
        (master, PathBuf::from(std::ffi::OsStr::from_bytes(&path)))
    };
    let slave = Serial::open(&path, 115_200)?;
    make_raw(master.as_raw_fd(), 115_200)?;
    Ok(Pty { master: File::from(master), slave: File::from(slave.fd), path })
}
