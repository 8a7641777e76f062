// Attention and FusedAttention cases shaped for the CUDA backend's fused kernels
// (src/backends/cuda/kernels_attention.cu): the tensor-core flash-attention-2 kernel (tactic
// "kiln:fa2": float16/bfloat16, head sizes 32, 64, 128), the WMMA kernel ("kiln:wmma") and cuDNN's
// fused attention ("cudnn:sdpa", src/backends/cuda/cudnn_sdpa.cpp). Every case runs once per
// tactic, forced through the node's "tactic" attribute (the one the builder stores in plans; the
// GPU executor honours it), so that each kernel is compared with the CPU by runOp when a GPU is
// present (relative 1e-3 for float16 and 8e-3 for bfloat16 with an absolute floor of the same
// factor times max|CPU output|: each output is a convex combination of V's rows, so its scale is
// max|V| and the kernels' errors (P rounded to the input type before P V, float accumulation, one
// final rounding) are a few units in the last place of that scale). Where cudnn:sdpa does not
// exist for a case (bool mask, float32, cuDNN declined the graph...) the layer falls back to its
// default tactic and the test prints why (not a failure; CudnnSdpaTacticExists is the test that
// requires the tactic); without a GPU the cudnn:sdpa runs are skipped (the attribute changes
// nothing on the CPU). Without a GPU the CPU output is still checked against a naive
// double-precision loop written here from the operand layouts (independent of the kernels' stride
// code).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/half.h"
#include "op_test_util.h"

#ifdef KILN_HAVE_CUDA
#include <cuda_runtime.h>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cudnn_sdpa.h"
#include "ir/shape_inference.h"
#include "runtime/gpu_backend.h"
#endif

