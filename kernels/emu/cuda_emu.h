// CUDA C++ on the CPU: what the kernels of kernels/*.cu need from the CUDA compiler, for g++ (-std=c++20).
//
// Included before the kernel sources, which are compiled unchanged (emu_kernels.cpp). Execution model: one block at
// a time (emu_kernels.cpp), each CUDA thread of the block a host thread of the pool (emu_runtime.cpp):
//   threadIdx            per host thread (thread_local); blockIdx, blockDim, gridDim are the same for every thread of
//                        the block and are set before its threads start;
//   __shared__           static storage: one block runs at a time, so the block's threads share it;
//   __syncthreads()      a std::barrier over the block's threads; a thread that returns leaves it (arrive_and_drop),
//                        as an exited CUDA thread no longer takes part in barriers;
//   __shfl_xor_sync      a per-warp exchange array between two barriers over the warp's threads; __syncwarp is
//                        that barrier;
//   atomics              std::atomic_ref on the shared or device memory;
//   half precision       cuda_fp16.h's own host conversions (cuda_runtime wheel); the device-only __hfma2 is
//                        computed here with one rounding (exact product and sum, then round-to-nearest-even);
//   f32 maths            IEEE: the build uses -ffp-contract=off (no fused multiply-add, as NVRTC's --fmad=false),
//                        division and square root are correctly rounded (as --prec-div/--prec-sqrt), no flush to
//                        zero (as --ftz=false).
#pragma once

#include <cuda_fp16.h>

#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// The declaration specifiers of CUDA C++. Device functions get internal linkage, so that several builds of the
// kernels (the real ones and copies with a planted bug) link into one program without mixing their helpers.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __launch_bounds__
#define __global__
#define __device__ static
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

namespace avf_emu_rt {

// The block being run and its synchronisation objects (set by emu_kernels.cpp before the block's threads start).
struct BlockSync {
    std::barrier<>* block;
    std::barrier<>** warps;       // one per warp
    std::uint64_t (*xchg)[32];    // per-warp shuffle slots
};

static BlockSync g_sync;
static dim3 g_block_idx, g_block_dim, g_grid_dim;
static thread_local uint3 t_thread_idx;
static thread_local unsigned t_tid;

[[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "avf-bel CUDA emulator: %s\n", what);
    std::abort();
}

}  // namespace avf_emu_rt

#define threadIdx (avf_emu_rt::t_thread_idx)
#define blockIdx (avf_emu_rt::g_block_idx)
#define blockDim (avf_emu_rt::g_block_dim)
#define gridDim (avf_emu_rt::g_grid_dim)

static inline void __syncthreads() { avf_emu_rt::g_sync.block->arrive_and_wait(); }

// A device-wide fence (blocks run one after another here, so it orders nothing that is not already ordered).
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// The warp's barrier (full warps only).
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
    if (mask != 0xffffffffu) avf_emu_rt::fail("only full-warp __syncwarp (mask 0xffffffff)");
    avf_emu_rt::g_sync.warps[avf_emu_rt::t_tid / 32]->arrive_and_wait();
}

// Warp shuffle (xor), full warps only: every lane publishes its value, the warp meets, each lane reads its partner's,
// and the warp meets again before the slots are reused.
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
    static_assert(sizeof(T) <= sizeof(std::uint64_t), "shuffle of a value wider than 64 bits");
    if (mask != 0xffffffffu || width != 32) avf_emu_rt::fail("only full-warp shuffles (mask 0xffffffff, width 32)");
    const unsigned tid = avf_emu_rt::t_tid;
    const unsigned warp = tid / 32, lane = tid % 32, partner = lane ^ (unsigned)lane_mask;
    const unsigned n = avf_emu_rt::g_block_dim.x * avf_emu_rt::g_block_dim.y * avf_emu_rt::g_block_dim.z;
    if (partner >= 32 || warp * 32 + partner >= n) avf_emu_rt::fail("shuffle partner outside the warp");
    std::uint64_t* slots = avf_emu_rt::g_sync.xchg[warp];
    std::memcpy(&slots[lane], &var, sizeof(T));
    avf_emu_rt::g_sync.warps[warp]->arrive_and_wait();
    T out;
    std::memcpy(&out, &slots[partner], sizeof(T));
    avf_emu_rt::g_sync.warps[warp]->arrive_and_wait();
    return out;
}

