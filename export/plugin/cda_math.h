// SPDX-License-Identifier: Apache-2.0
//
// cda_math.h — the arithmetic of MutualSense's Cross-Diffusion Attention (CDA) node, as small inline
// "tile" functions shared by the CUDA kernels (cda_kernels.cu) and the CPU reference build
// (cda_host.cpp). Under nvcc the functions are __host__ __device__; under g++ this is plain C++17.
//
// The node (design.md §8, `mutualsense::CrossDiffusionAttention` v1): six tensors q_r, k_r, v_r,
// q_d, k_d, v_d of shape [B, H, N, d] (row-major, d fastest) → o_r, o_d, o_rd, o_dr of the same shape.
// Per (b, h), with row-softmax attention maps
//
//     A_r = softmax_rows(Q_r K_rᵀ · scale),   A_d = softmax_rows(Q_d K_dᵀ · scale)      (N × N)
//
// the outputs are, in the O(N²d) form (never an N×N×N product; design.md §3):
//
//     O_r  = A_r V_r
//     O_d  = A_d V_d
//     O_rd = α · A_rᵀ O_d + (1 − α) · (A_r V_d + O_d)
//     O_dr = α · A_dᵀ O_r + (1 − α) · (O_r + A_d V_r)
//
// Both implementations run the same two phases per (b, h):
//
//   phase 1, "rows": for each query row i and each modality m ∈ {r, d}
//       logits  l_j = (q_i · k_j) · scale                      key_logits
//       softmax p_j = exp(l_j − max) / Σ exp(l − max)          row_max, row_exp, row_normalize_store
//                (two passes; statistics always in float; p is stored as row i of A_m in the workspace)
//       products p·V_own and p·V_other, one output column c   pair_products
//     and then writes O_r[i], O_d[i] and the "self" parts of the diffused outputs
//       O_rd[i] ← (1 − α)(A_r V_d + O_d)[i],  O_dr[i] ← (1 − α)(O_r + A_d V_r)[i]   partial_mix
//   phase 2, "diffuse": the transposed products, tiled over j
//       O_rd[i] += α · Σ_j A_r[j, i] O_d[j],   O_dr[i] += α · Σ_j A_d[j, i] O_r[j]   transposed_tile_fma, diffuse
//
// Storage type T is float, or __half under nvcc; every accumulation is in float.
// Cost: phase 1 is 2·(N²d + 2·N²d) multiply-adds, phase 2 is 2·N²d; memory: A_r and A_d as
// 2·N·N floats per (b, h) — the workspace, 2·B·H·N·N·sizeof(float) bytes in all.

#ifndef MUTUALSENSE_CDA_MATH_H
#define MUTUALSENSE_CDA_MATH_H

#include <cmath>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define CDA_HD __host__ __device__ __forceinline__
#else
#define CDA_HD inline
#endif

