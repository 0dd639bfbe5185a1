public import LogflumeStorage
public import NIOCore

/// A response frame ready to write, size prefix included: byte buffers and segment file ranges
/// in wire order, so record data goes from file to socket without passing through user space.
public struct OutboundResponse: Sendable {
    public enum Part: Sendable {
        case bytes(ByteBuffer)
        case file(FileRange)
    }

    public var parts: [Part]

    public init(parts: [Part]) { self.parts = parts }

    public init(_ buffer: ByteBuffer) { self.parts = [.bytes(buffer)] }

    public var size: Int {
        parts.reduce(0) { total, part in
            switch part {
            case .bytes(let buffer): total + buffer.readableBytes
            case .file(let range): total + range.length
            }
        }
    }
}