// Atomics (relaxed, as CUDA's).
static inline unsigned atomicOr(unsigned* a, unsigned v) {
    return std::atomic_ref<unsigned>(*a).fetch_or(v, std::memory_order_relaxed);
}
static inline unsigned atomicAnd(unsigned* a, unsigned v) {
    return std::atomic_ref<unsigned>(*a).fetch_and(v, std::memory_order_relaxed);
}
static inline int atomicAdd(int* a, int v) { return std::atomic_ref<int>(*a).fetch_add(v, std::memory_order_relaxed); }
static inline unsigned atomicAdd(unsigned* a, unsigned v) {
    return std::atomic_ref<unsigned>(*a).fetch_add(v, std::memory_order_relaxed);
}
static inline float atomicAdd(float* a, float v) {
    return std::atomic_ref<float>(*a).fetch_add(v, std::memory_order_relaxed);
}

// A kernel's own assertion: on a GPU the launch fails; here the process stops with a message.
static inline void __trap() { avf_emu_rt::fail("a kernel called __trap() (a launch outside its limits)"); }

// Bit casts and integer intrinsics.
static inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
static inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
static inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
static inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline int min(int a, int b) { return a < b ? a : b; }

// IEEE f32 operations with explicit rounding (round to nearest even is the host's mode).
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float x) { return std::sqrt(x); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }

namespace avf_emu_rt {

// Round a double to the nearest half (ties to even); exact for every double, no double rounding: the scaled value
// x / quantum is exact (a power-of-two scaling within the double range) and nearbyint rounds it to even.
static __half half_rn(double x) {
    if (std::isnan(x)) return __float2half(NAN);
    const double ax = std::fabs(x);
    if (ax >= 65520.0) return __float2half(x > 0 ? INFINITY : -INFINITY);  // 65504 + half an ulp rounds up to inf
    int e;
    std::frexp(ax, &e);                           // ax = m * 2^e, m in [0.5, 1)
    const int q = (e - 1 < -14 ? -14 : e - 1) - 10;  // quantum 2^q: 11 significant bits, subnormals below 2^-14
    const double r = std::ldexp(std::nearbyint(std::ldexp(x, -q)), q);
    return __float2half(static_cast<float>(r));  // r has at most 11 significant bits: exact in float and half
}

// a * b + c in half with a single rounding, as the hardware's fused multiply-add: the product of two halves is exact
// in double (22 bits), the sum is made exact as s + err (TwoSum), and s is moved to its odd neighbour when err is
// not zero (round to odd), which keeps the final rounding to 11 bits correct.
static __half hfma(__half a, __half b, __half c) {
    const double p = static_cast<double>(__half2float(a)) * static_cast<double>(__half2float(b));
    const double cc = static_cast<double>(__half2float(c));
    double s = p + cc;
    const double bb = s - p;
    const double err = (p - (s - bb)) + (cc - bb);
    if (err != 0.0 && std::isfinite(s) && (std::bit_cast<std::uint64_t>(s) & 1u) == 0)
        s = std::nextafter(s, err > 0 ? INFINITY : -INFINITY);
    return half_rn(s);
}

}  // namespace avf_emu_rt

static inline __half __hfma(const __half a, const __half b, const __half c) { return avf_emu_rt::hfma(a, b, c); }
static inline __half2 __hfma2(const __half2 a, const __half2 b, const __half2 c) {
    return __halves2half2(avf_emu_rt::hfma(__low2half(a), __low2half(b), __low2half(c)),
                          avf_emu_rt::hfma(__high2half(a), __high2half(b), __high2half(c)));
}
