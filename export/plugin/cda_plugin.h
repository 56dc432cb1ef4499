// SPDX-License-Identifier: Apache-2.0
//
// cda_plugin.h — the TensorRT plugin of MutualSense's Cross-Diffusion Attention node
// (`mutualsense::CrossDiffusionAttention` version 1 in ONNX, design.md §8).
//
// It is an IPluginV3 with the three "V3One" capabilities (core, build, runtime) and an
// IPluginCreatorV3One creator named "CrossDiffusionAttention", version "1", namespace "".
// The shared library libmutualsense_cda.so exports getCreators() and setLoggerFinder(), so
//     trt.get_plugin_registry().load_library("libmutualsense_cda.so")        (Python)
//     getPluginRegistry()->loadLibrary("libmutualsense_cda.so")              (C++)
// registers it (TensorRT ≥ 10). It does NOT register itself from a static initialiser: loadLibrary
// refuses a library whose plugins are already registered, so the two mechanisms must not be mixed.
//
// Written against TensorRT 10.3 (JetPack 6): NvInferRuntime.h / NvInferRuntimePlugin.h. The
// signatures used are unchanged in 10.13 (JetPack 7.0/7.1) and 11.x, where the base classes moved to
// NvInferPluginBase.h (still reached through NvInferRuntime.h).
//
// I/O: 6 inputs q_r, k_r, v_r, q_d, k_d, v_d and 4 outputs o_r, o_d, o_rd, o_dr, all [B, H, N, d],
// all float32 or all float16, linear (row-major) layout. Shapes and types are checked when the engine is
// built (getOutputShapes: constant dimensions; configurePlugin: the network's and the profile's min/opt/max
// shapes) and again in onShapeChange, by cda_shapes.h; a mismatch is logged with both shapes and refused. Fields: alpha (float32, default 0.6) and
// scale (float32; absent or ≤ 0 means d^-½ at run time). Workspace: 2·B·H·N·N floats (A_r, A_d).

#ifndef MUTUALSENSE_CDA_PLUGIN_H
#define MUTUALSENSE_CDA_PLUGIN_H

#include <NvInferRuntime.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

// The C ABI of the kernels (cda_kernels.cu).
extern "C"
{
    size_t cda_workspace_bytes(int B, int H, int N);
    int cda_forward_f32(const float* q_r, const float* k_r, const float* v_r, const float* q_d, const float* k_d,
        const float* v_d, float* o_r, float* o_d, float* o_rd, float* o_dr, float* workspace, int B, int H, int N,
        int d, float alpha, float scale, cudaStream_t stream);
    int cda_forward_f16(const __half* q_r, const __half* k_r, const __half* v_r, const __half* q_d,
        const __half* k_d, const __half* v_d, __half* o_r, __half* o_d, __half* o_rd, __half* o_dr, float* workspace,
        int B, int H, int N, int d, float alpha, float scale, cudaStream_t stream);
}

namespace mutualsense
{

constexpr char const* kCdaPluginName = "CrossDiffusionAttention";
constexpr char const* kCdaPluginVersion = "1";
constexpr char const* kCdaPluginNamespace = "";
constexpr int32_t kCdaNbInputs = 6;
constexpr int32_t kCdaNbOutputs = 4;
constexpr float kCdaDefaultAlpha = 0.6F;

class CdaPlugin : public nvinfer1::IPluginV3,
                  public nvinfer1::IPluginV3OneCore,
                  public nvinfer1::IPluginV3OneBuild,
                  public nvinfer1::IPluginV3OneRuntime
{
public:
    CdaPlugin(float alpha, float scale, std::string pluginNamespace);
    CdaPlugin(CdaPlugin const& other);
    CdaPlugin& operator=(CdaPlugin const&) = delete;
    ~CdaPlugin() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;
    size_t getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
        int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

    float alpha() const noexcept
    {
        return mAlpha;
    }
    float scale() const noexcept
    {
        return mScale;
    }

private:
    float mAlpha;
    float mScale; // ≤ 0: d^-½ at run time
    std::string mNamespace;
    // getFieldsToSerialize() points these at this object's members (rebuilt on every call, so a copy
    // never serialises the original's fields).
    std::vector<nvinfer1::PluginField> mSerialFields;
    nvinfer1::PluginFieldCollection mSerialCollection{0, nullptr};
};

class CdaPluginCreator : public nvinfer1::IPluginCreatorV3One
{
public:
    CdaPluginCreator();
    ~CdaPluginCreator() override = default;

    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFieldNames;
    nvinfer1::PluginFieldCollection mFieldCollection{0, nullptr};
};

} // namespace mutualsense

#endif // MUTUALSENSE_CDA_PLUGIN_H
