#include "op_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "common/small_float.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "runtime/gpu_backend.h"

namespace kiln::test {

StatusOr<OpResult> runOp(ir::OpKind op, const ir::Attributes& attrs,
                         const std::vector<OpInput>& inputs, int numOutputs) {
  ir::Graph g;
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const OpInput& in = inputs[i];
    if (!in.data) {
      ins.push_back(nullptr);
      continue;
    }
    std::string name = "in" + std::to_string(i);
    if (in.isConstant) {
      ins.push_back(g.addConstant(name, in.data));
    } else {
      ins.push_back(g.addInput(name, in.data->dtype(), ir::shapeFromDims(in.data->dims())));
    }
  }
  ir::Node* n = g.addNode(op, "node", ins, attrs, numOutputs);
  for (ir::Value* o : n->outputs) g.markOutput(o);
  ir::ShapeTable table = ir::ShapeTable::fromGraph(g);
  KILN_RETURN_IF_ERROR(ir::inferNode(*n, table));

  std::vector<cpu::CpuTensor> cin(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].data) continue;
    cin[i].data = const_cast<void*>(inputs[i].data->data());
    cin[i].dtype = inputs[i].data->dtype();
    cin[i].dims = inputs[i].data->dims();
  }
  OpResult result;
  std::vector<cpu::CpuTensor> cout(n->outputs.size());
  for (size_t i = 0; i < n->outputs.size(); ++i) {
    const ir::ValueInfo& info = table[n->outputs[i]->id];
    if (!ir::isStatic(info.shape))
      return internalError("output %zu shape %s is not static", i,
                           ir::shapeToString(info.shape).c_str());
    auto t = std::make_shared<ir::TensorData>(info.dtype, ir::staticDims(info.shape));
    // Poison: NaN for floats, 0x5A bytes otherwise.
    if (info.dtype == DataType::kFLOAT) {
      for (int64_t k = 0; k < t->numel(); ++k) t->as<float>()[k] = std::nanf("");
    } else if (info.dtype == DataType::kDOUBLE) {
      for (int64_t k = 0; k < t->numel(); ++k) t->as<double>()[k] = std::nan("");
    } else {
      std::memset(t->data(), 0x5A, t->bytes());
    }
    cout[i].data = t->data();
    cout[i].dtype = t->dtype();
    cout[i].dims = t->dims();
    result.outputs.push_back(t);
  }
  KILN_RETURN_IF_ERROR(cpu::runCpuNode(*n, cin, cout));
  // The same node on the GPU, compared with the CPU result (the oracle), when a GPU is here.
  if (gpuTestsEnabled()) {
    std::map<std::string, std::shared_ptr<const ir::TensorData>> feeds;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].data && !inputs[i].isConstant) feeds["in" + std::to_string(i)] = inputs[i].data;
    auto gpu = detail::runGraphOnGpuForTest(g, feeds);
    if (!gpu.isOk()) {
      if (gpu.status().code() == StatusCode::kUnsupported) {
        noteGpuUnsupported(ir::opName(op), gpu.status().message());
      } else {
        ADD_FAILURE() << "GPU run of " << ir::opName(op) << " failed: " << gpu.status().toString();
      }
    } else {
      for (size_t i = 0; i < result.outputs.size(); ++i)
        expectGpuMatchesCpu(*gpu->at(i), *result.outputs[i], ir::opName(op), i);
    }
  }
  return result;
}

bool gpuTestsEnabled() {
  static const bool enabled = [] {
    if (!detail::gpuBackendBuilt()) return false;
    const char* off = std::getenv("KILN_TEST_NO_GPU");
    if (off && *off && std::strcmp(off, "0") != 0) return false;
    auto dev = detail::currentGpuDevice();
    if (!dev.isOk()) {
      std::fprintf(stderr, "[kiln tests] GPU checks skipped: %s\n", dev.status().message().c_str());
      return false;
    }
    std::fprintf(stderr, "[kiln tests] op tests also run on %s and are compared with the CPU\n",
                 dev->name.c_str());
    return true;
  }();
  return enabled;
}

