#include "model_run.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "commands.h"
#include "common/half.h"
#include "common/small_float.h"
#include "gpu_run.h"

namespace kiln::cli {

bool isDynamic(const Dims& d) {
  for (int i = 0; i < d.nbDims; ++i)
    if (d.d[i] < 0) return true;
  return false;
}

double elementAsDouble(DataType t, const void* data, int64_t i) {
  const auto* p = static_cast<const uint8_t*>(data);
  auto load = [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(v), sizeof(v));
    return v;
  };
  switch (t) {
    case DataType::kFLOAT: return load(float{});
    case DataType::kHALF: return halfBitsToFloat(load(uint16_t{}));
    case DataType::kBF16: return bf16BitsToFloat(load(uint16_t{}));
    case DataType::kDOUBLE: return load(double{});
    case DataType::kINT8: return load(int8_t{});
    case DataType::kUINT8: return load(uint8_t{});
    case DataType::kBOOL: return load(uint8_t{}) != 0 ? 1.0 : 0.0;
    case DataType::kINT16: return load(int16_t{});
    case DataType::kUINT16: return load(uint16_t{});
    case DataType::kINT32: return load(int32_t{});
    case DataType::kUINT32: return load(uint32_t{});
    case DataType::kINT64: return static_cast<double>(load(int64_t{}));
    case DataType::kUINT64: return static_cast<double>(load(uint64_t{}));
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1: return smallFloatToFloat(t, load(uint8_t{}));
    case DataType::kINT4:
    case DataType::kINT2: return load(int8_t{});  // sub-byte types are stored unpacked
    case DataType::kUINT4:
    case DataType::kUINT2: return load(uint8_t{});
  }
  return 0;
}

std::vector<ModelInput> networkInputs(const NetworkDefinition& net) {
  std::vector<ModelInput> inputs;
  for (int i = 0; i < net.getNbInputs(); ++i) {
    const Tensor* t = net.getInput(i);
    inputs.push_back({t->getName(), t->getType(), t->getDimensions()});
  }
  return inputs;
}

namespace {

std::string shapeText(const Dims& d) { return d.nbDims == 0 ? "scalar" : dimsString(d); }

}  // namespace

StatusOr<std::vector<HostTensor>> makeInputValues(const std::vector<ModelInput>& inputs,
                                                  const std::vector<ShapeSpec>& shapes,
                                                  const std::vector<InputFileSpec>& loadInputs,
                                                  unsigned seed, bool announce,
                                                  std::vector<ShapeSpec>* buildShapes) {
  auto inputNames = [&] {
    std::string s;
    for (const ModelInput& in : inputs) s += (s.empty() ? "'" : ", '") + in.name + "'";
    return s.empty() ? std::string("(none)") : s;
  };
  auto known = [&](const std::string& name) {
    return std::any_of(inputs.begin(), inputs.end(),
                       [&](const ModelInput& in) { return in.name == name; });
  };
  for (const ShapeSpec& s : shapes)
    if (!known(s.name))
      return notFound("--shapes: the model has no input '%s'; its inputs are %s", s.name.c_str(),
                      inputNames().c_str());
  for (const InputFileSpec& s : loadInputs)
    if (!known(s.name))
      return notFound("--loadInputs: the model has no input '%s'; its inputs are %s",
                      s.name.c_str(), inputNames().c_str());

  std::vector<HostTensor> values;
  std::mt19937 rng(seed);
  for (const ModelInput& in : inputs) {
    HostTensor t;
    t.name = in.name;
    t.type = in.type;
    t.dims = in.declared;
    const ShapeSpec* spec = nullptr;
    for (const ShapeSpec& s : shapes)
      if (s.name == in.name) spec = &s;
    if (spec != nullptr) {
      const Dims given = toDims(spec->dims);
      bool fits = given.nbDims == in.declared.nbDims;
      for (int d = 0; fits && d < given.nbDims; ++d)
        fits = in.declared.d[d] < 0 || in.declared.d[d] == given.d[d];
      if (!fits)
        return invalidArgument(
            "--shapes: input '%s' has shape %s, the given shape %s does not fit it",
            in.name.c_str(), in.declared.toString().c_str(), dimsString(given).c_str());
      t.dims = given;
    } else if (isDynamic(in.declared)) {
      for (int d = 0; d < t.dims.nbDims; ++d)
        if (t.dims.d[d] < 0) t.dims.d[d] = 1;
      reportWarning("input '" + in.name + "' has dynamic shape " + in.declared.toString() +
                    " and no --shapes; using " + dimsString(t.dims));
    }
    if (isDynamic(in.declared)) {
      ShapeSpec s;
      s.name = in.name;
      s.dims.assign(t.dims.d, t.dims.d + t.dims.nbDims);
      buildShapes->push_back(std::move(s));
    }
    KILN_ASSIGN_OR_RETURN(uint64_t bytes, tensorBytes(t.dims, t.type, t.name));
    t.buffer = AlignedBuffer(bytes);
    const InputFileSpec* file = nullptr;
    for (const InputFileSpec& s : loadInputs)
      if (s.name == in.name) file = &s;
    fillRandom(t.type, t.buffer.data(), t.volume(), rng);
    if (file != nullptr) {
      KILN_ASSIGN_OR_RETURN(std::vector<uint8_t> data,
                            readTensorFile(file->path, t.name, t.dims, t.type));
      std::copy(data.begin(), data.end(), static_cast<uint8_t*>(t.buffer.data()));
      if (announce)
        std::printf("Input '%s' (%s, %s) loaded from %s\n", t.name.c_str(), dataTypeName(t.type),
                    shapeText(t.dims).c_str(), file->path.c_str());
    } else if (announce) {
      std::printf("Input '%s' (%s, %s): random values (seed %u)\n", t.name.c_str(),
                  dataTypeName(t.type), shapeText(t.dims).c_str(), seed);
    }
    values.push_back(std::move(t));
  }
  if (announce) std::fflush(stdout);
  return values;
}

