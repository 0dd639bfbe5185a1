#ifndef LOGFLUME_CPU_FEATURES_H
#define LOGFLUME_CPU_FEATURES_H

/// Bits of `logflume_cpu_features`: the instruction sets ISA-L's run-time dispatch chooses by.
#define LOGFLUME_CPU_X86_64 1u
#define LOGFLUME_CPU_SSE42 2u
#define LOGFLUME_CPU_AVX 4u
#define LOGFLUME_CPU_AVX2 8u
/// F, CD, BW, DQ and VL, the set ISA-L requires before it runs its AVX-512 code.
#define LOGFLUME_CPU_AVX512 16u

/// What this CPU (and the kernel's saved vector state) supports; 0 on other architectures.
unsigned logflume_cpu_features(void);

#endif
