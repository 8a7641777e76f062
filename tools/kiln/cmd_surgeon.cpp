// `kiln surgeon`: edits an ONNX model at the protobuf level (polygraphy surgeon's counterpart).
//
//   kiln surgeon extract --onnx=in.onnx --inputs=a,b --outputs=c,d --output=out.onnx
//   kiln surgeon sanitize --onnx=in.onnx --output=out.onnx [--fold-constants] [--json=F]
//
// Works on onnx::ModelProto directly: no Kiln network is built, so any op (even one Kiln does not
// support) survives the edit unchanged.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "json_writer.h"
#include "onnx/onnx.pb.h"

namespace kiln::cli {
namespace {

constexpr FlagDef kExtractFlags[] = {
    {"onnx", FlagKind::kValue, "<in.onnx>", "ONNX model to cut."},
    {"inputs", FlagKind::kList, "<t1,t2,...>",
     "Tensors that become the graph inputs of the subgraph (their dtype and shape must be "
     "known: a graph input, an initializer, a graph output or a value_info entry)."},
    {"outputs", FlagKind::kList, "<t1,t2,...>", "Tensors that become the graph outputs."},
    {"output", FlagKind::kValue, "<out.onnx>", "Where to write the subgraph model."},
};

constexpr FlagDef kSanitizeFlags[] = {
    {"onnx", FlagKind::kValue, "<in.onnx>", "ONNX model to clean up."},
    {"output", FlagKind::kValue, "<out.onnx>", "Where to write the cleaned model."},
    {"foldConstants", FlagKind::kBool, "",
     "Turn Constant nodes into initializers, and fold Shape of statically shaped tensors and "
     "the Gather/Unsqueeze/Concat/Squeeze/Cast arithmetic on such shapes into initializers."},
    {"json", FlagKind::kValue, "<summary.json>", "Write the summary (counts) as JSON."},
};

const char kSurgeonHelp[] =
    "Usage: kiln surgeon extract --onnx=<in.onnx> --inputs=<t,...> --outputs=<t,...> "
    "--output=<out.onnx>\n"
    "       kiln surgeon sanitize --onnx=<in.onnx> --output=<out.onnx> [--fold-constants] "
    "[--json=<f>]\n\n"
    "Edits an ONNX model and writes it back as ONNX (polygraphy surgeon's counterpart):\n"
    "  extract    Keep the nodes that compute --outputs from --inputs (and initializers);\n"
    "             the named tensors become the graph inputs and outputs.\n"
    "  sanitize   Remove nodes whose outputs nobody uses, unused initializers and value_info,\n"
    "             duplicate initializers; --fold-constants also folds Constant nodes and shape\n"
    "             arithmetic on static shapes into initializers.\n\n"
    "Run 'kiln surgeon <tool> --help' for its flags.\n";

std::string toolHelp(bool extract) {
  std::ostringstream os;
  os << (extract ? "Usage: kiln surgeon extract --onnx=<in.onnx> --inputs=<t,...> "
                   "--outputs=<t,...> --output=<out.onnx>\n\n"
                   "Keeps the nodes needed to compute --outputs from --inputs and the "
                   "initializers.\nThe named tensors become the graph inputs/outputs; their "
                   "dtype and shape must be\nknown in the model (graph inputs, outputs, "
                   "initializers or value_info; run\nonnx.shape_inference first if they are "
                   "not).\n\nFlags:\n"
                 : "Usage: kiln surgeon sanitize --onnx=<in.onnx> --output=<out.onnx> "
                   "[--fold-constants] [--json=<f>]\n\n"
                   "Removes dead nodes (no output used by a node or a graph output), unused\n"
                   "initializers and value_info entries, and duplicate initializers (the first "
                   "of a\nname stays). Prints node and initializer counts before and after.\n\n"
                   "Flags:\n");
  std::span<const FlagDef> defs =
      extract ? std::span<const FlagDef>(kExtractFlags) : std::span<const FlagDef>(kSanitizeFlags);
  for (const FlagDef& d : defs) {
    std::string head = std::string("  --") + d.name;
    if (d.valueName && *d.valueName) head += std::string("=") + d.valueName;
    os << head << "\n      " << d.help << "\n";
  }
  os << "\nExamples:\n"
        "  kiln surgeon extract --onnx=m.onnx --inputs=conv1_out --outputs=logits "
        "--output=tail.onnx\n"
        "  kiln surgeon sanitize --onnx=m.onnx --fold-constants --output=clean.onnx "
        "--json=summary.json\n";
  return os.str();
}

std::vector<std::string> splitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

StatusOr<onnx::ModelProto> readModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ioError("%s: cannot open the file", path.c_str());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  onnx::ModelProto model;
  if (data.empty() || !model.ParseFromString(data) || !model.has_graph())
    return invalidArgument("%s: not a valid ONNX model (does not parse as an ONNX ModelProto)",
                           path.c_str());
  return model;
}

Status writeModel(const onnx::ModelProto& model, const std::string& path) {
  std::string data;
  if (!model.SerializeToString(&data)) return internalError("cannot serialize the model");
  std::ofstream out(path, std::ios::binary);
  if (!out) return ioError("%s: cannot open for writing", path.c_str());
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) return ioError("%s: write failed", path.c_str());
  return Status::ok();
}

