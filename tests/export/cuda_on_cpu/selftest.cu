// SPDX-License-Identifier: Apache-2.0
//
// selftest.cu — small kernels that check the CUDA-on-CPU stand-in itself (tests/export/test_cda_kernels_cpu.py):
// shuffle semantics, shared memory and barriers (a missing barrier must change the result), divergent
// barriers and warp operations reported as faults, launch limits. Built with the same rewrite as the real kernels.

#include <cuda_runtime.h>

namespace
{

__global__ void shuffle_kernel(int* out, int op, int arg, int width)
{
    const int v = 100 + static_cast<int>(threadIdx.x);
    int r = 0;
    switch (op)
    {
    case 0: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
    case 1: r = __shfl_down_sync(0xffffffffu, v, arg, width); break;
    case 2: r = __shfl_up_sync(0xffffffffu, v, arg, width); break;
    case 3: r = __shfl_sync(0xffffffffu, v, arg, width); break;
    default: r = static_cast<int>(__ballot_sync(0xffffffffu, v % 3 == 0));
    }
    out[blockIdx.x * blockDim.x + threadIdx.x] = r;
}

// out[t] = in[n - 1 - t] through shared memory, with or without the barrier between the write and the read.
template <bool kSync>
__global__ void reverse_kernel(const float* in, float* out)
{
    extern __shared__ float s[];
    __shared__ float tile[4][8];
    const unsigned t = threadIdx.x;
    const unsigned n = blockDim.x;
    s[t] = in[blockIdx.x * n + t];
    tile[t % 4][t % 8] = 1.0f;
    if (kSync)
        __syncthreads();
    out[blockIdx.x * n + t] = s[n - 1 - t] * tile[(n - 1 - t) % 4][(n - 1 - t) % 8];
}

__global__ void divergent_barrier_kernel(int* out)
{
    if (threadIdx.x < 16)
        __syncthreads();
    out[threadIdx.x] = 1;
}

__global__ void exited_lane_shuffle_kernel(int* out)
{
    if (threadIdx.x == 5)
        return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 1);
}

__global__ void __launch_bounds__(128) bounded_kernel(int* out)
{
    out[threadIdx.x] = static_cast<int>(threadIdx.x);
}

__global__ void big_static_kernel(float* out)
{
    __shared__ float a[8192];
    __shared__ float b[8192]; // 64 KiB of static shared memory: over the 48 KiB limit
    a[threadIdx.x] = 1.0f;
    b[threadIdx.x] = 2.0f;
    out[threadIdx.x] = a[threadIdx.x] + b[threadIdx.x];
}

__global__ void dims_kernel(unsigned* out)
{
    const unsigned t = ((blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x) * blockDim.x * blockDim.y
            * blockDim.z
        + (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    out[4 * t + 0] = threadIdx.x + 10 * threadIdx.y + 100 * threadIdx.z;
    out[4 * t + 1] = blockIdx.x + 10 * blockIdx.y + 100 * blockIdx.z;
    out[4 * t + 2] = blockDim.x + 10 * blockDim.y + 100 * blockDim.z;
    out[4 * t + 3] = gridDim.x + 10 * gridDim.y + 100 * gridDim.z;
}

} // namespace

extern "C"
{

int selftest_shuffle(int op, int arg, int width, int threads, int* out)
{
    shuffle_kernel<<<2, threads>>>(out, op, arg, width);
    return static_cast<int>(cudaGetLastError());
}

int selftest_reverse(int sync, int threads, const float* in, float* out)
{
    const size_t smem = threads * sizeof(float);
    if (sync)
        reverse_kernel<true><<<3, threads, smem>>>(in, out);
    else
        reverse_kernel<false><<<3, threads, smem>>>(in, out);
    return static_cast<int>(cudaGetLastError());
}

int selftest_divergent_barrier(int* out)
{
    divergent_barrier_kernel<<<1, 32>>>(out);
    return static_cast<int>(cudaGetLastError());
}

int selftest_exited_lane_shuffle(int* out)
{
    exited_lane_shuffle_kernel<<<1, 32>>>(out);
    return static_cast<int>(cudaGetLastError());
}

int selftest_launch(int which, int* out)
{
    switch (which)
    {
    case 0: bounded_kernel<<<1, 128>>>(out); break;                 // fine
    case 1: bounded_kernel<<<1, 256>>>(out); break;                 // over __launch_bounds__
    case 2: divergent_barrier_kernel<<<1, 1025>>>(out); break;      // over 1024 threads
    case 3: divergent_barrier_kernel<<<1, dim3(8, 8, 65)>>>(out); break; // z over 64
    case 4: bounded_kernel<<<1, 32, 64 * 1024>>>(out); break;       // 64 KiB dynamic without the attribute
    case 5:
    {
        cudaError_t e = cudaFuncSetAttribute(bounded_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024);
        if (e != cudaSuccess)
            return 1000 + static_cast<int>(e);
        bounded_kernel<<<1, 32, 64 * 1024>>>(out);                 // allowed after the attribute
        break;
    }
    case 6: big_static_kernel<<<1, 32>>>(reinterpret_cast<float*>(out)); break; // static over 48 KiB
    default: return -1;
    }
    return static_cast<int>(cudaGetLastError());
}

int selftest_dims(unsigned* out)
{
    dims_kernel<<<dim3(3, 2, 2), dim3(4, 3, 2)>>>(out);
    return static_cast<int>(cudaGetLastError());
}

} // extern "C"