namespace kiln::test {
namespace {

using ir::OpKind;
using Dims = std::vector<int64_t>;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr const char* kCudnnTactic = "cudnn:sdpa";
const char* const kTactics[] = {"kiln:fa2", "kiln:wmma", kCudnnTactic};

// How a logical [B, H, S, D] operand lies in its buffer (FusedAttention's layouts; ONNX
// Attention's 4-D inputs are BHSD, its 3-D ones BSHD with rank 3).
enum class Layout { kBHSD, kBSHD, kSBHD };

const char* layoutName(Layout l) {
  return l == Layout::kBHSD ? "BHSD" : l == Layout::kBSHD ? "BSHD" : "SBHD";
}

struct Operand {
  Layout layout = Layout::kBHSD;
  int rank = 4;
  int64_t b = 1, h = 1, s = 1, d = 1;
  Dims dims() const {
    switch (layout) {
      case Layout::kBHSD: return {b, h, s, d};
      case Layout::kBSHD: return rank == 3 ? Dims{b, s, h * d} : Dims{b, s, h, d};
      case Layout::kSBHD: return rank == 3 ? Dims{s, b, h * d} : Dims{s, b, h, d};
    }
    return {};
  }
  // Buffer offset of logical element (bi, hi, si, di), written out per layout.
  int64_t at(int64_t bi, int64_t hi, int64_t si, int64_t di) const {
    switch (layout) {
      case Layout::kBHSD: return ((bi * h + hi) * s + si) * d + di;
      case Layout::kBSHD: return ((bi * s + si) * h + hi) * d + di;
      case Layout::kSBHD: return ((si * b + bi) * h + hi) * d + di;
    }
    return 0;
  }
};

struct Case {
  std::string name;
  OpKind op = OpKind::kAttention;
  DataType dtype = DataType::kHALF;
  int64_t b = 1, hq = 1, hkv = 1, lq = 1, lkv = 1, d = 64, dv = 0;  // dv 0: = d
  Layout ql = Layout::kBHSD, kl = Layout::kBHSD, vl = Layout::kBHSD, yl = Layout::kBHSD;
  int qRank = 4, kRank = 4, vRank = 4, yRank = 4;
  bool causal = false;
  double scale = 0;  // 0: 1/sqrt(D) (Attention: attribute absent)
  using Mask = AttnMask;
  Mask mask = Mask::kNone;
  DataType maskType = DataType::kFLOAT;
  Dims maskDims;
  std::vector<double> maskVals;  // float: the values; bool: 0/1
  std::string tactic;            // "" or the forced tactic
  int64_t headDv() const { return dv > 0 ? dv : d; }
};

// ONNX Attention with 4-D (BHSD) or 3-D (BSHD, rank 3) operands.
Case attention(const std::string& name, DataType t, int64_t b, int64_t hq, int64_t hkv, int64_t lq,
               int64_t lkv, int64_t d, bool threeD = false) {
  Case c;
  c.name = name + " " + dataTypeName(t);
  c.dtype = t;
  c.b = b, c.hq = hq, c.hkv = hkv, c.lq = lq, c.lkv = lkv, c.d = d;
  if (threeD) {
    c.ql = c.kl = c.vl = c.yl = Layout::kBSHD;
    c.qRank = c.kRank = c.vRank = c.yRank = 3;
  }
  return c;
}

// softmax(scale Q K^T + bias) V in double on the logical operands; a row whose bias is -inf
// everywhere gives 0. The result is in Y's buffer order.
std::vector<double> reference(const Case& c, const Operand& qo, const Operand& ko,
                              const Operand& vo, const Operand& yo, const ir::TensorData& q,
                              const ir::TensorData& k, const ir::TensorData& v) {
  const AttentionRef r = attentionRefOf(c, c.headDv());
  std::vector<double> y(static_cast<size_t>(c.b * c.hq * c.lq * r.dv), 0.0);
  referenceAttention(
      r, [&](int64_t b, int64_t h, int64_t i, int64_t e) { return q.doubleAt(qo.at(b, h, i, e)); },
      [&](int64_t b, int64_t h, int64_t j, int64_t e) { return k.doubleAt(ko.at(b, h, j, e)); },
      [&](int64_t b, int64_t h, int64_t j, int64_t e) { return v.doubleAt(vo.at(b, h, j, e)); },
      [&](int64_t b, int64_t h, int64_t i, int64_t e, double value) {
        y[static_cast<size_t>(yo.at(b, h, i, e))] = value;
      });
  return y;
}

#ifdef KILN_HAVE_CUDA
// The GPU's properties as the executor reads them.
cuda::DeviceProps gpuProps() {
  cudaDeviceProp dp{};
  EXPECT_EQ(cudaGetDeviceProperties(&dp, 0), cudaSuccess);
  cuda::DeviceProps props;
  props.name = dp.name;
  props.smMajor = dp.major, props.smMinor = dp.minor, props.smCount = dp.multiProcessorCount;
  props.sharedMemPerBlockOptin = dp.sharedMemPerBlockOptin;
  props.totalGlobalMem = dp.totalGlobalMem;
  return props;
}

// What the CUDA kernel of a one-node graph offers after prepare (as the executor prepares it:
// `tuning` for the builder's timing run, else the node's "tactic" attribute is the plan's).
struct PreparedTactics {
  bool prepared = false;
  std::vector<std::string> ids;  // tacticId(i) for every tactic
  std::string tactic;            // tactic() of the selected one
  size_t workspace = 0;
  bool has(const std::string& id) const {
    for (const std::string& x : ids)
      if (x == id) return true;
    return false;
  }
};

PreparedTactics prepareOnGpu(OpKind op, const ir::Attributes& attrs,
                             const std::vector<std::pair<DataType, Dims>>& inputs, bool tuning) {
  PreparedTactics r;
  ir::Graph g;
  std::vector<ir::Value*> ins;
  for (size_t i = 0; i < inputs.size(); ++i)
    ins.push_back(
        g.addInput("in" + std::to_string(i), inputs[i].first, ir::shapeFromDims(inputs[i].second)));
  ir::Node* n = g.addNode(op, "attn", ins, attrs, 1);
  g.markOutput(n->outputs[0]);
  ir::ShapeTable table = ir::ShapeTable::fromGraph(g);
  const Status inferred = ir::inferNode(*n, table);
  EXPECT_TRUE(inferred.isOk()) << inferred.toString();
  if (!inferred.isOk()) return r;
  std::vector<cuda::CudaTensor> in(inputs.size()), out(1);
  for (size_t i = 0; i < inputs.size(); ++i)
    in[i].dtype = inputs[i].first, in[i].dims = inputs[i].second;
  const ir::ValueInfo& yi = table[n->outputs[0]->id];
  out[0].dtype = yi.dtype, out[0].dims = ir::staticDims(yi.shape);
  cuda::CudaLibs libs(gpuProps());  // declared before the kernel: outlives its cuDNN plan
  auto k = cuda::cudaKernels()[static_cast<size_t>(op)](*n);
  EXPECT_TRUE(k.isOk()) << k.status().toString();
  if (!k.isOk()) return r;
  cuda::PrepareContext pc{*n, table, in, out, libs};
  pc.tuning = tuning;
  const Status st = (*k)->prepare(pc);
  EXPECT_TRUE(st.isOk()) << st.toString();
  if (!st.isOk()) return r;
  r.prepared = true;
  for (int t = 0; t < (*k)->tacticCount(); ++t) r.ids.push_back((*k)->tacticId(t));
  r.tactic = (*k)->tactic();
  r.workspace = (*k)->workspaceSize();
  return r;
}
#endif

// Runs the case (CPU, and each GPU tactic compared with it when a GPU is present: runOp) and
// checks the CPU output against the reference. Returns the output (Y's buffer) for further checks.
std::shared_ptr<ir::TensorData> runCase(const Case& c, uint32_t seed) {
  SCOPED_TRACE(c.name + (c.tactic.empty() ? "" : " tactic " + c.tactic));
  std::mt19937 rng(seed);
  const Operand qo{c.ql, c.qRank, c.b, c.hq, c.lq, c.d};
  const Operand ko{c.kl, c.kRank, c.b, c.hkv, c.lkv, c.d};
  const Operand vo{c.vl, c.vRank, c.b, c.hkv, c.lkv, c.headDv()};
  const Operand yo{c.yl, c.yRank, c.b, c.hq, c.lq, c.headDv()};
  auto q = randomTensor(c.dtype, qo.dims(), rng, -1.5, 1.5);
  auto k = randomTensor(c.dtype, ko.dims(), rng, -1.5, 1.5);
  auto v = randomTensor(c.dtype, vo.dims(), rng, -1.5, 1.5);
  std::vector<OpInput> in = {OpInput::value(q), OpInput::value(k), OpInput::value(v)};
  if (c.mask != AttnMask::kNone)
    in.push_back(attentionMaskInput(c.mask, c.maskType, c.maskDims, c.maskVals));
  ir::Attributes a;
  if (c.causal) a.setInt("is_causal", 1);
  if (!c.tactic.empty()) a.setString("tactic", c.tactic);
  if (c.op == OpKind::kFusedAttention) {
    a.setString("q_layout", layoutName(c.ql));
    a.setString("k_layout", layoutName(c.kl));
    a.setString("v_layout", layoutName(c.vl));
    a.setString("y_layout", layoutName(c.yl));
    a.setInt("q_num_heads", c.hq);
    a.setInt("kv_num_heads", c.hkv);
    a.setInt("y_rank", c.yRank);
    a.setFloat("scale", static_cast<float>(
                            c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.d))));
  } else {
    if (c.scale > 0) a.setFloat("scale", static_cast<float>(c.scale));
    if (c.qRank == 3) {
      a.setInt("q_num_heads", c.hq);
      a.setInt("kv_num_heads", c.hkv);
    }
  }
#ifdef KILN_HAVE_CUDA
  // cudnn:sdpa exists only where cuDNN accepts the graph: say so when it does not (the layer then
  // runs its default tactic, which runOp still compares with the CPU).
  if (c.tactic == kCudnnTactic && gpuTestsEnabled()) {
    std::vector<std::pair<DataType, Dims>> shapes;
    for (const OpInput& x : in) shapes.emplace_back(x.data->dtype(), x.data->dims());
    const PreparedTactics pt = prepareOnGpu(c.op, a, shapes, /*tuning=*/false);
    if (pt.prepared && !pt.has(kCudnnTactic))
      std::printf("[   INFO   ] %s: no cudnn:sdpa tactic, the default runs: %s\n", c.name.c_str(),
                  pt.tactic.c_str());
  }
#endif
  auto r = runOp(c.op, a, in);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  if (!r.isOk()) return nullptr;
  // FusedAttention's scale attribute is a float: the reference uses the same rounded value.
  Case rc = c;
  if (c.op == OpKind::kFusedAttention || c.scale > 0)
    rc.scale =
        static_cast<float>(c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.d)));
  const std::vector<double> want = reference(rc, qo, ko, vo, yo, *q, *k, *v);
  // The CPU computes in double and rounds once to the output type.
  const double rtol = c.dtype == DataType::kDOUBLE  ? 1e-12
                      : c.dtype == DataType::kFLOAT ? 1e-5
                      : c.dtype == DataType::kHALF  ? 1e-3
                                                    : 8e-3;
  expectCloseTo(r->at(0), yo.dims(), want, rtol, rtol * 1e-2);
  return r->outputs[0];
}

