#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod arena;
pub mod audio;
pub mod bel;
pub mod config;
pub mod cpu;
pub mod dense;
pub mod epp;
pub mod error;
pub mod fusion;
pub mod link;
pub mod pipeline;
pub mod visual;
pub mod weights;

#[cfg(feature = "cuda")]
pub mod gpu;

#[cfg(feature = "std")]
pub mod cli;
#[cfg(feature = "std")]
pub mod media;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod stimuli;
#[cfg(feature = "train")]
pub mod train;

pub use config::{ModelConfig, EMOTIONS, N_EMOTIONS};
pub use error::{ConfigError, Error, FormatError, InputError};
pub use pipeline::{Modalities, Output, Pipeline};
pub use weights::Weights;
