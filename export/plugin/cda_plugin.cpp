// SPDX-License-Identifier: Apache-2.0
//
// cda_plugin.cpp — TensorRT IPluginV3 implementation of the CDA node (see cda_plugin.h) and the
// library entry points getCreators() / setLoggerFinder() used by IPluginRegistry::loadLibrary.
// The arithmetic is in cda_kernels.cu (C ABI) and cda_math.h.

#include "cda_plugin.h"
#include "cda_shapes.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
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
// Every method TensorRT calls is noexcept: messages are formatted into a fixed buffer, never a std::string,
// so reporting an error cannot itself throw (bad_alloc in a noexcept function is std::terminate).

std::mutex gLoggerMutex;
nvinfer1::ILoggerFinder* gLoggerFinder{nullptr};

void logError(char const* fmt, ...) noexcept __attribute__((format(printf, 1, 2)));

void logError(char const* fmt, ...) noexcept
{
    char text[1024];
    int const head = std::snprintf(text, sizeof text, "[mutualsense CDA] ");
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(text + head, sizeof text - static_cast<size_t>(head), fmt, args);
    va_end(args);
    try
    {
        nvinfer1::ILogger* logger{nullptr};
        {
            std::lock_guard<std::mutex> lock(gLoggerMutex); // may throw std::system_error
            if (gLoggerFinder != nullptr)
                logger = gLoggerFinder->findLogger(); // must be called on the thread of the plugin call
        }
        if (logger != nullptr)
            logger->log(nvinfer1::ILogger::Severity::kERROR, text);
    }
    catch (...)
    {
    }
}

char const* typeName(int32_t type) noexcept
{
    switch (static_cast<DataType>(type))
    {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    default: return "a type other than float32/float16";
    }
}

//! The known dimensions of a build-time tensor description (a negative entry: decided at run time).
cda::TensorShape shapeOf(nvinfer1::Dims const& dims) noexcept
{
    cda::TensorShape s;
    s.rank = dims.nbDims;
    for (int32_t i = 0; i < dims.nbDims && i < cda::kMaxRank; ++i)
        s.dims[i] = dims.d[i];
    return s;
}

//! The constant dimensions of getOutputShapes' expressions (-1 for those that are not constants).
cda::TensorShape shapeOf(nvinfer1::DimsExprs const& dims) noexcept
{
    cda::TensorShape s;
    s.rank = dims.nbDims;
    for (int32_t i = 0; i < dims.nbDims && i < cda::kMaxRank; ++i)
        s.dims[i] = dims.d[i] != nullptr && dims.d[i]->isConstant() ? dims.d[i]->getConstantValue() : -1;
    return s;
}

//! The ten tensors' names in TensorRT's order (inputs, then outputs).
char const* const kTensorNames[kCdaNbInputs + kCdaNbOutputs]
    = {"q_r", "k_r", "v_r", "q_d", "k_d", "v_d", "o_r", "o_d", "o_rd", "o_dr"};

//! Logs and returns false unless the `n` shapes agree (see cda::same_shapes).
bool checkShapes(cda::TensorShape const* shapes, int n, char const* stage) noexcept
{
    char msg[512];
    if (cda::same_shapes(shapes, kTensorNames, n, stage, msg, sizeof msg))
        return true;
    logError("%s", msg);
    return false;
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
        logError("clone failed: %s", e.what());
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
    // Nothing to choose: one algorithm for every shape. This is where the engine build sees the profile's
    // bounds, so an input whose shape differs from q_r's (k/v with another N or d) is refused here, with
    // its name and both shapes, instead of being read out of bounds by the first enqueue.
    if (in == nullptr || out == nullptr || nbInputs != kCdaNbInputs || nbOutputs != kCdaNbOutputs)
    {
        logError("configurePlugin: expected %d inputs and %d outputs, got %d and %d", kCdaNbInputs, kCdaNbOutputs,
            nbInputs, nbOutputs);
        return -1;
    }
    constexpr int32_t kAll = kCdaNbInputs + kCdaNbOutputs;
    auto const desc = [&](int32_t i) -> nvinfer1::DynamicPluginTensorDesc const& {
        return i < kCdaNbInputs ? in[i] : out[i - kCdaNbInputs];
    };
    cda::TensorShape shapes[kAll];
    char const* const stages[] = {"the network's shapes", "the profile's min shapes", "the profile's opt shapes",
        "the profile's max shapes"};
    for (int32_t which = 0; which < 4; ++which)
    {
        for (int32_t i = 0; i < kAll; ++i)
        {
            nvinfer1::DynamicPluginTensorDesc const& t = desc(i);
            shapes[i] = shapeOf(which == 0 ? t.desc.dims : which == 1 ? t.min : which == 2 ? t.opt : t.max);
        }
        if (!checkShapes(shapes, kAll, stages[which]))
            return -1;
    }
    int32_t types[kAll];
    for (int32_t i = 0; i < kAll; ++i)
        types[i] = static_cast<int32_t>(desc(i).desc.type);
    char msg[512];
    if (!cda::same_types(types, kTensorNames, kAll, typeName, msg, sizeof msg))
    {
        logError("%s", msg);
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
    // The first look at the shapes while the network is built: ranks, and every dimension that is a
    // constant (dynamic ones are checked against the profile in configurePlugin).
    cda::TensorShape shapes[kCdaNbInputs];
    for (int32_t i = 0; i < kCdaNbInputs; ++i)
        shapes[i] = shapeOf(inputs[i]);
    if (!checkShapes(shapes, kCdaNbInputs, "the network's input shapes"))
        return -1;
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
    // The run-time shapes, all known now (dynamic dimensions that agreed within the profile may still differ).
    constexpr int32_t kAll = kCdaNbInputs + kCdaNbOutputs;
    cda::TensorShape shapes[kAll];
    int32_t types[kAll];
    for (int32_t i = 0; i < kAll; ++i)
    {
        nvinfer1::PluginTensorDesc const& t = i < kCdaNbInputs ? in[i] : out[i - kCdaNbInputs];
        shapes[i] = shapeOf(t.dims);
        types[i] = static_cast<int32_t>(t.type);
    }
    if (!checkShapes(shapes, kAll, "the run-time shapes"))
        return -1;
    char msg[512];
    if (!cda::same_types(types, kTensorNames, kAll, typeName, msg, sizeof msg))
    {
        logError("%s", msg);
        return -1;
    }
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
        logError("kernel launch failed with status %d (B=%d, H=%d, N=%d, d=%d)", status, B, H, N, d);
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
        logError("getFieldsToSerialize failed: %s", e.what());
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
                        logError("field '%s' must be one finite float32", f.name);
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
        logError("createPlugin failed: %s", e.what());
    }
    return nullptr;
}

} // namespace mutualsense

// ===================================================================================================
// Library entry points for IPluginRegistry::loadLibrary (TensorRT ≥ 10)
// ===================================================================================================

// Both are called by TensorRT through a C interface: nothing may escape them (the creator's constructor
// allocates; a mutex lock can throw std::system_error).
CDA_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    nbCreators = 0;
    try
    {
        static mutualsense::CdaPluginCreator sCreator;
        static nvinfer1::IPluginCreatorInterface* const sCreators[] = {&sCreator};
        nbCreators = 1;
        return sCreators;
    }
    catch (...)
    {
    }
    return nullptr;
}

CDA_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    try
    {
        std::lock_guard<std::mutex> lock(mutualsense::gLoggerMutex);
        if (mutualsense::gLoggerFinder == nullptr && finder != nullptr)
            mutualsense::gLoggerFinder = finder;
    }
    catch (...)
    {
    }
}
