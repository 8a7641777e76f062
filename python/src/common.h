// Shared pieces of the `kiln` Python module: the Dims <-> tuple caster, the exception type that
// becomes kiln.Error, and weights/array conversion. Only the public API (include/kiln) is used.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "kiln/kiln.h"

namespace py = pybind11;

// Any sequence of ints (tuple, list, numpy shape) <-> kiln::Dims. Dims come back as tuples, so
// `tensor.shape == (1, 3, 8, 8)` reads naturally; nbDims < 0 (unknown tensor) becomes None.
namespace pybind11::detail {
template <>
struct type_caster<kiln::Dims> {
  PYBIND11_TYPE_CASTER(kiln::Dims, const_name("tuple[int, ...]"));

  bool load(handle src, bool) {
    if (!src || PyUnicode_Check(src.ptr()) || PyBytes_Check(src.ptr()) ||
        !PySequence_Check(src.ptr()))
      return false;
    sequence seq = reinterpret_borrow<sequence>(src);
    if (seq.size() > static_cast<size_t>(kiln::Dims::kMaxDims))
      throw value_error("a shape has at most " + std::to_string(kiln::Dims::kMaxDims) +
                        " dims, got " + std::to_string(seq.size()));
    kiln::Dims dims;
    dims.nbDims = static_cast<int32_t>(seq.size());
    for (size_t i = 0; i < seq.size(); ++i) {
      object item = seq[i];
      // __index__ accepts Python ints and numpy integers but not floats.
      PyObject* index = PyNumber_Index(item.ptr());
      if (!index) {
        PyErr_Clear();
        return false;
      }
      long long v = PyLong_AsLongLong(index);
      Py_DECREF(index);
      if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return false;
      }
      dims.d[i] = v;
    }
    value = dims;
    return true;
  }

  static handle cast(const kiln::Dims& dims, return_value_policy, handle) {
    if (dims.nbDims < 0) return none().release();
    tuple t(dims.nbDims);
    for (int i = 0; i < dims.nbDims; ++i) t[i] = int_(dims.d[i]);
    return t.release();
  }
};
}  // namespace pybind11::detail

namespace kiln_py {

// Raised for every failed call; registered as kiln.Error (a RuntimeError).
class KilnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void raiseError(const std::string& what, const std::string& detail) {
  throw KilnError(detail.empty() ? what : what + ": " + detail);
}

// numpy dtype (kind character, itemsize) -> Kiln DataType; false when Kiln has no such type.
bool dataTypeFromNumpy(char kind, size_t itemsize, kiln::DataType* out);

// Weights from a Python object: None (no weights), a numpy array (its own dtype) or anything
// numpy can turn into float32 (lists, scalars). Holds the contiguous array the view points at;
// networks copy weights when a layer is added, so the holder only needs to outlive that call.
struct WeightsArg {
  py::object keep;
  kiln::Weights weights;
};
WeightsArg toWeights(const py::object& obj, const char* what);

// Registered in bind_network.cpp.
void bindNetwork(py::module_& m);

}  // namespace kiln_py
