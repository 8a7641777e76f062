"""Array interop for kiln.ExecutionContext: numpy, DLPack and the buffer protocol.

Binding never copies: `set_tensor_address(name, array)` passes the array's own memory to the
engine when it is C-contiguous and of the tensor's dtype, and refuses it otherwise (a silent
copy would leave an output unwritten). `infer()` is the convenience path: it converts inputs
(copying only when needed), allocates outputs and runs.

On the CPU backend every tensor lives in host memory. A DLPack object on a CPU device (kDLCPU,
kDLCUDAHost) is viewed through numpy.from_dlpack without a copy; GPU memory (a CUDA DLPack
device or __cuda_array_interface__) needs an engine on the GPU backend.
"""
import numbers

import numpy as np

from . import _kiln
from ._kiln import DataType, Error, HostOutputAllocator, TensorIOMode

_NP_OF_KILN = {
    DataType.FLOAT: np.dtype(np.float32),
    DataType.HALF: np.dtype(np.float16),
    DataType.DOUBLE: np.dtype(np.float64),
    DataType.INT8: np.dtype(np.int8),
    DataType.INT16: np.dtype(np.int16),
    DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64),
    DataType.UINT8: np.dtype(np.uint8),
    DataType.UINT16: np.dtype(np.uint16),
    DataType.UINT32: np.dtype(np.uint32),
    DataType.UINT64: np.dtype(np.uint64),
    DataType.BOOL: np.dtype(np.bool_),
}

_DLPACK_HOST_DEVICES = (1, 3)  # kDLCPU, kDLCUDAHost (pinned host memory)
_DLPACK_DEVICE_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan",
                        8: "Metal", 10: "ROCm", 13: "CUDA managed", 14: "oneAPI"}


# Kiln types whose numpy dtype comes from ml_dtypes (each stores one element per byte, as Kiln
# does, so arrays bind without conversion). float8e8m0 has no ml_dtypes equivalent used here.
_ML_DTYPES_OF_KILN = {
    "BF16": "bfloat16", "FP8E4M3FN": "float8_e4m3fn", "FP8E4M3FNUZ": "float8_e4m3fnuz",
    "FP8E5M2": "float8_e5m2", "FP8E5M2FNUZ": "float8_e5m2fnuz", "INT4": "int4", "UINT4": "uint4",
    "INT2": "int2", "UINT2": "uint2", "FP4E2M1": "float4_e2m1fn",
}


def _ml_dtype(name):
    """np.dtype of ml_dtypes.<name>, or None (ml_dtypes missing or too old)."""
    try:
        import ml_dtypes  # optional: numpy has none of these types
        return np.dtype(getattr(ml_dtypes, name))
    except (ImportError, AttributeError, TypeError):
        return None


def nptype(dtype):
    """The numpy dtype of a kiln.DataType (like tensorrt.nptype)."""
    ml = _ML_DTYPES_OF_KILN.get(getattr(dtype, "name", ""))
    if ml is not None:
        dt = _ml_dtype(ml)
        if dt is None:
            raise TypeError(f"kiln.DataType.{dtype.name} has no numpy dtype (install ml_dtypes "
                            f"for ml_dtypes.{ml})")
        return dt
    try:
        return _NP_OF_KILN[dtype]
    except KeyError:
        raise TypeError(f"not a kiln.DataType (or one without a numpy dtype): {dtype!r}") from None


def from_numpy_dtype(dtype):
    """The kiln.DataType of a numpy dtype (or anything np.dtype() accepts)."""
    dt = np.dtype(dtype)
    for k, v in _NP_OF_KILN.items():
        if v == dt:
            return k
    for name, ml in _ML_DTYPES_OF_KILN.items():
        if _ml_dtype(ml) == dt:
            return getattr(DataType, name)
    raise TypeError(f"numpy dtype {dt} has no kiln.DataType")


def as_host_array(obj, what="array"):
    """A numpy view of `obj`'s host memory, without copying when `obj` is a numpy array, a
    CPU DLPack object or a buffer. Lists and scalars become new arrays."""
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__dlpack__"):
        device = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
        if int(device) not in _DLPACK_HOST_DEVICES:
            name = _DLPACK_DEVICE_NAMES.get(int(device), f"type {int(device)}")
            raise Error(f"{what}: the DLPack tensor is on a {name} device; this engine runs on "
                        "the CPU backend and needs host memory (e.g. tensor.cpu())")
        return np.from_dlpack(obj)
    if hasattr(obj, "__cuda_array_interface__"):
        raise Error(f"{what}: a __cuda_array_interface__ object is GPU memory; this engine "
                    "runs on the CPU backend and needs host memory")
    return np.asarray(obj)


def _bound(ctx):
    """{tensor name: array} this context reads or writes; holding them keeps them alive."""
    return ctx.__dict__.setdefault("_kiln_bound", {})


