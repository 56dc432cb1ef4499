// SPDX-License-Identifier: Apache-2.0
//
// cda_host.cpp — a CPU (float32) build of the CDA node from the same tile functions as the CUDA
// kernels (cda_math.h), behind a small C ABI. It exists so the kernel arithmetic can be checked
// against the PyTorch reference on machines without a GPU:
//
//     g++ -std=c++17 -O2 -shared -fPIC cda_host.cpp -o libmutualsense_cda_host.so
//
// and loaded with ctypes (mutualsense.export.plugin_build.build_host_library). It follows the CUDA
// kernels step for step: phase 1 walks the query rows (the kernels do R rows per block, here one at a
// time), phase 2 the 32-row tiles of Aᵀ·O.

#include "cda_math.h"

#include <algorithm>
#include <cstddef>
#include <vector>

namespace
{

constexpr int kTile = 32; // rows of A per phase-2 tile, as in the CUDA kernel

//! Phase 1 for one (b, h): attention maps into a_r / a_d, O_r, O_d and the partial diffused outputs.
void rows_phase(const float* const in[6], float* const out[4], float* a_r, float* a_d, int N, int d, float alpha,
    float scale)
{
    const float* q_r = in[0];
    const float* k_r = in[1];
    const float* v_r = in[2];
    const float* q_d = in[3];
    const float* k_d = in[4];
    const float* v_d = in[5];
    std::vector<float> q(static_cast<size_t>(d));
    std::vector<float> p(static_cast<size_t>(N));
    std::vector<float> res(4 * static_cast<size_t>(d)); // O_r, A_r V_d, O_d, A_d V_r for row i
    for (int i = 0; i < N; ++i)
    {
        std::fill(res.begin(), res.end(), 0.0f);
        for (int m = 0; m < 2; ++m)
        {
            const float* Q = m == 0 ? q_r : q_d;
            const float* K = m == 0 ? k_r : k_d;
            const float* X = m == 0 ? v_r : v_d; // own values:   O_m = A_m V_m
            const float* Y = m == 0 ? v_d : v_r; // other values: the cross term
            float* A = m == 0 ? a_r : a_d;
            std::copy(Q + static_cast<size_t>(i) * d, Q + static_cast<size_t>(i + 1) * d, q.begin());
            for (int j = 0; j < N; ++j)
                cda::key_logits<1, float>(q.data(), d, K + static_cast<size_t>(j) * d, scale, p.data(), N, j);
            const float mx = cda::row_max(p.data(), N, 0, 1);
            const float sum = cda::row_exp(p.data(), N, mx, 0, 1);
            cda::row_normalize_store(p.data(), N, 1.0f / sum, A + static_cast<size_t>(i) * N, 0, 1);
            for (int c = 0; c < d; ++c)
                cda::pair_products(p.data(), X, Y, d, c, 0, N, 1, res[(2 * m) * d + c], res[(2 * m + 1) * d + c]);
        }
        for (int c = 0; c < d; ++c)
        {
            const size_t g = static_cast<size_t>(i) * d + c;
            const float o_r = res[c], c_rd = res[d + c], o_d = res[2 * d + c], c_dr = res[3 * d + c];
            out[0][g] = o_r;
            out[1][g] = o_d;
            out[2][g] = cda::partial_mix(alpha, c_rd, o_d);
            out[3][g] = cda::partial_mix(alpha, o_r, c_dr);
        }
    }
}

//! Phase 2 for one (b, h) and one modality: out[i, c] ← α · (Aᵀ O)[i, c] + out[i, c] (the partial).
void diffuse_phase(const float* A, const float* O, float* out, int N, int d, float alpha)
{
    std::vector<float> acc(static_cast<size_t>(N) * d, 0.0f);
    for (int j0 = 0; j0 < N; j0 += kTile)
    {
        const int tj = std::min(kTile, N - j0);
        const float* At = A + static_cast<size_t>(j0) * N; // rows j0.. of A: At[jj·N + i] = A[j0 + jj, i]
        const float* Ot = O + static_cast<size_t>(j0) * d;
        for (int i = 0; i < N; ++i)
            for (int c = 0; c < d; ++c)
                acc[static_cast<size_t>(i) * d + c] += cda::transposed_tile_fma(At, N, Ot, d, tj, i, c);
    }
    for (size_t g = 0; g < acc.size(); ++g)
        out[g] = cda::diffuse(alpha, acc[g], out[g]);
}

} // namespace

extern "C"
{

//! Workspace of the CDA node: the two attention maps, 2·B·H·N·N floats.
size_t cda_workspace_bytes(int B, int H, int N)
{
    return 2 * static_cast<size_t>(B) * H * N * N * sizeof(float);
}

//! CPU CDA forward, float32. All tensors are contiguous [B, H, N, d]; `workspace` holds at least
//! cda_workspace_bytes(B, H, N) bytes and on return contains A_r (first B·H·N·N floats) then A_d.
//! Returns 0 on success, -1 for invalid sizes or null pointers.
int cda_forward_host(const float* q_r, const float* k_r, const float* v_r, const float* q_d, const float* k_d,
    const float* v_d, float* o_r, float* o_d, float* o_rd, float* o_dr, float* workspace, int B, int H, int N, int d,
    float alpha, float scale)
{
    if (B <= 0 || H <= 0 || N <= 0 || d <= 0)
        return -1;
    const float* ins[6] = {q_r, k_r, v_r, q_d, k_d, v_d};
    float* outs[4] = {o_r, o_d, o_rd, o_dr};
    for (const float* t : ins)
        if (t == nullptr)
            return -1;
    for (const float* t : outs)
        if (t == nullptr)
            return -1;
    if (workspace == nullptr)
        return -1;

    const size_t bh_count = static_cast<size_t>(B) * H;
    const size_t nd = static_cast<size_t>(N) * d;
    const size_t nn = static_cast<size_t>(N) * N;
    for (size_t bh = 0; bh < bh_count; ++bh)
    {
        const float* in[6];
        float* out[4];
        for (int t = 0; t < 6; ++t)
            in[t] = ins[t] + bh * nd;
        for (int t = 0; t < 4; ++t)
            out[t] = outs[t] + bh * nd;
        float* a_r = workspace + bh * nn;
        float* a_d = workspace + (bh_count + bh) * nn;
        rows_phase(in, out, a_r, a_d, N, d, alpha, scale);
        diffuse_phase(a_r, out[1], out[2], N, d, alpha); // O_rd += α · A_rᵀ O_d
        diffuse_phase(a_d, out[0], out[3], N, d, alpha); // O_dr += α · A_dᵀ O_r
    }
    return 0;
}

} // extern "C"
