// SPDX-License-Identifier: Apache-2.0
//
// preprocess_host.cpp — the CPU build of preprocess_kernels.cu: the same per-pixel functions
// (frame_math.h), one loop per kernel, host pointers, for checking the GPU arithmetic against the
// Python reference on machines without a GPU (g++ -std=c++17 -O2 -ffp-contract=off -shared -fPIC).
// The z-buffer minimum is the kernel's atomicMin, taken in turn.

#include <cstdint>

#include "frame_math.h"

extern "C" int ms_align_depth_host(const uint16_t* depth, int depth_w, int step_x, int step_y, const float* rays,
                                   int rows, int cols, const frame::AlignParams* params, int fill, uint32_t* zbuf,
                                   uint16_t* out)
{
    const frame::AlignParams& p = *params;
    const int cells = p.out_w * p.out_h, plane = rows * cols;
    for (int i = 0; i < cells; ++i)
        zbuf[i] = 0xFFFFFFFFu;
    for (int i = 0; i < plane; ++i)
    {
        const int r = i / cols, c = i - r * cols;
        const uint16_t d = depth[static_cast<long long>(r) * step_y * depth_w + static_cast<long long>(c) * step_x];
        const int idx = frame::project(d, rays[i], rays[plane + i], rays[2 * plane + i], p);
        if (idx >= 0 && d < zbuf[idx])
            zbuf[idx] = d;
    }
    for (int i = 0; i < cells; ++i)
        out[i] = frame::finish_pixel(zbuf, i % p.out_w, i / p.out_w, p.out_w, p.out_h, fill != 0);
    return 0;
}

extern "C" int ms_prepare_rgb_host(const uint8_t* rgb, int w, int h, const float* table, float* out, int out_w,
                                   int out_h)
{
    const int plane = out_w * out_h;
    for (int i = 0; i < plane; ++i)
        for (int c = 0; c < 3; ++c)
            out[c * plane + i] = table[c * 256 + frame::rgb_level(rgb, w, h, out_w, out_h, i % out_w, i / out_w, c)];
    return 0;
}

extern "C" int ms_prepare_depth_host(const uint16_t* aligned, int n, const float* table, float* out)
{
    for (int i = 0; i < n; ++i)
        out[i] = table[aligned[i]];
    return 0;
}
