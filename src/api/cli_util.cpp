#include "api/cli_util.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "common/half.h"
#include "common/small_float.h"

namespace kiln::cli {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits at every `sep`; keeps empty pieces so callers can report them.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Levenshtein distance (insert, delete, substitute all cost 1).
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const FlagDef* findFlag(std::string_view name, std::span<const FlagDef> defs) {
  std::string norm = normalizeFlagName(name);
  for (const FlagDef& d : defs)
    if (normalizeFlagName(d.name) == norm) return &d;
  return nullptr;
}

StatusOr<bool> parseBool(std::string_view flag, std::string_view v) {
  std::string s(v);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return invalidArgument("flag --%.*s takes true or false, got '%.*s'",
                         static_cast<int>(flag.size()), flag.data(), static_cast<int>(v.size()),
                         v.data());
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

bool ParsedArgs::flag(const std::string& name) const {
  auto it = values.find(name);
  return it != values.end() && it->second == "true";
}

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

std::string normalizeFlagName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '-' || c == '_') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string suggestFlag(std::string_view unknown, std::span<const FlagDef> defs) {
  std::string norm = normalizeFlagName(unknown);
  const FlagDef* best = nullptr;
  size_t bestDist = std::numeric_limits<size_t>::max();
  for (const FlagDef& d : defs) {
    std::string cand = normalizeFlagName(d.name);
    size_t dist = editDistance(norm, cand);
    // A prefix of a real flag ("--save" for --saveEngine) is a near miss too.
    if (norm.size() >= 3 && cand.rfind(norm, 0) == 0) dist = std::min<size_t>(dist, 1);
    if (dist < bestDist) {
      bestDist = dist;
      best = &d;
    }
  }
  // Allow roughly one typo per four letters, at least 2.
  size_t limit = std::max<size_t>(2, norm.size() / 4);
  if (best == nullptr || bestDist > limit) return "";
  return best->name;
}

StatusOr<ParsedArgs> parseArgs(std::span<const std::string> args, std::span<const FlagDef> defs) {
  ParsedArgs out;
  bool flagsEnded = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    bool looksLikeFlag = !flagsEnded && arg.size() > 1 && arg[0] == '-' &&
                         !(std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.');
    if (!looksLikeFlag) {
      out.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flagsEnded = true;
      continue;
    }
    std::string_view body(arg);
    body.remove_prefix(body.rfind("--", 0) == 0 ? 2 : 1);
    std::string_view name = body;
    std::string_view value;
    bool hasValue = false;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      hasValue = true;
    }
    const FlagDef* def = findFlag(name, defs);
    if (def == nullptr) {
      std::string msg = "unknown flag '" + std::string(arg.substr(0, arg.find('='))) + "'";
      std::string suggestion = suggestFlag(name, defs);
      if (!suggestion.empty()) msg += " (did you mean --" + suggestion + "?)";
      return invalidArgument("%s", msg.c_str());
    }
    if (def->kind == FlagKind::kBool) {
      bool v = true;
      if (hasValue) {
        KILN_ASSIGN_OR_RETURN(v, parseBool(def->name, value));
      }
      out.values[def->name] = v ? "true" : "false";
      continue;
    }
    std::string v;
    if (hasValue) {
      v = std::string(value);
    } else {
      // "--flag value": the next argument is the value unless it is itself a flag.
      if (i + 1 >= args.size() || (args[i + 1].size() > 1 && args[i + 1].rfind("--", 0) == 0))
        return invalidArgument("flag --%s needs a value (--%s=%s)", def->name, def->name,
                               def->valueName);
      v = args[++i];
    }
    if (trim(v).empty())
      return invalidArgument("flag --%s has an empty value (expected %s)", def->name,
                             def->valueName);
    auto it = out.values.find(def->name);
    if (def->kind == FlagKind::kList && it != out.values.end()) {
      it->second += "," + v;
    } else {
      out.values[def->name] = v;
    }
  }
  return out;
}

