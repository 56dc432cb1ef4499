// SPDX-License-Identifier: Apache-2.0
//
// cda_kernels.cu — CUDA kernels of MutualSense's Cross-Diffusion Attention node and their C launch
// functions (used by the TensorRT plugin, cda_plugin.cpp, and by the tests through ctypes).
// The arithmetic lives in cda_math.h (see there for the formulas); this file only organises it.
//
//   kernel 1  cda_rows_kernel<R, T>     grid (⌈N/R⌉, B·H), 256 threads, dynamic shared memory
//             One block owns R consecutive query rows of one (b, h) and does, for m = r then d:
//               · logits of its R rows against all N keys: thread t takes keys j = t, t+256, …, reads
//                 k_j once and forms R dot products (key_logits<R>) into shared memory p[R][N];
//               · row softmax, one warp per row: max, exp & sum (warp shuffles), normalise — and the
//                 normalised row goes to the workspace as row i of A_m (row_max/row_exp/row_normalize_store);
//               · p·V_own and p·V_other for the R·d (row, column) pairs; threads split the keys into
//                 slices when R·d < 256 and the slices are summed through shared memory (pair_products).
//             It then writes O_r, O_d and the partial diffused outputs (1−α)(A_r V_d + O_d) into o_rd,
//             (1−α)(O_r + A_d V_r) into o_dr (partial_mix).
//   kernel 2  cda_diffuse_kernel<T>     grid (⌈d/32⌉, ⌈N/32⌉, 2·B·H), 32×8 threads
//             The transposed products, a plain shared-memory tiled matmul: a block owns a 32×32 tile of
//             (Aᵀ O) (rows i, columns c); per 32-row step j0 it stages A[j0.., i0..] (coalesced: the rows
//             of A are contiguous in i) and O[j0.., c0..] and accumulates transposed_tile_fma; finally
//             o_rd = α·(A_rᵀ O_d) + partial, o_dr = α·(A_dᵀ O_r) + partial (diffuse). z = 2·(b·H + h) + m.
//
// Storage: float or __half; every accumulation and the softmax statistics are float. For __half the
// partial written by kernel 1 and O_r/O_d read by kernel 2 are in __half (the ONNX body does likewise:
// its products with V are in the inputs' type).
// Workspace: A_r for all (b, h), then A_d: 2·B·H·N·N floats (cda_workspace_bytes), 256-byte aligned
// by TensorRT. O(N²d) arithmetic, O(N²) memory; no N×N×N product is ever formed.
// Limits: kernel 1 keeps R·(N + 5d) + 512 floats in shared memory; R = 8 rows per block when that
// fits the device's opt-in limit (at d = 32: N ≤ 1 311 in the default 48 KiB, ≈ 5 000 on Orin's
// 163 KiB, ≈ 7 000 on an H100), else R = 1 (N ≤ ≈ 11 600 at d = 32 in 48 KiB, more with the opt-in);
// beyond that the launch functions return -2. B·H ≤ 32 767.

