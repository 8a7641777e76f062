// libFuzzer target: the `kiln` command line's text parsers (src/api/cli_util.h).
//
// The first byte picks the parser, the rest is its text:
//   0 parseShapeSpecs (then toDims and tensorBytes of each shape, for every data type)
//   1 parseDims   2 parseSize   3 parseMemPoolSpec   4 parseLoadInputsSpec   5 splitNameValue
//   6 parseArgs   (the text split at NUL bytes into arguments, against a small flag table)
//   7 readTensorFile (the text written to a file, read back for a shape given by byte 1..)
// Invariants checked beyond "no crash": accepted dims are non-negative and at most
// Dims::kMaxDims; accepted shape names are non-empty and unique; refusals carry a message.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/cli_util.h"

namespace {

using kiln::cli::FlagDef;
using kiln::cli::FlagKind;

constexpr FlagDef kFlags[] = {
    {"onnx", FlagKind::kValue, "<file>", "model"},
    {"saveEngine", FlagKind::kValue, "<file>", "plan"},
    {"fp16", FlagKind::kBool, "", "fp16"},
    {"shapes", FlagKind::kList, "<spec>", "shapes"},
    {"minShapes", FlagKind::kList, "<spec>", "min shapes"},
    {"iterations", FlagKind::kValue, "<n>", "iterations"},
};

template <typename T>
void expectMessage(const kiln::StatusOr<T>& r) {
  if (!r.isOk() && r.status().message().empty()) std::abort();
}

void checkDims(const std::vector<int64_t>& dims) {
  if (dims.size() > static_cast<size_t>(kiln::Dims::kMaxDims)) std::abort();
  for (int64_t d : dims)
    if (d < 0) std::abort();
}

const kiln::DataType kTypes[] = {kiln::DataType::kFLOAT, kiln::DataType::kHALF, kiln::DataType::kINT8,
                                 kiln::DataType::kINT64, kiln::DataType::kBOOL, kiln::DataType::kDOUBLE};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 8) {
    case 0: {
      auto specs = kiln::cli::parseShapeSpecs(text);
      expectMessage(specs);
      if (!specs.isOk()) break;
      std::set<std::string> names;
      for (const auto& s : *specs) {
        if (s.name.empty() || !names.insert(s.name).second) std::abort();
        checkDims(s.dims);
        kiln::Dims d = kiln::cli::toDims(s.dims);
        if (d.nbDims != static_cast<int32_t>(s.dims.size())) std::abort();
        for (kiln::DataType t : kTypes) expectMessage(kiln::cli::tensorBytes(d, t, s.name));
      }
      break;
    }
    case 1: {
      auto dims = kiln::cli::parseDims(text);
      expectMessage(dims);
      if (dims.isOk()) checkDims(*dims);
      break;
    }
    case 2:
      expectMessage(kiln::cli::parseSize(text));
      break;
    case 3:
      expectMessage(kiln::cli::parseMemPoolSpec(text));
      break;
    case 4: {
      auto specs = kiln::cli::parseLoadInputsSpec(text);
      expectMessage(specs);
      if (specs.isOk())
        for (const auto& s : *specs)
          if (s.name.empty()) std::abort();
      break;
    }
    case 5:
      expectMessage(kiln::cli::splitNameValue(text));
      break;
    case 6: {
      std::vector<std::string> args;
      size_t start = 0;
      for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '\0') {
          args.emplace_back(text.substr(start, i - start));
          start = i + 1;
        }
      }
      auto parsed = kiln::cli::parseArgs(args, kFlags);
      expectMessage(parsed);
      (void)kiln::cli::suggestFlag(text.substr(0, 64), kFlags);
      break;
    }
    case 7: {
      // Shape from the first bytes: rank (0..4) then dims (0..15); the rest is the file.
      if (text.size() < 5) break;
      kiln::Dims dims;
      dims.nbDims = static_cast<uint8_t>(text[0]) % 5;
      for (int i = 0; i < dims.nbDims; ++i) dims.d[i] = static_cast<uint8_t>(text[1 + i]) % 16;
      kiln::DataType type = kTypes[static_cast<uint8_t>(text[0]) / 5 % 6];
      std::string_view body = text.substr(5);
      static const std::string path = "/tmp/kiln_cli_fuzz_" + std::to_string(getpid()) + ".bin";
      FILE* f = std::fopen(path.c_str(), "wb");
      if (!f) std::abort();
      if (!body.empty()) std::fwrite(body.data(), 1, body.size(), f);
      std::fclose(f);
      auto bytes = kiln::cli::readTensorFile(path, "x", dims, type);
      expectMessage(bytes);
      if (bytes.isOk() && bytes->size() != body.size()) std::abort();
      break;
    }
  }
  return 0;
}