// Whether to run the case with `tactic` forced: the tactic attribute changes nothing on the CPU,
// so without a GPU cudnn:sdpa is not repeated (the fa2/wmma runs keep their CPU checks).
bool worthRunning(const char* tactic) {
  return std::string(tactic) != kCudnnTactic || gpuTestsEnabled();
}

// The case once per tactic.
void runEachTactic(Case c, uint32_t seed) {
  for (const char* t : kTactics) {
    if (!worthRunning(t)) continue;
    c.tactic = t;
    runCase(c, seed);
  }
}

// BERT's additive mask [B, 1, 1, S]: 0 for tokens, -10000 for padding at the end of each
// sequence (a different length per batch), one -inf entry; no row fully masked.
std::vector<double> bertMask(int64_t b, int64_t s) {
  std::vector<double> m(static_cast<size_t>(b * s), 0.0);
  for (int64_t x = 0; x < b; ++x)
    for (int64_t j = std::max<int64_t>(1, s - 5 - 7 * x); j < s; ++j)
      m[static_cast<size_t>(x * s + j)] = -10000.0;
  if (s > 3) m[3] = -kInf;
  return m;
}

// ------------------------------------------------------------------------------------------------
// ONNX Attention on the fused path
// ------------------------------------------------------------------------------------------------

