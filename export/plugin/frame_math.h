// SPDX-License-Identifier: Apache-2.0
//
// frame_math.h — the per-pixel arithmetic of MutualSense's frame preparation (depth aligned to the
// colour camera on the model's grid, colour and depth into the model's input tensor), shared by the
// CUDA kernels (preprocess_kernels.cu) and the CPU build (preprocess_host.cpp). Under nvcc the
// functions are __host__ __device__; under g++ this is plain C++17.
//
// The CPU reference is Python: mutualsense.align.DepthAligner and mutualsense.preprocess. The tables
// these functions read are made there, once per calibration / input spec, and uploaded:
//
//   rays   [3][rows][cols] float  R·(normalised depth ray) of every sampled depth pixel (DepthAligner)
//   rgb    [3][256] float         normalised value of every uint8 level per channel (preprocess)
//   depth  [65536] float          standardised nearness of every raw depth value (preprocess)
//
// Alignment, per sampled depth pixel (d = raw depth, z = d·scale), exactly the float32 operations
// of DepthAligner in the same order (no fused multiply-add, round-to-nearest division), so the
// grids are identical:
//
//   pz = z·r2 + t2;  keep when d > 0 and pz > 1e-6
//   x  = ((z·r0 + t0)·(1/pz))·fx + cx,   y = ((z·r1 + t1)·(1/pz))·fy + cy;  keep when 0 ≤ x < W, 0 ≤ y < H
//   zbuf[⌊y⌋·W + ⌊x⌋] = min(zbuf, d)                                    (atomicMin on the GPU)
//
// then per output pixel: a z-buffer value ≥ 65535 is empty; with `fill`, an empty pixel takes the
// nearest (smallest) depth among its 3×3 neighbours' z-buffer values (a max filter over nearness
// 65535 − d, as cv2.dilate), else 0.
//
// Colour: cv2.resize's bilinear uint8 resize reproduced to the bit (below), then the level's table
// value: the tensors are identical to the CPU path's.

#ifndef MUTUALSENSE_FRAME_MATH_H
#define MUTUALSENSE_FRAME_MATH_H

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define FM_HD __host__ __device__ __forceinline__
#else
#define FM_HD inline
#endif

