#include "tensor_io.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>

#include "api/cli_util.h"
#include "json_writer.h"

namespace kiln::cli {

namespace {
// Same bytes as the plan format's magic; the CLI sees only the public API, so it is spelled here.
constexpr char kPlanMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
constexpr size_t kAlignment = 64;
}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : mSize(bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  mData.reset(p);
}

std::string dimsString(const Dims& dims) {
  std::string s;
  for (int i = 0; i < dims.nbDims; ++i) {
    if (i) s += 'x';
    s += std::to_string(dims.d[i]);
  }
  return s;
}

Status checkReadableFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ioError("file '%s' does not exist", path.c_str());
  if (!std::filesystem::is_regular_file(path, ec))
    return ioError("'%s' is not a regular file", path.c_str());
  return Status::ok();
}

StatusOr<std::vector<uint8_t>> readFile(const std::string& path) {
  KILN_RETURN_IF_ERROR(checkReadableFile(path));
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return ioError("cannot open '%s'", path.c_str());
  std::streamsize size = in.tellg();
  in.seekg(0);
  std::vector<uint8_t> bytes(static_cast<size_t>(size < 0 ? 0 : size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    return ioError("reading '%s' failed", path.c_str());
  return bytes;
}

Status writeFile(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return ioError("cannot open '%s' for writing", path.c_str());
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) return ioError("writing '%s' failed", path.c_str());
  return Status::ok();
}

bool looksLikePlan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[sizeof(kPlanMagic)] = {};
  if (!in.read(head, sizeof(head))) return false;
  return std::memcmp(head, kPlanMagic, sizeof(kPlanMagic)) == 0;
}

std::string outputsToJson(const std::vector<HostTensor>& outputs) {
  JsonWriter w;
  w.beginArray();
  for (const HostTensor& t : outputs) {
    w.newline();
    w.beginObject();
    w.key("name");
    w.string(t.name);
    w.key("dimensions");
    w.string(dimsString(t.dims));
    w.key("values");
    w.beginArray();
    int64_t n = t.volume();
    for (int64_t i = 0; i < n; ++i) w.raw(formatElement(t.type, t.buffer.data(), i));
    w.endArray();
    w.endObject();
  }
  w.newline();
  w.endArray();
  return w.str() + "\n";
}

}  // namespace kiln::cli