StatusOr<std::pair<std::string, std::string>> splitNameValue(std::string_view item) {
  item = trim(item);
  std::string name;
  std::string_view value;
  if (!item.empty() && item.front() == '\'') {
    size_t close = item.find('\'', 1);
    if (close == std::string_view::npos)
      return invalidArgument("%s: the name's opening quote is not closed", quoted(item).c_str());
    name = std::string(item.substr(1, close - 1));
    std::string_view rest = item.substr(close + 1);
    if (rest.empty() || rest.front() != ':')
      return invalidArgument("%s: expected ':' after the quoted name", quoted(item).c_str());
    value = rest.substr(1);
  } else {
    size_t colon = item.rfind(':');
    if (colon == std::string_view::npos)
      return invalidArgument("%s: expected name:value (no ':' found)", quoted(item).c_str());
    name = std::string(trim(item.substr(0, colon)));
    value = item.substr(colon + 1);
  }
  value = trim(value);
  if (name.empty()) return invalidArgument("%s: the name is empty", quoted(item).c_str());
  if (value.empty())
    return invalidArgument("%s: nothing after the name '%s'", quoted(item).c_str(), name.c_str());
  return std::make_pair(name, std::string(value));
}

StatusOr<std::vector<int64_t>> parseDims(std::string_view text) {
  text = trim(text);
  if (text.empty()) return invalidArgument("empty dimensions");
  std::vector<int64_t> dims;
  for (std::string_view piece : split(text, 'x')) {
    piece = trim(piece);
    if (piece.empty())
      return invalidArgument("dimensions '%.*s': an empty dimension", static_cast<int>(text.size()),
                             text.data());
    int64_t v = 0;
    for (char c : piece) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return invalidArgument(
            "dimensions '%.*s': '%.*s' is not a non-negative integer (write dims as 1x3x224x224)",
            static_cast<int>(text.size()), text.data(), static_cast<int>(piece.size()),
            piece.data());
      if (v > (std::numeric_limits<int64_t>::max() - 9) / 10)
        return invalidArgument("dimensions '%.*s': '%.*s' is too large",
                               static_cast<int>(text.size()), text.data(),
                               static_cast<int>(piece.size()), piece.data());
      v = v * 10 + (c - '0');
    }
    dims.push_back(v);
  }
  if (dims.size() > static_cast<size_t>(Dims::kMaxDims))
    return invalidArgument("dimensions '%.*s': %zu dims, at most %d are supported",
                           static_cast<int>(text.size()), text.data(), dims.size(), Dims::kMaxDims);
  return dims;
}

StatusOr<std::vector<ShapeSpec>> parseShapeSpecs(std::string_view text) {
  std::vector<ShapeSpec> out;
  std::set<std::string> seen;
  for (std::string_view item : split(text, ',')) {
    if (trim(item).empty())
      return invalidArgument("shapes '%.*s': an empty entry", static_cast<int>(text.size()),
                             text.data());
    auto nv = splitNameValue(item);
    if (!nv.isOk()) return nv.status().withContext("shape spec");
    auto dims = parseDims(nv->second);
    if (!dims.isOk()) return dims.status().withContext("shape of '" + nv->first + "'");
    if (!seen.insert(nv->first).second)
      return invalidArgument("shape spec: input '%s' is given twice", nv->first.c_str());
    out.push_back({nv->first, std::move(dims).value()});
  }
  return out;
}

