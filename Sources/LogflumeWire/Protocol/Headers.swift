public import NIOCore

/// The request header (`RequestHeader.json`): v1 = api key, api version, correlation id, client
/// id; v2 (flexible requests) adds a tagged-field section. The client id is always the old
/// int16-prefixed nullable string, even in v2, so a broker can read the header of any
/// ApiVersions request, whatever its version.
public struct RequestHeader: Equatable, Sendable {
    /// The raw key, which may name an API this broker does not know.
    public var requestApiKey: Int16
    public var requestApiVersion: Int16
    public var correlationId: Int32
    public var clientId: String?

    public init(requestApiKey: Int16, requestApiVersion: Int16, correlationId: Int32, clientId: String?) {
        self.requestApiKey = requestApiKey
        self.requestApiVersion = requestApiVersion
        self.correlationId = correlationId
        self.clientId = clientId
    }

    public init(apiKey: ApiKey, apiVersion: Int16, correlationId: Int32, clientId: String?) {
        self.init(requestApiKey: apiKey.rawValue, requestApiVersion: apiVersion, correlationId: correlationId, clientId: clientId)
    }

    /// The API, or nil for a key this codec does not know.
    public var apiKey: ApiKey? { ApiKey(rawValue: requestApiKey) }

    /// 0, 1 or 2. Unknown API keys are read as v1: the prefix every version shares, which is all
    /// a broker needs to answer them.
    public var headerVersion: Int16 {
        apiKey?.requestHeaderVersion(requestApiVersion) ?? 1
    }

    /// Decodes the header at the front of a request frame, leaving `buffer` at the body. Works for
    /// every API key and version, so the broker can answer requests it does not support.
    public static func decode(from buffer: inout ByteBuffer) throws(KafkaDecodingError) -> RequestHeader {
        let start = buffer.readerIndex
        do throws(KafkaDecodingError) {
            let key = try buffer.readKafkaInt16("request_api_key")
            let version = try buffer.readKafkaInt16("request_api_version")
            let correlationId = try buffer.readKafkaInt32("correlation_id")
            var header = RequestHeader(requestApiKey: key, requestApiVersion: version, correlationId: correlationId, clientId: nil)
            let headerVersion = header.headerVersion
            if headerVersion >= 1 {
                header.clientId = try buffer.readKafkaNullableString("client_id")
            }
            if headerVersion >= 2 {
                try buffer.skipKafkaTaggedFields("request header tagged fields")
            }
            return header
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(requestApiKey)
        buffer.writeInteger(requestApiVersion)
        buffer.writeInteger(correlationId)
        let headerVersion = self.headerVersion
        if headerVersion >= 1 {
            buffer.writeKafkaNullableString(clientId)
        }
        if headerVersion >= 2 {
            buffer.writeKafkaEmptyTaggedFields()
        }
    }
}

/// The response header (`ResponseHeader.json`): v0 = correlation id; v1 (flexible responses)
/// adds a tagged-field section. ApiVersions responses always use v0 (see
/// `ApiKey.responseHeaderVersion`).
public struct ResponseHeader: Equatable, Sendable {
    public var correlationId: Int32

    public init(correlationId: Int32) {
        self.correlationId = correlationId
    }

    public static func decode(from buffer: inout ByteBuffer, headerVersion: Int16) throws(KafkaDecodingError) -> ResponseHeader {
        let start = buffer.readerIndex
        do throws(KafkaDecodingError) {
            let correlationId = try buffer.readKafkaInt32("correlation_id")
            if headerVersion >= 1 {
                try buffer.skipKafkaTaggedFields("response header tagged fields")
            }
            return ResponseHeader(correlationId: correlationId)
        } catch {
            buffer.moveReaderIndex(to: start)
            throw error
        }
    }

    public func encode(into buffer: inout ByteBuffer, headerVersion: Int16) {
        buffer.writeInteger(correlationId)
        if headerVersion >= 1 {
            buffer.writeKafkaEmptyTaggedFields()
        }
    }

    /// Bytes the header takes.
    public static func size(headerVersion: Int16) -> Int { headerVersion >= 1 ? 5 : 4 }
}
