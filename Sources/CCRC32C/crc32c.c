// CRC-32C (Castagnoli) for Kafka record batch v2.
//
// Two implementations share one contract: `crc` is a finished CRC (0 to start) and the result is
// finished too, so extend(extend(0, a), b) == extend(0, a ++ b).
//
// * Portable: slicing-by-8 tables (8 KiB), built once under pthread_once.
// * Hardware (x86-64): the SSE4.2 crc32 instruction. It has a latency of about three cycles but
//   can start one per cycle, so large inputs are cut into three adjacent blocks whose CRCs are
//   computed in interleaved, independent dependency chains and then stitched together with a
//   "shift" (the CRC register advanced over N zero bytes), which is a linear map on 32 bits and
//   therefore a four-lookup table.

#include "crc32c.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define LF_CRC32C_X86_64 1
#include <nmmintrin.h>
#else
#define LF_CRC32C_X86_64 0
#endif

// Reflected Castagnoli polynomial. The register is bit-reversed: bit 31 holds the coefficient of
// x^0 and bit 0 that of x^31.
#define LF_POLY 0x82F63B78u

// ---------------------------------------------------------------------------------------------
// Tables, built once.

static uint32_t lf_slice_table[8][256];

#if LF_CRC32C_X86_64
// Block lengths for the three-stream hardware loop, largest first. LONG amortises the
// combination step over a lot of work; the smaller tiers keep inputs of a few KiB (typical
// record batches) and the remainders of large ones on the fast path.
#ifndef LF_LONG_BLOCK
#define LF_LONG_BLOCK 8192
#endif
#ifndef LF_MEDIUM_BLOCK
#define LF_MEDIUM_BLOCK 1024
#endif
#ifndef LF_SHORT_BLOCK
#define LF_SHORT_BLOCK 256
#endif
_Static_assert(LF_LONG_BLOCK % 8 == 0 && LF_MEDIUM_BLOCK % 8 == 0 && LF_SHORT_BLOCK % 8 == 0,
               "the interleaved loop consumes 8 bytes per stream per step");
_Static_assert(LF_LONG_BLOCK >= LF_MEDIUM_BLOCK && LF_MEDIUM_BLOCK >= LF_SHORT_BLOCK,
               "tiers run largest first");
static uint32_t lf_shift_long[4][256];
static uint32_t lf_shift_medium[4][256];
static uint32_t lf_shift_short[4][256];
#endif

static pthread_once_t lf_tables_once = PTHREAD_ONCE_INIT;

#if LF_CRC32C_X86_64
// a * b mod P in the reflected representation.
static uint32_t lf_gf2_multmod(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t m = 0x80000000u; m != 0; m >>= 1) {
        if (a & m) {
            product ^= b;
        }
        b = (b >> 1) ^ ((b & 1u) ? LF_POLY : 0u);  // b *= x
    }
    return product;
}

// x^(8 * bytes) mod P: the factor that advances a raw CRC register over `bytes` zero bytes.
static uint32_t lf_x_pow_8n(uint64_t bytes) {
    uint32_t result = 0x80000000u;  // x^0
    uint32_t base = 0x40000000u;    // x^1
    uint64_t exponent = bytes * 8;
    while (exponent != 0) {
        if (exponent & 1u) {
            result = lf_gf2_multmod(result, base);
        }
        base = lf_gf2_multmod(base, base);
        exponent >>= 1;
    }
    return result;
}

// The shift is linear, so it splits into one table per register byte.
static void lf_build_shift_table(uint32_t table[4][256], uint64_t bytes) {
    const uint32_t factor = lf_x_pow_8n(bytes);
    for (unsigned k = 0; k < 4; k++) {
        for (uint32_t v = 0; v < 256; v++) {
            table[k][v] = lf_gf2_multmod(factor, v << (8 * k));
        }
    }
}
#endif

static void lf_build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ ((c & 1u) ? LF_POLY : 0u);
        }
        lf_slice_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = lf_slice_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = lf_slice_table[0][c & 0xFFu] ^ (c >> 8);
            lf_slice_table[k][n] = c;
        }
    }
#if LF_CRC32C_X86_64
    lf_build_shift_table(lf_shift_long, LF_LONG_BLOCK);
    lf_build_shift_table(lf_shift_medium, LF_MEDIUM_BLOCK);
    lf_build_shift_table(lf_shift_short, LF_SHORT_BLOCK);
#endif
}

static inline void lf_ensure_tables(void) {
    pthread_once(&lf_tables_once, lf_build_tables);
}

// ---------------------------------------------------------------------------------------------
// Portable slicing-by-8.

