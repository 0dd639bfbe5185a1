import ArgumentParser
import CCRC32C
import LogflumeWire

/// CRC-32C throughput against its physical limit: the hardware and portable checksums and a
/// memcpy all stream over the same buffer, so the ratio says how close the checksum gets to
/// simply touching the bytes.
struct CRCBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crc32c",
        abstract: "CRC-32C GB/s (SSE4.2 and slicing-by-8) against memcpy over the same buffer."
    )

    @Option(help: "Buffer size in bytes.")
    var size: Int = 1 << 20

    @Option(help: "Seconds per measurement.")
    var seconds: Double = 1

    @Option(help: "Measurements per figure; the median is reported.")
    var runs: Int = 5

    func validate() throws {
        guard size > 0 else { throw ValidationError("--size must be positive") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
    }

    func run() throws {
        let source = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        let destination = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer {
            source.deallocate()
            destination.deallocate()
        }
        var state: UInt64 = 0x5EED
        for i in 0..<size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            source[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        destination.copyMemory(from: UnsafeRawBufferPointer(source))  // fault the pages in

        let input = UnsafeRawBufferPointer(source)
        let hardware = CRC32C.isHardwareAccelerated
        let expected = lf_crc32c_extend_portable(0, input.baseAddress, size)
        guard !hardware || lf_crc32c_extend_hardware(0, input.baseAddress, size) == expected else {
            throw ValidationError("hardware and portable CRC-32C disagree")
        }

        // Batch enough calls between clock reads that the clock costs nothing at small sizes.
        let batch = max(1, (1 << 20) / size)
        // Every result feeds `sink`, which is printed, so none of the work can be dropped.
        var sink: UInt64 = 0
        var hwRates: [Double] = []
        var portableRates: [Double] = []
        var memcpyRates: [Double] = []
        for _ in 0..<runs {
            if hardware {
                hwRates.append(measure(batch: batch) { iteration in
                    sink = sink &* 31 &+ UInt64(lf_crc32c_extend_hardware(UInt32(truncatingIfNeeded: iteration), input.baseAddress, size))
                })
            }
            portableRates.append(measure(batch: batch) { iteration in
                sink = sink &* 31 &+ UInt64(lf_crc32c_extend_portable(UInt32(truncatingIfNeeded: iteration), input.baseAddress, size))
            })
            memcpyRates.append(measure(batch: batch) { iteration in
                destination.copyMemory(from: input)
                sink = sink &* 31 &+ UInt64(destination[iteration % size])
            })
        }

        let memcpyRate = median(memcpyRates)
        print("crc32c buffer \(size) bytes, \(runs) x \(format(seconds, 2)) s per figure, median; hardware \(hardware ? "SSE4.2" : "unavailable")")
        if hardware {
            let hw = median(hwRates)
            print("crc32c-hw \(format(hw, 2)) GB/s  memcpy \(format(memcpyRate, 2)) GB/s  ratio \(format(hw / memcpyRate, 2))")
        } else {
            print("crc32c-hw unavailable")
        }
        let portable = median(portableRates)
        print("crc32c-portable \(format(portable, 2)) GB/s  memcpy \(format(memcpyRate, 2)) GB/s  ratio \(format(portable / memcpyRate, 2))")
        print("memcpy \(format(memcpyRate, 2)) GB/s")
        if hardware {
            print("hw/portable speedup \(format(median(hwRates) / portable, 1))x")
        }
        print("checksum \(String(expected, radix: 16)) sink \(String(sink, radix: 16))")
    }

    /// Runs `body` in batches for `seconds` and returns GB/s (10^9 bytes) over the buffer.
    private func measure(batch: Int, _ body: (Int) -> Void) -> Double {
        let clock = ContinuousClock()
        let budget = Duration.nanoseconds(Int64(seconds * 1e9))
        var iterations = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            for _ in 0..<batch {
                body(iterations)
                iterations += 1
            }
            elapsed = start.duration(to: clock.now)
        } while elapsed < budget
        let (wholeSeconds, attoseconds) = elapsed.components
        let time = Double(wholeSeconds) + Double(attoseconds) * 1e-18
        return Double(iterations) * Double(size) / time / 1e9
    }
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Fixed-point formatting without Foundation.
private func format(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    var fraction = String(scaled % Int64(scale))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    let sign = value < 0 && scaled != 0 ? "-" : ""
    return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
}
