// SPDX-License-Identifier: Apache-2.0
//
// driver.cpp — runs the CPU build of the CDA kernels as a program, for the AddressSanitizer /
// UndefinedBehaviorSanitizer build (a sanitised library cannot be loaded into Python). One case per line
// on stdin:  f32|f16 B H N d alpha scale schedule optin DIR  — DIR holds q_r.bin … v_d.bin (raw
// little-endian float32 or binary16) and receives o_r.bin, o_d.bin, o_rd.bin, o_dr.bin. Every tensor is a
// heap block of exactly its size, so an out-of-bounds access is reported.

#include "cuda_fp16.h"
#include "cuda_runtime.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>

extern "C"
{
size_t cda_workspace_bytes(int B, int H, int N);
int cda_forward_f32(const float* q_r, const float* k_r, const float* v_r, const float* q_d, const float* k_d,
    const float* v_d, float* o_r, float* o_d, float* o_rd, float* o_dr, float* workspace, int B, int H, int N, int d,
    float alpha, float scale, cudaStream_t stream);
int cda_forward_f16(const __half* q_r, const __half* k_r, const __half* v_r, const __half* q_d, const __half* k_d,
    const __half* v_d, __half* o_r, __half* o_d, __half* o_rd, __half* o_dr, float* workspace, int B, int H, int N,
    int d, float alpha, float scale, cudaStream_t stream);
void cuda_cpu_configure(int shared_optin, int schedule, unsigned seed);
const char* cuda_cpu_fault();
}

namespace
{

const char* const kInputs[] = {"q_r", "k_r", "v_r", "q_d", "k_d", "v_d"};
const char* const kOutputs[] = {"o_r", "o_d", "o_rd", "o_dr"};

void* read_file(const std::string& path, size_t bytes)
{
    void* p = std::malloc(bytes);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr || std::fread(p, 1, bytes, f) != bytes)
    {
        std::fprintf(stderr, "driver: cannot read %zu bytes from %s\n", bytes, path.c_str());
        std::exit(2);
    }
    std::fclose(f);
    return p;
}

void write_file(const std::string& path, const void* p, size_t bytes)
{
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(p, 1, bytes, f) != bytes)
    {
        std::fprintf(stderr, "driver: cannot write %s\n", path.c_str());
        std::exit(2);
    }
    std::fclose(f);
}

int run_case(const std::string& line)
{
    std::istringstream in(line);
    std::string dtype, dir;
    int B = 0, H = 0, N = 0, d = 0, schedule = 0, optin = 0;
    float alpha = 0.0f, scale = 0.0f;
    if (!(in >> dtype >> B >> H >> N >> d >> alpha >> scale >> schedule >> optin >> dir))
    {
        std::fprintf(stderr, "driver: bad case line: %s\n", line.c_str());
        return 2;
    }
    const size_t elem = dtype == "f16" ? 2 : 4;
    const size_t bytes = static_cast<size_t>(B) * H * N * d * elem;
    void* ins[6];
    void* outs[4];
    for (int i = 0; i < 6; ++i)
        ins[i] = read_file(dir + "/" + kInputs[i] + ".bin", bytes);
    for (int i = 0; i < 4; ++i)
        outs[i] = std::malloc(bytes);
    float* ws = static_cast<float*>(std::malloc(cda_workspace_bytes(B, H, N)));
    cuda_cpu_configure(optin, schedule, 1);
    int rc = 0;
    if (elem == 4)
    {
        auto f = [&](int i) { return static_cast<float*>(i < 6 ? ins[i] : outs[i - 6]); };
        rc = cda_forward_f32(f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), ws, B, H, N, d, alpha, scale, nullptr);
    }
    else
    {
        auto h = [&](int i) { return static_cast<__half*>(i < 6 ? ins[i] : outs[i - 6]); };
        rc = cda_forward_f16(h(0), h(1), h(2), h(3), h(4), h(5), h(6), h(7), h(8), h(9), ws, B, H, N, d, alpha, scale, nullptr);
    }
    for (int i = 0; i < 4; ++i)
        write_file(dir + "/" + kOutputs[i] + ".bin", outs[i], bytes);
    for (void* p : ins)
        std::free(p);
    for (void* p : outs)
        std::free(p);
    std::free(ws);
    std::printf("%s rc=%d fault=%s\n", dir.c_str(), rc, cuda_cpu_fault());
    return rc != 0 || cuda_cpu_fault()[0] != '\0' ? 1 : 0;
}

} // namespace

int main()
{
    int status = 0;
    std::string line;
    while (std::getline(std::cin, line))
        if (!line.empty())
            status |= run_case(line);
    return status;
}