#include "cda_math.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace
{

constexpr int kRowThreads = 256; // kernel 1 block size (8 warps)
constexpr int kTile = 32;        // kernel 2 tile edge
constexpr int kTileRows = 8;     // kernel 2 block is kTile × kTileRows threads, kTile / kTileRows outputs each

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = cda::cda_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

//! Shared memory of kernel 1, in floats: q[R·d], p[R·N], res[4·R·d], red[2·threads].
__host__ __device__ inline size_t rows_smem_floats(int R, int N, int d)
{
    return static_cast<size_t>(R) * d + static_cast<size_t>(R) * N + 4 * static_cast<size_t>(R) * d
        + 2 * static_cast<size_t>(kRowThreads);
}

template <int R, typename T>
__global__ void __launch_bounds__(kRowThreads) cda_rows_kernel(const T* __restrict__ q_r, const T* __restrict__ k_r,
    const T* __restrict__ v_r, const T* __restrict__ q_d, const T* __restrict__ k_d, const T* __restrict__ v_d,
    T* __restrict__ o_r, T* __restrict__ o_d, T* __restrict__ o_rd, T* __restrict__ o_dr, float* __restrict__ a_r,
    float* __restrict__ a_d, int N, int d, float alpha, float scale)
{
    extern __shared__ float smem[];
    float* q_s = smem;               // [R][d]   query rows (float)
    float* p_s = q_s + R * d;        // [R][N]   logits → probabilities
    float* res = p_s + R * N;        // [4][R·d] O_r, A_r V_d, O_d, A_d V_r for the block's rows
    float* red = res + 4 * R * d;    // [2][threads] slice partial sums

    const int tid = threadIdx.x;
    const int nthreads = blockDim.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int nwarps = nthreads >> 5;
    const size_t bh = blockIdx.y;
    const int i0 = blockIdx.x * R;
    const int rows = min(R, N - i0);
    const size_t nd = static_cast<size_t>(N) * d;
    const size_t off = bh * nd;

    for (int m = 0; m < 2; ++m)
    {
        const T* Q = (m == 0 ? q_r : q_d) + off;
        const T* K = (m == 0 ? k_r : k_d) + off;
        const T* X = (m == 0 ? v_r : v_d) + off; // own values
        const T* Y = (m == 0 ? v_d : v_r) + off; // other modality's values
        float* A = (m == 0 ? a_r : a_d) + bh * static_cast<size_t>(N) * N;

        for (int t = tid; t < R * d; t += nthreads)
        {
            const int r = t / d;
            q_s[t] = r < rows ? cda::to_float(Q[static_cast<size_t>(i0) * d + t]) : 0.0f;
        }
        __syncthreads();

        // logits: each thread reads whole key rows and serves all R query rows
        for (int j = tid; j < N; j += nthreads)
            cda::key_logits<R, T>(q_s, d, K + static_cast<size_t>(j) * d, scale, p_s, N, j);
        __syncthreads();

        // row softmax, one warp per row, statistics in float
        for (int r = warp; r < rows; r += nwarps)
        {
            float* p = p_s + r * N;
            const float mx = warp_max(cda::row_max(p, N, lane, 32));
            const float sum = warp_sum(cda::row_exp(p, N, mx, lane, 32));
            cda::row_normalize_store(p, N, 1.0f / sum, A + static_cast<size_t>(i0 + r) * N, lane, 32);
        }
        __syncthreads();

        // products with V_own and V_other for the rows·d (row, column) pairs
        const int pairs = rows * d;
        for (int base = 0; base < pairs; base += nthreads)
        {
            const int np = min(pairs - base, nthreads);
            const int slices = nthreads / np;
            const int pair = tid % np;
            const int slice = tid / np;
            if (slice < slices)
            {
                const int r = (base + pair) / d;
                const int c = (base + pair) % d;
                float ax = 0.0f, ay = 0.0f;
                cda::pair_products(p_s + r * N, X, Y, d, c, slice, N, slices, ax, ay);
                red[slice * np + pair] = ax;
                red[nthreads + slice * np + pair] = ay;
            }
            __syncthreads();
            if (tid < np)
            {
                float sx = 0.0f, sy = 0.0f;
                for (int s = 0; s < slices; ++s)
                {
                    sx += red[s * np + tid];
                    sy += red[nthreads + s * np + tid];
                }
                res[(2 * m) * R * d + base + tid] = sx;
                res[(2 * m + 1) * R * d + base + tid] = sy;
            }
            __syncthreads();
        }
    }

    // epilogue: O_r, O_d and the (1 − α) parts of O_rd, O_dr; res index t = r·d + c matches the layout
    for (int t = tid; t < rows * d; t += nthreads)
    {
        const size_t g = off + static_cast<size_t>(i0) * d + t;
        const float v_or = res[t];
        const float v_crd = res[R * d + t];
        const float v_od = res[2 * R * d + t];
        const float v_cdr = res[3 * R * d + t];
        o_r[g] = cda::from_float<T>(v_or);
        o_d[g] = cda::from_float<T>(v_od);
        o_rd[g] = cda::from_float<T>(cda::partial_mix(alpha, v_crd, v_od));
        o_dr[g] = cda::from_float<T>(cda::partial_mix(alpha, v_or, v_cdr));
    }
}

template <typename T>
__global__ void __launch_bounds__(kTile* kTileRows) cda_diffuse_kernel(const float* __restrict__ a_r,
    const float* __restrict__ a_d, const T* __restrict__ o_r, const T* __restrict__ o_d, T* __restrict__ o_rd,
    T* __restrict__ o_dr, int N, int d, float alpha)
{
    __shared__ float At[kTile][kTile]; // At[jj][ii] = A[j0 + jj, i0 + ii]
    __shared__ float Ot[kTile][kTile]; // Ot[jj][cc] = O[j0 + jj, c0 + cc]
    constexpr int kPer = kTile / kTileRows;

    const size_t bh = blockIdx.z >> 1;
    const int m = blockIdx.z & 1; // 0: O_rd += α A_rᵀ O_d,  1: O_dr += α A_dᵀ O_r
    const float* A = (m == 0 ? a_r : a_d) + bh * static_cast<size_t>(N) * N;
    const size_t off = bh * static_cast<size_t>(N) * d;
    const T* O = (m == 0 ? o_d : o_r) + off;
    T* out = (m == 0 ? o_rd : o_dr) + off;

    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int i0 = blockIdx.y * kTile;
    const int c0 = blockIdx.x * kTile;

    float acc[kPer];
#pragma unroll
    for (int k = 0; k < kPer; ++k)
        acc[k] = 0.0f;

    for (int j0 = 0; j0 < N; j0 += kTile)
    {
        const int tj = min(kTile, N - j0);
#pragma unroll
        for (int k = 0; k < kPer; ++k)
        {
            const int jj = ty + k * kTileRows;
            const bool row_ok = jj < tj;
            At[jj][tx] = (row_ok && i0 + tx < N) ? A[static_cast<size_t>(j0 + jj) * N + i0 + tx] : 0.0f;
            Ot[jj][tx] = (row_ok && c0 + tx < d) ? cda::to_float(O[static_cast<size_t>(j0 + jj) * d + c0 + tx]) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kPer; ++k)
            acc[k] += cda::transposed_tile_fma(&At[0][0], kTile, &Ot[0][0], kTile, tj, ty + k * kTileRows, tx);
        __syncthreads();
    }

#pragma unroll
    for (int k = 0; k < kPer; ++k)
    {
        const int i = i0 + ty + k * kTileRows;
        const int c = c0 + tx;
        if (i < N && c < d)
        {
            const size_t g = static_cast<size_t>(i) * d + c;
            out[g] = cda::from_float<T>(cda::diffuse(alpha, acc[k], cda::to_float(out[g])));
        }
    }
}

//! Launch kernel 1 with R rows per block if its shared memory fits the limit (*fits says whether it did).
template <int R, typename T>
cudaError_t launch_rows(const T* q_r, const T* k_r, const T* v_r, const T* q_d, const T* k_d, const T* v_d, T* o_r,
    T* o_d, T* o_rd, T* o_dr, float* a_r, float* a_d, int BH, int N, int d, float alpha, float scale,
    size_t smem_limit, cudaStream_t stream, bool* fits)
{
    const size_t smem = rows_smem_floats(R, N, d) * sizeof(float);
    *fits = smem <= smem_limit;
    if (!*fits)
        return cudaSuccess;
    if (smem > 48 * 1024)
    {
        const cudaError_t e = cudaFuncSetAttribute(
            cda_rows_kernel<R, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
        if (e != cudaSuccess)
            return e;
    }
    const dim3 grid((N + R - 1) / R, BH);
    cda_rows_kernel<R, T><<<grid, kRowThreads, smem, stream>>>(
        q_r, k_r, v_r, q_d, k_d, v_d, o_r, o_d, o_rd, o_dr, a_r, a_d, N, d, alpha, scale);
    return cudaGetLastError();
}

template <typename T>
int cda_forward(const T* q_r, const T* k_r, const T* v_r, const T* q_d, const T* k_d, const T* v_d, T* o_r, T* o_d,
    T* o_rd, T* o_dr, float* workspace, int B, int H, int N, int d, float alpha, float scale, cudaStream_t stream)
{
    if (B <= 0 || H <= 0 || N <= 0 || d <= 0 || workspace == nullptr)
        return -1;
    const long long bh = static_cast<long long>(B) * H;
    if (bh > 32767)
        return -1; // grid.z of kernel 2 is 2·B·H ≤ 65 535
    const int BH = static_cast<int>(bh);
    float* a_r = workspace;
    float* a_d = workspace + static_cast<size_t>(BH) * N * N;

    int device = 0;
    int optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess
        || cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
        optin = 48 * 1024;
    const size_t limit = static_cast<size_t>(optin);

    bool fits = false;
    cudaError_t err = launch_rows<8, T>(
        q_r, k_r, v_r, q_d, k_d, v_d, o_r, o_d, o_rd, o_dr, a_r, a_d, BH, N, d, alpha, scale, limit, stream, &fits);
    if (err == cudaSuccess && !fits)
        err = launch_rows<1, T>(
            q_r, k_r, v_r, q_d, k_d, v_d, o_r, o_d, o_rd, o_dr, a_r, a_d, BH, N, d, alpha, scale, limit, stream, &fits);
    if (err != cudaSuccess)
        return static_cast<int>(err);
    if (!fits)
        return -2; // N too large for one row of logits in shared memory

    const dim3 grid2((d + kTile - 1) / kTile, (N + kTile - 1) / kTile, 2 * BH);
    const dim3 block2(kTile, kTileRows);
    cda_diffuse_kernel<T><<<grid2, block2, 0, stream>>>(a_r, a_d, o_r, o_d, o_rd, o_dr, N, d, alpha);
    return static_cast<int>(cudaGetLastError());
}

} // namespace

extern "C"
{

//! Bytes of workspace the forward functions need: A_r and A_d, 2·B·H·N·N floats.
size_t cda_workspace_bytes(int B, int H, int N)
{
    return 2 * static_cast<size_t>(B) * H * N * N * sizeof(float);
}

//! CDA forward on the GPU, float32 storage. Pointers are device pointers to contiguous [B, H, N, d]
//! tensors; `workspace` holds cda_workspace_bytes(B, H, N) bytes. Asynchronous on `stream`.
//! Returns 0 on success, -1 for invalid arguments, -2 when N is too large for the shared memory,
//! or a cudaError_t value from a launch.
int cda_forward_f32(const float* q_r, const float* k_r, const float* v_r, const float* q_d, const float* k_d,
    const float* v_d, float* o_r, float* o_d, float* o_rd, float* o_dr, float* workspace, int B, int H, int N, int d,
    float alpha, float scale, cudaStream_t stream)
{
    return cda_forward<float>(
        q_r, k_r, v_r, q_d, k_d, v_d, o_r, o_d, o_rd, o_dr, workspace, B, H, N, d, alpha, scale, stream);
}

//! As cda_forward_f32 with __half storage; accumulation, softmax statistics and workspace in float.
int cda_forward_f16(const __half* q_r, const __half* k_r, const __half* v_r, const __half* q_d, const __half* k_d,
    const __half* v_d, __half* o_r, __half* o_d, __half* o_rd, __half* o_dr, float* workspace, int B, int H, int N,
    int d, float alpha, float scale, cudaStream_t stream)
{
    return cda_forward<__half>(
        q_r, k_r, v_r, q_d, k_d, v_d, o_r, o_d, o_rd, o_dr, workspace, B, H, N, d, alpha, scale, stream);
}

} // extern "C"
