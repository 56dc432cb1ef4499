// SPDX-License-Identifier: Apache-2.0
//
// cuda_fp16.h — __half on the CPU (see cuda_on_cpu.h): IEEE binary16 storage with the CUDA conversions,
// float → half rounding to nearest even (overflow to ±inf, NaN to the canonical 0x7fff as CUDA does).

#ifndef MUTUALSENSE_CUDA_ON_CPU_FP16_H
#define MUTUALSENSE_CUDA_ON_CPU_FP16_H

#include "cuda_on_cpu.h"

#include <cstdint>
#include <cstring>

struct __half
{
    unsigned short __x;
};

namespace cuda_cpu
{

inline unsigned short float_to_half_bits(float f)
{
    uint32_t x = 0;
    std::memcpy(&x, &f, sizeof x);
    uint32_t const sign = (x >> 16) & 0x8000u;
    uint32_t const ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return 0x7fff; // NaN
    if (ax >= 0x477ff000u)
        return static_cast<unsigned short>(sign | 0x7c00u); // ≥ 65520 (and inf) rounds to inf
    if (ax >= 0x38800000u)                                  // normal half: rebias the exponent, round the mantissa
        return static_cast<unsigned short>(sign | ((ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1u)) >> 13));
    if (ax < 0x33000000u)
        return static_cast<unsigned short>(sign); // below 2^-25 (and 2^-25 itself, a tie to even) → ±0
    // subnormal half: the value in units of 2^-24, rounded to nearest even
    uint32_t const e = ax >> 23;
    uint32_t const m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t const s = 126u - e;
    uint32_t r = m >> s;
    uint32_t const rem = m & ((1u << s) - 1u);
    uint32_t const half = 1u << (s - 1u);
    if (rem > half || (rem == half && (r & 1u)))
        ++r;
    return static_cast<unsigned short>(sign | r);
}

inline float half_bits_to_float(unsigned short h)
{
    uint32_t const sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t const exp = (h >> 10) & 0x1fu;
    uint32_t const mant = h & 0x3ffu;
    uint32_t bits = 0;
    if (exp == 0)
    {
        float const v = static_cast<float>(mant) * 5.9604644775390625e-8f; // mant · 2^-24, exact
        std::memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    }
    else if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13);
    else
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    float out = 0.0f;
    std::memcpy(&out, &bits, sizeof out);
    return out;
}

} // namespace cuda_cpu

inline float __half2float(__half h)
{
    return ::cuda_cpu::half_bits_to_float(h.__x);
}

inline __half __float2half_rn(float f)
{
    return __half{::cuda_cpu::float_to_half_bits(f)};
}

inline __half __float2half(float f)
{
    return __float2half_rn(f);
}

#endif // MUTUALSENSE_CUDA_ON_CPU_FP16_H