StatusOr<uint64_t> parseSize(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return invalidArgument("empty size");
  double unit = 1024.0 * 1024.0;  // MiB, trtexec's default unit
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(s.back())));
  if (last == 'K' || last == 'M' || last == 'G') {
    unit = last == 'K' ? 1024.0 : last == 'M' ? 1024.0 * 1024.0 : 1024.0 * 1024.0 * 1024.0;
    s.remove_suffix(1);
  }
  // Only digits with at most one '.': no signs, exponents or hex.
  int dots = 0;
  for (char c : s) {
    if (c == '.')
      ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c)))
      dots = 99;
  }
  if (s.empty() || dots > 1 || s == ".")
    return invalidArgument("size '%.*s' is not a number with an optional K, M or G suffix",
                           static_cast<int>(text.size()), text.data());
  double v = std::strtod(std::string(s).c_str(), nullptr) * unit;
  if (!(v < 9.2e18))
    return invalidArgument("size '%.*s' is too large", static_cast<int>(text.size()), text.data());
  return static_cast<uint64_t>(std::llround(v));
}

StatusOr<std::map<std::string, uint64_t>> parseMemPoolSpec(std::string_view text) {
  std::map<std::string, uint64_t> out;
  for (std::string_view item : split(text, ',')) {
    auto nv = splitNameValue(item);
    if (!nv.isOk()) return nv.status().withContext("memory pool spec");
    std::string pool = normalizeFlagName(nv->first);
    if (pool != "workspace")
      return invalidArgument("memory pool '%s' does not exist in Kiln (only 'workspace')",
                             nv->first.c_str());
    auto bytes = parseSize(nv->second);
    if (!bytes.isOk()) return bytes.status().withContext("memory pool '" + nv->first + "'");
    out["workspace"] = *bytes;
  }
  return out;
}

StatusOr<std::vector<std::pair<std::string, DataType>>> parseLayerPrecisions(
    std::string_view text) {
  std::string spec(text);
  std::string where = "--layerPrecisions";
  const bool fromFile = !spec.empty() && spec[0] == '@';
  if (fromFile) {
    const std::string path = spec.substr(1);
    std::ifstream f(path);
    if (!f) return invalidArgument("--layerPrecisions: cannot read the file '%s'", path.c_str());
    spec.clear();
    std::string line;
    while (std::getline(f, line)) {
      const size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      if (!trim(line).empty())
        spec += std::string(spec.empty() ? "" : ",") + std::string(trim(line));
    }
    where += " file '" + path + "'";
  }
  std::vector<std::pair<std::string, DataType>> out;
  for (std::string_view item : split(spec, ',')) {
    const std::string_view entry = trim(item);
    if (entry.empty()) continue;
    const size_t colon = entry.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size())
      return invalidArgument("%s: '%s' is not <layer>:<precision>", where.c_str(),
                             std::string(entry).c_str());
    const std::string layer(trim(entry.substr(0, colon)));
    std::string prec(trim(entry.substr(colon + 1)));
    std::transform(prec.begin(), prec.end(), prec.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    DataType t;
    if (prec == "fp32" || prec == "float32" || prec == "float") {
      t = DataType::kFLOAT;
    } else if (prec == "fp16" || prec == "float16" || prec == "half") {
      t = DataType::kHALF;
    } else {
      return invalidArgument("%s: precision '%s' of layer '%s' is not fp32 or fp16", where.c_str(),
                             prec.c_str(), layer.c_str());
    }
    out.emplace_back(layer, t);
  }
  // A file with only comments and blank lines pins nothing (`kiln debug precision` writes one
  // when no layer needs float32); an empty spec on the command line is a mistake.
  if (out.empty() && !fromFile)
    return invalidArgument("%s: no <layer>:<precision> entry", where.c_str());
  return out;
}

StatusOr<std::vector<InputFileSpec>> parseLoadInputsSpec(std::string_view text) {
  std::vector<InputFileSpec> out;
  std::set<std::string> seen;
  for (std::string_view item : split(text, ',')) {
    if (trim(item).empty()) return invalidArgument("load-inputs spec: an empty entry");
    auto nv = splitNameValue(item);
    if (!nv.isOk()) return nv.status().withContext("load-inputs spec (name:file)");
    if (!seen.insert(nv->first).second)
      return invalidArgument("load-inputs spec: input '%s' is given twice", nv->first.c_str());
    out.push_back({nv->first, nv->second});
  }
  return out;
}