StatusOr<std::vector<HostTensor>> makeOutputTensors(const Engine& engine,
                                                    const ExecutionContext& ctx,
                                                    bool dataDependentOk, const char* tool) {
  std::vector<HostTensor> outputs;
  for (int i = 0; i < engine.getNbIOTensors(); ++i) {
    const char* name = engine.getIOTensorName(i);
    if (engine.getTensorIOMode(name) != TensorIOMode::kOUTPUT) continue;
    HostTensor t;
    t.name = name;
    t.type = engine.getTensorDataType(name);
    t.dims = ctx.getTensorShape(name);
    if (dataDependentOk && t.dims.nbDims >= 0 && isDynamic(t.dims)) {
      // Data-dependent shape (NonZero, ...): placed by an output allocator during the run.
      outputs.push_back(std::move(t));
      continue;
    }
    if (t.dims.nbDims < 0 || isDynamic(t.dims))
      return unsupported(
          "output '%s' has shape %s after setting the input shapes; outputs whose shape depends "
          "on input values are not supported by %s yet%s%s",
          name, dimsString(t.dims).c_str(), tool, ctx.getLastError().empty() ? "" : ": ",
          ctx.getLastError().c_str());
    KILN_ASSIGN_OR_RETURN(uint64_t bytes, tensorBytes(t.dims, t.type, t.name));
    t.buffer = AlignedBuffer(bytes);
    outputs.push_back(std::move(t));
  }
  return outputs;
}

StatusOr<std::vector<HostTensor>> runEngineOnce(Engine& engine,
                                                const std::vector<HostTensor>& inputs, bool gpu,
                                                const char* tool) {
  std::unique_ptr<ExecutionContext> ctx = engine.createExecutionContext();
  if (!ctx) return internalError("could not create an execution context");
  for (const HostTensor& t : inputs)
    if (!ctx->setInputShape(t.name.c_str(), t.dims))
      return outOfRange("cannot set the shape of input '%s' to %s: %s", t.name.c_str(),
                        dimsString(t.dims).c_str(), ctx->getLastError().c_str());

  KILN_ASSIGN_OR_RETURN(std::vector<HostTensor> outputs,
                        makeOutputTensors(engine, *ctx, /*dataDependentOk=*/!gpu, tool));
  std::vector<std::unique_ptr<HostOutputAllocator>> allocators;  // they point into `outputs`
  for (HostTensor& t : outputs) {
    if (!isDynamic(t.dims)) continue;
    allocators.push_back(std::make_unique<HostOutputAllocator>(&t));
    if (!ctx->setOutputAllocator(t.name.c_str(), allocators.back().get()))
      return internalError("cannot set the allocator of '%s': %s", t.name.c_str(),
                           ctx->getLastError().c_str());
  }

  if (gpu) {
    // One warm-up and one timed inference; the outputs of the last come back to the host.
    RunOptions once;
    once.iterations = 1;
    once.warmUpMs = 0;
    once.durationS = 0;
    auto report = benchmarkOnGpu(engine, *ctx, inputs, outputs, once);
    if (!report.isOk()) return report.status();
  } else {
    // The CPU backend reads inputs in place and never writes them.
    for (const HostTensor& t : inputs)
      if (!ctx->setTensorAddress(t.name.c_str(), const_cast<void*>(t.buffer.data())))
        return internalError("cannot bind '%s': %s", t.name.c_str(), ctx->getLastError().c_str());
    for (HostTensor& t : outputs)
      if (ctx->getOutputAllocator(t.name.c_str()) == nullptr &&
          !ctx->setTensorAddress(t.name.c_str(), t.buffer.data()))
        return internalError("cannot bind '%s': %s", t.name.c_str(), ctx->getLastError().c_str());
    if (!ctx->executeV2())
      return invalidArgument("inference failed: %s", ctx->getLastError().c_str());
  }
  return outputs;
}

ElementCheck checkElement(double a, double b, double atol, double rtol) {
  ElementCheck c;
  c.tol = atol + rtol * std::fabs(b);
  if (std::isnan(a) || std::isnan(b)) {
    c.ok = std::isnan(a) && std::isnan(b);
    if (!c.ok) c.err = HUGE_VAL;
  } else if (a != b) {
    c.err = std::fabs(a - b);
    // An infinity matches only the same infinity (atol + rtol*inf would accept anything).
    c.ok = std::isfinite(a) && std::isfinite(b) && c.err <= c.tol;
    if (!std::isfinite(c.err)) c.err = HUGE_VAL;
  }
  if (!c.ok)
    c.score = c.tol > 0 && std::isfinite(c.err) ? c.err / c.tol : HUGE_VAL;
  else
    c.score = c.tol > 0 ? c.err / c.tol : 0.0;
  return c;
}

}  // namespace kiln::cli
