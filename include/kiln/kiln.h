// Kiln: inference optimizer and runtime. Include this one header for the whole public API.
#pragma once

#include "kiln/builder.h"
#include "kiln/network.h"
#include "kiln/onnx_parser.h"
#include "kiln/plugin.h"
#include "kiln/runtime.h"
#include "kiln/types.h"
