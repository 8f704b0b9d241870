//! The inference core: `no_std`, allocation-free after [`pipeline::Pipeline::new`], panic-free on bad input.
//!
//! Everything here builds for `thumbv7em-none-eabihf` without `alloc`; nothing here may use `std` except behind
//! `cfg(feature = "std")` for run-time CPU-feature detection. The host side (`crate::host`) builds on it.

pub mod arena;
pub mod audio;
pub mod backend;
pub mod bel;
pub mod config;
pub mod cpu;
pub mod dense;
pub mod epp;
pub mod error;
pub mod fusion;
pub mod kernels;
pub mod link;
pub mod manifest;
pub mod pipeline;
pub mod rng;
pub mod visual;
pub mod weights;
