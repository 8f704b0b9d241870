//! fp16 CUDA backend (feature `cuda`): the kernels of `kernels/*.cu`, compiled at start-up, behind the same
//! push/infer API as [`crate::Pipeline`]. See `docs/gpu.md`.

pub mod compile;
pub mod kernels;
pub mod runtime;
