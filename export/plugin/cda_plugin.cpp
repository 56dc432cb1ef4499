// SPDX-License-Identifier: Apache-2.0
//
// cda_plugin.cpp — TensorRT IPluginV3 implementation of the CDA node (see cda_plugin.h) and the
// library entry points getCreators() / setLoggerFinder() used by IPluginRegistry::loadLibrary.
// The arithmetic is in cda_kernels.cu (C ABI) and cda_math.h.

#include "cda_plugin.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <utility>

#define CDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace mutualsense
{
namespace
{

using nvinfer1::DataType;
using nvinfer1::TensorFormat;

// ---- logging through the logger TensorRT hands to setLoggerFinder() ----------------------------------

std::mutex gLoggerMutex;
nvinfer1::ILoggerFinder* gLoggerFinder{nullptr};

void logMessage(nvinfer1::ILogger::Severity severity, std::string const& msg) noexcept
{
    try
    {
        nvinfer1::ILogger* logger{nullptr};
        {
            std::lock_guard<std::mutex> lock(gLoggerMutex);
            if (gLoggerFinder != nullptr)
                logger = gLoggerFinder->findLogger(); // must be called on the thread of the plugin call
        }
        if (logger != nullptr)
            logger->log(severity, (std::string("[mutualsense CDA] ") + msg).c_str());
    }
    catch (...)
    {
    }
}

void logError(std::string const& msg) noexcept
{
    logMessage(nvinfer1::ILogger::Severity::kERROR, msg);
}

bool sameDims(nvinfer1::Dims const& a, nvinfer1::Dims const& b) noexcept
{
    if (a.nbDims != b.nbDims)
        return false;
    for (int32_t i = 0; i < a.nbDims; ++i)
        if (a.d[i] != b.d[i])
            return false;
    return true;
}

//! Reads one scalar float field (float32 as the ONNX parser passes float attributes; float64 accepted).
bool readFloatField(nvinfer1::PluginField const& f, float& value) noexcept
{
    if (f.data == nullptr || f.length < 1)
        return false;
    switch (f.type)
    {
    case nvinfer1::PluginFieldType::kFLOAT32: value = *static_cast<float const*>(f.data); return true;
    case nvinfer1::PluginFieldType::kFLOAT64: value = static_cast<float>(*static_cast<double const*>(f.data)); return true;
    default: return false;
    }
}

} // namespace

// ===================================================================================================
// CdaPlugin
// ===================================================================================================

CdaPlugin::CdaPlugin(float alpha, float scale, std::string pluginNamespace)
    : mAlpha(alpha)
    , mScale(scale)
    , mNamespace(std::move(pluginNamespace))
{
}

CdaPlugin::CdaPlugin(CdaPlugin const& other)
    : nvinfer1::IPluginV3()
    , nvinfer1::IPluginV3OneCore()
    , nvinfer1::IPluginV3OneBuild()
    , nvinfer1::IPluginV3OneRuntime()
    , mAlpha(other.mAlpha)
    , mScale(other.mScale)
    , mNamespace(other.mNamespace)
{
}

nvinfer1::IPluginCapability* CdaPlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

nvinfer1::IPluginV3* CdaPlugin::clone() noexcept
{
    try
    {
        return new CdaPlugin(*this);
    }
    catch (std::exception const& e)
    {
        logError(std::string("clone failed: ") + e.what());
    }
    return nullptr;
}

char const* CdaPlugin::getPluginName() const noexcept
{
    return kCdaPluginName;
}

char const* CdaPlugin::getPluginVersion() const noexcept
{
    return kCdaPluginVersion;
}

char const* CdaPlugin::getPluginNamespace() const noexcept
{
    return mNamespace.c_str();
}

int32_t CdaPlugin::getNbOutputs() const noexcept
{
    return kCdaNbOutputs;
}

int32_t CdaPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    // Nothing to choose: one algorithm for every shape. Only check the arity and the rank.
    if (in == nullptr || out == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs)
        return -1;
    for (int32_t i = 0; i < nbInputs; ++i)
        if (in[i].desc.dims.nbDims != 4)
        {
            logError("every input must be 4-D [B, H, N, d]");
            return -1;
        }
    return 0;
}

