// SPDX-License-Identifier: Apache-2.0
//
// cuda_on_cpu.h — CUDA execution semantics on the CPU, so that an unmodified .cu file can be compiled with
// g++ and its kernels run in the test suite (tests/export/test_cda_kernels_cpu.py builds it).
//
// What it emulates:
//   * every CUDA thread of a block is a fibre (its own stack, cooperative); blocks run one after the other,
//     the threads of a block concurrently, switching only at barriers — in forward, reverse or shuffled
//     order (cuda_cpu_configure), so a missing barrier changes the result under at least one order;
//   * __syncthreads() is a real barrier over the block's threads: all of them must reach the same call site,
//     a thread that exited or waits elsewhere is reported as a divergent barrier (no deadlock, a fault);
//   * warp shuffles (__shfl_xor_sync, _down, _up, plain) and __syncwarp are 32-lane exchanges that wait
//     for every lane named in the mask, at the same call site; a lane outside the mask or the block is a fault;
//   * __shared__ memory per block, static and `extern` dynamic, freshly allocated for every block (so
//     AddressSanitizer sees overruns) and filled with 0xFF bytes (NaN as float or half: reading it before
//     writing shows up in the results);
//   * threadIdx / blockIdx / blockDim / gridDim, and the launch limits: ≤ 1024 threads per block
//     (x, y ≤ 1024, z ≤ 64), __launch_bounds__, grid limits, dynamic shared memory ≤ 48 KiB unless raised
//     by cudaFuncSetAttribute up to the device's opt-in limit (configurable, default Orin's 163 KiB).
// Not emulated: timing, the memory model between barriers (a thread runs alone until its next barrier, so
// races that need finer interleaving go unseen), device vs host memory (pointers are host pointers), streams
// (launches run synchronously), bank conflicts, __launch_bounds__' register limits.
//
// The .cu goes through a small rewrite first (see the test): `k<<<g, b, s, st>>>(args)` becomes
// `::cuda_cpu::launch(k, ::cuda_cpu::config(g, b, s, st), args)`, `extern __shared__ T x[];` becomes a
// pointer to the block's dynamic shared memory and `__shared__ T x[..];` a reference to a per-block array.

#ifndef MUTUALSENSE_CUDA_ON_CPU_H
#define MUTUALSENSE_CUDA_ON_CPU_H

#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#define __host__
#define __device__
#define __global__
#define __noinline__ __attribute__((noinline))
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)

struct uint3
{
    unsigned x, y, z;
};

struct dim3
{
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1)
        : x(vx)
        , y(vy)
        , z(vz)
    {
    }
};

typedef struct CUstream_st* cudaStream_t;

// the values of the real enumerators
enum cudaError
{
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;

enum cudaFuncAttribute
{
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

enum cudaDeviceAttr
{
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

constexpr int warpSize = 32;

namespace cuda_cpu
{

struct LaunchConfig
{
    dim3 grid;
    dim3 block;
    size_t shared_bytes;
    cudaStream_t stream;
    unsigned max_threads; // __launch_bounds__, 0: none

