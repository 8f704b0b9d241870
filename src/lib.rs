#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod audio;
#[cfg(feature = "std")]
pub mod cli;
pub mod config;
pub mod error;
#[cfg(feature = "std")]
pub mod stimuli;

pub use config::{ModelConfig, EMOTIONS, N_EMOTIONS};
pub use error::{ConfigError, Error, FormatError, InputError};
