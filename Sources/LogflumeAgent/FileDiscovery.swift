#if canImport(Glibc)
import Glibc
#endif

/// Expands the inputs' glob patterns into paths, minus the excluded ones.
struct FileDiscovery {
    let inputs: [InputConfig]

    /// Every matching path with the index of the first input that claims it, in a stable order.
    func scan() -> [(path: String, input: Int)] {
        var seen: Set<String> = []
        var found: [(path: String, input: Int)] = []
        for (index, input) in inputs.enumerated() {
            for pattern in input.paths {
                for path in Self.expand(pattern) where !seen.contains(path) && !Self.isExcluded(path, by: input.exclude) {
                    seen.insert(path)
                    found.append((path, index))
                }
            }
        }
        return found
    }

    /// The directories whose entries may match a pattern: the fixed prefix before the first
    /// wildcard, plus every directory a wildcard directory component currently matches. These
    /// are what inotify watches.
    func watchedDirectories() -> Set<String> {
        var directories: Set<String> = []
        for pattern in inputs.flatMap(\.paths) {
            let parent = Self.parentDirectory(pattern)
            if parent.contains(where: { "*?[".contains($0) }) {
                for directory in Self.expand(parent) { directories.insert(directory) }
            } else {
                directories.insert(parent)
            }
        }
        return directories
    }

    static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func expand(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, 0, nil, &result) == 0 else { return [] }
        var paths: [String] = []
        for index in 0..<Int(result.gl_pathc) {
            if let path = result.gl_pathv[index] { paths.append(String(cString: path)) }
        }
        return paths
    }

    static func isExcluded(_ path: String, by patterns: [String]) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return patterns.contains { fnmatch($0, name, 0) == 0 || fnmatch($0, path, 0) == 0 }
    }
}
