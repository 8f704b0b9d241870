//! systemd's readiness and watchdog protocol (`sd_notify`), sent directly: one datagram to `$NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The notification socket from the environment, if the service manager set one.
pub struct Notifier {
    sock: UnixDatagram,
    target: Target,
    watchdog: Option<Duration>,
}

enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// `None` when not run under systemd with `Type=notify` (no `NOTIFY_SOCKET`).
    pub fn from_env() -> Option<Notifier> {
        let addr = std::env::var_os("NOTIFY_SOCKET")?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(addr.as_os_str()).to_vec();
        let target = match bytes.first() {
            Some(b'@') => Target::Abstract(bytes[1..].to_vec()),
            Some(b'/') => Target::Path(addr.into()),
            _ => return None,
        };
        // WATCHDOG_USEC applies to us only if WATCHDOG_PID is unset or ours.
        let ours = std::env::var("WATCHDOG_PID").map(|p| p == std::process::id().to_string()).unwrap_or(true);
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0 && ours)
            .map(Duration::from_micros);
        let sock = UnixDatagram::unbound().ok()?;
        Some(Notifier { sock, target, watchdog })
    }

    /// The watchdog period systemd expects (`WATCHDOG_USEC`); feed it at least twice per period.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Send one state string, e.g. `READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`. Errors are ignored: a
    /// missing manager must not stop the daemon.
    pub fn send(&self, state: &str) {
        let r = match &self.target {
            Target::Path(p) => self.sock.send_to(state.as_bytes(), p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                match std::os::unix::net::SocketAddr::from_abstract_name(name) {
                    Ok(a) => self.sock.send_to_addr(state.as_bytes(), &a),
                    Err(e) => Err(e),
                }
            }
        };
        let _ = r;
    }
}
