// Layout constants of the plan format shared by the writer, the reader and the tests.
// docs/plan_format.md is the byte-level description; keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::plan::format {

// Fixed part of the header (byte offsets from the start of the plan).
constexpr size_t kMagicOffset = 0;           // 8 bytes "KILNPLAN"
constexpr size_t kFormatVersionOffset = 8;   // u32
constexpr size_t kHeaderSizeOffset = 12;     // u32: bytes up to the end of the section table
constexpr size_t kTotalSizeOffset = 16;      // u64: bytes in the whole plan
constexpr size_t kChecksumOffset = 24;       // u32: CRC-32C of bytes [kChecksummedFrom, total)
constexpr size_t kChecksummedFrom = 28;      // everything after the checksum field
constexpr size_t kFlagsOffset = 28;          // u32: reserved, 0
constexpr size_t kFixedHeaderSize = 32;      // the variable header starts here

// Sections start at multiples of this; so does every constant's data (relative to the start of
// the plan), so a loader that maps the file can use the weights in place.
constexpr size_t kAlignment = 64;

enum class SectionType : uint32_t {
  kMetadata = 1,   // network name
  kGraph = 2,      // values, nodes, graph input/output order
  kProfiles = 3,   // optimization profiles
  kConstants = 4,  // constant table + 64-byte aligned data
};
constexpr uint32_t kNumSectionTypes = 4;
constexpr size_t kSectionEntrySize = 24;  // u32 type, u32 reserved, u64 offset, u64 size

// Value flags (graph section).
constexpr uint32_t kValueInput = 1u << 0;
constexpr uint32_t kValueOutput = 1u << 1;
constexpr uint32_t kValueConstant = 1u << 2;
constexpr uint32_t kValueHasShapeValue = 1u << 3;
constexpr uint32_t kValueShapeTensor = 1u << 4;  // a shape tensor input (format 2)
constexpr uint32_t kValueKnownFlags = 0x1Fu;

// Limits on symbolic dimension expressions. Depth bounds the recursion of DimExpr's own
// functions (toString, equals, destruction) on a plan someone crafted; tokens bounds the size of
// one expression written as a tree (sub-expressions shared in memory are written once per use).
constexpr size_t kMaxExprDepth = 2048;
constexpr size_t kMaxExprTokens = size_t{1} << 20;

}  // namespace kiln::plan::format
