/// Why the agent cannot start or go on.
public enum AgentError: Error, CustomStringConvertible {
    case stateDirectory(path: String, reason: String)
    case corruptCheckpoints(path: String, reason: String)
    case spool(path: String, reason: String)

    public var description: String {
        switch self {
        case .stateDirectory(let path, let reason): return "state directory \(path): \(reason)"
        case .corruptCheckpoints(let path, let reason):
            return "checkpoint file \(path) is unreadable (\(reason)); move it aside to start over (files are then read again from their start)"
        case .spool(let path, let reason): return "spool \(path): \(reason)"
        }
    }
}
