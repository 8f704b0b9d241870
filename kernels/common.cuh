// avf-bel CUDA kernels: shared definitions. The Rust side (src/gpu/kernels.rs) concatenates common.cuh, cornet.cu,
// cortex.cu and head.cu into one translation unit and compiles it with the device's own NVRTC at start-up.
//
// Compile flags (src/gpu/compile.rs): --fmad=false, --prec-div=true, --prec-sqrt=true, --ftz=false. No fused
// multiply-add contraction and IEEE division and square root everywhere: the auditory cortex (cortex.cu) repeats the
// CPU core's f32 operations in the CPU's order, so that it can reproduce the CPU spike trains. The fp16 kernels use
// explicit intrinsics (__hfma2), which these flags do not touch.
//
// Architectures (see docs/gpu.md):
//   sm_53  Jetson Nano / TX1: native fp16 arithmetic (half2 FMA at twice the f32 rate), no tensor cores, no dp4a,
//          48 KB shared memory per block, 1 SM (Nano) - the kernels keep shared memory at or under 32 KB per block.
//   sm_72  Jetson Xavier: half2 at twice the f32 rate, first-generation tensor cores (not used here), dp4a.
//   sm_87  Jetson Orin: Ampere-class SMs, half2, third-generation tensor cores (not used here), 164 KB shared per SM.
//   sm_90  H100 (the test GPU): same code; the small batch-1 grids fill only a fraction of its 132 SMs.
#include <cuda_fp16.h>

typedef unsigned char u8;
typedef signed char i8;
typedef unsigned int u32;

#define AVF_NEG_INF __int_as_float(0xff800000)
