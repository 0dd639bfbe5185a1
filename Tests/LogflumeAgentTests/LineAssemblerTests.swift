@testable import LogflumeAgent
import Testing

@Suite("Line assembler")
struct LineAssemblerTests {
    /// Feeds `text` in pieces of `step` bytes; returns the lines, their full lengths and the bytes consumed.
    private func lines(_ text: String, step: Int, max: Int = 1 << 20) -> (lines: [String], lengths: [Int], consumed: Int, pending: Int) {
        var assembler = LineAssembler(maxLineBytes: max)
        var out: [String] = []
        var lengths: [Int] = []
        var consumed = 0
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + step)
            bytes[start..<end].withUnsafeBytes { chunk in
                assembler.feed(chunk) { line, used in
                    out.append(String(decoding: line.bytes, as: UTF8.self))
                    lengths.append(line.fullLength)
                    consumed += used
                }
            }
            start = end
        }
        return (out, lengths, consumed, assembler.pendingLength)
    }

    @Test("lines split across any chunking come out whole, bytes unchanged", arguments: [1, 2, 3, 7, 64, 4096])
    func chunking(step: Int) {
        let text = "alpha\nbeta\r\n\ngamma é\ndelta"
        let result = lines(text, step: step)
        #expect(result.lines == ["alpha", "beta\r", "", "gamma é"])
        #expect(result.consumed == text.utf8.count - "delta".utf8.count)
        #expect(result.pending == 5)
    }

    @Test("a long line is cut to the limit and reports its full length", arguments: [1, 5, 100])
    func longLine(step: Int) {
        let text = "short\n" + String(repeating: "x", count: 50) + "\nnext\n"
        let result = lines(text, step: step, max: 10)
        #expect(result.lines == ["short", String(repeating: "x", count: 10), "next"])
        #expect(result.lengths == [5, 50, 4])
        #expect(result.consumed == text.utf8.count)
    }

    @Test("an unterminated line is handed out on request and then forgotten")
    func unterminated() {
        var assembler = LineAssembler(maxLineBytes: 100)
        Array("one\ntwo".utf8).withUnsafeBytes { assembler.feed($0) { _, _ in } }
        var taken: [String] = []
        var consumed = 0
        assembler.takeUnterminated { line, used in
            taken.append(String(decoding: line.bytes, as: UTF8.self))
            consumed = used
        }
        #expect(taken == ["two"])
        #expect(consumed == 3)
        #expect(!assembler.hasPending)
    }
}
