import CIgzipChunk
import CLibdeflate
import CZstd
import Synchronization

/// Compresses one chunk of a part file into a self-contained gzip member (libdeflate or ISA-L;
/// RFC 1952, mtime 0) or zstd frame (with its content checksum). A part file is its chunks'
/// members one after another, which RFC 1952 and the zstd format both allow and every reader we
/// hand files to reads (`gzip -d`, `zstd -d`, Python, Hadoop's and Spark's codecs). So chunks compress
/// independently, on any core, and a file's bytes depend only on its chunks, never on timing:
/// rebuilt and replayed files stay byte-identical (with ISA-L, see `OutputPortability`).
struct ChunkCompressor: Sendable {
    let codec: OutputCodec
    let gzipEncoder: GzipEncoder
    let level: Int32

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The codec, encoder and level of `settings` (`effectiveCompressionLevel`).
    init(_ settings: OutputSettings) {
        codec = settings.codec
        gzipEncoder = settings.gzipEncoder
        level = Int32(settings.effectiveCompressionLevel ?? 0)
    }

    /// zstd's own default is 3, but on 256 KiB chunks of log lines level 1 costs less for about
    /// the same size: with the bench's nginx lines as JSON, 8-12% less aggregator CPU and files
    /// 1.4% smaller; as raw lines, the same CPU within noise and files 1.4% larger
    /// (bench/README.md).
    static let defaultZstdLevel = 1

    func compress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        switch codec {
        case .none:
            return Array(input)
        case .gzip where gzipEncoder == .isal:
            guard GzipEncoder.isal.levels.contains(Int(level)) else {
                throw Failure(description: "ISA-L takes gzip levels \(GzipEncoder.isal.levels), not \(level)")
            }
            return try Self.igzipCompressors.with(level: level) { compressor in
                var status: Int32 = 0
                let output = [UInt8](unsafeUninitializedCapacity: logflume_igzip_bound(input.count)) { target, written in
                    written = logflume_igzip_compress(compressor, input.baseAddress, input.count, target.baseAddress, target.count, &status)
                }
                guard !output.isEmpty else { throw Failure(description: "ISA-L igzip level \(level): \(String(cString: logflume_igzip_status_text(status)))") }
                return output
            }
        case .gzip:
            return try Self.gzipCompressors.with(level: level) { compressor in
                let bound = libdeflate_gzip_compress_bound(compressor, input.count)
                let output = [UInt8](unsafeUninitializedCapacity: bound) { target, written in
                    written = libdeflate_gzip_compress(compressor, input.baseAddress, input.count, target.baseAddress, target.count)
                }
                guard !output.isEmpty else { throw Failure(description: "libdeflate_gzip_compress found no room in \(bound) bytes") }
                return output
            }
        case .zstd:
            return try Self.zstdContexts.with(level: level) { context in
                var result = 0
                let output = [UInt8](unsafeUninitializedCapacity: ZSTD_compressBound(input.count)) { target, written in
                    result = ZSTD_compress2(context, target.baseAddress, target.count, input.baseAddress, input.count)
                    written = ZSTD_isError(result) != 0 ? 0 : result
                }
                if ZSTD_isError(result) != 0 { throw Failure(description: "zstd: \(String(cString: ZSTD_getErrorName(result)))") }
                return output
            }
        }
    }

    // Compressor state is costly to set up (libdeflate's level 6 tables, igzip's hash buffer,
    // zstd's context) and not thread-safe: each worker borrows one from a pool and gives it back.
    private static let gzipCompressors = Pool { level in libdeflate_alloc_compressor(level) }
    private static let igzipCompressors = Pool { level in logflume_igzip_create(level) }
    private static let zstdContexts = Pool { level in
        guard let context = ZSTD_createCCtx() else { return nil }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        return context
    }

    /// Idle compressor states by level. They live as long as the process: there are never more
    /// than the workers that ran at once.
    final class Pool: Sendable {
        /// A compressor state; only one worker holds it at a time.
        struct Handle: @unchecked Sendable {
            let pointer: OpaquePointer
        }

        private let idle = Mutex<[Int32: [Handle]]>([:])
        private let make: @Sendable (Int32) -> OpaquePointer?

        init(make: @escaping @Sendable (Int32) -> OpaquePointer?) {
            self.make = make
        }

        func with<T>(level: Int32, _ body: (OpaquePointer) throws -> T) throws -> T {
            let borrowed = idle.withLock { $0[level]?.popLast() }
            guard let handle = borrowed ?? make(level).map(Handle.init) else {
                throw Failure(description: "cannot allocate a level \(level) compressor")
            }
            defer { idle.withLock { $0[level, default: []].append(handle) } }
            return try body(handle.pointer)
        }
    }
}
