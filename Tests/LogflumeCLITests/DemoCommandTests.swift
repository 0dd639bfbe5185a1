import Foundation
import Testing

/// The README's run command, end to end, judged by its own exit status and output.
@Suite struct DemoCommandTests {
    @Test func demoRunsAndReportsNoLoss() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = try logflumeBinary()
        process.arguments = ["demo", "--rounds", "2", "--max-run-ms", "200", "--data-dir", dir]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("round 2:"))
        #expect(text.contains("nothing acknowledged was lost"))
        #expect(!text.contains("PROBLEMS") && !text.contains("LOST"))

        let verify = Process()
        verify.executableURL = try logflumeBinary()
        verify.arguments = ["log", "verify", dir + "/demo-events-0"]
        let verifyOutput = Pipe()
        verify.standardOutput = verifyOutput
        try verify.run()
        let verifyText = String(decoding: verifyOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0)
        #expect(verifyText.contains("consistent"))
    }
}
