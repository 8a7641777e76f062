// kiln.NetworkDefinition, kiln.Layer, kiln.Tensor and the layer enums.
//
// Tensors and layers are owned by their network: they are returned with reference_internal, so
// a Python Tensor/Layer keeps the object it came from (and through it the network) alive.
// A layer that cannot be added raises kiln.Error with the network's message (getLastError()).
#include <optional>
#include <vector>

#include "common.h"

namespace kiln_py {

bool dataTypeFromNumpy(char kind, size_t size, kiln::DataType* out) {
  using kiln::DataType;
  struct Entry {
    char kind;
    size_t size;
    DataType type;
  };
  static const Entry kTable[] = {
      {'f', 4, DataType::kFLOAT}, {'f', 2, DataType::kHALF},    {'f', 8, DataType::kDOUBLE},
      {'i', 1, DataType::kINT8},  {'i', 2, DataType::kINT16},   {'i', 4, DataType::kINT32},
      {'i', 8, DataType::kINT64}, {'u', 1, DataType::kUINT8},   {'u', 2, DataType::kUINT16},
      {'u', 4, DataType::kUINT32}, {'u', 8, DataType::kUINT64}, {'b', 1, DataType::kBOOL},
  };
  for (const Entry& e : kTable) {
    if (e.kind == kind && e.size == size) {
      *out = e.type;
      return true;
    }
  }
  return false;
}

// Goes through numpy's Python API (not pybind11's numpy.h, whose dtype accessors assume the
// numpy 1.x struct layout) so any numpy version works.
WeightsArg toWeights(const py::object& obj, const char* what) {
  WeightsArg w;
  w.weights = kiln::Weights{kiln::DataType::kFLOAT, nullptr, 0};
  if (obj.is_none()) return w;
  py::module_ np = py::module_::import("numpy");
  py::object arr;
  try {
    if (py::isinstance(obj, np.attr("ndarray"))) {
      // Keep the array's own dtype (int64 shapes, float16 weights...); only make it
      // C-contiguous and native-endian (no copy when it already is).
      arr = np.attr("ascontiguousarray")(obj, obj.attr("dtype").attr("newbyteorder")("="));
    } else {
      arr = np.attr("ascontiguousarray")(obj, "float32");
    }
  } catch (py::error_already_set& e) {
    throw py::type_error(std::string(what) +
                         ": expected a numpy array or a sequence of numbers (" + e.what() + ")");
  }
  py::object dtype = arr.attr("dtype");
  std::string kind = dtype.attr("kind").cast<std::string>();
  size_t itemsize = dtype.attr("itemsize").cast<size_t>();
  if (kind.size() != 1 || !dataTypeFromNumpy(kind[0], itemsize, &w.weights.type))
    throw py::type_error(std::string(what) + ": numpy dtype " +
                         py::str(dtype).cast<std::string>() + " has no Kiln DataType");
  w.weights.values = reinterpret_cast<const void*>(
      arr.attr("ctypes").attr("data").cast<uintptr_t>());
  w.weights.count = arr.attr("size").cast<int64_t>();
  w.keep = arr;
  return w;
}


namespace {

using kiln::Dims;
using kiln::Layer;
using kiln::NetworkDefinition;
using kiln::Tensor;
using OptDims = std::optional<Dims>;
using Int64s = std::vector<int64_t>;
constexpr auto kInternal = py::return_value_policy::reference_internal;

Layer* checked(NetworkDefinition& net, Layer* layer, const char* method) {
  if (!layer) raiseError(std::string(method) + " failed", net.getLastError());
  return layer;
}

int checkIndex(int index, int count, const char* what) {
  if (index < 0) index += count;
  if (index < 0 || index >= count)
    throw py::index_error(std::string(what) + " index out of range (" + std::to_string(count) +
                          " available)");
  return index;
}

std::vector<Tensor*> tensorList(const std::vector<Tensor*>& tensors, const char* method) {
  for (Tensor* t : tensors)
    if (!t) throw py::type_error(std::string(method) + ": inputs must be kiln.Tensor, not None");
  return tensors;
}

// Python value -> ONNX-style attribute: bool/int -> int64, float -> float, str -> string,
// a sequence of ints -> ints, a sequence with any float -> floats.
kiln::AttributeValue toAttributeValue(const std::string& name, const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return static_cast<int64_t>(v.cast<bool>());
  if (py::isinstance<py::int_>(v)) return v.cast<int64_t>();
  if (py::isinstance<py::float_>(v)) return v.cast<float>();
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::hasattr(v, "dtype") && py::hasattr(v, "item") && py::len(v.attr("shape")) == 0)
    return toAttributeValue(name, v.attr("item")());  // numpy scalar
  if (PySequence_Check(v.ptr())) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(v);
    bool anyFloat = false;
    for (py::handle item : seq) {
      if (py::isinstance<py::float_>(item) ||
          (py::hasattr(item, "dtype") && item.attr("dtype").attr("kind").cast<std::string>() == "f"))
        anyFloat = true;
    }
    if (anyFloat) {
      std::vector<float> out;
      for (py::handle item : seq) out.push_back(py::float_(py::reinterpret_borrow<py::object>(item)).cast<float>());
      return out;
    }
    Int64s out;
    for (py::handle item : seq) out.push_back(py::int_(py::reinterpret_borrow<py::object>(item)).cast<int64_t>());
    return out;
  }
  throw py::type_error("attribute '" + name + "': unsupported value type " +
                       py::str(py::type::of(v)).cast<std::string>());
}

