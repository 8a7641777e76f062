// libFuzzer entry point for the plan reader. Not part of the default build.
//
// Build and run (from the repository root; clang with libFuzzer, plus ASan/UBSan):
//
//   mkdir -p /tmp/plan_fuzz && cd /tmp/plan_fuzz
//   SRC=/path/to/kiln
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -I$SRC/include -I$SRC/src \
//     $SRC/tests/fuzz/plan_fuzz.cpp $SRC/src/plan/*.cpp $SRC/src/ir/dim_expr.cpp \
//     $SRC/src/ir/graph.cpp $SRC/src/ir/tensor_data.cpp $SRC/src/ir/attributes.cpp \
//     $SRC/src/ir/op.cpp $SRC/src/common/status.cpp $SRC/src/common/types.cpp \
//     $SRC/src/common/logging.cpp -o plan_fuzz
//   mkdir -p corpus && cp some_model.plan corpus/      # any plan written by `kiln build`
//   ./plan_fuzz -max_len=65536 -rss_limit_mb=1024 corpus
//
// Two ways in, chosen by the input's last byte, so the fuzzer reaches more than the checksum:
//   even: the bytes as they are (exercises magic, version, size and checksum checks);
//   odd:  the bytes minus that last one, with the total-size field set to their length and the
//         CRC-32C recomputed, so structural damage reaches the section and graph parsers.
// Every input must be refused cleanly or loaded; loaded plans must serialize again. A crash, a
// sanitizer report, or an allocation above -rss_limit_mb is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "plan/byte_io.h"
#include "plan/checksum.h"
#include "plan/plan.h"
#include "plan/plan_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kiln::plan;  // NOLINT(google-build-using-namespace)
  if (size == 0) return 0;
  std::vector<uint8_t> bytes(data, data + size - 1);
  if ((data[size - 1] & 1u) != 0 && bytes.size() >= format::kFixedHeaderSize) {
    storeU64(bytes.data() + format::kTotalSizeOffset, bytes.size());
    uint32_t crc = crc32c(std::span<const uint8_t>(bytes).subspan(format::kChecksummedFrom));
    storeU32(bytes.data() + format::kChecksumOffset, crc);
  }
  auto plan = deserializePlan(bytes);
  if (plan.isOk() && !serializePlan(*plan).isOk()) std::abort();
  return 0;
}
