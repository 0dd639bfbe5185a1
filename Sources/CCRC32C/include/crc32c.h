#ifndef LOGFLUME_CRC32C_H
#define LOGFLUME_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as Kafka's record batch v2 uses it.
/// `crc` is a previous result (0 to start) so a checksum can be extended over several buffers.
/// Dispatches once to the SSE4.2 instruction when the CPU has it, else to the table fallback.
uint32_t lf_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// The portable slicing-by-8 table implementation; same contract as lf_crc32c_extend.
uint32_t lf_crc32c_extend_portable(uint32_t crc, const void *data, size_t length);

/// The SSE4.2 implementation; only call when lf_crc32c_hardware_available() returns 1.
/// On CPUs or architectures without it, this falls back to the portable path.
uint32_t lf_crc32c_extend_hardware(uint32_t crc, const void *data, size_t length);

/// 1 when the CPU executes the SSE4.2 crc32 instruction, else 0.
int lf_crc32c_hardware_available(void);

#endif