namespace frame
{

constexpr uint32_t kEmpty = 65535u;  // z-buffer values from here up mean "nothing landed"

// ---- float32 operations that the compiler may not fuse or approximate ------------------------------

FM_HD float mul(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;  // the host build is compiled with -ffp-contract=off
#endif
}

FM_HD float add(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}

FM_HD float div(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

// ---- alignment -------------------------------------------------------------------------------------

struct AlignParams
{
    float t0, t1, t2;  // depth→colour translation (metres)
    float fx, fy;      // colour focal lengths scaled to the output grid
    float cx, cy;      // colour principal point + 0.5, scaled to the output grid
    float scale;       // metres per raw depth unit
    int out_w, out_h;  // output grid
};

// Flat output index where the sampled depth value `d` with ray (r0, r1, r2) lands, or -1.
FM_HD int project(uint16_t d, float r0, float r1, float r2, const AlignParams& p)
{
    if (d == 0)
        return -1;
    const float z = mul(static_cast<float>(d), p.scale);
    const float pz = add(mul(z, r2), p.t2);
    if (!(pz > 1e-6f))
        return -1;
    const float inv = div(1.0f, pz);
    const float x = add(mul(mul(add(mul(z, r0), p.t0), inv), p.fx), p.cx);
    if (!(x >= 0.0f) || !(x < static_cast<float>(p.out_w)))
        return -1;
    const float y = add(mul(mul(add(mul(z, r1), p.t1), inv), p.fy), p.cy);
    if (!(y >= 0.0f) || !(y < static_cast<float>(p.out_h)))
        return -1;
    return static_cast<int>(y) * p.out_w + static_cast<int>(x);  // x, y ≥ 0: truncation is floor
}

// The aligned raw depth of output pixel (ox, oy) from the finished z-buffer.
FM_HD uint16_t finish_pixel(const uint32_t* zbuf, int ox, int oy, int w, int h, bool fill)
{
    const uint32_t v = zbuf[oy * w + ox];
    if (v < kEmpty)
        return static_cast<uint16_t>(v);
    if (!fill)
        return 0;
    uint32_t nearest = kEmpty;  // the smallest landed depth among the 3×3 neighbours
    for (int dy = -1; dy <= 1; ++dy)
    {
        for (int dx = -1; dx <= 1; ++dx)
        {
            const int x = ox + dx, y = oy + dy;
            if (x < 0 || y < 0 || x >= w || y >= h)
                continue;
            const uint32_t n = zbuf[y * w + x];
            nearest = n < nearest ? n : nearest;
        }
    }
    return nearest < kEmpty ? static_cast<uint16_t>(nearest) : 0;
}

// ---- colour ----------------------------------------------------------------------------------------
//
// cv2.resize(INTER_LINEAR) on uint8, to the bit (OpenCV's resize.cpp): source coordinate
// s = float((o + 0.5)·scale − 0.5) with scale = 1 / (out/src) in double, taps ⌊s⌋ and ⌊s⌋ + 1 clamped
// to the image; along x a tap outside the image also zeroes the fraction, along y it does not; 11-bit
// weights c0 = round((1 − frac)·2048), c1 = round(frac·2048) (each rounded on its own); rows
// r = S[x0]·c0 + S[x1]·c1, then ((r0 >> 4)·b0 >> 16) + ((r1 >> 4)·b1 >> 16), (+2) >> 2 — the
// vertical pass of OpenCV's vectorised code (x86 and NEON alike).

constexpr float kCoefOne = 2048.0f;  // 1 << INTER_RESIZE_COEF_BITS

// One source coordinate of the resize: the two taps and their fixed-point weights.
FM_HD void bilinear_axis(int o, int src_size, int out_size, bool zero_outside, int& i0, int& i1, int& c0, int& c1)
{
    const double scale = 1.0 / (static_cast<double>(out_size) / src_size);
    const float s = static_cast<float>((o + 0.5) * scale - 0.5);
    const float f = floorf(s);
    int left = static_cast<int>(f);
    float frac = s - f;
    if (zero_outside && left < 0)
    {
        left = 0;
        frac = 0.0f;
    }
    if (zero_outside && left >= src_size - 1)
    {
        left = src_size - 1;
        frac = 0.0f;
    }
    i0 = left < 0 ? 0 : (left > src_size - 1 ? src_size - 1 : left);
    i1 = left + 1 < 0 ? 0 : (left + 1 > src_size - 1 ? src_size - 1 : left + 1);
    c0 = static_cast<int>(rintf((1.0f - frac) * kCoefOne));
    c1 = static_cast<int>(rintf(frac * kCoefOne));
}

// The resized uint8 level of channel c at output pixel (ox, oy) of an interleaved (H, W, 3) image.
FM_HD int rgb_level(const uint8_t* rgb, int w, int h, int ow, int oh, int ox, int oy, int c)
{
    int x0, x1, cx0, cx1, y0, y1, cy0, cy1;
    bilinear_axis(ox, w, ow, true, x0, x1, cx0, cx1);
    bilinear_axis(oy, h, oh, false, y0, y1, cy0, cy1);
    const int r0 = rgb[(y0 * w + x0) * 3 + c] * cx0 + rgb[(y0 * w + x1) * 3 + c] * cx1;
    const int r1 = rgb[(y1 * w + x0) * 3 + c] * cx0 + rgb[(y1 * w + x1) * 3 + c] * cx1;
    const int level = ((((r0 >> 4) * cy0) >> 16) + (((r1 >> 4) * cy1) >> 16) + 2) >> 2;
    return level < 0 ? 0 : (level > 255 ? 255 : level);
}

}  // namespace frame

#endif  // MUTUALSENSE_FRAME_MATH_H