namespace {
// Ops whose GPU run was unsupported, reported once at exit (and to $KILN_GPU_UNSUPPORTED_REPORT).
struct GpuUnsupportedLog {
  std::map<std::string, std::string> firstMessage;
  std::map<std::string, int> count;
  ~GpuUnsupportedLog() {
    if (count.empty()) return;
    std::FILE* f = nullptr;
    if (const char* path = std::getenv("KILN_GPU_UNSUPPORTED_REPORT")) f = std::fopen(path, "w");
    std::fprintf(stderr, "[kiln tests] %zu op(s) ran on the CPU only (unsupported on the GPU):\n",
                 count.size());
    for (const auto& [op, n] : count) {
      std::string first =
          firstMessage[op].substr(0, firstMessage[op].find('\n', firstMessage[op].find('\n') + 1));
      std::fprintf(stderr, "  %s (%d cases): %s\n", op.c_str(), n, first.c_str());
      if (f) std::fprintf(f, "%s\t%d\t%s\n", op.c_str(), n, first.c_str());
    }
    if (f) std::fclose(f);
  }
};
GpuUnsupportedLog& unsupportedLog() {
  static GpuUnsupportedLog log;
  return log;
}
}  // namespace

void noteGpuUnsupported(const std::string& op, const std::string& message) {
  auto& log = unsupportedLog();
  if (!log.count[op]++) log.firstMessage[op] = message;
  // KILN_GPU_STRICT=1 turns a missing GPU kernel into a failure.
  const char* strict = std::getenv("KILN_GPU_STRICT");
  if (strict && std::strcmp(strict, "1") == 0) ADD_FAILURE() << "no GPU support: " << message;
}

void expectGpuMatchesCpu(const ir::TensorData& gpu, const ir::TensorData& cpu,
                         const std::string& op, size_t output) {
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << op << " output " << output;
  ASSERT_EQ(gpu.dims(), cpu.dims()) << op << " output " << output;
  const DataType t = cpu.dtype();
  const bool isFloat = t == DataType::kFLOAT || t == DataType::kDOUBLE || t == DataType::kHALF ||
                       t == DataType::kBF16;
  if (!isFloat) {
    ASSERT_EQ(0, std::memcmp(gpu.data(), cpu.data(), cpu.bytes()))
        << op << " output " << output << ": GPU and CPU differ (exact comparison for "
        << dataTypeName(t) << ")";
    return;
  }
  // Relative tolerance per format (float32: 1e-5 as required; float16: 1e-3, about two ulps;
  // bfloat16: 8e-3, two ulps), plus an absolute floor scaled by the output's magnitude so that
  // values that cancel to near zero (sums, differences) are judged against the data's scale.
  double rtol = t == DataType::kFLOAT    ? 1e-5
                : t == DataType::kDOUBLE ? 1e-12
                : t == DataType::kHALF   ? 1e-3
                                         : 8e-3;
  double maxAbs = 0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    double v = cpu.doubleAt(i);
    if (std::isfinite(v)) maxAbs = std::max(maxAbs, std::fabs(v));
  }
  double atol = rtol * std::max(maxAbs, 1e-30);
  int bad = 0;
  for (int64_t i = 0; i < cpu.numel() && bad < 5; ++i) {
    double want = cpu.doubleAt(i), got = gpu.doubleAt(i);
    if (std::isnan(want) && std::isnan(got)) continue;
    if (std::isinf(want) && got == want) continue;
    if (std::fabs(got - want) <= atol + rtol * std::fabs(want)) continue;
    ++bad;
    ADD_FAILURE() << op << " output " << output << " element " << i << ": GPU " << got << " vs CPU "
                  << want << " (rtol " << rtol << ", atol " << atol << ")";
  }
}