TEST(GpuFlashAttention, HeadSizesAndSequenceLengths) {
  // Every head size of fa2 with sequence lengths 1, 17, 64, 197, 256 (self-attention) and a few
  // cross-attention pairs; several (batch, head) pairs.
  const int64_t lens[][2] = {{1, 1},     {17, 17}, {64, 64},  {197, 197},
                             {256, 256}, {1, 197}, {17, 256}, {197, 64}};
  uint32_t seed = 600;
  for (DataType t : {DataType::kHALF, DataType::kBF16})
    for (int64_t d : {32, 64, 128})
      for (const auto& l : lens) {
        const bool big = l[0] * l[1] > 64 * 64;
        Case c = attention("D=" + std::to_string(d) + " Sq=" + std::to_string(l[0]) +
                               " Skv=" + std::to_string(l[1]),
                           t, big ? 1 : 2, big ? 2 : 3, big ? 2 : 3, l[0], l[1], d);
        runEachTactic(c, ++seed);
      }
}

TEST(GpuFlashAttention, CausalAndGroupedQueryHeads) {
  // GQA 8 -> 2 with and without is_causal; Sq = Skv (17, 197) and Sq != Skv (65 over 150, 150
  // over 65: upper-left aligned, the last queries see every key).
  const int64_t lens[][2] = {{17, 17}, {197, 197}, {65, 150}, {150, 65}};
  uint32_t seed = 700;
  for (DataType t : {DataType::kHALF, DataType::kBF16})
    for (int64_t d : {64, 128})
      for (const auto& l : lens)
        for (bool causal : {false, true}) {
          Case c = attention(std::string(causal ? "causal " : "") + "GQA D=" + std::to_string(d) +
                                 " Sq=" + std::to_string(l[0]) + " Skv=" + std::to_string(l[1]),
                             t, l[0] * l[1] > 64 * 64 ? 1 : 2, 8, 2, l[0], l[1], d);
          c.causal = causal;
          runEachTactic(c, ++seed);
        }
}

