#!/usr/bin/env python3
# Produces the Resize expected values embedded in tests/ops/shape_op_test.cpp (ResizeTest).
# Run OFFLINE: python3 tests/ops/gen_resize_expected.py  (numpy 2.3.5, onnx 1.19.1). It runs
# onnx.reference.ReferenceEvaluator (an independent implementation) on each case and prints
# the output shape and values as C++ literals.
# Generates Resize expected values with onnx.reference.ReferenceEvaluator (onnx 1.19.1).
import numpy as np, onnx
from onnx import helper, TensorProto
from onnx.reference import ReferenceEvaluator

def run(x, attrs, roi=None, scales=None, sizes=None):
    inputs = ["X", "roi" if roi is not None else "", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
    while inputs and inputs[-1] == "": inputs.pop()
    node = helper.make_node("Resize", inputs, ["Y"], **attrs)
    ins = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x.shape)]
    feeds = {"X": x}
    if roi is not None: ins.append(helper.make_tensor_value_info("roi", TensorProto.FLOAT, [len(roi)])); feeds["roi"] = np.array(roi, np.float32)
    if scales is not None: ins.append(helper.make_tensor_value_info("scales", TensorProto.FLOAT, [len(scales)])); feeds["scales"] = np.array(scales, np.float32)
    if sizes is not None: ins.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, [len(sizes)])); feeds["sizes"] = np.array(sizes, np.int64)
    g = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(m).run(None, feeds)[0]

x4 = np.array([((i * 7) % 12) / 4.0 - 1.3 for i in range(12)], np.float32).reshape(1, 1, 3, 4)
x3 = np.array([((i * 5) % 24) / 8.0 - 1.1 for i in range(24)], np.float32).reshape(2, 3, 4)
cases = [
  ("NearestHalfPixelPreferFloor", x4, dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor"), dict(scales=[1,1,1.5,0.75])),
  ("NearestAsymmetricPreferCeil", x4, dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="round_prefer_ceil"), dict(sizes=[1,1,5,7])),
  ("NearestAlignCornersFloor", x4, dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="floor"), dict(scales=[1,1,2,2])),
  ("NearestPytorchCeil", x4, dict(mode="nearest", coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="ceil"), dict(sizes=[1,1,1,3])),
  ("LinearHalfPixel", x4, dict(mode="linear", coordinate_transformation_mode="half_pixel"), dict(scales=[1,1,2,1.5])),
  ("LinearAlignCorners", x4, dict(mode="linear", coordinate_transformation_mode="align_corners"), dict(sizes=[1,1,4,7])),
  ("LinearAsymmetricDown", x4, dict(mode="linear", coordinate_transformation_mode="asymmetric"), dict(scales=[1,1,0.5,0.5])),
  ("LinearPytorchHalfPixel", x4, dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), dict(sizes=[1,1,5,1])),
  ("LinearHalfPixelSymmetric", x4, dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric"), dict(scales=[1,1,1.7,0.8])),
  ("LinearTfCropAndResize", x4, dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.5), dict(roi=[0,0,0.2,0.1,1,1,0.9,1.2], sizes=[1,1,4,5])),
  ("CubicHalfPixel", x4, dict(mode="cubic", coordinate_transformation_mode="half_pixel"), dict(scales=[1,1,2,2])),
  ("CubicAlignCornersExclude", x4, dict(mode="cubic", coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.5, exclude_outside=1), dict(sizes=[1,1,5,3])),
  ("CubicAsymmetricDown", x4, dict(mode="cubic", coordinate_transformation_mode="asymmetric"), dict(scales=[1,1,0.8,0.6])),
  ("LinearAxesNotLarger", x4, dict(mode="linear", axes=[2,3], keep_aspect_ratio_policy="not_larger"), dict(sizes=[5,9])),
  ("NearestAxesNotSmaller", x4, dict(mode="nearest", axes=[3,2], keep_aspect_ratio_policy="not_smaller"), dict(sizes=[6,4])),
  ("Trilinear", x3, dict(mode="linear"), dict(scales=[2,1.5,0.5])),
]
def fl(v): return ", ".join("%.9g" % f for f in np.asarray(v).ravel())
out = []
for name, x, attrs, kw in cases:
    y = run(x, attrs, **kw)
    out.append((name, x.shape, attrs, kw, y))
    print("//", name, attrs, kw, "->", list(y.shape))
    print("{%s}, {%s}" % (", ".join(map(str, y.shape)), fl(y)))
print("x4:", fl(x4)); print("x3:", fl(x3))
