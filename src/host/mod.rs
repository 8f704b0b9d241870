//! The host companion (`std`): file formats, stimuli, seeded models, training, the robot daemon and its transports,
//! and the CUDA backend. Built on the core (`crate::core`); nothing in the core depends on it.

pub mod capture;
pub mod link;
pub mod media;
pub mod model;
pub mod stimuli;
pub mod writer;

#[cfg(feature = "cuda")]
pub mod gpu;
#[cfg(feature = "train")]
pub mod train;
