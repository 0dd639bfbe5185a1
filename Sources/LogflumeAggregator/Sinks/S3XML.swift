import Foundation

/// Just enough XML for S3's answers: error bodies (`<Error><Code>…</Code><Message>…</Message>`)
/// and ListObjectsV2 results. S3 sends flat, predictable documents, so elements are found by
/// name within a range instead of building a tree.
enum S3XML {
    /// The text of every `<name>…</name>` element in `text`, unescaped, in document order.
    static func elements(_ name: String, in text: Substring) -> [Substring] {
        var found: [Substring] = []
        let open = "<\(name)>", close = "</\(name)>"
        var rest = text[...]
        while let start = rest.range(of: open) {
            guard let end = rest[start.upperBound...].range(of: close) else { break }
            found.append(rest[start.upperBound..<end.lowerBound])
            rest = rest[end.upperBound...]
        }
        return found
    }

    static func first(_ name: String, in text: Substring) -> String? {
        elements(name, in: text).first.map { unescape($0) }
    }

    /// `text` with `&`, `<` and `>` as entities, for element content.
    static func escape(_ text: String) -> String {
        guard text.contains(where: { $0 == "&" || $0 == "<" || $0 == ">" }) else { return text }
        return text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Replaces the five predefined entities and numeric character references.
    static func unescape(_ text: Substring) -> String {
        guard text.contains("&") else { return String(text) }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { break }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let scalar: UInt32? = entity.hasPrefix("#x") || entity.hasPrefix("#X")
                    ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                if let scalar, let character = Unicode.Scalar(scalar) {
                    out.unicodeScalars.append(character)
                } else {
                    out += rest[amp...semicolon]
                }
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }

    /// What an S3 error body says: code, message and request id, when it has them.
    static func error(from body: [UInt8]) -> (code: String?, message: String?, requestId: String?) {
        let text = Substring(String(decoding: body, as: UTF8.self))
        return (first("Code", in: text), first("Message", in: text), first("RequestId", in: text))
    }

    /// One page of a ListObjectsV2 answer.
    struct ListPage: Equatable {
        var keys: [String] = []
        var commonPrefixes: [String] = []
        var nextContinuationToken: String?
    }

    static func listPage(from body: [UInt8]) -> ListPage {
        let text = Substring(String(decoding: body, as: UTF8.self))
        var page = ListPage()
        page.keys = elements("Contents", in: text).compactMap { first("Key", in: $0) }
        page.commonPrefixes = elements("CommonPrefixes", in: text).compactMap { first("Prefix", in: $0) }
        if first("IsTruncated", in: text) == "true" { page.nextContinuationToken = first("NextContinuationToken", in: text) }
        return page
    }
}
