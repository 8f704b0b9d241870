//! Reading without hanging: every read waits at most a short slice (so a capture thread notices a stop request
//! within ~100 ms), FIFOs are opened without waiting for a writer, and child processes run in their own process
//! group so that stopping kills the whole pipeline (e.g. `gst-launch-1.0` and its threads), with SIGKILL for a child
//! that ignores SIGTERM.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one wait for data lasts before the stop flag is checked again.
pub const SLICE_MS: i32 = 100;

/// What a bounded read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    /// This many bytes.
    Data(usize),
    /// Nothing within the slice.
    Nothing,
    /// End of stream (the writer closed its end, or the file ended).
    End,
}

/// Wait up to `timeout_ms` for `fd` to become readable. `Ok(true)` when a read will not block.
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `p` is one valid pollfd and the count says 1.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
    }
    // POLLHUP (writer gone) and POLLERR also mean "a read returns now" (0 bytes or the error).
    Ok(r > 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
}

/// Read what is there from a pipe or FIFO, waiting at most one slice.
pub fn read_some(src: &mut impl ReadFd, buf: &mut [u8]) -> io::Result<Got> {
    if !wait_readable(src.raw_fd(), SLICE_MS)? {
        return Ok(Got::Nothing);
    }
    match src.read(buf) {
        Ok(0) => Ok(Got::End),
        Ok(n) => Ok(Got::Data(n)),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => Ok(Got::Nothing),
        Err(e) => Err(e),
    }
}

/// A readable file descriptor.
pub trait ReadFd: Read {
    /// Its descriptor, for `poll`.
    fn raw_fd(&self) -> RawFd;
}

impl ReadFd for File {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

impl ReadFd for ChildStdout {
    fn raw_fd(&self) -> RawFd {
        self.as_raw_fd()
    }
}

/// Whether `path` is a FIFO (named pipe).
pub fn is_fifo(path: &Path) -> io::Result<bool> {
    Ok(std::fs::metadata(path)?.file_type().is_fifo())
}

/// Open a FIFO for reading without blocking until a writer appears (reads then return "end" while no writer is
/// connected).
pub fn open_fifo(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)
}

/// Sleep `d` in slices, returning early (`false`) when `stop` is set.
pub fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(SLICE_MS as u64 / 2)));
    }
}

/// A command run through `sh -c` in its own process group, its stdout read by the capture thread, the tail of its
/// stderr kept for error messages. Dropping it stops the whole group (SIGTERM, then SIGKILL after 200 ms).
pub struct ChildStream {
    child: Child,
    /// The child's stdout.
    pub stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    stderr_tail: Vec<u8>,
}

impl ChildStream {
    /// Start `command` with `sh -c`; stdin is /dev/null.
    pub fn spawn(command: &str) -> io::Result<ChildStream> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout pipe"))?;
        let stderr = child.stderr.take();
        if let Some(e) = &stderr {
            set_nonblocking(e.as_raw_fd())?;
        }
        Ok(ChildStream { child, stdout, stderr, stderr_tail: Vec::new() })
    }

    /// The child's process id (= its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Keep the last 2 KiB of what the child wrote on stderr (non-blocking).
    pub fn collect_stderr(&mut self) {
        let Some(e) = &mut self.stderr else { return };
        let mut buf = [0u8; 1024];
        loop {
            match e.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    break;
                }
                Ok(n) => {
                    self.stderr_tail.extend_from_slice(&buf[..n]);
                    let over = self.stderr_tail.len().saturating_sub(2048);
                    self.stderr_tail.drain(..over);
                }
                Err(_) => break,
            }
        }
    }

    /// The child's stderr so far, last lines, trimmed.
    pub fn stderr_text(&mut self) -> String {
        self.collect_stderr();
        let t = String::from_utf8_lossy(&self.stderr_tail).trim().to_string();
        let lines: Vec<&str> = t.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// Wait up to `d` for the child to exit by itself.
    pub fn wait_exit(&mut self, d: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + d;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stop the process group: SIGTERM, up to 200 ms to exit, then SIGKILL; reaps the child.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            kill_group(self.pid(), libc::SIGKILL); // stragglers of the group
            return;
        }
        kill_group(self.pid(), libc::SIGTERM);
        if self.wait_exit(Duration::from_millis(200)).is_none() {
            kill_group(self.pid(), libc::SIGKILL);
            let _ = self.wait_exit(Duration::from_millis(300));
        } else {
            kill_group(self.pid(), libc::SIGKILL);
        }
    }
}

impl Drop for ChildStream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Send `sig` to the process group `pgid` (errors ignored: the group may be gone).
pub fn kill_group(pgid: u32, sig: libc::c_int) {
    if pgid == 0 || pgid > i32::MAX as u32 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), sig);
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