std::shared_ptr<ir::TensorData> randomTensor(DataType dtype, const std::vector<int64_t>& dims,
                                             std::mt19937& rng, double lo, double hi) {
  auto t = std::make_shared<ir::TensorData>(dtype, dims);
  std::uniform_real_distribution<double> uni(lo, hi);
  for (int64_t i = 0; i < t->numel(); ++i) {
    double v = uni(rng);
    switch (dtype) {
      case DataType::kFLOAT: t->as<float>()[i] = static_cast<float>(v); break;
      case DataType::kDOUBLE: t->as<double>()[i] = v; break;
      case DataType::kHALF: t->as<Half>()[i] = Half(static_cast<float>(v)); break;
      case DataType::kBF16: t->as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
      case DataType::kINT64: t->as<int64_t>()[i] = std::llround(v); break;
      case DataType::kINT32: t->as<int32_t>()[i] = static_cast<int32_t>(std::lround(v)); break;
      case DataType::kINT16: t->as<int16_t>()[i] = static_cast<int16_t>(std::lround(v)); break;
      case DataType::kINT8: t->as<int8_t>()[i] = static_cast<int8_t>(std::lround(v)); break;
      case DataType::kUINT8:
        t->as<uint8_t>()[i] = static_cast<uint8_t>(std::lround(std::fabs(v)));
        break;
      case DataType::kUINT16:
        t->as<uint16_t>()[i] = static_cast<uint16_t>(std::lround(std::fabs(v)));
        break;
      case DataType::kUINT32:
        t->as<uint32_t>()[i] = static_cast<uint32_t>(std::lround(std::fabs(v)));
        break;
      case DataType::kUINT64:
        t->as<uint64_t>()[i] = static_cast<uint64_t>(std::llround(std::fabs(v)));
        break;
      case DataType::kBOOL: t->as<uint8_t>()[i] = (rng() & 1u) ? 1 : 0; break;
      case DataType::kFP8E4M3FN:
      case DataType::kFP8E4M3FNUZ:
      case DataType::kFP8E5M2:
      case DataType::kFP8E5M2FNUZ:
      case DataType::kFP8E8M0:
      case DataType::kFP4E2M1:
        t->as<uint8_t>()[i] = floatToSmallFloat(dtype, static_cast<float>(v), true);
        break;
      case DataType::kINT4:
      case DataType::kUINT4:
      case DataType::kINT2:
      case DataType::kUINT2: {  // clamped to the type's range, one element per byte
        int64_t lo = 0, hi = 0;
        subByteRange(dtype, &lo, &hi);
        t->as<uint8_t>()[i] = wrapToSubByte(dtype, std::clamp<int64_t>(std::llround(v), lo, hi));
        break;
      }
    }
  }
  return t;
}

std::shared_ptr<ir::TensorData> makeTyped(DataType dtype, const std::vector<int64_t>& dims,
                                          const std::vector<double>& v) {
  auto t = std::make_shared<ir::TensorData>(dtype, dims);
  for (int64_t i = 0; i < t->numel(); ++i) {
    const double x = v[static_cast<size_t>(i)];
    switch (dtype) {
      case DataType::kFLOAT: t->as<float>()[i] = static_cast<float>(x); break;
      case DataType::kDOUBLE: t->as<double>()[i] = x; break;
      case DataType::kHALF: t->as<Half>()[i] = Half(static_cast<float>(x)); break;
      case DataType::kBF16: t->as<BFloat16>()[i] = BFloat16(static_cast<float>(x)); break;
      default: ADD_FAILURE() << "makeTyped(): float types only"; return t;
    }
  }
  return t;
}

OpInput attentionMaskInput(AttnMask mask, DataType maskType, const std::vector<int64_t>& dims,
                           const std::vector<double>& vals) {
  if (mask == AttnMask::kFloat) return OpInput::value(makeTyped(maskType, dims, vals));
  if (mask == AttnMask::kNone) return OpInput::absent();
  std::vector<bool> bits;
  for (double x : vals) bits.push_back(x != 0);
  return OpInput::value(makeBool(dims, bits));
}

