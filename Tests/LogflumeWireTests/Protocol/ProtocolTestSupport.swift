import NIOCore
import Testing
@testable import LogflumeWire

/// Bytes written as hex with optional spaces, for known-answer tests.
func hexBytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0)
    var out: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        out.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// Big-endian helpers for assembling expected bytes by hand.
func int16(_ v: Int16) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
func int32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
func int64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }
func str(_ s: String) -> [UInt8] { int16(Int16(s.utf8.count)) + Array(s.utf8) }
func compactStr(_ s: String) -> [UInt8] {
    precondition(s.utf8.count < 127)
    return [UInt8(s.utf8.count + 1)] + Array(s.utf8)
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

func encodeBody<M: KafkaEncodableMessage>(_ message: M, version: Int16) -> ByteBuffer {
    var buffer = ByteBuffer()
    message.encode(into: &buffer, version: version)
    return buffer
}

/// Flattens response chunks, filling each external region with the bytes `external` supplies
/// (what the broker's sendfile would put on the wire).
func flatten(_ chunks: [ResponseChunk], external: (Int) -> ByteBuffer = { _ in ByteBuffer() }) -> ByteBuffer {
    var out = ByteBuffer()
    for chunk in chunks {
        switch chunk {
        case .bytes(var b): out.writeBuffer(&b)
        case .external(let token, let length):
            var b = external(token)
            precondition(b.readableBytes == length, "test supplied \(b.readableBytes) bytes for a \(length)-byte region")
            out.writeBuffer(&b)
        }
    }
    return out
}

/// Encodes at `version`, decodes the exact bytes back, and checks: the decoded value equals the
/// original, re-encoding gives the same bytes, and every strict prefix of the bytes is refused
/// with a typed error (never a trap).
@discardableResult
func assertRoundTrip<M: KafkaEncodableMessage>(
    _ message: M, version: Int16, checkTruncations: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> ByteBuffer {
    let bytes = encodeBody(message, version: version)
    let decoded = try M.decodeExactly(bytes, version: version)
    #expect(decoded == message, "\(M.self) v\(version) did not round-trip", sourceLocation: sourceLocation)
    #expect(encodeBody(decoded, version: version) == bytes, "\(M.self) v\(version) re-encoding differs", sourceLocation: sourceLocation)
    if checkTruncations {
        assertEveryTruncationThrows(bytes, sourceLocation: sourceLocation) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            _ = try M(from: &b, version: version)
        }
    }
    return bytes
}

/// Every strict prefix of `bytes` must make `decode` throw a `KafkaDecodingError`.
func assertEveryTruncationThrows(
    _ bytes: ByteBuffer, sourceLocation: SourceLocation = #_sourceLocation,
    _ decode: (inout ByteBuffer) throws(KafkaDecodingError) -> Void
) {
    for length in 0..<bytes.readableBytes {
        var prefix = bytes.getSlice(at: bytes.readerIndex, length: length)!
        var threw = false
        do throws(KafkaDecodingError) {
            try decode(&prefix)
        } catch {
            threw = true
        }
        #expect(threw, "a \(length)-byte prefix of \(bytes.readableBytes) bytes decoded without error", sourceLocation: sourceLocation)
        if !threw { return }
    }
}