TEST(GpuFlashAttention, BertFloatMask) {
  // [B, 1, 1, S] additive masks in float32 and in the input type, S = 128 and 197, D = 64.
  uint32_t seed = 800;
  for (DataType t : {DataType::kHALF, DataType::kBF16})
    for (int64_t s : {128, 197})
      for (bool maskInInputType : {false, true}) {
        Case c = attention("bert mask S=" + std::to_string(s) +
                               (maskInInputType ? " (mask in input type)" : " (float32 mask)"),
                           t, 3, 4, 4, s, s, 64);
        c.mask = Case::Mask::kFloat;
        c.maskType = maskInInputType ? t : DataType::kFLOAT;
        c.maskDims = {c.b, 1, 1, s};
        c.maskVals = bertMask(c.b, s);
        runEachTactic(c, ++seed);
      }
}

TEST(GpuFlashAttention, BoolMaskWithAFullyMaskedRow) {
  // A [Sq, Skv] bool mask (broadcast over B and H), random with the diagonal open, row 5 closed
  // entirely (its output is exactly 0); and a [B, H, 1, Skv] per-head mask shorter than the keys.
  uint32_t seed = 900;
  for (DataType t : {DataType::kHALF, DataType::kBF16})
    for (int64_t d : {32, 128}) {
      Case c = attention("bool mask D=" + std::to_string(d), t, 2, 3, 3, 90, 90, d);
      c.mask = Case::Mask::kBool;
      c.maskDims = {c.lq, c.lkv};
      std::mt19937 rng(seed);
      for (int64_t i = 0; i < c.lq; ++i)
        for (int64_t j = 0; j < c.lkv; ++j)
          c.maskVals.push_back(i != 5 && (i == j || rng() % 3 != 0) ? 1.0 : 0.0);
      for (const char* tac : kTactics) {
        if (!worthRunning(tac)) continue;
        c.tactic = tac;
        auto y = runCase(c, ++seed);
        ASSERT_NE(y, nullptr);
        for (int64_t b = 0; b < c.b; ++b)
          for (int64_t h = 0; h < c.hq; ++h)
            for (int64_t e = 0; e < c.d; ++e)
              EXPECT_EQ(y->doubleAt(((b * c.hq + h) * c.lq + 5) * c.d + e), 0.0);
      }

      Case s = attention("short per-head bool mask D=" + std::to_string(d), t, 2, 3, 3, 40, 130, d);
      s.mask = Case::Mask::kBool;
      s.maskDims = {s.b, s.hq, 1, 100};
      for (int64_t i = 0; i < s.b * s.hq * 100; ++i) s.maskVals.push_back(rng() % 4 != 0 ? 1 : 0);
      s.maskVals[0] = 1;
      runEachTactic(s, ++seed);
    }
}

TEST(GpuFlashAttention, ThreeDInputs) {
  // [B, S, H*D] operands (q_num_heads / kv_num_heads), GQA, causal and not.
  uint32_t seed = 1000;
  for (DataType t : {DataType::kHALF, DataType::kBF16})
    for (int64_t d : {32, 64, 128})
      for (bool causal : {false, true}) {
        Case c =
            attention(std::string("3-D ") + (causal ? "causal " : "") + "D=" + std::to_string(d), t,
                      2, 4, 2, 70, 70, d, /*threeD=*/true);
        c.causal = causal;
        runEachTactic(c, ++seed);
      }
}

// ------------------------------------------------------------------------------------------------
// FusedAttention (operands through their layouts; the same kernels)
// ------------------------------------------------------------------------------------------------