Dims toDims(const std::vector<int64_t>& dims) {
  Dims d;
  d.nbDims = static_cast<int32_t>(std::min<size_t>(dims.size(), Dims::kMaxDims));
  for (int i = 0; i < d.nbDims; ++i) d.d[i] = dims[i];
  return d;
}

StatusOr<uint64_t> tensorBytes(const Dims& dims, DataType type, const std::string& name) {
  constexpr uint64_t kLimit = uint64_t{1} << 62;
  uint64_t bytes = dataTypeSize(type);
  for (int i = 0; i < dims.nbDims; ++i) {
    if (dims.d[i] < 0)
      return invalidArgument("tensor '%s': shape %s has a negative dim", name.c_str(),
                             dims.toString().c_str());
    uint64_t d = static_cast<uint64_t>(dims.d[i]);
    if (d != 0 && bytes > kLimit / d)
      return resourceExhausted("tensor '%s': shape %s (%s) is too large to allocate", name.c_str(),
                               dims.toString().c_str(), dataTypeName(type));
    bytes *= d;
  }
  return bytes;
}

StatusOr<std::vector<uint8_t>> readTensorFile(const std::string& path, const std::string& inputName,
                                              const Dims& dims, DataType type) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return ioError("input '%s': file '%s' does not exist or is not a regular file",
                   inputName.c_str(), path.c_str());
  uint64_t actual = std::filesystem::file_size(path, ec);
  if (ec)
    return ioError("input '%s': cannot read '%s': %s", inputName.c_str(), path.c_str(),
                   ec.message().c_str());
  KILN_ASSIGN_OR_RETURN(uint64_t expected, tensorBytes(dims, type, inputName));
  if (actual != expected)
    return invalidArgument(
        "input '%s': file '%s' has %llu bytes, expected %llu (shape %s, %s, %zu bytes each)",
        inputName.c_str(), path.c_str(), static_cast<unsigned long long>(actual),
        static_cast<unsigned long long>(expected), dims.toString().c_str(), dataTypeName(type),
        dataTypeSize(type));
  std::vector<uint8_t> bytes(expected);
  std::ifstream in(path, std::ios::binary);
  if (expected > 0 &&
      !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(expected)))
    return ioError("input '%s': reading '%s' failed", inputName.c_str(), path.c_str());
  return bytes;
}

void fillRandom(DataType type, void* data, int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  std::uniform_int_distribution<int> small(0, 3);
  std::uniform_int_distribution<int> bit(0, 1);
  auto fill = [&](auto* p, auto gen) {
    for (int64_t i = 0; i < count; ++i) p[i] = gen();
  };
  switch (type) {
    case DataType::kFLOAT: fill(static_cast<float*>(data), [&] { return real(rng); }); return;
    case DataType::kDOUBLE:
      fill(static_cast<double*>(data), [&] { return static_cast<double>(real(rng)); });
      return;
    case DataType::kHALF:
      fill(static_cast<uint16_t*>(data), [&] { return floatToHalfBits(real(rng)); });
      return;
    case DataType::kBF16:
      fill(static_cast<uint16_t*>(data), [&] { return floatToBf16Bits(real(rng)); });
      return;
    case DataType::kBOOL:
      fill(static_cast<uint8_t*>(data), [&] { return static_cast<uint8_t>(bit(rng)); });
      return;
    case DataType::kINT8:
      fill(static_cast<int8_t*>(data), [&] { return static_cast<int8_t>(small(rng)); });
      return;
    case DataType::kUINT8:
      fill(static_cast<uint8_t*>(data), [&] { return static_cast<uint8_t>(small(rng)); });
      return;
    case DataType::kINT16:
      fill(static_cast<int16_t*>(data), [&] { return static_cast<int16_t>(small(rng)); });
      return;
    case DataType::kUINT16:
      fill(static_cast<uint16_t*>(data), [&] { return static_cast<uint16_t>(small(rng)); });
      return;
    case DataType::kINT32:
      fill(static_cast<int32_t*>(data), [&] { return static_cast<int32_t>(small(rng)); });
      return;
    case DataType::kUINT32:
      fill(static_cast<uint32_t*>(data), [&] { return static_cast<uint32_t>(small(rng)); });
      return;
    case DataType::kINT64:
      fill(static_cast<int64_t*>(data), [&] { return static_cast<int64_t>(small(rng)); });
      return;
    case DataType::kUINT64:
      fill(static_cast<uint64_t*>(data), [&] { return static_cast<uint64_t>(small(rng)); });
      return;
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1:
      fill(static_cast<uint8_t*>(data), [&] { return floatToSmallFloat(type, real(rng), true); });
      return;
    case DataType::kINT4:
    case DataType::kUINT4:
    case DataType::kINT2:
    case DataType::kUINT2:  // stored unpacked, one element per byte
      fill(static_cast<uint8_t*>(data), [&] { return wrapToSubByte(type, small(rng)); });
      return;
  }
}