    LaunchConfig with_bound(unsigned n) const
    {
        LaunchConfig c = *this;
        c.max_threads = n;
        return c;
    }
};

inline LaunchConfig config(dim3 grid, dim3 block, size_t shared_bytes = 0, cudaStream_t stream = nullptr)
{
    return LaunchConfig{grid, block, shared_bytes, stream, 0};
}

using Body = void (*)(void*);
cudaError_t launch_raw(void const* func, LaunchConfig const& cfg, Body body, void* ctx);

//! Runs `func(args...)` on every thread of every block; the arguments are converted to the kernel's
//! parameter types once, as a launch does, and every thread gets its own copy of them.
template <typename... P, typename... A>
cudaError_t launch(void (*func)(P...), LaunchConfig const& cfg, A&&... args)
{
    using Params = std::tuple<std::decay_t<P>...>;
    struct Ctx
    {
        void (*f)(P...);
        Params params;
    } ctx{func, Params(std::forward<A>(args)...)};
    Body body = [](void* c) {
        Ctx* x = static_cast<Ctx*>(c);
        Params copy = x->params;
        std::apply(x->f, copy);
    };
    return launch_raw(reinterpret_cast<void const*>(func), cfg, body, &ctx);
}

cudaError_t set_func_attribute(void const* func, cudaFuncAttribute attr, int value);

uint3 const& thread_idx() noexcept;
uint3 const& block_idx() noexcept;
dim3 const& block_dim() noexcept;
dim3 const& grid_dim() noexcept;

void sync_threads(char const* file, int line);

enum class WarpOp
{
    kXor,
    kDown,
    kUp,
    kIdx,
    kSync,
    kBallot,
};
uint64_t warp_exchange(WarpOp op, char const* file, int line, unsigned mask, uint64_t bits, int arg, int width);

template <typename T>
T shfl(WarpOp op, char const* file, int line, unsigned mask, T value, int arg, int width = 32)
{
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move 4 or 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    bits = warp_exchange(op, file, line, mask, bits, arg, width);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

inline void sync_warp(char const* file, int line, unsigned mask = 0xffffffffu)
{
    warp_exchange(WarpOp::kSync, file, line, mask, 0, 0, 32);
}

void* dynamic_shared() noexcept;
void* static_shared_raw(int key, size_t bytes, size_t align);

template <typename T>
T& static_shared(int key)
{
    return *static_cast<T*>(static_shared_raw(key, sizeof(T), alignof(T)));
}

} // namespace cuda_cpu

#define threadIdx (::cuda_cpu::thread_idx())
#define blockIdx (::cuda_cpu::block_idx())
#define blockDim (::cuda_cpu::block_dim())
#define gridDim (::cuda_cpu::grid_dim())

#define __syncthreads() ::cuda_cpu::sync_threads(__FILE__, __LINE__)
#define __syncwarp(...) ::cuda_cpu::sync_warp(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_xor_sync(...) ::cuda_cpu::shfl(::cuda_cpu::WarpOp::kXor, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::cuda_cpu::shfl(::cuda_cpu::WarpOp::kDown, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::cuda_cpu::shfl(::cuda_cpu::WarpOp::kUp, __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_sync(...) ::cuda_cpu::shfl(::cuda_cpu::WarpOp::kIdx, __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred)                                                                                     \
    static_cast<unsigned>(::cuda_cpu::warp_exchange(                                                                   \
        ::cuda_cpu::WarpOp::kBallot, __FILE__, __LINE__, (mask), (pred) ? 1u : 0u, 0, 32))

inline void __threadfence() {}
inline void __threadfence_block() {}

// ---- the device functions of the CUDA math library that kernels here use --------------------------------

inline int min(int a, int b)
{
    return a < b ? a : b;
}
inline unsigned min(unsigned a, unsigned b)
{
    return a < b ? a : b;
}
inline long long min(long long a, long long b)
{
    return a < b ? a : b;
}
inline int max(int a, int b)
{
    return a > b ? a : b;
}
inline unsigned max(unsigned a, unsigned b)
{
    return a > b ? a : b;
}
inline long long max(long long a, long long b)
{
    return a > b ? a : b;
}

//! The hardware's fast exponential is ex2.approx(x · log2 e); exp2f of the same product is its closest
//! CPU equivalent (both round x · log2 e to float first).
inline float __expf(float x)
{
    return exp2f(x * 1.4426950408889634f);
}
inline float __logf(float x)
{
    return logf(x);
}
inline float __fdividef(float a, float b)
{
    return a / b;
}
inline float rsqrtf(float x)
{
    return 1.0f / sqrtf(x);
}
inline float __saturatef(float x)
{
    return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x);
}

// Fibres switch only at barriers, so a read-modify-write between them is atomic.
template <typename T>
T atomicAdd(T* address, T value)
{
    T const old = *address;
    *address = old + value;
    return old;
}
template <typename T>
T atomicMax(T* address, T value)
{
    T const old = *address;
    *address = old > value ? old : value;
    return old;
}

#endif // MUTUALSENSE_CUDA_ON_CPU_H