// Every tensor name a (sub)graph's nodes read, recursively: a node with a subgraph attribute
// (If, Loop, Scan) may read outer tensors that are not among its inputs.
void collectSubgraphReads(const onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input())
      if (!i.empty()) out.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collectSubgraphReads(a.g(), out);
      for (const auto& sg : a.graphs()) collectSubgraphReads(sg, out);
    }
  }
}

// Inputs of a node, including the outer tensors its subgraphs read.
std::vector<std::string> nodeReads(const onnx::NodeProto& n) {
  std::set<std::string> extra;
  for (const auto& a : n.attribute()) {
    if (a.has_g()) collectSubgraphReads(a.g(), extra);
    for (const auto& sg : a.graphs()) collectSubgraphReads(sg, extra);
  }
  std::vector<std::string> out;
  for (const auto& i : n.input())
    if (!i.empty()) out.push_back(i);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

// The dtype/shape of a tensor as the model states it, or nullptr.
struct TypeIndex {
  std::map<std::string, onnx::ValueInfoProto> infos;
  explicit TypeIndex(const onnx::GraphProto& g) {
    for (const auto& t : g.initializer()) {
      onnx::ValueInfoProto vi;
      vi.set_name(t.name());
      auto* tt = vi.mutable_type()->mutable_tensor_type();
      tt->set_elem_type(t.data_type());
      auto* sh = tt->mutable_shape();
      for (int64_t d : t.dims()) sh->add_dim()->set_dim_value(d);
      infos[t.name()] = vi;
    }
    for (const auto& v : g.value_info())
      if (v.has_type()) infos[v.name()] = v;
    for (const auto& v : g.output())
      if (v.has_type()) infos[v.name()] = v;
    for (const auto& v : g.input())
      if (v.has_type()) infos[v.name()] = v;
  }
  const onnx::ValueInfoProto* find(const std::string& name) const {
    auto it = infos.find(name);
    return it == infos.end() ? nullptr : &it->second;
  }
};

// ---- extract ----------------------------------------------------------------------------------

Status extract(const ParsedArgs& args) {
  for (const char* f : {"onnx", "inputs", "outputs", "output"})
    if (!args.has(f)) return invalidArgument("--%s is required", f);
  KILN_ASSIGN_OR_RETURN(onnx::ModelProto model, readModel(args.get("onnx")));
  const onnx::GraphProto& g = model.graph();
  std::vector<std::string> inputs = splitCommas(args.get("inputs"));
  std::vector<std::string> outputs = splitCommas(args.get("outputs"));

  std::map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) producer[o] = i;
  std::set<std::string> initNames, graphInputs;
  for (const auto& t : g.initializer()) initNames.insert(t.name());
  for (const auto& v : g.input()) graphInputs.insert(v.name());
  auto exists = [&](const std::string& n) {
    return producer.count(n) || initNames.count(n) || graphInputs.count(n);
  };
  std::set<std::string> inputSet;
  for (const auto& n : inputs) {
    if (n.empty()) return invalidArgument("--inputs: empty tensor name");
    if (!exists(n)) return notFound("--inputs: tensor '%s' does not exist in the model", n.c_str());
    if (!inputSet.insert(n).second) return invalidArgument("--inputs: '%s' given twice", n.c_str());
  }
  std::set<std::string> outputSet;
  for (const auto& n : outputs) {
    if (n.empty()) return invalidArgument("--outputs: empty tensor name");
    if (!exists(n))
      return notFound("--outputs: tensor '%s' does not exist in the model", n.c_str());
    if (!outputSet.insert(n).second)
      return invalidArgument("--outputs: '%s' given twice", n.c_str());
  }

  TypeIndex types(g);
  // Walk back from the outputs, stopping at the new inputs.
  std::set<int> keptNodes;
  std::set<std::string> keptInits, visited;
  std::vector<std::pair<std::string, std::string>> stack;  // (tensor, the output needing it)
  for (const auto& o : outputs) stack.push_back({o, o});
  while (!stack.empty()) {
    auto [t, why] = stack.back();
    stack.pop_back();
    if (!visited.insert(t).second) continue;
    if (inputSet.count(t)) continue;
    auto p = producer.find(t);
    if (p != producer.end()) {
      if (keptNodes.insert(p->second).second)
        for (const auto& r : nodeReads(g.node(p->second))) stack.push_back({r, why});
      continue;
    }
    if (initNames.count(t)) {
      keptInits.insert(t);
      continue;
    }
    if (graphInputs.count(t))
      return invalidArgument(
          "output '%s' is not computable from --inputs: it needs graph input '%s', which is "
          "not in --inputs",
          why.c_str(), t.c_str());
    // A name read only inside a subgraph that the subgraph itself defines: not an outer tensor.
  }

  onnx::ModelProto out = model;
  onnx::GraphProto* og = out.mutable_graph();
  og->clear_node();
  og->clear_input();
  og->clear_output();
  og->clear_initializer();
  og->clear_value_info();
  for (int i = 0; i < g.node_size(); ++i)
    if (keptNodes.count(i)) *og->add_node() = g.node(i);
  for (const auto& t : g.initializer())
    if (keptInits.count(t.name()) && !inputSet.count(t.name())) {
      *og->add_initializer() = t;
      keptInits.erase(t.name());  // the first of duplicate names only
    }
  for (const auto& n : inputs) {
    const onnx::ValueInfoProto* vi = types.find(n);
    if (!vi)
      return invalidArgument(
          "--inputs: the dtype and shape of '%s' are not known in the model (no graph input, "
          "output, initializer or value_info entry names it); run onnx.shape_inference on the "
          "model first",
          n.c_str());
    *og->add_input() = *vi;
  }
  for (const auto& n : outputs) {
    const onnx::ValueInfoProto* vi = types.find(n);
    if (!vi)
      return invalidArgument(
          "--outputs: the dtype and shape of '%s' are not known in the model (no graph input, "
          "output, initializer or value_info entry names it); run onnx.shape_inference on the "
          "model first",
          n.c_str());
    *og->add_output() = *vi;
  }
  std::set<std::string> ioNames(inputs.begin(), inputs.end());
  ioNames.insert(outputs.begin(), outputs.end());
  std::set<std::string> keptTensors;
  for (const auto& n : og->node())
    for (const auto& o : n.output()) keptTensors.insert(o);
  for (const auto& v : g.value_info())
    if (keptTensors.count(v.name()) && !ioNames.count(v.name())) *og->add_value_info() = v;

  KILN_RETURN_IF_ERROR(writeModel(out, args.get("output")));
  std::printf("Extracted %d of %d nodes (%d initializers, %zu inputs, %zu outputs) to %s\n",
              og->node_size(), g.node_size(), og->initializer_size(), inputs.size(), outputs.size(),
              args.get("output").c_str());
  return Status::ok();
}

