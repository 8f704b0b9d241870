// The emulator's thread pool (see emu_runtime.h). One host thread per CUDA thread of a block: the kernels' barriers
// (`__syncthreads`) and warp shuffles then need nothing but blocking primitives, and every thread runs the kernel's
// code exactly as written. Creating threads per block would cost more than running most blocks, so the threads are
// made once and woken per block, each through its own semaphore (waking only the threads a block needs).
#include "emu_runtime.h"

#include <pthread.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <semaphore>
#include <vector>

namespace avf_emu {
namespace {

// Stack of a pool thread: the kernels keep a few dozen registers' worth of locals (more under AddressSanitizer).
constexpr size_t STACK_BYTES = 1u << 20;

struct Worker {
    std::binary_semaphore go{0};
    unsigned tid = 0;
};

class Pool {
   public:
    void run(unsigned n, ThreadBody body, void* ctx) {
        grow(n);
        body_ = body;
        ctx_ = ctx;
        remaining_.store(n, std::memory_order_relaxed);
        for (unsigned t = 0; t < n; t++) workers_[t]->go.release();
        done_.acquire();
    }

   private:
    struct Start {
        Pool* pool;
        Worker* worker;
    };

    void grow(unsigned n) {
        while (workers_.size() < n) {
            auto w = std::make_unique<Worker>();
            w->tid = static_cast<unsigned>(workers_.size());
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, STACK_BYTES);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_t th;
            auto* start = new Start{this, w.get()};
            if (pthread_create(&th, &attr, &Pool::main, start) != 0) {
                std::fprintf(stderr, "avf-bel CUDA emulator: cannot create thread %zu\n", workers_.size());
                std::abort();
            }
            pthread_attr_destroy(&attr);
            workers_.push_back(std::move(w));
        }
    }

    static void* main(void* arg) {
        Start s = *static_cast<Start*>(arg);
        delete static_cast<Start*>(arg);
        for (;;) {
            s.worker->go.acquire();
            s.pool->body_(s.pool->ctx_, s.worker->tid);
            if (s.pool->remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) s.pool->done_.release();
        }
        return nullptr;
    }

    std::vector<std::unique_ptr<Worker>> workers_;
    ThreadBody body_ = nullptr;
    void* ctx_ = nullptr;
    std::atomic<unsigned> remaining_{0};
    std::binary_semaphore done_{0};
};

// Never destroyed: its threads live as long as the process.
Pool& pool() {
    static Pool* p = new Pool;
    return *p;
}

}  // namespace

void run_threads(unsigned n, ThreadBody body, void* ctx) { pool().run(n, body, ctx); }

std::mutex& launch_lock() {
    static std::mutex* m = new std::mutex;
    return *m;
}

}  // namespace avf_emu