Case fused(const std::string& name, DataType t, int64_t b, int64_t hq, int64_t hkv, int64_t lq,
           int64_t lkv, int64_t d, Layout ql, int qr, Layout kl, int kr, Layout vl, int vr,
           Layout yl, int yr) {
  Case c;
  c.op = OpKind::kFusedAttention;
  c.name = "FusedAttention " + name + " " + dataTypeName(t) + " Q " + layoutName(ql) +
           std::to_string(qr) + " K " + layoutName(kl) + std::to_string(kr) + " V " +
           layoutName(vl) + std::to_string(vr) + " Y " + layoutName(yl) + std::to_string(yr);
  c.dtype = t;
  c.b = b, c.hq = hq, c.hkv = hkv, c.lq = lq, c.lkv = lkv, c.d = d;
  c.ql = ql, c.kl = kl, c.vl = vl, c.yl = yl;
  c.qRank = qr, c.kRank = kr, c.vRank = vr, c.yRank = yr;
  return c;
}

TEST(GpuFlashAttention, FusedAttentionLayouts) {
  using L = Layout;
  uint32_t seed = 1100;
  for (DataType t : {DataType::kHALF, DataType::kBF16, DataType::kFLOAT}) {
    // ViT after the QKV split: [B, S, H*D] in, [B, S, H*D] out; S = 197.
    runEachTactic(fused("vit", t, 2, 12, 12, 197, 197, 64, L::kBSHD, 3, L::kBSHD, 3, L::kBSHD, 3,
                        L::kBSHD, 3),
                  ++seed);
    // Sequence-first [S, B, H*D] everywhere, GQA, causal, D = 32.
    Case sb = fused("seq-first causal GQA", t, 3, 4, 2, 100, 100, 32, L::kSBHD, 3, L::kSBHD, 3,
                    L::kSBHD, 3, L::kSBHD, 3);
    sb.causal = true;
    runEachTactic(sb, ++seed);
    // Mixed 4-D layouts, D = 128, output [B, S, H, D]; a BERT mask.
    Case mx = fused("mixed bert mask", t, 2, 4, 4, 77, 77, 128, L::kBHSD, 4, L::kBSHD, 4, L::kSBHD,
                    4, L::kBSHD, 4);
    mx.mask = Case::Mask::kFloat;
    mx.maskType = DataType::kFLOAT;
    mx.maskDims = {mx.b, 1, 1, mx.lkv};
    mx.maskVals = bertMask(mx.b, mx.lkv);
    runEachTactic(mx, ++seed);
    // Output BHSD from BSHD inputs; cross attention with a bool [Sq, Skv] mask.
    Case bo = fused("bool mask", t, 1, 2, 1, 17, 256, 64, L::kBSHD, 4, L::kBSHD, 3, L::kBSHD, 3,
                    L::kBHSD, 4);
    bo.mask = Case::Mask::kBool;
    bo.maskDims = {bo.lq, bo.lkv};
    std::mt19937 rng(seed);
    for (int64_t i = 0; i < bo.lq * bo.lkv; ++i) bo.maskVals.push_back(rng() % 3 != 0 ? 1 : 0);
    runEachTactic(bo, ++seed);
  }
}

TEST(GpuFlashAttention, FusedAttentionOtherPaths) {
  using L = Layout;
  uint32_t seed = 1200;
  // Head size 80 (not an fa2 size: the WMMA kernel, D padded to 128; and cudnn:sdpa, D a
  // multiple of 8), float16.
  Case d80 = fused("D=80", DataType::kHALF, 2, 3, 3, 70, 70, 80, L::kBSHD, 3, L::kSBHD, 3, L::kBSHD,
                   3, L::kSBHD, 3);
  runCase(d80, ++seed);
  if (worthRunning(kCudnnTactic)) {
    d80.tactic = kCudnnTactic;
    runCase(d80, seed);
  }
  // Dv != D (the double path), float32 and float16, causal.
  for (DataType t : {DataType::kFLOAT, DataType::kHALF}) {
    Case c = fused("Dv != D", t, 2, 2, 1, 33, 40, 32, L::kBSHD, 3, L::kBSHD, 3, L::kSBHD, 3,
                   L::kBSHD, 3);
    c.dv = 48;
    c.causal = true;
    runCase(c, ++seed);
  }
  // float64 (the double path), mixed layouts.
  runCase(fused("float64", DataType::kDOUBLE, 2, 2, 2, 20, 30, 16, L::kSBHD, 4, L::kBHSD, 4,
                L::kBSHD, 4, L::kSBHD, 4),
          ++seed);
}

