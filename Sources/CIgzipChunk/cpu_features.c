#include "cpu_features.h"

unsigned logflume_cpu_features(void) {
#if defined(__x86_64__)
    // __builtin_cpu_supports also checks that the OS saves the AVX registers, as ISA-L's
    // dispatcher does through XGETBV, so both agree on a VM that hides them.
    __builtin_cpu_init();
    unsigned features = LOGFLUME_CPU_X86_64;
    if (__builtin_cpu_supports("sse4.2")) features |= LOGFLUME_CPU_SSE42;
    if (__builtin_cpu_supports("avx")) features |= LOGFLUME_CPU_AVX;
    if (__builtin_cpu_supports("avx2")) features |= LOGFLUME_CPU_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        features |= LOGFLUME_CPU_AVX512;
    return features;
#else
    return 0;
#endif
}