int32_t CdaPlugin::getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
    nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (outputTypes == nullptr || inputTypes == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs)
        return -1;
    for (int32_t i = 0; i < nbOutputs; ++i)
        outputTypes[i] = inputTypes[0]; // all outputs in the inputs' type (float32 or float16)
    return 0;
}

int32_t CdaPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/, nvinfer1::DimsExprs* outputs,
    int32_t nbOutputs, nvinfer1::IExprBuilder& /*exprBuilder*/) noexcept
{
    if (inputs == nullptr || outputs == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs)
        return -1;
    if (inputs[0].nbDims != 4)
    {
        logError("q_r must be 4-D [B, H, N, d]");
        return -1;
    }
    for (int32_t i = 0; i < nbOutputs; ++i)
        outputs[i] = inputs[0]; // every output is [B, H, N, d], the shape of the inputs
    return 0;
}

bool CdaPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (inOut == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs || pos < 0
        || pos >= nbInputs + nbOutputs)
        return false;
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != TensorFormat::kLINEAR)
        return false;
    if (pos == 0)
        return desc.type == DataType::kFLOAT || desc.type == DataType::kHALF;
    return desc.type == inOut[0].desc.type; // decided from inOut[0..pos] only, as the API requires
}

size_t CdaPlugin::getWorkspaceSize(nvinfer1::DynamicPluginTensorDesc const* inputs, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*outputs*/, int32_t /*nbOutputs*/) const noexcept
{
    if (inputs == nullptr || nbInputs < 1 || inputs[0].max.nbDims != 4)
        return 0;
    // Sized for the profile's largest shape: enough for it and any smaller one.
    nvinfer1::Dims const& mx = inputs[0].max;
    if (mx.d[0] <= 0 || mx.d[1] <= 0 || mx.d[2] <= 0)
        return 0;
    return cda_workspace_bytes(static_cast<int>(mx.d[0]), static_cast<int>(mx.d[1]), static_cast<int>(mx.d[2]));
}

int32_t CdaPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* out, int32_t nbOutputs) noexcept
{
    if (in == nullptr || out == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs)
        return -1;
    if (in[0].dims.nbDims != 4)
        return -1;
    for (int32_t i = 1; i < nbInputs; ++i)
        if (!sameDims(in[i].dims, in[0].dims) || in[i].type != in[0].type)
        {
            logError("all six inputs must have the same shape [B, H, N, d] and type");
            return -1;
        }
    for (int32_t i = 0; i < nbOutputs; ++i)
        if (!sameDims(out[i].dims, in[0].dims) || out[i].type != in[0].type)
            return -1;
    return 0;
}

int32_t CdaPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* /*outputDesc*/,
    void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    if (inputDesc == nullptr || inputs == nullptr || outputs == nullptr || inputDesc[0].dims.nbDims != 4)
        return -1;
    nvinfer1::Dims const& dims = inputDesc[0].dims;
    int const B = static_cast<int>(dims.d[0]);
    int const H = static_cast<int>(dims.d[1]);
    int const N = static_cast<int>(dims.d[2]);
    int const d = static_cast<int>(dims.d[3]);
    if (B == 0 || H == 0 || N == 0 || d == 0)
        return 0; // empty tensors: nothing to do
    float const scale = mScale > 0.0F ? mScale : 1.0F / std::sqrt(static_cast<float>(d));
    float* ws = static_cast<float*>(workspace);

    int status = -1;
    if (inputDesc[0].type == DataType::kFLOAT)
    {
        auto in = [&](int i) { return static_cast<float const*>(inputs[i]); };
        auto out = [&](int i) { return static_cast<float*>(outputs[i]); };
        status = cda_forward_f32(in(0), in(1), in(2), in(3), in(4), in(5), out(0), out(1), out(2), out(3), ws, B, H, N,
            d, mAlpha, scale, stream);
    }
    else if (inputDesc[0].type == DataType::kHALF)
    {
        auto in = [&](int i) { return static_cast<__half const*>(inputs[i]); };
        auto out = [&](int i) { return static_cast<__half*>(outputs[i]); };
        status = cda_forward_f16(in(0), in(1), in(2), in(3), in(4), in(5), out(0), out(1), out(2), out(3), ws, B, H, N,
            d, mAlpha, scale, stream);
    }
    if (status != 0)
        logError("kernel launch failed with status " + std::to_string(status) + " (B=" + std::to_string(B)
            + ", H=" + std::to_string(H) + ", N=" + std::to_string(N) + ", d=" + std::to_string(d) + ")");
    return status;
}