#ifdef KILN_HAVE_CUDA
// The Attention layer offers both tactics where fa2 applies (float16/bfloat16, D in {32, 64,
// 128}), fa2 first, and one tactic elsewhere.
TEST(GpuFlashAttention, TacticsOfferedByTheKernel) {
  if (!detail::currentGpuDevice().isOk()) GTEST_SKIP() << "no GPU";
  cudaDeviceProp dp{};
  ASSERT_EQ(cudaGetDeviceProperties(&dp, 0), cudaSuccess);
  cuda::DeviceProps props;
  props.name = dp.name;
  props.smMajor = dp.major, props.smMinor = dp.minor, props.smCount = dp.multiProcessorCount;
  props.sharedMemPerBlockOptin = dp.sharedMemPerBlockOptin;
  props.totalGlobalMem = dp.totalGlobalMem;
  cuda::CudaLibs libs(props);
  struct Want {
    DataType t;
    int64_t d;
    int tactics;
  };
  for (const Want& w :
       {Want{DataType::kHALF, 64, 2}, Want{DataType::kBF16, 128, 2}, Want{DataType::kHALF, 32, 2},
        Want{DataType::kHALF, 80, 1}, Want{DataType::kFLOAT, 64, 1}}) {
    SCOPED_TRACE(std::string(dataTypeName(w.t)) + " D=" + std::to_string(w.d));
    ir::Graph g;
    const Dims dims = {2, 4, 100, w.d};
    std::vector<ir::Value*> ins;
    for (const char* n : {"q", "k", "v"})
      ins.push_back(g.addInput(n, w.t, ir::shapeFromDims(dims)));
    ir::Node* n = g.addNode(OpKind::kAttention, "attn", ins, ir::Attributes{}, 1);
    g.markOutput(n->outputs[0]);
    ir::ShapeTable table = ir::ShapeTable::fromGraph(g);
    ASSERT_TRUE(ir::inferNode(*n, table).isOk());
    std::vector<cuda::CudaTensor> in(3), out(1);
    for (auto& x : in) x.dtype = w.t, x.dims = dims;
    out[0].dtype = w.t, out[0].dims = dims;
    auto k = cuda::cudaKernels()[static_cast<size_t>(OpKind::kAttention)](*n);
    ASSERT_TRUE(k.isOk()) << k.status().toString();
    cuda::PrepareContext pc{*n, table, in, out, libs};
    ASSERT_TRUE((*k)->prepare(pc).isOk());
    ASSERT_EQ((*k)->tacticCount(), w.tactics);
    if (w.tactics == 2) {
      EXPECT_EQ((*k)->tacticId(0), "kiln:fa2");
      EXPECT_EQ((*k)->tacticId(1), "kiln:wmma");
      EXPECT_NE((*k)->tactic().find("kiln:fa2"), std::string::npos) << (*k)->tactic();
      ASSERT_TRUE((*k)->selectTactic(1).isOk());
      EXPECT_NE((*k)->tactic().find("kiln:wmma"), std::string::npos) << (*k)->tactic();
      EXPECT_FALSE((*k)->timingKey().empty());
    }
  }
}