// ---- sanitize ---------------------------------------------------------------------------------

// Int64 values of a tensor of dtype int64 or int32 (raw or typed fields), or false.
bool readInts(const onnx::TensorProto& t, std::vector<int64_t>& out) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) return false;
  int64_t count = 1;
  for (int64_t d : t.dims()) count *= d;
  out.clear();
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (!t.raw_data().empty()) {
      if (t.raw_data().size() != static_cast<size_t>(count) * 8) return false;
      out.resize(static_cast<size_t>(count));
      std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());
    } else {
      out.assign(t.int64_data().begin(), t.int64_data().end());
    }
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    if (!t.raw_data().empty()) {
      if (t.raw_data().size() != static_cast<size_t>(count) * 4) return false;
      std::vector<int32_t> v(static_cast<size_t>(count));
      std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
      out.assign(v.begin(), v.end());
    } else {
      out.assign(t.int32_data().begin(), t.int32_data().end());
    }
  } else {
    return false;
  }
  return static_cast<int64_t>(out.size()) == count;
}

onnx::TensorProto intTensor(const std::string& name, const std::vector<int64_t>& v, bool scalar) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  if (!scalar) t.add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t.add_int64_data(x);
  return t;
}

const onnx::AttributeProto* findAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

// A Constant node's value as a tensor named `name`, or false (sparse or string values stay).
bool constantValue(const onnx::NodeProto& n, onnx::TensorProto& t) {
  if (n.attribute_size() != 1 || n.output_size() != 1) return false;
  const auto& a = n.attribute(0);
  if (a.name() == "value" && a.has_t()) {
    t = a.t();
  } else if (a.name() == "value_float") {
    t = onnx::TensorProto();
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_float_data(a.f());
  } else if (a.name() == "value_floats") {
    t = onnx::TensorProto();
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(a.floats_size());
    for (float f : a.floats()) t.add_float_data(f);
  } else if (a.name() == "value_int") {
    t = intTensor("", {a.i()}, true);
  } else if (a.name() == "value_ints") {
    t = intTensor("", std::vector<int64_t>(a.ints().begin(), a.ints().end()), false);
  } else {
    return false;
  }
  t.set_name(n.output(0));
  return true;
}

