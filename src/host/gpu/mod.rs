//! fp16 CUDA backend (feature `cuda`): the kernels of `kernels/*.cu`, compiled at start-up, behind the same
//! push/infer API as [`crate::Pipeline`]. See `docs/gpu.md`.

pub mod compile;
pub mod kernels;
pub mod runtime;
pub mod selftest;

pub use runtime::{GpuPipeline, Launch};

use crate::core::weights::Weights;

/// Build the GPU pipeline and run its start-up self-test (every kernel once, checked against the CPU core);
/// `bytes` is the weights file `w` was parsed from. Reports what it did on stderr.
pub fn open<'a>(w: &Weights<'a>, bytes: &[u8], scratch: &'a mut [f32]) -> Result<GpuPipeline<'a>, String> {
    let t0 = std::time::Instant::now();
    let mut g = GpuPipeline::new(w, scratch)?;
    let info = g.device().clone();
    let rep = selftest::self_test(&mut g, bytes)?;
    let launch = match g.launch_mode() {
        Launch::Graph => "CUDA graph".to_string(),
        Launch::Sequence(why) => format!("kernel sequence ({why})"),
    };
    log::info!(
        "CUDA device {} (sm_{}{}), PTX {}, visual path as {launch}; self-test passed in {:.0} ms: {rep}",
        info.name,
        info.cc.0,
        info.cc.1,
        if g.ptx_cached() { "from cache" } else { "compiled by NVRTC" },
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(g)
}
