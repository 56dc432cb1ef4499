// SPDX-License-Identifier: Apache-2.0
//
// plugin_on_cpu.cpp — the TensorRT plugin (export/plugin/cda_plugin.cpp, compiled against TensorRT's real
// headers) driven through its IPluginV3 interfaces on the CPU, its kernels the CUDA-on-CPU build: the
// creator, build-time shape and type refusals with their logged messages, onShapeChange, enqueue (equal to a
// direct kernel call with scale d^-1/2), clone, serialisation, a bad field. Run by
// tests/export/test_cda_kernels_cpu.py where TensorRT's headers are installed; prints one line per check.
#include "cda_plugin.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>
using namespace nvinfer1;
extern "C" IPluginCreatorInterface* const* getCreators(int32_t& nbCreators);
extern "C" void setLoggerFinder(ILoggerFinder* finder);
extern "C" void cuda_cpu_configure(int, int, unsigned);
struct Logger : ILogger { void log(Severity s, const char* msg) noexcept override { std::printf("  LOG[%d] %s\n", (int)s, msg); } };
struct Finder : ILoggerFinder { Logger l; ILogger* findLogger() noexcept override { return &l; } };
static Dims4 q{1, 2, 37, 64};
static void fill(DynamicPluginTensorDesc* t, int n, DataType type) {
  for (int i = 0; i < n; ++i) { t[i].desc.dims = q; t[i].desc.type = type; t[i].desc.format = TensorFormat::kLINEAR; t[i].min = t[i].opt = t[i].max = q; }
}
int main() {
  Finder f; setLoggerFinder(&f);
  int32_t n = 0; auto creators = getCreators(n);
  auto* creator = static_cast<IPluginCreatorV3One*>(creators[0]);
  std::printf("creator %s v%s n=%d\n", creator->getPluginName(), creator->getPluginVersion(), n);
  float alpha = 0.6f; PluginField fields[] = {PluginField("alpha", &alpha, PluginFieldType::kFLOAT32, 1)}; PluginFieldCollection fc{1, fields};
  IPluginV3* plugin = creator->createPlugin("cda", &fc, TensorRTPhase::kBUILD);
  auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  auto* rt = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  DynamicPluginTensorDesc in[6], out[4];
  fill(in, 6, DataType::kFLOAT); fill(out, 4, DataType::kFLOAT);
  std::printf("configure same shapes: %d\n", build->configurePlugin(in, 6, out, 4));
  in[1].max.d[2] = 50; std::printf("configure k_r max N=50: %d\n", build->configurePlugin(in, 6, out, 4)); in[1].max = q;
  in[5].desc.dims.d[3] = 32; std::printf("configure v_d d=32: %d\n", build->configurePlugin(in, 6, out, 4)); in[5].desc.dims = q;
  in[4].desc.dims.d[2] = -1; in[4].min.d[2] = 1; in[4].max.d[2] = 100; std::printf("configure k_d dynamic N 1..100: %d\n", build->configurePlugin(in, 6, out, 4)); fill(in, 6, DataType::kFLOAT);
  in[2].desc.dims = Dims3{2, 37, 64}; std::printf("configure v_r 3-D: %d\n", build->configurePlugin(in, 6, out, 4)); fill(in, 6, DataType::kFLOAT);
  in[3].desc.type = DataType::kHALF; std::printf("configure q_d half: %d\n", build->configurePlugin(in, 6, out, 4)); fill(in, 6, DataType::kFLOAT);
  PluginTensorDesc pin[6], pout[4];
  for (int i = 0; i < 6; ++i) pin[i] = in[i].desc; for (int i = 0; i < 4; ++i) pout[i] = out[i].desc;
  std::printf("onShapeChange same: %d\n", rt->onShapeChange(pin, 6, pout, 4));
  pin[1].dims.d[2] = 50; std::printf("onShapeChange k_r N=50: %d\n", rt->onShapeChange(pin, 6, pout, 4)); pin[1].dims = q;
  size_t elems = 1 * 2 * 37 * 64; std::vector<std::vector<float>> bufs(10, std::vector<float>(elems));
  for (int t = 0; t < 6; ++t) for (size_t i = 0; i < elems; ++i) bufs[t][i] = std::sin(0.37f * i + t);
  size_t ws_bytes = build->getWorkspaceSize(in, 6, out, 4); std::vector<float> ws(ws_bytes / 4);
  std::printf("workspace %zu\n", ws_bytes);
  const void* ins[6]; void* outs[4]; for (int i = 0; i < 6; ++i) ins[i] = bufs[i].data(); for (int i = 0; i < 4; ++i) outs[i] = bufs[6 + i].data();
  cuda_cpu_configure(166912, 0, 1);
  std::printf("enqueue: %d\n", rt->enqueue(pin, pout, ins, outs, ws.data(), nullptr));
  std::vector<std::vector<float>> ref(4, std::vector<float>(elems)); std::vector<float> ws2(ws.size());
  int rc = cda_forward_f32((const float*)ins[0], (const float*)ins[1], (const float*)ins[2], (const float*)ins[3], (const float*)ins[4], (const float*)ins[5], ref[0].data(), ref[1].data(), ref[2].data(), ref[3].data(), ws2.data(), 1, 2, 37, 64, 0.6f, 0.125f, nullptr);
  bool same = rc == 0; for (int k = 0; k < 4; ++k) same = same && std::memcmp(ref[k].data(), outs[k], elems * 4) == 0;
  std::printf("enqueue == direct call with scale 1/sqrt(64): %s\n", same ? "yes" : "NO");
  std::printf("enqueue N=0: %d\n", (pin[0].dims.d[2] = 0, rt->enqueue(pin, pout, ins, outs, ws.data(), nullptr))); pin[0].dims = q;
  cuda_cpu_configure(1024, 0, 1); std::printf("enqueue with 1 KiB shared memory: %d\n", rt->enqueue(pin, pout, ins, outs, ws.data(), nullptr));
  IPluginV3* c = plugin->clone(); auto* core = static_cast<IPluginV3OneCore*>(c->getCapabilityInterface(PluginCapabilityType::kCORE));
  std::printf("clone %s ns='%s'\n", core->getPluginName(), core->getPluginNamespace());
  auto* fc2 = rt->getFieldsToSerialize(); std::printf("serialize %d fields: %s=%g %s=%g\n", fc2->nbFields, fc2->fields[0].name, *(const float*)fc2->fields[0].data, fc2->fields[1].name, *(const float*)fc2->fields[1].data);
  float bad = NAN; PluginField badf[] = {PluginField("scale", &bad, PluginFieldType::kFLOAT32, 1)}; PluginFieldCollection bfc{1, badf};
  std::printf("createPlugin scale=nan: %p\n", (void*)creator->createPlugin("cda", &bfc, TensorRTPhase::kBUILD));
  delete c; delete plugin; return 0;
}
