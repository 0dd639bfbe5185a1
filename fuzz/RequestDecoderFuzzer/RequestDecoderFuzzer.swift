import LogflumeFuzzing

#if LIBFUZZER
/// libFuzzer's entry point (built by bench/fuzz.sh with -sanitize=fuzzer,address -DLIBFUZZER).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    RequestDecoderHarness.exercise(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry as `<module>_main`; hand control to libFuzzer's driver.
@_cdecl("logflume_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOneInput)
}
#else
/// Without libFuzzer: a seeded mutation campaign, `logflume-fuzz [iterations] [seed]`, and
/// `logflume-fuzz --write-seeds DIR` to give libFuzzer a starting corpus.
@main
struct RequestDecoderFuzzer {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--write-seeds", let directory = arguments.dropFirst().first {
            for (index, seed) in RequestDecoderHarness.seeds().enumerated() {
                let path = "\(directory)/seed-\(index)"
                guard let file = fopen(path, "wb") else { continue }
                _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
                fclose(file)
            }
            return
        }
        let iterations = arguments.first.flatMap(Int.init) ?? 1_000_000
        let seed = arguments.dropFirst().first.flatMap(UInt64.init) ?? 1
        let clock = ContinuousClock()
        var decoded = 0
        let elapsed = clock.measure { decoded = RequestDecoderHarness.campaign(iterations: iterations, seed: seed) }
        print("request decoder: \(iterations) mutated inputs, \(decoded) decoded and round-tripped, no crash, \(elapsed)")
    }
}
#endif

#if canImport(Glibc)
import Glibc
#endif