def _check_binding(ctx, name, memory):
    engine = ctx.engine
    mode = engine.get_tensor_mode(name)
    if mode == TensorIOMode.NONE:
        engine.get_tensor_dtype(name)  # raises kiln.Error naming the engine's tensors
    want = nptype(engine.get_tensor_dtype(name))
    arr = as_host_array(memory, f"tensor '{name}'")
    if arr.dtype != want:
        raise Error(f"tensor '{name}' is {want}, got an array of {arr.dtype} "
                    f"(convert it first, e.g. arr.astype(np.{want.name}))")
    if not arr.flags.c_contiguous:
        raise Error(f"tensor '{name}': the array is not C-contiguous "
                    "(use np.ascontiguousarray first)")
    if mode == TensorIOMode.OUTPUT and not arr.flags.writeable:
        raise Error(f"output tensor '{name}': the array is read-only")
    return arr


def set_tensor_address(self, name, memory):
    """Binds memory for an I/O tensor: an int address (host pointer on the CPU backend), or an
    array-like (numpy array, CPU DLPack tensor, buffer) of the tensor's dtype, C-contiguous,
    used in place. The context keeps a bound array alive until it is rebound."""
    bound = _bound(self)
    if isinstance(memory, numbers.Integral) and not isinstance(memory, bool):
        self._set_tensor_address_ptr(name, int(memory))
        bound.pop(name, None)
        return True
    arr = _check_binding(self, name, memory)
    self._set_tensor_address_ptr(name, arr.ctypes.data)
    bound[name] = arr
    return True


def _check_bound_sizes(ctx):
    """Refuses to run when a bound array is smaller than its tensor's current shape needs (the
    engine would read or write past it)."""
    engine = ctx.engine
    for name, arr in _bound(ctx).items():
        shape = ctx.get_tensor_shape(name)
        if shape is None or any(d < 0 for d in shape):
            continue  # the engine reports unset input shapes itself
        need = int(np.prod(shape, dtype=np.int64)) * engine.get_tensor_dtype(name).itemsize
        if arr.nbytes < need:
            raise Error(f"tensor '{name}': the bound array holds {arr.nbytes} bytes but shape "
                        f"{tuple(shape)} needs {need}")


def execute_v2(self, bindings=None):
    """Runs synchronously. `bindings` (optional) lists addresses or arrays in I/O tensor order."""
    if bindings is not None:
        names = self.engine.io_tensor_names
        if len(bindings) != len(names):
            raise Error(f"execute_v2: {len(bindings)} bindings for {len(names)} I/O tensors")
        for name, b in zip(names, bindings):
            set_tensor_address(self, name, b)
    _check_bound_sizes(self)
    return self._execute_v2()


def execute_async_v3(self, stream_handle=0):
    """Runs on a CUDA stream (an int handle, or an object with .cuda_stream such as
    torch.cuda.Stream); the CPU backend runs synchronously."""
    stream = getattr(stream_handle, "cuda_stream", stream_handle)
    _check_bound_sizes(self)
    return self._execute_async_v3(int(stream or 0))


def infer(self, feeds, out=None):
    """Runs the engine on {input name: array-like} and returns {output name: np.ndarray}.

    Sets every input shape from its array, converts inputs to the engine's dtypes (no copy when
    already right), allocates outputs (or writes into the arrays given in `out`) and runs."""
    engine = self.engine
    names = engine.io_tensor_names
    inputs = [n for n in names if engine.get_tensor_mode(n) == TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == TensorIOMode.OUTPUT]
    unknown = sorted(set(feeds) - set(inputs))
    if unknown:
        raise Error(f"infer: unknown input name(s) {unknown}; the engine's inputs are {inputs}")
    missing = [n for n in inputs if n not in feeds]
    if missing:
        raise Error(f"infer: missing input(s) {missing}")
    out = dict(out or {})
    bad_out = sorted(set(out) - set(outputs))
    if bad_out:
        raise Error(f"infer: unknown output name(s) {bad_out}; the engine's outputs are "
                    f"{outputs}")
    for name in inputs:
        arr = np.asarray(as_host_array(feeds[name], f"input '{name}'"),
                         dtype=nptype(engine.get_tensor_dtype(name)), order="C")
        self.set_input_shape(name, arr.shape)
        set_tensor_address(self, name, arr)
    results = {}
    placed = {}  # data-dependent outputs (-1 dims): filled by an allocator during the run
    for name in outputs:
        shape = tuple(self.get_tensor_shape(name))
        if any(d < 0 for d in shape) and name not in out:
            placed[name] = HostOutputAllocator()
            self.set_output_allocator(name, placed[name])
            continue
        if name in out:
            arr = as_host_array(out[name], f"output '{name}'")
            if arr.shape != shape:
                raise Error(f"infer: out['{name}'] has shape {arr.shape}, the output is {shape}")
        else:
            arr = np.empty(shape, dtype=nptype(engine.get_tensor_dtype(name)))
        set_tensor_address(self, name, arr)
        results[name] = arr
    execute_v2(self)
    for name, alloc in placed.items():
        results[name] = alloc.to_numpy(nptype(engine.get_tensor_dtype(name)))
    return {name: results[name] for name in outputs}


def install(context_class):
    """Adds the array-aware methods to kiln.ExecutionContext."""
    context_class.set_tensor_address = set_tensor_address
    context_class.execute_v2 = execute_v2
    context_class.execute_async_v3 = execute_async_v3
    context_class.infer = infer


__all__ = ["nptype", "from_numpy_dtype", "as_host_array"]
_ = _kiln  # the extension is imported for its side effects on the classes above
