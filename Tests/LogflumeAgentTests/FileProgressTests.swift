@testable import LogflumeAgent
import Testing

@Suite("File progress")
struct FileProgressTests {
    @Test("the safe offset moves only over a settled prefix, whatever order chunks settle in")
    func prefix() {
        var progress = FileProgress(safeOffset: 100)
        let chunks = [ShippedChunk(endOffset: 200, records: 2), ShippedChunk(endOffset: 300, records: 1), ShippedChunk(endOffset: 400, records: 3)]
        for chunk in chunks { progress.append(chunk) }
        chunks[2].recordsSettled(3)
        chunks[1].recordsSettled()
        progress.advance()
        #expect(progress.safeOffset == 100)
        chunks[0].recordsSettled()
        progress.advance()
        #expect(progress.safeOffset == 100)
        chunks[0].recordsSettled()
        progress.advance()
        #expect(progress.safeOffset == 400)
        #expect(progress.inFlight == 0)
    }

    @Test("a restart forgets chunks in flight")
    func restart() {
        var progress = FileProgress(safeOffset: 0)
        progress.append(ShippedChunk(endOffset: 50, records: 1))
        progress.restart(at: 0)
        progress.advance()
        #expect(progress.safeOffset == 0)
        #expect(progress.inFlight == 0)
    }
}
