import CZlib
import CZstd

/// Compresses one output file as a stream. Output depends only on the sequence of `write` calls
/// and their contents, never on timing, which keeps rebuilt and replayed files byte-identical.
final class StreamCompressor {
    private enum Engine {
        case none
        case gzip(UnsafeMutablePointer<z_stream>)
        case zstd(OpaquePointer)
    }

    private let engine: Engine
    private var scratch = [UInt8](repeating: 0, count: 64 << 10)

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// - Parameter level: codec specific; nil picks gzip 6 or zstd 3.
    init(codec: OutputCodec, level: Int?) throws {
        switch codec {
        case .none:
            engine = .none
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16 asks zlib for a gzip wrapper; its header has mtime 0.
            let status = deflateInit2_(
                stream, Int32(level ?? 6), Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
            )
            guard status == Z_OK else {
                stream.deallocate()
                throw Failure(description: "deflateInit2 failed with \(status)")
            }
            engine = .gzip(stream)
        case .zstd:
            guard let context = ZSTD_createCCtx() else { throw Failure(description: "ZSTD_createCCtx failed") }
            ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level ?? 3))
            ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
            engine = .zstd(context)
        }
    }

    deinit {
        switch engine {
        case .none: break
        case .gzip(let stream):
            deflateEnd(stream)
            stream.deinitialize(count: 1)
            stream.deallocate()
        case .zstd(let context):
            ZSTD_freeCCtx(context)
        }
    }

    /// Compresses `input`, passing compressed bytes to `emit` as they come; `finish` ends the stream.
    func write(_ input: [UInt8], finish: Bool, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        switch engine {
        case .none:
            try input.withUnsafeBytes { try emit($0) }
        case .gzip(let stream):
            try input.withUnsafeBytes { raw in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
                stream.pointee.avail_in = uInt(raw.count)
                let flush = finish ? Z_FINISH : Z_NO_FLUSH
                while true {
                    let (status, produced) = scratch.withUnsafeMutableBytes { space -> (Int32, Int) in
                        stream.pointee.next_out = space.bindMemory(to: Bytef.self).baseAddress
                        stream.pointee.avail_out = uInt(space.count)
                        let status = deflate(stream, flush)
                        return (status, space.count - Int(stream.pointee.avail_out))
                    }
                    if produced > 0 { try scratch.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
                    if finish {
                        if status == Z_STREAM_END { break }
                        guard status == Z_OK || status == Z_BUF_ERROR else { throw Failure(description: "deflate failed with \(status)") }
                    } else {
                        guard status == Z_OK || status == Z_BUF_ERROR else { throw Failure(description: "deflate failed with \(status)") }
                        if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
                    }
                }
                stream.pointee.next_in = nil
            }
        case .zstd(let context):
            try input.withUnsafeBytes { raw in
                var source = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
                while true {
                    var remaining = 0
                    let produced = try scratch.withUnsafeMutableBytes { space -> Int in
                        var target = ZSTD_outBuffer(dst: space.baseAddress, size: space.count, pos: 0)
                        remaining = ZSTD_compressStream2(context, &target, &source, finish ? ZSTD_e_end : ZSTD_e_continue)
                        if ZSTD_isError(remaining) != 0 {
                            throw Failure(description: "zstd: \(String(cString: ZSTD_getErrorName(remaining)))")
                        }
                        return target.pos
                    }
                    if produced > 0 { try scratch.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
                    if finish ? remaining == 0 : source.pos == source.size { break }
                }
            }
        }
    }
}