namespace cda
{

// ---- storage type <-> float -----------------------------------------------------------------------

template <typename T>
CDA_HD float to_float(T x);

template <>
CDA_HD float to_float<float>(float x)
{
    return x;
}

template <typename T>
CDA_HD T from_float(float x);

template <>
CDA_HD float from_float<float>(float x)
{
    return x;
}

#ifdef __CUDACC__
template <>
CDA_HD float to_float<__half>(__half x)
{
    return __half2float(x);
}

template <>
CDA_HD __half from_float<__half>(float x)
{
    return __float2half_rn(x);
}
#endif

CDA_HD float cda_exp(float x)
{
#ifdef __CUDA_ARCH__
    return __expf(x);  // fast intrinsic; x ≤ 0 here, so its error is a few ulp of the result
#else
    return std::exp(x);
#endif
}

CDA_HD float cda_max(float a, float b)
{
    return a > b ? a : b;
}

// ---- phase 1: one query row against all keys -------------------------------------------------------

//! Logits of R query rows against one key row k_j: p[r·ldp + j] = (q_r · k_j) · scale for r < R.
//! `q` holds the R query rows as float, row-major [R][d]. Reading k_j once for all R rows is what
//! lets a CUDA block share the key traffic between its R rows.
template <int R, typename T>
CDA_HD void key_logits(const float* q, int d, const T* k_row, float scale, float* p, int ldp, int j)
{
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
        acc[r] = 0.0f;
    for (int c = 0; c < d; ++c)
    {
        const float kc = to_float(k_row[c]);
#pragma unroll
        for (int r = 0; r < R; ++r)
            acc[r] += q[r * d + c] * kc;
    }
#pragma unroll
    for (int r = 0; r < R; ++r)
        p[r * ldp + j] = acc[r] * scale;
}

//! Softmax pass 1: the largest logit among p[begin], p[begin + step], ... (a strided slice of one row;
//! the host walks the whole row with begin = 0, step = 1, a CUDA warp uses begin = lane, step = 32).
CDA_HD float row_max(const float* p, int n, int begin, int step)
{
    float m = -3.402823466e38f;
    for (int j = begin; j < n; j += step)
        m = cda_max(m, p[j]);
    return m;
}

//! Softmax pass 2: p[j] ← exp(p[j] − m) over the slice; returns the slice's sum.
CDA_HD float row_exp(float* p, int n, float m, int begin, int step)
{
    float s = 0.0f;
    for (int j = begin; j < n; j += step)
    {
        const float e = cda_exp(p[j] - m);
        p[j] = e;
        s += e;
    }
    return s;
}

//! Softmax normalisation: p[j] ← p[j] · inv_sum, also stored as row i of the attention map (a_row).
CDA_HD void row_normalize_store(float* p, int n, float inv_sum, float* a_row, int begin, int step)
{
    for (int j = begin; j < n; j += step)
    {
        const float a = p[j] * inv_sum;
        p[j] = a;
        a_row[j] = a;
    }
}

//! One output column c of two row-times-matrix products over the key slice j = begin, begin+step, ... < n:
//!     ax += Σ_j p[j] · X[j, c],   ay += Σ_j p[j] · Y[j, c]      (X, Y are [n][d], row-major)
//! With X = V_own and Y = V_other this gives O_m[i, c] and the cross term (A_r V_d or A_d V_r)[i, c].
template <typename T>
CDA_HD void pair_products(
    const float* p, const T* X, const T* Y, int d, int c, int begin, int n, int step, float& ax, float& ay)
{
    float sx = 0.0f;
    float sy = 0.0f;
    for (int j = begin; j < n; j += step)
    {
        const float pj = p[j];
        sx += pj * to_float(X[j * d + c]);
        sy += pj * to_float(Y[j * d + c]);
    }
    ax += sx;
    ay += sy;
}

//! The "self" part of a diffused output, written by phase 1: (1 − α)(a + b).
//!   O_rd: a = (A_r V_d)[i, c], b = O_d[i, c];   O_dr: a = O_r[i, c], b = (A_d V_r)[i, c].
CDA_HD float partial_mix(float alpha, float a, float b)
{
    return (1.0f - alpha) * (a + b);
}

// ---- phase 2: the transposed product Aᵀ·O, tile by tile ---------------------------------------------

//! One tile's contribution to (Aᵀ O)[i, c]: Σ_{jj < tj} At[jj·lda + i] · Ot[jj·ldo + c], where At holds
//! rows j0..j0+tj of A (so At[jj·lda + i] = A[j0 + jj, i], i.e. Aᵀ[i, j0 + jj]) and Ot the same rows of O.
//! The CUDA kernel calls it on 32×32 shared-memory tiles; the host on the same tiles in ordinary memory.
CDA_HD float transposed_tile_fma(const float* At, int lda, const float* Ot, int ldo, int tj, int i, int c)
{
    float acc = 0.0f;
    for (int jj = 0; jj < tj; ++jj)
        acc += At[jj * lda + i] * Ot[jj * ldo + c];
    return acc;
}

//! Final diffused output: α · (Aᵀ O)[i, c] + the partial written by phase 1.
CDA_HD float diffuse(float alpha, float transposed, float partial)
{
    return alpha * transposed + partial;
}

} // namespace cda

#endif // MUTUALSENSE_CDA_MATH_H
