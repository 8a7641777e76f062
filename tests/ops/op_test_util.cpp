#include "op_test_util.h"

#include <cmath>
#include <cstring>

#include "ir/graph.h"
#include "ir/shape_inference.h"

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
      return internalError("output %zu shape %s is not static", i, ir::shapeToString(info.shape).c_str());
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
  return result;
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
      case DataType::kUINT8: t->as<uint8_t>()[i] = static_cast<uint8_t>(std::lround(std::fabs(v))); break;
      case DataType::kUINT16: t->as<uint16_t>()[i] = static_cast<uint16_t>(std::lround(std::fabs(v))); break;
      case DataType::kUINT32: t->as<uint32_t>()[i] = static_cast<uint32_t>(std::lround(std::fabs(v))); break;
      case DataType::kUINT64: t->as<uint64_t>()[i] = static_cast<uint64_t>(std::llround(std::fabs(v))); break;
      case DataType::kBOOL: t->as<uint8_t>()[i] = (rng() & 1u) ? 1 : 0; break;
    }
  }
  return t;
}

std::shared_ptr<ir::TensorData> makeFloat(const std::vector<int64_t>& dims, const std::vector<float>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kFLOAT, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeInt64(const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kINT64, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeInt32(const std::vector<int64_t>& dims, const std::vector<int32_t>& v) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), ir::volumeOf(dims));
  return ir::TensorData::fromBytes(DataType::kINT32, dims, v.data());
}
std::shared_ptr<ir::TensorData> makeBool(const std::vector<int64_t>& dims, const std::vector<bool>& v) {
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
  ASSERT_EQ(got.dtype(), want.dtype()) << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
  std::vector<double> w(static_cast<size_t>(want.numel()));
  for (int64_t i = 0; i < want.numel(); ++i) w[static_cast<size_t>(i)] = want.doubleAt(i);
  expectCloseTo(got, want.dims(), w, rtol, atol);
}

void expectEqual(const ir::TensorData& got, const ir::TensorData& want) {
  ASSERT_EQ(got.dtype(), want.dtype()) << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
  ASSERT_EQ(got.dims(), want.dims()) << ir::dimsToString(got.dims()) << " vs " << ir::dimsToString(want.dims());
  int bad = 0;
  size_t es = dataTypeSize(got.dtype());
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (std::memcmp(static_cast<const uint8_t*>(got.data()) + i * es,
                    static_cast<const uint8_t*>(want.data()) + i * es, es) != 0) {
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << got.doubleAt(i) << ", want " << want.doubleAt(i);
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << got.numel() << " elements differ";
}

}  // namespace kiln::test