kiln::ConvolutionDesc convDesc(const OptDims& stride, const OptDims& padding,
                               const OptDims& postPadding, const OptDims& dilation,
                               int64_t groups, kiln::PaddingMode mode,
                               const OptDims& outputPadding) {
  kiln::ConvolutionDesc d;
  if (stride) d.stride = *stride;
  if (padding) d.padding = *padding;
  if (postPadding) d.postPadding = *postPadding;
  if (dilation) d.dilation = *dilation;
  if (outputPadding) d.outputPadding = *outputPadding;
  d.groups = groups;
  d.paddingMode = mode;
  return d;
}

std::string tensorRepr(const Tensor& t) {
  return std::string("<kiln.Tensor '") + t.getName() + "' " + kiln::dataTypeName(t.getType()) +
         " " + t.getShapeString() + ">";
}

}  // namespace

void bindNetwork(py::module_& m) {
  py::enum_<kiln::ActivationType>(m, "ActivationType")
      .value("RELU", kiln::ActivationType::kRELU)
      .value("SIGMOID", kiln::ActivationType::kSIGMOID)
      .value("TANH", kiln::ActivationType::kTANH)
      .value("LEAKY_RELU", kiln::ActivationType::kLEAKY_RELU)
      .value("ELU", kiln::ActivationType::kELU)
      .value("SELU", kiln::ActivationType::kSELU)
      .value("SOFTSIGN", kiln::ActivationType::kSOFTSIGN)
      .value("SOFTPLUS", kiln::ActivationType::kSOFTPLUS)
      .value("CLIP", kiln::ActivationType::kCLIP)
      .value("HARD_SIGMOID", kiln::ActivationType::kHARD_SIGMOID)
      .value("THRESHOLDED_RELU", kiln::ActivationType::kTHRESHOLDED_RELU)
      .value("GELU_ERF", kiln::ActivationType::kGELU_ERF)
      .value("GELU_TANH", kiln::ActivationType::kGELU_TANH)
      .value("HARD_SWISH", kiln::ActivationType::kHARD_SWISH)
      .value("MISH", kiln::ActivationType::kMISH)
      .value("CELU", kiln::ActivationType::kCELU);

  py::enum_<kiln::ElementWiseOperation>(m, "ElementWiseOperation")
      .value("SUM", kiln::ElementWiseOperation::kSUM)
      .value("PROD", kiln::ElementWiseOperation::kPROD)
      .value("MAX", kiln::ElementWiseOperation::kMAX)
      .value("MIN", kiln::ElementWiseOperation::kMIN)
      .value("SUB", kiln::ElementWiseOperation::kSUB)
      .value("DIV", kiln::ElementWiseOperation::kDIV)
      .value("POW", kiln::ElementWiseOperation::kPOW)
      .value("AND", kiln::ElementWiseOperation::kAND)
      .value("OR", kiln::ElementWiseOperation::kOR)
      .value("XOR", kiln::ElementWiseOperation::kXOR)
      .value("EQUAL", kiln::ElementWiseOperation::kEQUAL)
      .value("GREATER", kiln::ElementWiseOperation::kGREATER)
      .value("LESS", kiln::ElementWiseOperation::kLESS)
      .value("MOD", kiln::ElementWiseOperation::kMOD);

  py::enum_<kiln::UnaryOperation>(m, "UnaryOperation")
      .value("EXP", kiln::UnaryOperation::kEXP)
      .value("LOG", kiln::UnaryOperation::kLOG)
      .value("SQRT", kiln::UnaryOperation::kSQRT)
      .value("RECIP", kiln::UnaryOperation::kRECIP)
      .value("ABS", kiln::UnaryOperation::kABS)
      .value("NEG", kiln::UnaryOperation::kNEG)
      .value("SIN", kiln::UnaryOperation::kSIN)
      .value("COS", kiln::UnaryOperation::kCOS)
      .value("TAN", kiln::UnaryOperation::kTAN)
      .value("SINH", kiln::UnaryOperation::kSINH)
      .value("COSH", kiln::UnaryOperation::kCOSH)
      .value("ASIN", kiln::UnaryOperation::kASIN)
      .value("ACOS", kiln::UnaryOperation::kACOS)
      .value("ATAN", kiln::UnaryOperation::kATAN)
      .value("ASINH", kiln::UnaryOperation::kASINH)
      .value("ACOSH", kiln::UnaryOperation::kACOSH)
      .value("ATANH", kiln::UnaryOperation::kATANH)
      .value("CEIL", kiln::UnaryOperation::kCEIL)
      .value("FLOOR", kiln::UnaryOperation::kFLOOR)
      .value("ERF", kiln::UnaryOperation::kERF)
      .value("NOT", kiln::UnaryOperation::kNOT)
      .value("SIGN", kiln::UnaryOperation::kSIGN)
      .value("ROUND", kiln::UnaryOperation::kROUND)
      .value("ISINF", kiln::UnaryOperation::kISINF)
      .value("ISNAN", kiln::UnaryOperation::kISNAN);

  py::enum_<kiln::ReduceOperation>(m, "ReduceOperation")
      .value("SUM", kiln::ReduceOperation::kSUM)
      .value("PROD", kiln::ReduceOperation::kPROD)
      .value("MAX", kiln::ReduceOperation::kMAX)
      .value("MIN", kiln::ReduceOperation::kMIN)
      .value("AVG", kiln::ReduceOperation::kAVG)
      .value("L1", kiln::ReduceOperation::kL1)
      .value("L2", kiln::ReduceOperation::kL2)
      .value("SUM_SQUARE", kiln::ReduceOperation::kSUM_SQUARE)
      .value("LOG_SUM_EXP", kiln::ReduceOperation::kLOG_SUM_EXP);

  py::enum_<kiln::PoolingType>(m, "PoolingType")
      .value("MAX", kiln::PoolingType::kMAX)
      .value("AVERAGE", kiln::PoolingType::kAVERAGE);

  py::enum_<kiln::MatrixOperation>(m, "MatrixOperation")
      .value("NONE", kiln::MatrixOperation::kNONE)
      .value("TRANSPOSE", kiln::MatrixOperation::kTRANSPOSE);

  py::enum_<kiln::PaddingMode>(m, "PaddingMode")
      .value("EXPLICIT", kiln::PaddingMode::kEXPLICIT)
      .value("SAME_UPPER", kiln::PaddingMode::kSAME_UPPER)
      .value("SAME_LOWER", kiln::PaddingMode::kSAME_LOWER)
      .value("VALID", kiln::PaddingMode::kVALID);

  py::enum_<kiln::ResizeMode>(m, "ResizeMode")
      .value("NEAREST", kiln::ResizeMode::kNEAREST)
      .value("LINEAR", kiln::ResizeMode::kLINEAR)
      .value("CUBIC", kiln::ResizeMode::kCUBIC);

  py::class_<Tensor>(m, "Tensor", "A tensor of a NetworkDefinition (owned by the network).")
      .def_property("name", &Tensor::getName,
                    [](Tensor& t, const std::string& n) { t.setName(n.c_str()); })
      .def_property_readonly("shape", &Tensor::getDimensions, "Dims as a tuple; -1 is dynamic.")
      .def_property_readonly("dtype", &Tensor::getType)
      .def_property_readonly("shape_string", &Tensor::getShapeString,
                             "Symbolic shape, e.g. '[batch,3,224,224]'.")
      .def_property_readonly("is_network_input", &Tensor::isNetworkInput)
      .def_property_readonly("is_network_output", &Tensor::isNetworkOutput)
      .def_property_readonly("is_shape_tensor", &Tensor::isShapeTensor,
                             "A network input whose values a layer reads to decide shapes.")
      .def_property_readonly("is_constant", &Tensor::isConstant)
      .def("__repr__", &tensorRepr);

  py::class_<Layer>(m, "Layer", "One layer (op) of a NetworkDefinition.")
      .def_property("name", &Layer::getName,
                    [](Layer& l, const std::string& n) { l.setName(n.c_str()); })
      .def_property_readonly("type", &Layer::getType, "Op type, e.g. 'Conv' (ONNX names).")
      .def_property_readonly("num_inputs", &Layer::getNbInputs)
      .def_property_readonly("num_outputs", &Layer::getNbOutputs)
      .def(
          "get_input",
          [](const Layer& l, int i) { return l.getInput(checkIndex(i, l.getNbInputs(), "input")); },
          py::arg("index"), kInternal, "None for an absent optional input.")
      .def(
          "get_output",
          [](const Layer& l, int i) {
            return l.getOutput(checkIndex(i, l.getNbOutputs(), "output"));
          },
          py::arg("index"), kInternal)
      .def_property("precision", &Layer::getPrecision, &Layer::setPrecision)
      .def_property_readonly("precision_is_set", &Layer::precisionIsSet)
      .def("reset_precision", &Layer::resetPrecision)
      .def_property_readonly("attributes", &Layer::getAttributesString,
                             "Attributes in readable form, e.g. 'group=1 strides=[2,2]'.")
      .def("__repr__", [](const Layer& l) {
        return std::string("<kiln.Layer '") + l.getName() + "' " + l.getType() + ">";
      });

  py::class_<NetworkDefinition, std::unique_ptr<NetworkDefinition>> net(
      m, "NetworkDefinition",
      "A network built layer by layer (or by OnnxParser). Create with Builder.create_network().");
  net.def_property("name", &NetworkDefinition::getName,
                   [](NetworkDefinition& n, const std::string& s) { n.setName(s.c_str()); })
      .def_property_readonly("num_inputs", &NetworkDefinition::getNbInputs)
      .def_property_readonly("num_outputs", &NetworkDefinition::getNbOutputs)
      .def_property_readonly("num_layers", &NetworkDefinition::getNbLayers)
      .def(
          "get_input",
          [](const NetworkDefinition& n, int i) {
            return n.getInput(checkIndex(i, n.getNbInputs(), "network input"));
          },
          py::arg("index"), kInternal)
      .def(
          "get_output",
          [](const NetworkDefinition& n, int i) {
            return n.getOutput(checkIndex(i, n.getNbOutputs(), "network output"));
          },
          py::arg("index"), kInternal)
      .def(
          "get_layer",
          [](const NetworkDefinition& n, int i) {
            return n.getLayer(checkIndex(i, n.getNbLayers(), "layer"));
          },
          py::arg("index"), kInternal)
      .def("__len__", &NetworkDefinition::getNbLayers)
      .def(
          "__getitem__",
          [](const NetworkDefinition& n, int i) {
            return n.getLayer(checkIndex(i, n.getNbLayers(), "layer"));
          },
          kInternal)
      .def(
          "get_tensor",
          [](const NetworkDefinition& n, const std::string& name) {
            return n.getTensor(name.c_str());
          },
          py::arg("name"), kInternal, "The tensor named `name`, or None.")
      .def_property_readonly("last_error", &NetworkDefinition::getLastError)
      .def(
          "add_input",
          [](NetworkDefinition& n, const std::string& name, kiln::DataType type, const Dims& dims,
             const std::vector<std::string>& dimNames) {
            Tensor* t = n.addInput(name.c_str(), type, dims, dimNames);
            if (!t) raiseError("add_input failed", n.getLastError());
            return t;
          },
          py::arg("name"), py::arg("dtype"), py::arg("shape"),
          py::arg("dim_names") = std::vector<std::string>{}, kInternal,
          "Adds an input; -1 dims are dynamic, `dim_names` names them so inputs share them.")
      .def(
          "mark_output",
          [](NetworkDefinition& n, Tensor& t) {
            if (!n.markOutput(t)) raiseError("mark_output failed", n.getLastError());
          },
          py::arg("tensor"))
      .def(
          "unmark_output",
          [](NetworkDefinition& n, Tensor& t) {
            if (!n.unmarkOutput(t)) raiseError("unmark_output failed", n.getLastError());
          },
          py::arg("tensor"))
      .def(
          "add_constant",
          [](NetworkDefinition& n, const Dims& dims, const py::object& weights,
             const std::optional<std::string>& name) {
            WeightsArg w = toWeights(weights, "add_constant");
            Tensor* t = n.addConstant(dims, w.weights, name ? name->c_str() : nullptr);
            if (!t) raiseError("add_constant failed", n.getLastError());
            return t;
          },
          py::arg("shape"), py::arg("weights"), py::arg("name") = py::none(), kInternal,
          "Adds a constant (weights are copied); returns its tensor.");

  auto addConv = [](bool deconv) {
    return [deconv](NetworkDefinition& n, Tensor& input, int64_t maps, const Dims& kernelShape,
                    const py::object& kernel, const py::object& bias, const OptDims& stride,
                    const OptDims& padding, const OptDims& postPadding, const OptDims& dilation,
                    int64_t groups, kiln::PaddingMode mode, const OptDims& outputPadding) {
      WeightsArg k = toWeights(kernel, deconv ? "add_deconvolution kernel" : "add_convolution kernel");
      WeightsArg b = toWeights(bias, deconv ? "add_deconvolution bias" : "add_convolution bias");
      kiln::ConvolutionDesc d =
          convDesc(stride, padding, postPadding, dilation, groups, mode, outputPadding);
      if (deconv)
        return checked(n, n.addDeconvolution(input, maps, kernelShape, k.weights, b.weights, d),
                       "add_deconvolution");
      return checked(n, n.addConvolution(input, maps, kernelShape, k.weights, b.weights, d),
                     "add_convolution");
    };
  };
  for (const char* name : {"add_convolution", "add_convolution_nd"}) {
    net.def(name, addConv(false), py::arg("input"), py::arg("num_output_maps"),
            py::arg("kernel_shape"), py::arg("kernel"), py::arg("bias") = py::none(), py::kw_only(),
            py::arg("stride") = py::none(), py::arg("padding") = py::none(),
            py::arg("post_padding") = py::none(), py::arg("dilation") = py::none(),
            py::arg("groups") = 1, py::arg("padding_mode") = kiln::PaddingMode::kEXPLICIT,
            py::arg("output_padding") = py::none(), kInternal,
            "Convolution; kernel is [maps, in/groups, *kernel_shape], bias [maps] or None.");
  }
  for (const char* name : {"add_deconvolution", "add_deconvolution_nd"}) {
    net.def(name, addConv(true), py::arg("input"), py::arg("num_output_maps"),
            py::arg("kernel_shape"), py::arg("kernel"), py::arg("bias") = py::none(), py::kw_only(),
            py::arg("stride") = py::none(), py::arg("padding") = py::none(),
            py::arg("post_padding") = py::none(), py::arg("dilation") = py::none(),
            py::arg("groups") = 1, py::arg("padding_mode") = kiln::PaddingMode::kEXPLICIT,
            py::arg("output_padding") = py::none(), kInternal,
            "Transposed convolution (ONNX ConvTranspose).");
  }

  auto addPool = [](NetworkDefinition& n, Tensor& input, kiln::PoolingType type,
                    const Dims& window, const OptDims& stride, const OptDims& padding,
                    const OptDims& postPadding, const OptDims& dilation, bool ceilMode,
                    bool countIncludePad, kiln::PaddingMode mode) {
    kiln::PoolingDesc d;
    if (stride) d.stride = *stride;
    if (padding) d.padding = *padding;
    if (postPadding) d.postPadding = *postPadding;
    if (dilation) d.dilation = *dilation;
    d.ceilMode = ceilMode;
    d.countIncludePad = countIncludePad;
    d.paddingMode = mode;
    return checked(n, n.addPooling(input, type, window, d), "add_pooling");
  };
  for (const char* name : {"add_pooling", "add_pooling_nd"}) {
    net.def(name, addPool, py::arg("input"), py::arg("type"), py::arg("window_size"),
            py::kw_only(), py::arg("stride") = py::none(), py::arg("padding") = py::none(),
            py::arg("post_padding") = py::none(), py::arg("dilation") = py::none(),
            py::arg("ceil_mode") = false, py::arg("count_include_pad") = false,
            py::arg("padding_mode") = kiln::PaddingMode::kEXPLICIT, kInternal);
  }

  net.def(
         "add_matrix_multiply",
         [](NetworkDefinition& n, Tensor& a, kiln::MatrixOperation opA, Tensor& b,
            kiln::MatrixOperation opB) {
           return checked(n, n.addMatrixMultiply(a, opA, b, opB), "add_matrix_multiply");
         },
         py::arg("input0"), py::arg("op0"), py::arg("input1"), py::arg("op1"), kInternal)
      .def(
          "add_gemm",
          [](NetworkDefinition& n, Tensor& a, Tensor& b, Tensor* c, float alpha, float beta,
             bool transA, bool transB) {
            return checked(n, n.addGemm(a, b, c, alpha, beta, transA, transB), "add_gemm");
          },
          py::arg("a"), py::arg("b"), py::arg("c") = nullptr, py::kw_only(),
          py::arg("alpha") = 1.f, py::arg("beta") = 1.f, py::arg("trans_a") = false,
          py::arg("trans_b") = false, kInternal, "y = alpha * op(a) @ op(b) + beta * c (ONNX Gemm).")
      .def(
          "add_fully_connected",
          [](NetworkDefinition& n, Tensor& input, int64_t outputs, const py::object& kernel,
             const py::object& bias) {
            WeightsArg k = toWeights(kernel, "add_fully_connected kernel");
            WeightsArg b = toWeights(bias, "add_fully_connected bias");
            return checked(n, n.addFullyConnected(input, outputs, k.weights, b.weights),
                           "add_fully_connected");
          },
          py::arg("input"), py::arg("num_outputs"), py::arg("kernel"),
          py::arg("bias") = py::none(), kInternal, "y = x @ W.T + b over the last dim (W [out, in]).")
      .def(
          "add_activation",
          [](NetworkDefinition& n, Tensor& input, kiln::ActivationType type, float alpha,
             float beta) {
            return checked(n, n.addActivation(input, type, alpha, beta), "add_activation");
          },
          py::arg("input"), py::arg("type"), py::arg("alpha") = 0.f, py::arg("beta") = 0.f,
          kInternal)
      .def(
          "add_global_pooling",
          [](NetworkDefinition& n, Tensor& input, kiln::PoolingType type) {
            return checked(n, n.addGlobalPooling(input, type), "add_global_pooling");
          },
          py::arg("input"), py::arg("type"), kInternal)
      .def(
          "add_elementwise",
          [](NetworkDefinition& n, Tensor& a, Tensor& b, kiln::ElementWiseOperation op) {
            return checked(n, n.addElementWise(a, b, op), "add_elementwise");
          },
          py::arg("input1"), py::arg("input2"), py::arg("op"), kInternal)
      .def(
          "add_unary",
          [](NetworkDefinition& n, Tensor& input, kiln::UnaryOperation op) {
            return checked(n, n.addUnary(input, op), "add_unary");
          },
          py::arg("input"), py::arg("op"), kInternal)
      .def(
          "add_reduce",
          [](NetworkDefinition& n, Tensor& input, kiln::ReduceOperation op, const Int64s& axes,
             bool keepDims) {
            return checked(n, n.addReduce(input, op, axes, keepDims), "add_reduce");
          },
          py::arg("input"), py::arg("op"), py::arg("axes"), py::arg("keep_dims"), kInternal,
          "Reduces over `axes` (a list of axes, not TensorRT's bit mask).")
      .def(
          "add_argmax",
          [](NetworkDefinition& n, Tensor& input, int64_t axis, bool keepDims) {
            return checked(n, n.addArgMax(input, axis, keepDims), "add_argmax");
          },
          py::arg("input"), py::arg("axis"), py::arg("keep_dims") = true, kInternal)
      .def(
          "add_softmax",
          [](NetworkDefinition& n, Tensor& input, int64_t axis) {
            return checked(n, n.addSoftMax(input, axis), "add_softmax");
          },
          py::arg("input"), py::arg("axis") = -1, kInternal)
      .def(
          "add_log_softmax",
          [](NetworkDefinition& n, Tensor& input, int64_t axis) {
            return checked(n, n.addLogSoftMax(input, axis), "add_log_softmax");
          },
          py::arg("input"), py::arg("axis") = -1, kInternal)
      .def(
          "add_concatenation",
          [](NetworkDefinition& n, const std::vector<Tensor*>& inputs, int64_t axis) {
            std::vector<Tensor*> ts = tensorList(inputs, "add_concatenation");
            return checked(n, n.addConcatenation(ts, axis), "add_concatenation");
          },
          py::arg("inputs"), py::arg("axis") = 0, kInternal)
      .def(
          "add_split",
          [](NetworkDefinition& n, Tensor& input, int64_t axis, const Int64s& sizes) {
            return checked(n, n.addSplit(input, axis, sizes), "add_split");
          },
          py::arg("input"), py::arg("axis"), py::arg("sizes"), kInternal)
      .def(
          "add_reshape",
          [](NetworkDefinition& n, Tensor& input, Tensor& shape) {
            return checked(n, n.addReshape(input, shape), "add_reshape");
          },
          py::arg("input"), py::arg("shape"), kInternal)
      .def(
          "add_reshape",
          [](NetworkDefinition& n, Tensor& input, const Int64s& shape) {
            return checked(n, n.addReshape(input, shape), "add_reshape");
          },
          py::arg("input"), py::arg("shape"), kInternal,
          "ONNX Reshape: 0 copies the input dim, -1 is inferred; `shape` may be an int64 Tensor.")
      .def(
          "add_transpose",
          [](NetworkDefinition& n, Tensor& input, const Int64s& perm) {
            return checked(n, n.addTranspose(input, perm), "add_transpose");
          },
          py::arg("input"), py::arg("perm"), kInternal)
      .def(
          "add_flatten",
          [](NetworkDefinition& n, Tensor& input, int64_t axis) {
            return checked(n, n.addFlatten(input, axis), "add_flatten");
          },
          py::arg("input"), py::arg("axis") = 1, kInternal)
      .def(
          "add_squeeze",
          [](NetworkDefinition& n, Tensor& input, const Int64s& axes) {
            return checked(n, n.addSqueeze(input, axes), "add_squeeze");
          },
          py::arg("input"), py::arg("axes"), kInternal)
      .def(
          "add_unsqueeze",
          [](NetworkDefinition& n, Tensor& input, const Int64s& axes) {
            return checked(n, n.addUnsqueeze(input, axes), "add_unsqueeze");
          },
          py::arg("input"), py::arg("axes"), kInternal)
      .def(
          "add_slice",
          [](NetworkDefinition& n, Tensor& input, const Int64s& starts, const Int64s& ends,
             const Int64s& axes, const Int64s& steps) {
            return checked(n, n.addSlice(input, starts, ends, axes, steps), "add_slice");
          },
          py::arg("input"), py::arg("starts"), py::arg("ends"), py::arg("axes") = Int64s{},
          py::arg("steps") = Int64s{}, kInternal,
          "ONNX Slice semantics (exclusive, clamped ends), not TensorRT's (start, shape, stride).")
      .def(
          "add_gather",
          [](NetworkDefinition& n, Tensor& data, Tensor& indices, int64_t axis) {
            return checked(n, n.addGather(data, indices, axis), "add_gather");
          },
          py::arg("input"), py::arg("indices"), py::arg("axis") = 0, kInternal)
      .def(
          "add_batch_normalization",
          [](NetworkDefinition& n, Tensor& input, const py::object& scale, const py::object& bias,
             const py::object& mean, const py::object& var, float eps) {
            WeightsArg s = toWeights(scale, "add_batch_normalization scale");
            WeightsArg b = toWeights(bias, "add_batch_normalization bias");
            WeightsArg mu = toWeights(mean, "add_batch_normalization mean");
            WeightsArg v = toWeights(var, "add_batch_normalization variance");
            return checked(
                n, n.addBatchNormalization(input, s.weights, b.weights, mu.weights, v.weights, eps),
                "add_batch_normalization");
          },
          py::arg("input"), py::arg("scale"), py::arg("bias"), py::arg("mean"),
          py::arg("variance"), py::arg("epsilon") = 1e-5f, kInternal)
      .def(
          "add_layer_normalization",
          [](NetworkDefinition& n, Tensor& input, Tensor& scale, Tensor* bias, int64_t axis,
             float eps) {
            return checked(n, n.addLayerNormalization(input, scale, bias, axis, eps),
                           "add_layer_normalization");
          },
          py::arg("input"), py::arg("scale"), py::arg("bias") = nullptr, py::arg("axis") = -1,
          py::arg("epsilon") = 1e-5f, kInternal)
      .def(
          "add_instance_normalization",
          [](NetworkDefinition& n, Tensor& input, Tensor& scale, Tensor& bias, float eps) {
            return checked(n, n.addInstanceNormalization(input, scale, bias, eps),
                           "add_instance_normalization");
          },
          py::arg("input"), py::arg("scale"), py::arg("bias"), py::arg("epsilon") = 1e-5f,
          kInternal)
      .def(
          "add_group_normalization",
          [](NetworkDefinition& n, Tensor& input, Tensor& scale, Tensor& bias, int64_t groups,
             float eps) {
            return checked(n, n.addGroupNormalization(input, scale, bias, groups, eps),
                           "add_group_normalization");
          },
          py::arg("input"), py::arg("scale"), py::arg("bias"), py::arg("num_groups"),
          py::arg("epsilon") = 1e-5f, kInternal)
      .def(
          "add_resize",
          [](NetworkDefinition& n, Tensor& input, kiln::ResizeMode mode,
             const std::vector<float>& scales, const Int64s& sizes, const std::string& coord,
             const std::string& nearest) {
            kiln::ResizeDesc d;
            d.mode = mode;
            d.scales = scales;
            d.sizes = sizes;
            d.coordinateTransformation = coord;
            d.nearestMode = nearest;
            return checked(n, n.addResize(input, d), "add_resize");
          },
          py::arg("input"), py::arg("mode") = kiln::ResizeMode::kNEAREST, py::kw_only(),
          py::arg("scales") = std::vector<float>{}, py::arg("sizes") = Int64s{},
          py::arg("coordinate_transformation") = "half_pixel",
          py::arg("nearest_mode") = "round_prefer_floor", kInternal,
          "Resize by `scales` or to `sizes` (one per dim), ONNX Resize semantics.")
      .def(
          "add_cast",
          [](NetworkDefinition& n, Tensor& input, kiln::DataType to) {
            return checked(n, n.addCast(input, to), "add_cast");
          },
          py::arg("input"), py::arg("to_type"), kInternal)
      .def(
          "add_identity",
          [](NetworkDefinition& n, Tensor& input) {
            return checked(n, n.addIdentity(input), "add_identity");
          },
          py::arg("input"), kInternal)
      .def(
          "add_padding",
          [](NetworkDefinition& n, Tensor& input, const Int64s& pads, const std::string& mode,
             float value) {
            return checked(n, n.addPadding(input, pads, mode.c_str(), value), "add_padding");
          },
          py::arg("input"), py::arg("pads"), py::arg("mode") = "constant", py::arg("value") = 0.f,
          kInternal, "ONNX Pad: pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...].")
      .def(
          "add_select",
          [](NetworkDefinition& n, Tensor& cond, Tensor& a, Tensor& b) {
            return checked(n, n.addSelect(cond, a, b), "add_select");
          },
          py::arg("condition"), py::arg("then_input"), py::arg("else_input"), kInternal)
      .def(
          "add_topk",
          [](NetworkDefinition& n, Tensor& input, int64_t k, int64_t axis, bool largest) {
            return checked(n, n.addTopK(input, k, axis, largest), "add_topk");
          },
          py::arg("input"), py::arg("k"), py::arg("axis") = -1, py::arg("largest") = true,
          kInternal, "Outputs 0: values, 1: int64 indices.")
      .def(
          "add_shape",
          [](NetworkDefinition& n, Tensor& input) {
            return checked(n, n.addShape(input), "add_shape");
          },
          py::arg("input"), kInternal)
      .def(
          "add_einsum",
          [](NetworkDefinition& n, const std::vector<Tensor*>& inputs, const std::string& eq) {
            std::vector<Tensor*> ts = tensorList(inputs, "add_einsum");
            return checked(n, n.addEinsum(ts, eq.c_str()), "add_einsum");
          },
          py::arg("inputs"), py::arg("equation"), kInternal)
      .def(
          "add_op",
          [](NetworkDefinition& n, const std::string& opType, const std::vector<Tensor*>& inputs,
             const py::object& attributes, int nbOutputs) {
            std::vector<kiln::Attribute> attrs;
            if (!attributes.is_none()) {
              if (!py::isinstance<py::dict>(attributes))
                throw py::type_error("add_op: attributes must be a dict {name: value}");
              for (auto item : py::reinterpret_borrow<py::dict>(attributes)) {
                std::string name = py::str(item.first).cast<std::string>();
                attrs.push_back({name, toAttributeValue(name, item.second)});
              }
            }
            return checked(n, n.addOp(opType.c_str(), inputs, attrs, nbOutputs), "add_op");
          },
          py::arg("op_type"), py::arg("inputs"), py::arg("attributes") = py::none(),
          py::arg("num_outputs") = 1, kInternal,
          "Any op of Kiln's op table with ONNX-named attributes {name: value}; None inputs are "
          "absent optional inputs.");
}

}  // namespace kiln_py