// Little-endian loads written byte-wise so they are correct on any host; compilers fold them
// into single loads on little-endian targets.
static inline uint32_t lf_load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t lf_crc32c_extend_portable(uint32_t crc, const void *data, size_t length) {
    lf_ensure_tables();
    const unsigned char *p = (const unsigned char *)data;
    const uint32_t (*t)[256] = (const uint32_t (*)[256])lf_slice_table;
    uint32_t c = ~crc;

    while (length != 0 && ((uintptr_t)p & 7u) != 0) {
        c = t[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
        length--;
    }
    while (length >= 8) {
        const uint32_t lo = lf_load_le32(p) ^ c;
        const uint32_t hi = lf_load_le32(p + 4);
        c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
        p += 8;
        length -= 8;
    }
    while (length != 0) {
        c = t[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
        length--;
    }
    return ~c;
}

// ---------------------------------------------------------------------------------------------
// Hardware (SSE4.2).

#if LF_CRC32C_X86_64

static inline uint64_t lf_load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);  // x86-64 is little-endian and tolerates unaligned loads
    return v;
}

static inline uint32_t lf_shift(const uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xFFu] ^ table[1][(crc >> 8) & 0xFFu] ^ table[2][(crc >> 16) & 0xFFu] ^
           table[3][crc >> 24];
}

// Works on the raw register (no pre/post inversion). The three streams are the blocks
// [0, B), [B, 2B), [2B, 3B); the first continues from `crc`, the other two start at 0, and
// raw(A ++ X) == shift_|X|(raw(A)) ^ raw0(X) joins them.
#define LF_THREE_STREAMS(BLOCK, SHIFT_TABLE)                                                     \
    while (length >= 3 * (size_t)(BLOCK)) {                                                      \
        uint64_t c1 = 0, c2 = 0;                                                                 \
        const unsigned char *const end = p + (BLOCK);                                            \
        do {                                                                                     \
            c0 = _mm_crc32_u64(c0, lf_load64(p));                                                \
            c1 = _mm_crc32_u64(c1, lf_load64(p + (BLOCK)));                                      \
            c2 = _mm_crc32_u64(c2, lf_load64(p + 2 * (BLOCK)));                                  \
            p += 8;                                                                              \
        } while (p < end);                                                                       \
        c0 = lf_shift(SHIFT_TABLE, (uint32_t)c0) ^ (uint32_t)c1;                                 \
        c0 = lf_shift(SHIFT_TABLE, (uint32_t)c0) ^ (uint32_t)c2;                                 \
        p += 2 * (size_t)(BLOCK);                                                                \
        length -= 3 * (size_t)(BLOCK);                                                           \
    }

__attribute__((target("sse4.2")))
static uint32_t lf_crc32c_sse42(uint32_t crc, const unsigned char *p, size_t length) {
    uint64_t c0 = (uint32_t)~crc;

    while (length != 0 && ((uintptr_t)p & 7u) != 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        length--;
    }
    if (length >= 3 * LF_SHORT_BLOCK) {
        lf_ensure_tables();
        LF_THREE_STREAMS(LF_LONG_BLOCK, lf_shift_long)
        LF_THREE_STREAMS(LF_MEDIUM_BLOCK, lf_shift_medium)
        LF_THREE_STREAMS(LF_SHORT_BLOCK, lf_shift_short)
    }
    while (length >= 8) {
        c0 = _mm_crc32_u64(c0, lf_load64(p));
        p += 8;
        length -= 8;
    }
    while (length != 0) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        length--;
    }
    return ~(uint32_t)c0;
}

#undef LF_THREE_STREAMS

#endif  // LF_CRC32C_X86_64

uint32_t lf_crc32c_extend_hardware(uint32_t crc, const void *data, size_t length) {
#if LF_CRC32C_X86_64
    return lf_crc32c_sse42(crc, (const unsigned char *)data, length);
#else
    return lf_crc32c_extend_portable(crc, data, length);
#endif
}

int lf_crc32c_hardware_available(void) {
#if LF_CRC32C_X86_64
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
    return 0;
#endif
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

typedef uint32_t (*lf_crc32c_fn)(uint32_t, const void *, size_t);

// Decided on first use. Racing first callers all store the same pointer, so relaxed atomics
// suffice.
static lf_crc32c_fn lf_crc32c_chosen;

uint32_t lf_crc32c_extend(uint32_t crc, const void *data, size_t length) {
    lf_crc32c_fn fn = __atomic_load_n(&lf_crc32c_chosen, __ATOMIC_RELAXED);
    if (fn == NULL) {
        fn = lf_crc32c_hardware_available() ? lf_crc32c_extend_hardware : lf_crc32c_extend_portable;
        __atomic_store_n(&lf_crc32c_chosen, fn, __ATOMIC_RELAXED);
    }
    return fn(crc, data, length);
}