// A small integer constant: its values (as int64), dims, and whether its dtype is int64.
struct IntConst {
  std::vector<int64_t> vals, dims;
  bool i64 = true;
};

struct FoldResult {
  int constants = 0;
  int shapeNodes = 0;
};

// Folds Constant nodes, and Shape (of static shapes) / Gather / Unsqueeze / Squeeze / Concat /
// Cast on small int64 constants, into initializers. Folded nodes are removed.
FoldResult foldConstants(onnx::GraphProto& g) {
  FoldResult r;
  TypeIndex types(g);
  std::map<std::string, IntConst> ints;
  std::set<std::string> initNames;
  for (const auto& t : g.initializer()) {
    initNames.insert(t.name());
    std::vector<int64_t> v;
    if (t.dims_size() <= 1 && readInts(t, v))
      ints[t.name()] = {v, std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                        t.data_type() == onnx::TensorProto::INT64};
  }
  // Graph inputs with an initializer of the same name may be overridden at run time: not folded.
  for (const auto& v : g.input()) ints.erase(v.name());

  std::vector<onnx::NodeProto> kept;
  std::vector<onnx::TensorProto> added;
  for (const auto& n : g.node()) {
    bool folded = false;
    onnx::TensorProto t;
    const bool plainDomain = n.domain().empty() || n.domain() == "ai.onnx";
    if (plainDomain && n.op_type() == "Constant" && constantValue(n, t)) {
      std::vector<int64_t> v;
      if (t.dims_size() <= 1 && readInts(t, v))
        ints[t.name()] = {v, std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                          t.data_type() == onnx::TensorProto::INT64};
      added.push_back(t);
      ++r.constants;
      folded = true;
    } else if (plainDomain && n.output_size() == 1 && !n.output(0).empty()) {
      std::vector<int64_t> val, dims;
      bool ok = false;
      auto in = [&](int i) -> const IntConst* {
        if (i >= n.input_size()) return nullptr;
        auto it = ints.find(n.input(i));
        return it == ints.end() ? nullptr : &it->second;
      };
      const std::string& op = n.op_type();
      if (op == "Shape" && n.input_size() == 1) {
        const onnx::ValueInfoProto* vi = types.find(n.input(0));
        if (vi && vi->type().has_tensor_type() && vi->type().tensor_type().has_shape()) {
          const auto& sh = vi->type().tensor_type().shape();
          ok = true;
          std::vector<int64_t> full;
          for (const auto& d : sh.dim()) {
            if (!d.has_dim_value()) ok = false;
            full.push_back(d.dim_value());
          }
          if (ok) {
            const int64_t rank = static_cast<int64_t>(full.size());
            int64_t start = 0, end = rank;
            if (auto* a = findAttr(n, "start")) start = a->i();
            if (auto* a = findAttr(n, "end")) end = a->i();
            if (start < 0) start += rank;
            if (end < 0) end += rank;
            start = std::clamp<int64_t>(start, 0, rank);
            end = std::clamp<int64_t>(end, 0, rank);
            for (int64_t i = start; i < end; ++i) val.push_back(full[static_cast<size_t>(i)]);
            dims = {static_cast<int64_t>(val.size())};
          }
        }
      } else if (op == "Gather" && in(0) && in(1) && in(0)->i64 && in(0)->dims.size() == 1) {
        const auto* a = findAttr(n, "axis");
        if (!a || a->i() == 0 || a->i() == -1) {
          ok = true;
          const int64_t size = static_cast<int64_t>(in(0)->vals.size());
          for (int64_t idx : in(1)->vals) {
            int64_t k = idx < 0 ? idx + size : idx;
            if (k < 0 || k >= size) {
              ok = false;
              break;
            }
            val.push_back(in(0)->vals[static_cast<size_t>(k)]);
          }
          dims = in(1)->dims;
        }
      } else if (op == "Unsqueeze" && in(0) && in(0)->i64 && in(0)->dims.empty()) {
        // A scalar to [1] (axes 0 or -1 only).
        std::vector<int64_t> axes;
        if (auto* a = findAttr(n, "axes"))
          axes.assign(a->ints().begin(), a->ints().end());
        else if (in(1))
          axes = in(1)->vals;
        if (axes.size() == 1 && (axes[0] == 0 || axes[0] == -1)) {
          ok = true;
          val = in(0)->vals;
          dims = {1};
        }
      } else if (op == "Squeeze" && in(0) && in(0)->i64 && in(0)->dims.size() == 1 &&
                 in(0)->vals.size() == 1) {
        std::vector<int64_t> axes;
        if (auto* a = findAttr(n, "axes"))
          axes.assign(a->ints().begin(), a->ints().end());
        else if (in(1))
          axes = in(1)->vals;
        if (axes.empty() || (axes.size() == 1 && (axes[0] == 0 || axes[0] == -1))) {
          ok = true;
          val = in(0)->vals;
          dims = {};
        }
      } else if (op == "Concat" && n.input_size() > 0) {
        const auto* a = findAttr(n, "axis");
        if (a && (a->i() == 0 || a->i() == -1)) {
          ok = true;
          for (int i = 0; i < n.input_size(); ++i) {
            if (!in(i) || !in(i)->i64 || in(i)->dims.size() != 1) {
              ok = false;
              break;
            }
            val.insert(val.end(), in(i)->vals.begin(), in(i)->vals.end());
          }
          dims = {static_cast<int64_t>(val.size())};
        }
      } else if (op == "Cast" && in(0)) {
        const auto* a = findAttr(n, "to");
        if (a && a->i() == onnx::TensorProto::INT64) {
          ok = true;
          val = in(0)->vals;
          dims = in(0)->dims;
        }
      }
      if (ok) {
        onnx::TensorProto nt = intTensor(n.output(0), val, dims.empty());
        ints[nt.name()] = {val, dims, true};
        added.push_back(nt);
        ++r.shapeNodes;
        folded = true;
      }
    }
    if (!folded) kept.push_back(n);
  }
  g.clear_node();
  for (auto& n : kept) *g.add_node() = std::move(n);
  for (auto& t : added) *g.add_initializer() = std::move(t);
  return r;
}

