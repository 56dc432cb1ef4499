// SPDX-License-Identifier: Apache-2.0
//
// cda_shapes.h — the CDA node's checks on its tensors' shapes and types, in plain C++17 without TensorRT
// types, so the TensorRT plugin (cda_plugin.cpp) calls them at build time and the test suite runs them
// on any machine (tests/export/test_cda_kernels_plugin.py compiles this header with the system compiler).
//
// The node (design.md §8): six inputs q_r, k_r, v_r, q_d, k_d, v_d and four outputs o_r, o_d, o_rd, o_dr,
// all [B, H, N, d] of one type. The kernels index every tensor with q_r's dimensions, so an input of any
// other shape would be read out of bounds: it must be refused when the engine is built, not at the first
// enqueue. Every function is noexcept and allocation-free: messages go into a caller's char buffer.

#ifndef MUTUALSENSE_CDA_SHAPES_H
#define MUTUALSENSE_CDA_SHAPES_H

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace cda
{

constexpr int kNodeInputs = 6;
constexpr int kNodeOutputs = 4;
constexpr int kNodeRank = 4;
constexpr int kMaxRank = 8; // nvinfer1::Dims::MAX_DIMS

constexpr char const* kInputNames[kNodeInputs] = {"q_r", "k_r", "v_r", "q_d", "k_d", "v_d"};
constexpr char const* kOutputNames[kNodeOutputs] = {"o_r", "o_d", "o_rd", "o_dr"};

//! The dimensions of one tensor as far as they are known: a negative entry is not known at this stage
//! (a dynamic dimension in the network definition, or an expression that is not a constant).
struct TensorShape
{
    int32_t rank = -1;
    int64_t dims[kMaxRank] = {};
};

//! "[1, 2, ?, 64]" into buf (always terminated); returns buf.
inline char const* format_shape(TensorShape const& s, char* buf, size_t cap) noexcept
{
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    if (s.rank < 0 || s.rank > kMaxRank)
    {
        std::snprintf(buf, cap, "(rank %d)", static_cast<int>(s.rank));
        return buf;
    }
    size_t used = 0;
    auto put = [&](char const* text, long long value, bool number) {
        if (used >= cap)
            return;
        int const n = number ? std::snprintf(buf + used, cap - used, "%lld", value)
                             : std::snprintf(buf + used, cap - used, "%s", text);
        used += n > 0 ? static_cast<size_t>(n) : 0;
    };
    put("[", 0, false);
    for (int32_t i = 0; i < s.rank; ++i)
    {
        if (i > 0)
            put(", ", 0, false);
        if (s.dims[i] < 0)
            put("?", 0, false);
        else
            put(nullptr, static_cast<long long>(s.dims[i]), true);
    }
    put("]", 0, false);
    return buf;
}

//! Checks that `n` tensors (names[i] for messages) are all 4-D and agree with tensors[0] dimension by
//! dimension, an unknown dimension agreeing with anything. `stage` says which shapes these are (for
//! example "the network's input shapes" or "the profile's max shapes"). Returns true when they agree;
//! otherwise false with one sentence in msg naming the first offending tensor and both shapes.
inline bool same_shapes(TensorShape const* tensors, char const* const* names, int n, char const* stage, char* msg,
    size_t cap) noexcept
{
    if (cap > 0)
        msg[0] = '\0';
    if (tensors == nullptr || names == nullptr || n <= 0)
    {
        std::snprintf(msg, cap, "no tensors to check (%s)", stage);
        return false;
    }
    char a[128];
    char b[128];
    for (int i = 0; i < n; ++i)
        if (tensors[i].rank != kNodeRank)
        {
            std::snprintf(msg, cap, "%s is %s in %s: every tensor of CrossDiffusionAttention must be 4-D [B, H, N, d]",
                names[i], format_shape(tensors[i], a, sizeof a), stage);
            return false;
        }
    TensorShape const& ref = tensors[0];
    for (int i = 1; i < n; ++i)
        for (int k = 0; k < kNodeRank; ++k)
        {
            int64_t const x = tensors[i].dims[k];
            int64_t const y = ref.dims[k];
            if (x >= 0 && y >= 0 && x != y)
            {
                std::snprintf(msg, cap,
                    "%s is %s but %s is %s in %s: all inputs and outputs of CrossDiffusionAttention must have "
                    "one shape [B, H, N, d]",
                    names[i], format_shape(tensors[i], a, sizeof a), names[0], format_shape(ref, b, sizeof b), stage);
                return false;
            }
        }
    return true;
}

//! Checks that `n` tensors have one data type (codes as the caller's enum; type_name(code) for messages).
inline bool same_types(int32_t const* types, char const* const* names, int n, char const* (*type_name)(int32_t),
    char* msg, size_t cap) noexcept
{
    if (cap > 0)
        msg[0] = '\0';
    for (int i = 1; i < n; ++i)
        if (types[i] != types[0])
        {
            std::snprintf(msg, cap,
                "%s is %s but %s is %s: all inputs and outputs of CrossDiffusionAttention must have one type "
                "(float32 or float16)",
                names[i], type_name(types[i]), names[0], type_name(types[0]));
            return false;
        }
    return true;
}

} // namespace cda

#endif // MUTUALSENSE_CDA_SHAPES_H