nvinfer1::IPluginV3* CdaPlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept
{
    return clone(); // no per-context resources
}

nvinfer1::PluginFieldCollection const* CdaPlugin::getFieldsToSerialize() noexcept
{
    try
    {
        mSerialFields.clear();
        mSerialFields.emplace_back("alpha", &mAlpha, nvinfer1::PluginFieldType::kFLOAT32, 1);
        mSerialFields.emplace_back("scale", &mScale, nvinfer1::PluginFieldType::kFLOAT32, 1);
        mSerialCollection.nbFields = static_cast<int32_t>(mSerialFields.size());
        mSerialCollection.fields = mSerialFields.data();
    }
    catch (std::exception const& e)
    {
        logError(std::string("getFieldsToSerialize failed: ") + e.what());
        mSerialCollection = nvinfer1::PluginFieldCollection{0, nullptr};
    }
    return &mSerialCollection;
}

// ===================================================================================================
// CdaPluginCreator
// ===================================================================================================

CdaPluginCreator::CdaPluginCreator()
{
    // The fields the ONNX parser copies from the node's attributes (only listed names are passed).
    mFieldNames.emplace_back("alpha", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1);
    mFieldNames.emplace_back("scale", nullptr, nvinfer1::PluginFieldType::kFLOAT32, 1);
    mFieldCollection.nbFields = static_cast<int32_t>(mFieldNames.size());
    mFieldCollection.fields = mFieldNames.data();
}

char const* CdaPluginCreator::getPluginName() const noexcept
{
    return kCdaPluginName;
}

char const* CdaPluginCreator::getPluginVersion() const noexcept
{
    return kCdaPluginVersion;
}

char const* CdaPluginCreator::getPluginNamespace() const noexcept
{
    return kCdaPluginNamespace;
}

nvinfer1::PluginFieldCollection const* CdaPluginCreator::getFieldNames() noexcept
{
    return &mFieldCollection;
}

nvinfer1::IPluginV3* CdaPluginCreator::createPlugin(
    char const* /*name*/, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase /*phase*/) noexcept
{
    // The build phase gets the ONNX attributes, the runtime phase what getFieldsToSerialize() wrote:
    // the same two fields either way. Other fields (plugin_version, plugin_namespace, if a parser
    // passes them) are ignored.
    try
    {
        float alpha = kCdaDefaultAlpha;
        float scale = -1.0F;
        if (fc != nullptr && fc->fields != nullptr)
        {
            for (int32_t i = 0; i < fc->nbFields; ++i)
            {
                nvinfer1::PluginField const& f = fc->fields[i];
                if (f.name == nullptr)
                    continue;
                if (std::strcmp(f.name, "alpha") == 0 || std::strcmp(f.name, "scale") == 0)
                {
                    float value = 0.0F;
                    if (!readFloatField(f, value) || !std::isfinite(value))
                    {
                        logError(std::string("field '") + f.name + "' must be one finite float32");
                        return nullptr;
                    }
                    (f.name[0] == 'a' ? alpha : scale) = value;
                }
            }
        }
        return new CdaPlugin(alpha, scale, kCdaPluginNamespace);
    }
    catch (std::exception const& e)
    {
        logError(std::string("createPlugin failed: ") + e.what());
    }
    return nullptr;
}

} // namespace mutualsense

// ===================================================================================================
// Library entry points for IPluginRegistry::loadLibrary (TensorRT ≥ 10)
// ===================================================================================================

CDA_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static mutualsense::CdaPluginCreator sCreator;
    static nvinfer1::IPluginCreatorInterface* const sCreators[] = {&sCreator};
    nbCreators = 1;
    return sCreators;
}

CDA_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    std::lock_guard<std::mutex> lock(mutualsense::gLoggerMutex);
    if (mutualsense::gLoggerFinder == nullptr && finder != nullptr)
        mutualsense::gLoggerFinder = finder;
}
