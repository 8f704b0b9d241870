//! The robot link's operating-system side: the daemon behind `avf-bel serve`, Unix sockets, serial ports,
//! systemd notification and the learned-state file. The message codec they speak is the core's `link` module
//! (`no_std`, `docs/wire.md`).

pub mod board;
mod clock;
pub mod daemon;
mod inputs;
pub mod notify;
mod publish;
#[cfg(feature = "ros2")]
pub mod ros2;
pub mod serial;
pub mod socket;
pub mod state;
pub mod sys;