// cuDNN 9.14 and later accept the composite SDPA graph of cudnn_sdpa.cpp for a plain float16
// case (B 2, H 4, S 128, D 64, no mask): the tuning prepare offers cudnn:sdpa as a third tactic,
// and a plan that chose it prepares and selects it. This is the test that says whether the graph
// is the pattern cuDNN's fused-attention engines recognise (the message has cuDNN's reason).
TEST(GpuFlashAttention, CudnnSdpaTacticExists) {
  if (!detail::currentGpuDevice().isOk()) GTEST_SKIP() << "no GPU";
  const size_t version = cuda::cudnnLibraryVersion();
  if (version < 91400) GTEST_SKIP() << "cuDNN " << version << " is older than 9.14";
  const Dims dims = {2, 4, 128, 64};
  const std::vector<std::pair<DataType, Dims>> qkv(3, {DataType::kHALF, dims});
  const PreparedTactics tuned = prepareOnGpu(OpKind::kAttention, {}, qkv, /*tuning=*/true);
  ASSERT_TRUE(tuned.prepared);
  std::printf("[   INFO   ] cuDNN %zu, tuning prepare: %s (workspace %zu)\n", version,
              tuned.tactic.c_str(), tuned.workspace);
  ASSERT_EQ(tuned.ids, (std::vector<std::string>{"kiln:fa2", "kiln:wmma", kCudnnTactic}))
      << tuned.tactic;

  ir::Attributes chose;
  chose.setString("tactic", kCudnnTactic);
  const PreparedTactics planned = prepareOnGpu(OpKind::kAttention, chose, qkv, /*tuning=*/false);
  ASSERT_TRUE(planned.prepared);
  EXPECT_TRUE(planned.has(kCudnnTactic));
  EXPECT_EQ(planned.tactic.rfind(std::string(kCudnnTactic) + ": ", 0), 0u) << planned.tactic;

  // The other forms the frontend has (causal; an additive [B, 1, 1, S] mask in float32 or the
  // input type): reported, not required.
  ir::Attributes causal;
  causal.setInt("is_causal", 1);
  const PreparedTactics c = prepareOnGpu(OpKind::kAttention, causal, qkv, /*tuning=*/true);
  std::printf("[   INFO   ] causal: cudnn:sdpa %s (%s)\n", c.has(kCudnnTactic) ? "yes" : "no",
              c.tactic.c_str());
  for (DataType mt : {DataType::kFLOAT, DataType::kHALF}) {
    std::vector<std::pair<DataType, Dims>> withMask = qkv;
    withMask.emplace_back(mt, Dims{2, 1, 1, 128});
    const PreparedTactics m = prepareOnGpu(OpKind::kAttention, {}, withMask, /*tuning=*/true);
    std::printf("[   INFO   ] %s additive mask: cudnn:sdpa %s (%s)\n", dataTypeName(mt),
                m.has(kCudnnTactic) ? "yes" : "no", m.tactic.c_str());
  }
}

// Where the graph cannot express the layer, tuning offers no cudnn:sdpa and tactic() says why
// (decided before cuDNN is asked): float32, a bool mask, a mask shorter than the keys.
TEST(GpuFlashAttention, CudnnSdpaNotOfferedWhereItCannotApply) {
  if (!detail::currentGpuDevice().isOk()) GTEST_SKIP() << "no GPU";
  const Dims dims = {2, 4, 100, 64};
  struct Want {
    std::string name;
    std::vector<std::pair<DataType, Dims>> inputs;
    std::vector<std::string> ids;
    std::string why;
  };
  const std::vector<std::pair<DataType, Dims>> f32(3, {DataType::kFLOAT, dims});
  std::vector<std::pair<DataType, Dims>> boolMask(3, {DataType::kHALF, dims});
  boolMask.emplace_back(DataType::kBOOL, Dims{100, 100});
  std::vector<std::pair<DataType, Dims>> shortMask(3, {DataType::kHALF, dims});
  shortMask.emplace_back(DataType::kFLOAT, Dims{2, 1, 1, 90});
  for (const Want& w :
       {Want{"float32", f32, {""}, "data type float32"},
        Want{"bool mask", boolMask, {"kiln:fa2", "kiln:wmma"}, "bool attn_mask"},
        Want{"short mask", shortMask, {"kiln:fa2", "kiln:wmma"}, "shorter than the keys"}}) {
    SCOPED_TRACE(w.name);
    const PreparedTactics pt = prepareOnGpu(OpKind::kAttention, {}, w.inputs, /*tuning=*/true);
    ASSERT_TRUE(pt.prepared);
    EXPECT_EQ(pt.ids, w.ids);
    EXPECT_NE(pt.tactic.find(std::string(kCudnnTactic) + " unavailable: "), std::string::npos)
        << pt.tactic;
    EXPECT_NE(pt.tactic.find(w.why), std::string::npos) << pt.tactic;
  }
}
#endif

}  // namespace
}  // namespace kiln::test