Status sanitize(const ParsedArgs& args) {
  for (const char* f : {"onnx", "output"})
    if (!args.has(f)) return invalidArgument("--%s is required", f);
  KILN_ASSIGN_OR_RETURN(onnx::ModelProto model, readModel(args.get("onnx")));
  onnx::GraphProto& g = *model.mutable_graph();
  const int nodesBefore = g.node_size();
  const int initsBefore = g.initializer_size();
  const int valueInfoBefore = g.value_info_size();

  // Duplicate initializers: the first of a name stays.
  int duplicates = 0;
  {
    std::set<std::string> seen;
    std::vector<onnx::TensorProto> unique;
    for (const auto& t : g.initializer()) {
      if (seen.insert(t.name()).second)
        unique.push_back(t);
      else
        ++duplicates;
    }
    g.clear_initializer();
    for (auto& t : unique) *g.add_initializer() = std::move(t);
  }
  FoldResult fold;
  if (args.flag("foldConstants")) fold = foldConstants(g);

  // Dead nodes: one backward sweep (nodes are topologically sorted in a valid model).
  std::set<std::string> live;
  for (const auto& o : g.output()) live.insert(o.name());
  std::vector<bool> keep(static_cast<size_t>(g.node_size()), false);
  for (int i = g.node_size() - 1; i >= 0; --i) {
    const auto& n = g.node(i);
    bool used = false;
    for (const auto& o : n.output())
      if (!o.empty() && live.count(o)) used = true;
    if (!used) continue;
    keep[static_cast<size_t>(i)] = true;
    for (const auto& r : nodeReads(n)) live.insert(r);
  }
  std::vector<onnx::NodeProto> nodes;
  for (int i = 0; i < g.node_size(); ++i)
    if (keep[static_cast<size_t>(i)]) nodes.push_back(g.node(i));
  g.clear_node();
  for (auto& n : nodes) *g.add_node() = std::move(n);

  std::set<std::string> graphInputs;
  for (const auto& v : g.input()) graphInputs.insert(v.name());
  std::vector<onnx::TensorProto> inits;
  for (const auto& t : g.initializer())
    if (live.count(t.name()) || graphInputs.count(t.name())) inits.push_back(t);
  g.clear_initializer();
  for (auto& t : inits) *g.add_initializer() = std::move(t);

  std::set<std::string> produced;
  for (const auto& n : g.node())
    for (const auto& o : n.output()) produced.insert(o);
  std::vector<onnx::ValueInfoProto> infos;
  for (const auto& v : g.value_info())
    if (produced.count(v.name()) && live.count(v.name())) infos.push_back(v);
  g.clear_value_info();
  for (auto& v : infos) *g.add_value_info() = std::move(v);

  KILN_RETURN_IF_ERROR(writeModel(model, args.get("output")));
  std::printf("Nodes: %d -> %d\nInitializers: %d -> %d\nValue info: %d -> %d\n", nodesBefore,
              g.node_size(), initsBefore, g.initializer_size(), valueInfoBefore,
              g.value_info_size());
  if (duplicates) std::printf("Duplicate initializers removed: %d\n", duplicates);
  if (args.flag("foldConstants"))
    std::printf("Folded: %d Constant nodes, %d shape nodes\n", fold.constants, fold.shapeNodes);
  std::printf("Wrote %s\n", args.get("output").c_str());
  if (args.has("json")) {
    JsonWriter w;
    w.beginObject();
    w.key("nodesBefore");
    w.number(int64_t{nodesBefore});
    w.key("nodesAfter");
    w.number(int64_t{g.node_size()});
    w.key("initializersBefore");
    w.number(int64_t{initsBefore});
    w.key("initializersAfter");
    w.number(int64_t{g.initializer_size()});
    w.key("valueInfoBefore");
    w.number(int64_t{valueInfoBefore});
    w.key("valueInfoAfter");
    w.number(int64_t{g.value_info_size()});
    w.key("duplicateInitializersRemoved");
    w.number(int64_t{duplicates});
    w.key("foldedConstants");
    w.number(int64_t{fold.constants});
    w.key("foldedShapeNodes");
    w.number(int64_t{fold.shapeNodes});
    w.endObject();
    std::ofstream out(args.get("json"));
    if (!out) return ioError("--json=%s: cannot open for writing", args.get("json").c_str());
    out << w.str() << "\n";
  }
  return Status::ok();
}

}  // namespace

