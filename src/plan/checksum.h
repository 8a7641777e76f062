// CRC-32C (Castagnoli), the checksum that guards plan files.
//
// Polynomial 0x1EDC6F41 (reflected: 0x82F63B78), initial value and final xor 0xFFFFFFFF, the
// variant used by iSCSI, ext4 and SSE4.2's crc32 instruction. CRC-32C detects every error burst
// up to 32 bits long (so every single flipped byte) and has a better Hamming distance than
// CRC-32 at plan-sized messages. The function chains: crc32c(b, crc32c(a)) == crc32c(a ++ b).
#pragma once

#include <cstdint>
#include <span>

namespace kiln::plan {

// Uses the SSE4.2 instruction when the CPU has it, the table-driven loop otherwise.
uint32_t crc32c(std::span<const uint8_t> data, uint32_t crc = 0);
// The portable table-driven implementation (slicing by 8), exposed so tests can compare paths.
uint32_t crc32cSoftware(std::span<const uint8_t> data, uint32_t crc = 0);

}  // namespace kiln::plan
