// SPDX-License-Identifier: Apache-2.0
//
// preprocess_kernels.cu — frame preparation on the GPU: raw depth aligned to the colour camera on the
// model's grid, and colour + aligned depth written into the model's float32 NCHW input tensors, so
// that with the TensorRT backend the frames go to the device once, raw, and nothing but the
// saliency map comes back. The arithmetic is frame_math.h (shared with the CPU build,
// preprocess_host.cpp); the tables it reads (rays, colour levels, depth nearness) are made by the
// Python reference (mutualsense.align / mutualsense.preprocess) and uploaded once per calibration.
//
// C ABI, device pointers, asynchronous on `stream`; every function returns a cudaError_t as int
// (0 = launched):
//
//   ms_align_depth(depth, depth_w, step_x, step_y, rays, rows, cols, params, fill, zbuf, out, stream)
//       depth  uint16 [depth_h][depth_w]      raw depth frame
//       rays   float  [3][rows][cols]         of the sampled pixels depth[r·step_y][c·step_x]
//       zbuf   uint32 [out_h][out_w]          workspace
//       out    uint16 [out_h][out_w]          aligned raw depth (0 = none)
//   ms_prepare_rgb(rgb, w, h, table, out, out_w, out_h, stream)
//       rgb    uint8  [h][w][3]               RGB, interleaved
//       table  float  [3][256]                normalised value per level and channel
//       out    float  [3][out_h][out_w]       one image of the input batch
//   ms_prepare_depth(aligned, n, table, out, stream)
//       aligned uint16 [n], table float [65536], out float [n]

#include <cuda_runtime.h>

#include <cstdint>

#include "frame_math.h"

// Exported from the plugin library, whose other symbols are hidden (CMakeLists.txt).
#define MS_EXPORT extern "C" __attribute__((visibility("default")))

namespace
{

constexpr int kThreads = 256;

int blocks(long long n)
{
    return static_cast<int>((n + kThreads - 1) / kThreads);
}

__global__ void align_scatter(const uint16_t* __restrict__ depth, int depth_w, int step_x, int step_y,
                              const float* __restrict__ rays, int rows, int cols, frame::AlignParams p,
                              uint32_t* __restrict__ zbuf)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int plane = rows * cols;
    if (i >= plane)
        return;
    const int r = i / cols, c = i - r * cols;
    const uint16_t d = depth[static_cast<long long>(r) * step_y * depth_w + static_cast<long long>(c) * step_x];
    const int idx = frame::project(d, rays[i], rays[plane + i], rays[2 * plane + i], p);
    if (idx >= 0)
        atomicMin(zbuf + idx, static_cast<uint32_t>(d));
}

__global__ void align_finish(const uint32_t* __restrict__ zbuf, int w, int h, int fill, uint16_t* __restrict__ out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= w * h)
        return;
    out[i] = frame::finish_pixel(zbuf, i % w, i / w, w, h, fill != 0);
}

__global__ void prepare_rgb(const uint8_t* __restrict__ rgb, int w, int h, const float* __restrict__ table,
                            float* __restrict__ out, int out_w, int out_h)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int plane = out_w * out_h;
    if (i >= plane)
        return;
    const int ox = i % out_w, oy = i / out_w;
    for (int c = 0; c < 3; ++c)
        out[c * plane + i] = table[c * 256 + frame::rgb_level(rgb, w, h, out_w, out_h, ox, oy, c)];
}

__global__ void prepare_depth(const uint16_t* __restrict__ aligned, int n, const float* __restrict__ table,
                              float* __restrict__ out)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = table[aligned[i]];
}

}  // namespace

MS_EXPORT int ms_align_depth(const uint16_t* depth, int depth_w, int step_x, int step_y, const float* rays, int rows,
                              int cols, const frame::AlignParams* params, int fill, uint32_t* zbuf, uint16_t* out,
                              cudaStream_t stream)
{
    const frame::AlignParams p = *params;  // host struct, passed by value to the kernels
    const long long cells = static_cast<long long>(p.out_w) * p.out_h;
    cudaError_t err = cudaMemsetAsync(zbuf, 0xFF, cells * sizeof(uint32_t), stream);  // every cell empty
    if (err != cudaSuccess)
        return static_cast<int>(err);
    align_scatter<<<blocks(static_cast<long long>(rows) * cols), kThreads, 0, stream>>>(
        depth, depth_w, step_x, step_y, rays, rows, cols, p, zbuf);
    align_finish<<<blocks(cells), kThreads, 0, stream>>>(zbuf, p.out_w, p.out_h, fill, out);
    return static_cast<int>(cudaGetLastError());
}

MS_EXPORT int ms_prepare_rgb(const uint8_t* rgb, int w, int h, const float* table, float* out, int out_w, int out_h,
                              cudaStream_t stream)
{
    prepare_rgb<<<blocks(static_cast<long long>(out_w) * out_h), kThreads, 0, stream>>>(rgb, w, h, table, out, out_w,
                                                                                         out_h);
    return static_cast<int>(cudaGetLastError());
}

MS_EXPORT int ms_prepare_depth(const uint16_t* aligned, int n, const float* table, float* out, cudaStream_t stream)
{
    prepare_depth<<<blocks(n), kThreads, 0, stream>>>(aligned, n, table, out);
    return static_cast<int>(cudaGetLastError());
}
