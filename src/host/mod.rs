//! The host companion (`std`): file formats, stimuli, seeded models, training, the robot daemon and its transports,
//! and the CUDA backend. Built on the core (`crate::core`); nothing in the core depends on it.

pub mod backend;
pub mod capture;
pub mod data;
pub mod json;
pub mod link;
pub mod logging;
pub mod media;
pub mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod stimuli;
pub mod writer;

#[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
pub mod gpu;
#[cfg(feature = "train")]
pub mod train;
