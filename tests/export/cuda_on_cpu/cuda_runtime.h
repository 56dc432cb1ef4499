// SPDX-License-Identifier: Apache-2.0
//
// cuda_runtime.h — the CUDA runtime API subset that the kernels' launch code uses, on the CPU
// (see cuda_on_cpu.h). Included instead of the toolkit's header by the CPU build of the kernels.

#ifndef MUTUALSENSE_CUDA_ON_CPU_RUNTIME_H
#define MUTUALSENSE_CUDA_ON_CPU_RUNTIME_H

#include "cuda_on_cpu.h"

cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
char const* cudaGetErrorString(cudaError_t error);

template <typename F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value)
{
    return ::cuda_cpu::set_func_attribute(reinterpret_cast<void const*>(func), attr, value);
}

#endif // MUTUALSENSE_CUDA_ON_CPU_RUNTIME_H
