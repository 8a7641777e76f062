"""Kiln: inference optimizer and runtime, with a TensorRT-style Python API.

    import kiln, numpy as np
    logger = kiln.Logger(kiln.Logger.WARNING)
    builder = kiln.Builder(logger)
    network = builder.create_network()
    parser = kiln.OnnxParser(network, logger)
    parser.parse_from_file("model.onnx")
    config = builder.create_builder_config()
    plan = builder.build_serialized_network(network, config)
    engine = kiln.Runtime(logger).deserialize_cuda_engine(plan)
    context = engine.create_execution_context()
    outputs = context.infer({"x": np.random.rand(1, 3, 224, 224).astype(np.float32)})

See docs/python.md. Failures raise kiln.Error (a RuntimeError) with the library's message.
"""
from . import _kiln
from ._kiln import *  # noqa: F401,F403 (every public class and enum of the extension)
from ._kiln import Error, OnnxParseError, __version__, version_string  # noqa: F401
from ._kiln import DataType, ExecutionContext
from ._arrays import as_host_array, from_numpy_dtype, nptype  # noqa: F401
from . import _arrays

# The C++ name, for readers of the C++ docs: kiln.versionString() == kiln.__version__.
versionString = version_string

# Data type aliases (as in TensorRT: trt.float32 is trt.DataType.FLOAT).
float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
float64 = DataType.DOUBLE
int8 = DataType.INT8
int16 = DataType.INT16
int32 = DataType.INT32
int64 = DataType.INT64
uint8 = DataType.UINT8
uint16 = DataType.UINT16
uint32 = DataType.UINT32
uint64 = DataType.UINT64
bool = DataType.BOOL  # noqa: A001 (mirrors trt.bool; left out of __all__ so `import *` keeps the builtin)

_arrays.install(ExecutionContext)

__all__ = [n for n in dir(_kiln) if not n.startswith("_")] + [
    "__version__", "versionString", "nptype", "from_numpy_dtype", "as_host_array",
    "float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64", "uint8",
    "uint16", "uint32", "uint64",
]