std::shared_ptr<ir::TensorData> makeFloat(const std::vector<int64_t>& dims,
                                          const std::vector<float>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kFLOAT, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeInt64(const std::vector<int64_t>& dims,
                                          const std::vector<int64_t>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kINT64, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeInt32(const std::vector<int64_t>& dims,
                                          const std::vector<int32_t>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kINT32, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeBool(const std::vector<int64_t>& dims,
                                         const std::vector<bool>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  auto t = std::make_shared<ir::TensorData>(DataType::kBOOL, dims);
  for (size_t i = 0; i < v.size(); ++i) t->as<uint8_t>()[i] = v[i] ? 1 : 0;
  return t;
}

static bool closeEnough(double got, double want, double rtol, double atol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

void expectCloseTo(const ir::TensorData& got, const std::vector<int64_t>& dims,
                   const std::vector<double>& want, double rtol, double atol) {
  ASSERT_EQ(got.dims(), dims) << "shape " << ir::dimsToString(got.dims()) << " vs "
                              << ir::dimsToString(dims);
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size());
  int bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.doubleAt(i), w = want[static_cast<size_t>(i)];
    if (!closeEnough(g, w, rtol, atol)) {
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << g << ", want " << w;
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << got.numel() << " elements differ";
}

void expectClose(const ir::TensorData& got, const ir::TensorData& want, double rtol, double atol) {
  ASSERT_EQ(got.dtype(), want.dtype())
      << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
  std::vector<double> w(static_cast<size_t>(want.numel()));
  for (int64_t i = 0; i < want.numel(); ++i) w[static_cast<size_t>(i)] = want.doubleAt(i);
  expectCloseTo(got, want.dims(), w, rtol, atol);
}

void expectEqual(const ir::TensorData& got, const ir::TensorData& want) {
  ASSERT_EQ(got.dtype(), want.dtype())
      << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
  ASSERT_EQ(got.dims(), want.dims())
      << ir::dimsToString(got.dims()) << " vs " << ir::dimsToString(want.dims());
  int bad = 0;
  size_t es = dataTypeSize(got.dtype());
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::memcmp(static_cast<const uint8_t*>(got.data()) + i * es,
                    static_cast<const uint8_t*>(want.data()) + i * es, es) != 0) {
      if (++bad <= 5)
        ADD_FAILURE() << "element " << i << ": got " << got.doubleAt(i) << ", want "
                      << want.doubleAt(i);
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << got.numel() << " elements differ";
}

std::vector<double> toDoubles(const ir::TensorData& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.doubleAt(i);
  return v;
}

int64_t volume(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t x : dims) n *= x;
  return n;
}

int64_t flatIndex(const std::vector<int64_t>& dims, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t i = 0; i < dims.size(); ++i) f = f * dims[i] + idx[i];
  return f;
}

bool nextIndex(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return true;
    idx[i] = 0;
  }
  return false;
}

std::vector<double> referenceConv(const ir::TensorData& x, const ir::TensorData& w,
                                  const ir::TensorData* b, int64_t group,
                                  const std::vector<int64_t>& strides,
                                  const std::vector<int64_t>& dilations,
                                  const std::vector<int64_t>& padsIn, const std::string& autoPad,
                                  std::vector<int64_t>* outDims) {
  using Dims = std::vector<int64_t>;
  struct {
    Dims x, w, pads;
    int64_t group;
    std::string autoPad;
  } c{x.dims(), w.dims(), padsIn, group, autoPad};
  const size_t nsp = c.x.size() - 2;
  const Dims k(c.w.begin() + 2, c.w.end());
  const Dims s = strides.empty() ? Dims(nsp, 1) : strides;
  const Dims d = dilations.empty() ? Dims(nsp, 1) : dilations;
  Dims pads(2 * nsp, 0);
  Dims od{c.x[0], c.w[0]};
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t in = c.x[i + 2], ek = d[i] * (k[i] - 1) + 1;
    if (c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER") {
      const int64_t out = (in + s[i] - 1) / s[i];
      const int64_t total = std::max<int64_t>(0, (out - 1) * s[i] + ek - in);
      pads[i] = c.autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[i + nsp] = total - pads[i];
    } else if (c.autoPad != "VALID" && !c.pads.empty()) {
      pads[i] = c.pads[i];
      pads[i + nsp] = c.pads[i + nsp];
    }
    od.push_back((in + pads[i] + pads[i + nsp] - ek) / s[i] + 1);
  }
  *outDims = od;
  const int64_t cg = c.x[1] / c.group, mg = c.w[0] / c.group;
  const auto xv = toDoubles(x), wv = toDoubles(w);
  std::vector<double> out(static_cast<size_t>(volume(od)));
  Dims oi(od.size(), 0);
  do {
    const int64_t g = oi[1] / mg;
    double acc = b ? b->doubleAt(oi[1]) : 0.0;
    for (int64_t ci = 0; ci < cg; ++ci) {
      Dims ki(nsp, 0);
      do {
        Dims xi{oi[0], g * cg + ci};
        bool inside = true;
        for (size_t a = 0; a < nsp; ++a) {
          const int64_t p = oi[a + 2] * s[a] - pads[a] + ki[a] * d[a];
          inside = inside && p >= 0 && p < c.x[a + 2];
          xi.push_back(p);
        }
        if (!inside) continue;
        Dims wi{oi[1], ci};
        wi.insert(wi.end(), ki.begin(), ki.end());
        acc += xv[static_cast<size_t>(flatIndex(c.x, xi))] *
               wv[static_cast<size_t>(flatIndex(c.w, wi))];
      } while (nextIndex(ki, k));
    }
    out[static_cast<size_t>(flatIndex(od, oi))] = acc;
  } while (nextIndex(oi, od));
  return out;
}

}  // namespace kiln::test
