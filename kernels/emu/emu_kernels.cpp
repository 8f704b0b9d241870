// The kernels of kernels/*.cu compiled as host C++ (cuda_emu.h) and a launcher for them: the CUDA emulator of the
// `cuda-emulator` feature (src/host/gpu/emulator.rs). build.rs compiles this file once for the real kernels and once
// for each copy with a planted bug; AVF_EMU_VARIANT names the build and prefixes every symbol it exports.
#include "cuda_emu.h"
#include "emu_runtime.h"

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#ifndef AVF_EMU_VARIANT
#error "AVF_EMU_VARIANT must name the build (build.rs sets it)"
#endif
#define AVF_EMU_CAT2(a, b) a##_##b
#define AVF_EMU_CAT(a, b) AVF_EMU_CAT2(a, b)
#define AVF_EMU_SYM(name) AVF_EMU_CAT(AVF_EMU_CAT(avf_emu, AVF_EMU_VARIANT), name)

// The entry points keep C linkage in the sources; each build renames them so that the builds do not collide.
#define AVF_EMU_KERNELS(X) \
    X(cz_v1_f16w)          \
    X(cz_v1_i8w)           \
    X(cz_k3_f16w)          \
    X(cz_k3_i8w)           \
    X(cz_gap_accumulate)   \
    X(cortex_frames)       \
    X(cortex_features)     \
    X(head_fusion_bel)
#define cz_v1_f16w AVF_EMU_SYM(cz_v1_f16w)
#define cz_v1_i8w AVF_EMU_SYM(cz_v1_i8w)
#define cz_k3_f16w AVF_EMU_SYM(cz_k3_f16w)
#define cz_k3_i8w AVF_EMU_SYM(cz_k3_i8w)
#define cz_gap_accumulate AVF_EMU_SYM(cz_gap_accumulate)
#define cortex_frames AVF_EMU_SYM(cortex_frames)
#define cortex_features AVF_EMU_SYM(cortex_features)
#define head_fusion_bel AVF_EMU_SYM(head_fusion_bel)

#include "common.cuh"
#include "cornet.cu"
#include "cortex.cu"
#include "head.cu"

namespace {

// A kernel's parameter list, taken from its type: arity, the size of each parameter, and a call that reads the
// parameters from an array of pointers to their values (the layout of cuLaunchKernel's `kernelParams`).
template <class F>
struct Params;
template <class... A>
struct Params<void (*)(A...)> {
    static constexpr unsigned arity = sizeof...(A);
    static constexpr std::size_t sizes[sizeof...(A)] = {sizeof(A)...};
    template <auto K, std::size_t... I>
    static void call(void* const* p, std::index_sequence<I...>) {
        K(*static_cast<std::remove_cv_t<A>*>(p[I])...);
    }
    template <auto K>
    static void invoke(void* const* p) {
        call<K>(p, std::index_sequence_for<A...>{});
    }
};

struct Entry {
    std::string_view name;
    unsigned arity;
    const std::size_t* sizes;
    void (*invoke)(void* const* params);
};

// `#k` is the source name (stringification does not expand the argument), `&k` the renamed function.
#define AVF_EMU_ENTRY(k) \
    Entry{#k, Params<decltype(&k)>::arity, Params<decltype(&k)>::sizes, &Params<decltype(&k)>::invoke<&k>},
const Entry ENTRIES[] = {AVF_EMU_KERNELS(AVF_EMU_ENTRY)};

// What the threads of the running block share.
struct BlockRun {
    const Entry* entry;
    void* const* params;
};

void thread_main(void* ctx, unsigned tid) {
    const BlockRun& run = *static_cast<const BlockRun*>(ctx);
    const dim3 bd = avf_emu_rt::g_block_dim;
    avf_emu_rt::t_tid = tid;
    avf_emu_rt::t_thread_idx = uint3{tid % bd.x, (tid / bd.x) % bd.y, tid / (bd.x * bd.y)};
    run.entry->invoke(run.params);
    // An exited thread takes no further part in its block's or its warp's barriers.
    avf_emu_rt::g_sync.warps[tid / 32]->arrive_and_drop();
    avf_emu_rt::g_sync.block->arrive_and_drop();
}

}  // namespace

// Launch `name` on a grid of blocks as cuLaunchKernel would, and return when it has finished: 0 on success,
// -1 unknown kernel, -2 wrong number of parameters, -3 a parameter of the wrong size (its index is in *bad),
// -4 an empty or too large grid or block. `params[i]` points to the value of parameter i, `sizes[i]` is its size.
extern "C" int AVF_EMU_SYM(launch)(const char* name, std::size_t name_len, const unsigned* grid,
                                   const unsigned* block, void* const* params, const std::size_t* sizes,
                                   unsigned n_params, unsigned* bad) {
    const std::string_view want(name, name_len);
    const Entry* e = nullptr;
    for (const Entry& x : ENTRIES)
        if (x.name == want) e = &x;
    if (e == nullptr) return -1;
    if (n_params != e->arity) return -2;
    for (unsigned i = 0; i < n_params; i++)
        if (sizes[i] != e->sizes[i]) {
            *bad = i;
            return -3;
        }
    const unsigned long long threads = 1ull * block[0] * block[1] * block[2];
    if (threads == 0 || threads > 1024 || grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return -4;
    const unsigned nt = static_cast<unsigned>(threads);
    const unsigned n_warps = (nt + 31) / 32;

    std::lock_guard<std::mutex> lock(avf_emu::launch_lock());
    static std::uint64_t xchg[32][32];
    avf_emu_rt::g_block_dim = dim3(block[0], block[1], block[2]);
    avf_emu_rt::g_grid_dim = dim3(grid[0], grid[1], grid[2]);
    BlockRun run{e, params};
    for (unsigned z = 0; z < grid[2]; z++)
        for (unsigned y = 0; y < grid[1]; y++)
            for (unsigned x = 0; x < grid[0]; x++) {
                // Fresh barriers per block: threads that exited early dropped out of the last block's.
                std::barrier<> block_bar(nt);
                std::optional<std::barrier<>> warp_bars[32];
                std::barrier<>* warp_ptrs[32];
                for (unsigned w = 0; w < n_warps; w++) {
                    warp_bars[w].emplace(static_cast<std::ptrdiff_t>(nt - 32 * w < 32 ? nt - 32 * w : 32));
                    warp_ptrs[w] = &*warp_bars[w];
                }
                avf_emu_rt::g_sync = avf_emu_rt::BlockSync{&block_bar, warp_ptrs, xchg};
                avf_emu_rt::g_block_idx = dim3(x, y, z);
                avf_emu::run_threads(nt, &thread_main, &run);
            }
    return 0;
}

// The parameter structs as this compiler lays them out, for the Rust side to check its repr(C) copies against:
// sizeof(CxParams), offsetof(CxParams, st), offsetof(CxParams, gain), offsetof(CxParams, i_s), sizeof(CzDims),
// sizeof(HdDims), offsetof(HdDims, epp_w), CX_LANES. Writes at most n values; returns how many it has.
extern "C" std::size_t AVF_EMU_SYM(layout)(std::size_t* out, std::size_t n) {
    const std::size_t v[] = {sizeof(CxParams), offsetof(CxParams, st),   offsetof(CxParams, gain),
                             offsetof(CxParams, i_s), sizeof(CzDims), sizeof(HdDims),
                             offsetof(HdDims, epp_w), CX_LANES};
    const std::size_t k = sizeof(v) / sizeof(v[0]);
    for (std::size_t i = 0; i < k && i < n; i++) out[i] = v[i];
    return k;
}
