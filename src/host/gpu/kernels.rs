//! The embedded kernel source and the names of its entry points.

/// The whole kernel source: `kernels/common.cuh`, `cornet.cu`, `cortex.cu` and `head.cu`, in that order, as one
/// NVRTC translation unit.
pub const SOURCE: &str = concat!(
    include_str!("../../../kernels/common.cuh"),
    "\n",
    include_str!("../../../kernels/cornet.cu"),
    "\n",
    include_str!("../../../kernels/cortex.cu"),
    "\n",
    include_str!("../../../kernels/head.cu"),
);

/// Every `extern "C" __global__` entry point of [`SOURCE`]; the self-test launches each of them once.
pub const ENTRY_POINTS: [&str; 8] = [
    "cz_v1_f16w",
    "cz_v1_i8w",
    "cz_k3_f16w",
    "cz_k3_i8w",
    "cz_gap_accumulate",
    "cortex_frames",
    "cortex_features",
    "head_fusion_bel",
];

/// Pooled outputs per tile side in the CORnet-Z kernels (`CZ_TP` in `cornet.cu`).
pub const CZ_TP: usize = 7;
/// Output channels per thread block in the CORnet-Z kernels (`CZ_COB`).
pub const CZ_COB: usize = 16;
/// Threads per block of the CORnet-Z kernels (`CZ_NT`).
pub const CZ_NT: u32 = 256;
/// Threads of the cortex block (`CX_NT`).
pub const CX_NT: u32 = 512;
/// Threads of the head block (`HD_NT`).
pub const HD_NT: u32 = 256;
