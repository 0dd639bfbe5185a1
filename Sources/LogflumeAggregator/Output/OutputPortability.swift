import CIgzipChunk

/// Whether another machine writes the same bytes for the same records with these output
/// settings. The design leans on it: a rebuilt bucket overwrites files under the same names, and
/// a zombie instance's late rename is harmless only when its bytes equal the new owner's.
///
/// libdeflate and zstd pick no code by CPU. ISA-L does, and running its gzip on emulated CPUs
/// (qemu-user, Tests/compat/test_output_fingerprint.py) showed where its bytes split: levels 0-2
/// write the same bytes on every x86-64 CPU with SSE4.2 (x86-64-v2: Intel since 2008, AMD since
/// 2011) whether it has AVX, AVX2 or AVX-512, and other bytes on older ones; level 3 writes
/// different bytes with AVX-512, with AVX2 and with neither.
public enum OutputPortability {
    /// The instruction sets ISA-L's dispatcher chooses by, on the machine this runs on.
    public struct CPU: Sendable, Equatable, CustomStringConvertible {
        public var x86_64: Bool
        public var sse42: Bool
        public var avx: Bool
        public var avx2: Bool
        public var avx512: Bool

        public init(x86_64: Bool, sse42: Bool = false, avx: Bool = false, avx2: Bool = false, avx512: Bool = false) {
            self.x86_64 = x86_64
            self.sse42 = sse42
            self.avx = avx
            self.avx2 = avx2
            self.avx512 = avx512
        }

        public static var current: CPU {
            let bits = logflume_cpu_features()
            return CPU(
                x86_64: bits & LOGFLUME_CPU_X86_64 != 0, sse42: bits & LOGFLUME_CPU_SSE42 != 0, avx: bits & LOGFLUME_CPU_AVX != 0,
                avx2: bits & LOGFLUME_CPU_AVX2 != 0, avx512: bits & LOGFLUME_CPU_AVX512 != 0
            )
        }

        public var description: String {
            guard x86_64 else { return "not x86-64" }
            let sets = [("SSE4.2", sse42), ("AVX", avx), ("AVX2", avx2), ("AVX-512", avx512)].filter(\.1).map(\.0)
            return "x86-64" + (sets.isEmpty ? " without SSE4.2" : " with " + sets.joined(separator: ", "))
        }
    }

    /// Why files written here may differ byte for byte from other instances' with the same
    /// settings, or nil when they do not.
    public static func warning(for settings: OutputSettings, on cpu: CPU = .current) -> String? {
        guard settings.codec == .gzip, settings.gzipEncoder == .isal else { return nil }
        let level = settings.effectiveCompressionLevel
        let reason: String
        if !cpu.x86_64 {
            reason = "ISA-L's gzip bytes are known to match only between x86-64 CPUs with SSE4.2, and this CPU is not x86-64"
        } else if !cpu.sse42 {
            reason = "this CPU lacks SSE4.2, so ISA-L runs its generic code, whose gzip bytes differ from those of x86-64 CPUs with SSE4.2"
        } else if level == 3 {
            reason = "ISA-L's level 3 writes different gzip bytes on CPUs with AVX-512, with AVX2 and with neither (levels 0-2 write the same on every x86-64 CPU with SSE4.2)"
        } else {
            return nil
        }
        return reason + "; instances on other CPUs may write other bytes for the same hour (docs/aggregator.md, Known limits). "
            + "Compare `logflume aggregator fingerprint` across instances, or set output.gzip_encoder = \"libdeflate\"."
    }
}