namespace {

std::string formatReal(double v, int digits) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

template <typename T>
T load(const void* data, int64_t index) {
  T v;
  std::memcpy(&v, static_cast<const char*>(data) + index * static_cast<int64_t>(sizeof(T)),
              sizeof(T));
  return v;
}

}  // namespace

std::string formatElement(DataType type, const void* data, int64_t index) {
  switch (type) {
    case DataType::kFLOAT: return formatReal(load<float>(data, index), 9);
    case DataType::kDOUBLE: return formatReal(load<double>(data, index), 17);
    case DataType::kHALF: return formatReal(halfBitsToFloat(load<uint16_t>(data, index)), 9);
    case DataType::kBF16: return formatReal(bf16BitsToFloat(load<uint16_t>(data, index)), 9);
    case DataType::kBOOL: return load<uint8_t>(data, index) ? "1" : "0";
    case DataType::kINT8: return std::to_string(load<int8_t>(data, index));
    case DataType::kUINT8: return std::to_string(load<uint8_t>(data, index));
    case DataType::kINT16: return std::to_string(load<int16_t>(data, index));
    case DataType::kUINT16: return std::to_string(load<uint16_t>(data, index));
    case DataType::kINT32: return std::to_string(load<int32_t>(data, index));
    case DataType::kUINT32: return std::to_string(load<uint32_t>(data, index));
    case DataType::kINT64: return std::to_string(load<int64_t>(data, index));
    case DataType::kUINT64: return std::to_string(load<uint64_t>(data, index));
    case DataType::kFP8E4M3FN:
    case DataType::kFP8E4M3FNUZ:
    case DataType::kFP8E5M2:
    case DataType::kFP8E5M2FNUZ:
    case DataType::kFP8E8M0:
    case DataType::kFP4E2M1:
      return formatReal(smallFloatToFloat(type, load<uint8_t>(data, index)), 9);
    case DataType::kINT4:
    case DataType::kINT2: return std::to_string(load<int8_t>(data, index));
    case DataType::kUINT4:
    case DataType::kUINT2: return std::to_string(load<uint8_t>(data, index));
  }
  return "null";
}

Stats computeStats(std::vector<double> values) {
  Stats s;
  s.count = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  s.min = values.front();
  s.max = values.back();
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(n);
  s.median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  // Nearest rank with integer math, so 99% of 100 samples is exactly the 99th value.
  auto pct = [&](size_t p) {
    size_t rank = (p * n + 99) / 100;  // ceil(p * n / 100)
    return values[std::max<size_t>(rank, 1) - 1];
  };
  s.p90 = pct(90);
  s.p95 = pct(95);
  s.p99 = pct(99);
  return s;
}

}  // namespace kiln::cli
