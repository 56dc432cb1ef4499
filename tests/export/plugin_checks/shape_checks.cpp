// SPDX-License-Identifier: Apache-2.0
//
// shape_checks.cpp — a C ABI over export/plugin/cda_shapes.h (the plugin's build-time shape and type
// checks) so tests/export/test_cda_kernels_plugin.py can run them through ctypes without TensorRT.

#include "cda_shapes.h"

#include <cstddef>
#include <cstdint>

namespace
{

const char* const kNames[] = {"q_r", "k_r", "v_r", "q_d", "k_d", "v_d", "o_r", "o_d", "o_rd", "o_dr"};

const char* type_name(int32_t type)
{
    return type == 0 ? "float32" : type == 1 ? "float16" : "int8";
}

} // namespace

extern "C"
{

//! n ≤ 10 tensors (inputs then outputs); dims holds n rows of kMaxRank entries. 1: they agree, 0: msg says why.
int check_shapes(int n, const int32_t* ranks, const int64_t* dims, char* msg, size_t cap)
{
    cda::TensorShape shapes[10];
    for (int i = 0; i < n && i < 10; ++i)
    {
        shapes[i].rank = ranks[i];
        for (int k = 0; k < cda::kMaxRank; ++k)
            shapes[i].dims[k] = dims[i * cda::kMaxRank + k];
    }
    return cda::same_shapes(shapes, kNames, n, "the profile's max shapes", msg, cap) ? 1 : 0;
}

int check_types(int n, const int32_t* types, char* msg, size_t cap)
{
    return cda::same_types(types, kNames, n, type_name, msg, cap) ? 1 : 0;
}

} // extern "C"
