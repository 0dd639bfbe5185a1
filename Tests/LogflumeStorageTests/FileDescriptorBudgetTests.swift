import Foundation
import LogflumeStorage
import LogflumeWire
import Testing

@Suite struct FileDescriptorBudgetTests {
    /// Ten thousand partitions through a budget of 256 descriptors: every append and read works,
    /// and the process never holds more than the budget (plus the ranges a reader still holds).
    @Test func tenThousandPartitionsStayUnderTheBudget() throws {
        let dir = TemporaryDirectory("many")
        defer { dir.remove() }
        let budget = FileDescriptorBudget(limit: 256)
        var config = LogConfig()
        config.segmentIndexBytes = 4096
        var logs: [PartitionLog] = []
        for p in 0..<10_000 {
            let log = try PartitionLog.open(directory: "\(dir.path)/t-\(p)", config: config, budget: budget)
            try log.append(makeBatch("p\(p)"))
            logs.append(log)
            if budget.openCount > 256 { Issue.record("over budget at \(p)") }
        }
        #expect(descriptors(under: dir.path) <= 256)
        for (p, log) in logs.enumerated() where p % 97 == 0 {
            #expect(try log.values() == ["p\(p)-0"])
        }
        #expect(budget.openCount <= 256)
        for log in logs { try log.close() }
        #expect(budget.openCount == 0)
        #expect(descriptors(under: dir.path) == 0, "closing a log closes its files")
    }

    /// Descriptors this process holds on files below `directory` (other tests run concurrently).
    func descriptors(under directory: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd))?.hasPrefix(directory) == true
        }.count
    }
}
