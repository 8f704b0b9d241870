//! The host companion's subcommands (`avf-bel <command> ...`); each returns `Err(message)` for the caller to print.

pub mod synth;
