// The part of the CUDA emulator shared by every build of the kernels (the real ones and the copies with a planted
// bug, see build.rs): a pool of host threads that plays the threads of one CUDA block, and the process-wide lock that
// lets one launch run at a time (blocks keep `__shared__` arrays in static storage, so blocks and launches must not
// overlap).
#pragma once
#include <mutex>

namespace avf_emu {

// Body of one CUDA thread: `tid` is its linear index in the block.
using ThreadBody = void (*)(void* ctx, unsigned tid);

// Run `body(ctx, t)` for every t in [0, n) at the same time, each on its own host thread (created on first use and
// kept for later blocks), and return when all have returned. Threads of one call may block on each other (barriers).
void run_threads(unsigned n, ThreadBody body, void* ctx);

// Held for the whole of a launch.
std::mutex& launch_lock();

}  // namespace avf_emu
