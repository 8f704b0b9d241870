//! Unix `SOCK_SEQPACKET` sockets (std has none): the daemon listens, any number of readers connect; each packet is
//! one whole payload (no COBS, no CRC: the kernel delivers packets whole or not at all).

use super::sys::{cvt, cvt_size};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() || bytes.len() >= a.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path must be 1–{} bytes without NUL", a.sun_path.len() - 1),
        ));
    }
    for (d, &s) in a.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((a, len as libc::socklen_t))
}

fn seqpacket_socket(nonblocking: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2); the returned descriptor is owned by the OwnedFd.
    let fd = cvt(unsafe { libc::socket(libc::AF_UNIX, ty, 0) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mode of the daemon's socket file: owner and group may connect (connecting needs write permission), others not.
/// The group is the daemon's (the unit's `Group=`; see `boards/README.md`), so robot processes are let in by group.
pub const SOCKET_MODE: u32 = 0o660;

/// A listening socket; the socket file is removed when it is dropped.
pub struct Listener {
    fd: OwnedFd,
    path: PathBuf,
}

impl Listener {
    /// Bind and listen at `path` (non-blocking), the file's mode set to [`SOCKET_MODE`]. A stale socket file left
    /// by a dead daemon is replaced; any other kind of file there is an error.
    pub fn bind(path: &Path) -> io::Result<Listener> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_socket() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket"));
            }
            if Conn::connect(path).is_ok() {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, "another daemon is listening there"));
            }
            std::fs::remove_file(path)?;
        }
        let (addr, len) = sockaddr(path)?;
        let fd = seqpacket_socket(true)?;
        // SAFETY: `addr` is a valid sockaddr_un of length `len`.
        cvt(unsafe { libc::bind(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) })?;
        // Restrict the file before anyone can be accepted (listen(2) comes after): the mode bind(2) gave depends on
        // the umask, which may let every local user connect.
        {
            use std::os::unix::fs::PermissionsExt;
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)) {
                let _ = std::fs::remove_file(path);
                return Err(e);
            }
        }
        // SAFETY: listen(2) on our own socket.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), 16) })?;
        Ok(Listener { fd, path: path.to_path_buf() })
    }

    /// Accept one pending connection, if any (non-blocking; the connection is non-blocking too).
    pub fn accept(&self) -> io::Result<Option<Conn>> {
        // SAFETY: accept4 with null address pointers is allowed.
        let r = unsafe {
            libc::accept4(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        match cvt(r) {
            // SAFETY: a fresh descriptor from accept4.
            Ok(fd) => Ok(Some(Conn { fd: unsafe { OwnedFd::from_raw_fd(fd) } })),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// What a non-blocking receive found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// A packet of this many bytes is in the buffer.
    Packet(usize),
    /// A packet longer than the buffer arrived and was discarded (its true length).
    Oversize(usize),
    /// Nothing pending.
    Empty,
    /// The peer closed the connection.
    Closed,
}

/// One connected `SOCK_SEQPACKET` socket.
pub struct Conn {
    fd: OwnedFd,
}

impl Conn {
    /// Connect to a daemon's socket (blocking mode).
    pub fn connect(path: &Path) -> io::Result<Conn> {
        let (addr, len) = sockaddr(path)?;
        let fd = seqpacket_socket(false)?;
        // SAFETY: `addr` is a valid sockaddr_un of length `len`.
        cvt(unsafe { libc::connect(fd.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) })?;
        Ok(Conn { fd })
    }

    /// Limit how long a blocking [`Conn::recv`] waits (`None`: forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        let tv = match t {
            Some(d) => libc::timeval { tv_sec: d.as_secs() as libc::time_t, tv_usec: d.subsec_micros() as _ },
            None => libc::timeval { tv_sec: 0, tv_usec: 0 },
        };
        // SAFETY: SO_RCVTIMEO takes a timeval of this size.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Limit the kernel's send buffer (bytes): how much a slow reader can fall behind before drops start.
    pub fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: SO_SNDBUF takes an int.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                &v as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Send one packet without blocking: `Ok(true)` sent, `Ok(false)` the peer's queue is full (try later).
    /// A vanished peer is an error (`EPIPE`/`ECONNRESET`), never a signal.
    pub fn send(&self, packet: &[u8]) -> io::Result<bool> {
        // SAFETY: `packet` is a valid readable buffer.
        let r = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                packet.as_ptr() as *const libc::c_void,
                packet.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        match cvt_size(r) {
            Ok(_) => Ok(true),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Receive one packet; `wait` blocks (up to the read timeout, then [`Recv::Empty`]).
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<Recv> {
        let flags = libc::MSG_TRUNC | if wait { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: `buf` is a valid writable buffer of its length.
        let r = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr() as *mut libc::c_void, buf.len(), flags) };
        match cvt_size(r) {
            Ok(0) => Ok(Recv::Closed),
            Ok(n) if n > buf.len() => Ok(Recv::Oversize(n)),
            Ok(n) => Ok(Recv::Packet(n)),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => Ok(Recv::Empty),
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Ok(Recv::Closed),
            Err(e) => Err(e),
        }
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