int cmdSurgeon(std::span<const std::string> argv) {
  auto isHelp = [](const std::string& a) {
    return a == "-h" || (a.rfind("--", 0) == 0 && normalizeFlagName(a.substr(2)) == "help");
  };
  if (argv.empty() || isHelp(argv[0])) {
    std::fputs(kSurgeonHelp, argv.empty() ? stderr : stdout);
    return argv.empty() ? kExitUsage : kExitOk;
  }
  const bool isExtract = argv[0] == "extract";
  if (!isExtract && argv[0] != "sanitize")
    return reportError(
        invalidArgument("unknown surgeon tool '%s' (tools: extract, sanitize)", argv[0].c_str()),
        kExitUsage);
  std::span<const std::string> rest = argv.subspan(1);
  for (const auto& a : rest)
    if (isHelp(a)) {
      std::fputs(toolHelp(isExtract).c_str(), stdout);
      return kExitOk;
    }
  std::span<const FlagDef> defs = isExtract ? std::span<const FlagDef>(kExtractFlags)
                                            : std::span<const FlagDef>(kSanitizeFlags);
  auto parsed = parseArgs(rest, defs);
  if (!parsed.isOk() || !parsed.value().positional.empty()) {
    reportError(parsed.isOk() ? invalidArgument("unexpected argument '%s' (flags start with --)",
                                                parsed.value().positional[0].c_str())
                              : parsed.status(),
                kExitUsage);
    std::fprintf(stderr, "Run 'kiln surgeon %s --help' for the list of flags.\n", argv[0].c_str());
    return kExitUsage;
  }
  Status st = isExtract ? extract(parsed.value()) : sanitize(parsed.value());
  if (!st.isOk()) return reportError(st);
  return kExitOk;
}

}  // namespace kiln::cli
