import Foundation

/// Deterministic nginx access logs for `logflume up`: several hours of `combined` lines before
/// the current hour, split into rotated files the way logrotate leaves them (`access.log.2`,
/// `access.log.1`, `access.log`). Rotation happens a little after each file's last hour ends,
/// and `$time_local` is when a request started while lines are written when it ends, so lines
/// cross hour boundaries out of order, as in production.
struct SampleNginxLogs {
    let hours: Int
    let linesPerHour: Int
    /// Start of the first sample hour, ms since the epoch (UTC hour boundary).
    let firstHourMs: Int64

    init(hours: Int = 6, linesPerHour: Int = 3_000, nowMs: Int64) {
        self.hours = hours
        self.linesPerHour = linesPerHour
        let currentHour = nowMs / 3_600_000 * 3_600_000
        firstHourMs = currentHour - Int64(hours) * 3_600_000
    }

    /// The hours the logs cover, as `dt=YYYY-MM-DD/hr=HH` paths.
    var hourPaths: [String] {
        (0..<hours).map { index in
            let date = Date(timeIntervalSince1970: TimeInterval(firstHourMs / 1000 + Int64(index) * 3600))
            let components = Calendar.utc.dateComponents([.year, .month, .day, .hour], from: date)
            return String(format: "dt=%04d-%02d-%02d/hr=%02d", components.year!, components.month!, components.day!, components.hour!)
        }
    }

    var totalLines: Int { hours * linesPerHour }

    /// Writes the files into `directory`; returns their paths, oldest first.
    func write(into directory: String) throws -> [String] {
        var generator = SplitMix64(seed: 20_261_120)
        // (end time, start time, line) for every request, in the order nginx writes them (end time).
        var requests: [(endMs: Int64, line: String)] = []
        for hour in 0..<hours {
            for index in 0..<linesPerHour {
                let startMs = firstHourMs + Int64(hour) * 3_600_000 + Int64(index) * 3_600_000 / Int64(linesPerHour)
                    + Int64(generator.next() % 1_000)
                // Most requests take milliseconds; one in twenty is slow and finishes up to a minute later.
                let durationMs = generator.next() % 20 == 0 ? Int64(generator.next() % 60_000) : Int64(generator.next() % 300)
                requests.append((startMs + durationMs, Self.line(startMs: startMs, random: &generator)))
            }
        }
        requests.sort { $0.endMs < $1.endMs }
        // Rotation every two hours, 30 s past the hour: the files' contents overlap hours.
        let filesCount = max(1, (hours + 1) / 2)
        var paths: [String] = []
        for file in 0..<filesCount {
            let rotationEnd = file == filesCount - 1 ? Int64.max : firstHourMs + Int64(file + 1) * 2 * 3_600_000 + 30_000
            let rotationStart = file == 0 ? Int64.min : firstHourMs + Int64(file) * 2 * 3_600_000 + 30_000
            let age = filesCount - 1 - file
            let path = directory + (age == 0 ? "/access.log" : "/access.log.\(age)")
            let text = requests.filter { $0.endMs >= rotationStart && $0.endMs < rotationEnd }.map { $0.line + "\n" }.joined()
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        return paths
    }

    private static let paths = ["/", "/index.html", "/api/v1/orders", "/api/v1/users/42", "/static/app.js", "/static/app.css", "/login", "/search?q=logs", "/img/logo.png", "/health"]
    private static let agents = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
        "curl/8.5.0", "Go-http-client/1.1", "kube-probe/1.31",
    ]
    private static let statuses = [200, 200, 200, 200, 200, 200, 304, 301, 404, 500]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// One `combined` line of a request that started at `startMs`.
    static func line(startMs: Int64, random: inout SplitMix64) -> String {
        let address = "10.\(random.next() % 4).\(random.next() % 256).\(random.next() % 254 + 1)"
        let path = Self.paths[Int(random.next() % UInt64(Self.paths.count))]
        let method = path.hasPrefix("/api/v1/orders") && random.next() % 3 == 0 ? "POST" : "GET"
        let status = Self.statuses[Int(random.next() % UInt64(Self.statuses.count))]
        let bytes = status == 304 ? 0 : Int(random.next() % 40_000) + 120
        let agent = Self.agents[Int(random.next() % UInt64(Self.agents.count))]
        let referer = random.next() % 3 == 0 ? "https://example.com/" : "-"
        return "\(address) - - [\(Self.timeLocal(startMs))] \"\(method) \(path) HTTP/1.1\" \(status) \(bytes) \"\(referer)\" \"\(agent)\""
    }

    /// nginx's `$time_local` in UTC: `20/Nov/2026:06:00:01 +0000`.
    static func timeLocal(_ ms: Int64) -> String {
        let components = Calendar.utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(ms / 1000)))
        return String(
            format: "%02d/%@/%04d:%02d:%02d:%02d +0000", components.day!, months[components.month! - 1], components.year!,
            components.hour!, components.minute!, components.second!
        )
    }
}

/// A small deterministic generator, so the sample logs are the same bytes for the same hour.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()
}
