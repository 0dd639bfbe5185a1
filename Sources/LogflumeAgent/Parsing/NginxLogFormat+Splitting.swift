/// Why a line does not fit an nginx format.
enum NginxMismatch: Equatable {
    /// The literal text before the first variable is not at the start of the line.
    case prefix
    /// The literal after a variable never occurs after the variable's start.
    case terminatorNotFound(capture: Int, valueStart: Int)
    /// With `escape=none`, the line does not end with the format's closing literal.
    case missingSuffix(capture: Int)
    /// The format ended before the line did.
    case trailingBytes(at: Int)
}

extension NginxLogFormat {
    /// Splits `line` into the raw (still escaped) values of the format's variables.
    ///
    /// - Parameter value: called with each capture's index and the byte range of its value, in order,
    ///   once the whole line is known to fit.
    /// - Returns: why the line does not fit, or nil if it does.
    @inline(__always)
    func split(_ line: UnsafeRawBufferPointer, _ value: (Int, Range<Int>) -> Void) -> NginxMismatch? {
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: max(captures.count, 1)) { ranges in
            if let mismatch = splitter.split(line, into: ranges) { return mismatch }
            for index in 0..<captures.count { value(index, ranges[index]) }
            return nil
        }
    }

    /// A short reason for a mismatch, e.g. `expected '"' after $request at byte 57`.
    func describe(_ mismatch: NginxMismatch) -> String {
        switch mismatch {
        case .prefix:
            "expected '\(Self.text(prefix))' at byte 0"
        case .terminatorNotFound(let capture, let valueStart):
            "expected '\(Self.text(captures[capture].terminator))' after $\(captures[capture].name) at byte \(valueStart)"
        case .missingSuffix(let capture):
            "expected '\(Self.text(captures[capture].terminator))' at the end of the line"
        case .trailingBytes(let position):
            "unexpected bytes after the last field at byte \(position)"
        }
    }

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
