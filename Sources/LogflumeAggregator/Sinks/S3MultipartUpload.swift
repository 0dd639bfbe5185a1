import Foundation
import Logging

/// How a staged data file is cut into the parts of a multipart upload.
///
/// S3's limits: at most 10,000 parts, each at least 5 MiB except the last and at most 5 GiB, and
/// objects of at most 5 TiB. The configured part size is raised (to whole MiB) where a file
/// would otherwise need more than 10,000 parts, so `output.max_file_bytes` needs no S3 bound of
/// its own.
struct S3MultipartPlan: Equatable {
    static let maxParts = 10_000
    static let minPartBytes: Int64 = 5 << 20
    static let maxPartBytes: Int64 = 5 << 30
    static let maxObjectBytes: Int64 = 5 << 40

    let fileBytes: Int64
    let partBytes: Int64

    /// - Throws: `EntityTooLarge` for a file over S3's 5 TiB object limit.
    init(fileBytes: Int64, configuredPartBytes: Int64, location: String) throws {
        guard fileBytes <= Self.maxObjectBytes else {
            throw S3Error(operation: "CreateMultipartUpload", location: location, code: "EntityTooLarge", message: "\(fileBytes) bytes is over S3's 5 TiB object limit")
        }
        let needed = (fileBytes + Int64(Self.maxParts) - 1) / Int64(Self.maxParts)
        let mebibyte: Int64 = 1 << 20
        let raised = (needed + mebibyte - 1) / mebibyte * mebibyte
        self.fileBytes = fileBytes
        partBytes = min(Self.maxPartBytes, max(Self.minPartBytes, configuredPartBytes, raised))
    }

    var partCount: Int { max(1, Int((fileBytes + partBytes - 1) / partBytes)) }

    /// Part `number` (1-based): where it starts in the file and how long it is.
    func part(_ number: Int) -> (offset: Int64, size: Int64) {
        let offset = Int64(number - 1) * partBytes
        return (offset, min(partBytes, fileBytes - offset))
    }
}

extension S3Client {
    /// CreateMultipartUpload: the upload id the parts and the completion name.
    func createMultipartUpload(_ key: String) throws -> String {
        let response = try send("POST", key: key, query: [("uploads", "")])
        guard (200...299).contains(response.status) else { throw failure("CreateMultipartUpload", key: key, response) }
        guard let uploadId = S3XML.first("UploadId", in: response.text), !uploadId.isEmpty else {
            throw S3Error(operation: "CreateMultipartUpload", location: location(key), status: response.status, code: "MalformedResponse", message: "no UploadId in the answer")
        }
        return uploadId
    }

    /// UploadPart: the part's ETag, which the completion lists. Retries stop early once
    /// `proceed` says so (another part of the upload failed for good).
    func uploadPart(_ key: String, uploadId: String, number: Int, body: S3Body, retryingWhile proceed: () -> Bool = { true }) throws -> String {
        let response = try send(
            "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadId)], body: body, operation: "UploadPart \(number)",
            retryingWhile: proceed
        )
        guard (200...299).contains(response.status) else { throw failure("UploadPart \(number)", key: key, response) }
        guard let etag = response.header("ETag"), !etag.isEmpty else {
            throw S3Error(operation: "UploadPart \(number)", location: location(key), status: response.status, code: "MalformedResponse", message: "no ETag in the answer")
        }
        return etag
    }

    /// CompleteMultipartUpload: the object appears, whole, with the parts in order.
    ///
    /// S3 answers 200 before it has joined the parts, so an error can come in the body of a 200:
    /// only a `CompleteMultipartUploadResult` is success, and an error S3 asks to retry
    /// (`InternalError`, `SlowDown`, ...) is retried by `send` as a 5xx is. An upload S3 no
    /// longer knows (`NoSuchUpload`) was completed by an earlier attempt whose answer was lost if
    /// the object under the key is a multipart object of as many parts: that counts as done.
    func completeMultipartUpload(_ key: String, uploadId: String, etags: [String]) throws {
        var xml = #"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let operation = "CompleteMultipartUpload"
        func retryableErrorIn200(_ response: S3Response) -> Bool {
            (200...299).contains(response.status) && Self.retryableCodes.contains(S3XML.error(from: response.body).code ?? "")
        }
        let response = try send(
            "POST", key: key, query: [("uploadId", uploadId)], body: .bytes(Array(xml.utf8)), alsoRetrying: retryableErrorIn200, operation: operation
        )
        if (200...299).contains(response.status), response.text.contains("<CompleteMultipartUploadResult") { return }
        let code = S3XML.error(from: response.body).code
        if code == "NoSuchUpload", isMultipartObject(key, parts: etags.count) { return }
        var error = failure(operation, key: key, response)
        if (200...299).contains(response.status) {
            error.code = code ?? "MalformedResponse"
            if code == nil { error.message = "a 200 answer without CompleteMultipartUploadResult" }
        }
        // Still retryable: every attempt `send` had was answered so.
        if retryableErrorIn200(response) { error.attempts = configuration.retries + 1 }
        throw error
    }

    /// Error codes S3 may put in the body of a 200 answer that it asks to be retried.
    static let retryableCodes: Set<String> = ["InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"]

    /// Whether the object under `key` is a multipart upload's of `parts` parts (its ETag ends in
    /// `-<parts>`). A failed check counts as no.
    private func isMultipartObject(_ key: String, parts: Int) -> Bool {
        guard let response = try? send("HEAD", key: key), (200...299).contains(response.status),
              let etag = response.header("ETag") else { return false }
        return etag.trimmingCharacters(in: ["\""]).hasSuffix("-\(parts)")
    }

    /// AbortMultipartUpload: the parts uploaded so far are freed.
    func abortMultipartUpload(_ key: String, uploadId: String) throws {
        let response = try send("DELETE", key: key, query: [("uploadId", uploadId)])
        guard (200...299).contains(response.status) || response.status == 404 else { throw failure("AbortMultipartUpload", key: key, response) }
    }

    /// ListMultipartUploads under `prefix`: the keys of uploads begun and neither completed nor
    /// aborted (one page, up to 1,000).
    func listMultipartUploads(prefix: String) throws -> [String] {
        let response = try send("GET", key: nil, query: [("uploads", ""), ("prefix", prefix)])
        guard (200...299).contains(response.status) else { throw failure("ListMultipartUploads", key: prefix, response) }
        return S3XML.elements("Upload", in: response.text).compactMap { S3XML.first("Key", in: $0) }
    }

    /// Uploads a staged file as the object `key` in the parts of `plan`, each signed with its own
    /// hash and retried on its own, `multipartConcurrency` parts at a time (one connection to S3
    /// is limited well below a host's link and AWS advises parallel ones, as the AWS CLI sends;
    /// the parts are also hashed on every core); the object appears only when the upload is
    /// completed, so readers never see part of it. On failure the upload is aborted (a crash, or
    /// an abort that fails, leaves it to the bucket's lifecycle rule for incomplete uploads). A
    /// create whose answer was lost and was sent again leaves an upload without parts, which costs
    /// nothing but a line in ListMultipartUploads until that rule removes it.
    func putObjectInParts(_ key: String, file: String, plan: S3MultipartPlan) throws {
        let uploadId = try createMultipartUpload(key)
        do {
            let etags = try BlockingWorkers.map(items: plan.partCount, workers: configuration.multipartConcurrency) { number, failed in
                let (offset, size) = plan.part(number)
                let region = S3FileRegion(path: file, offset: offset, size: size)
                let hash = try region.sha256(operation: "UploadPart \(number)", location: self.location(key))
                // Once a part has failed for good the upload is aborted: the others stop retrying.
                let body = S3Body.file(path: file, offset: offset, size: size, sha256: hash)
                return try self.uploadPart(key, uploadId: uploadId, number: number, body: body, retryingWhile: { !failed() })
            }
            try completeMultipartUpload(key, uploadId: uploadId, etags: etags)
        } catch {
            do {
                try abortMultipartUpload(key, uploadId: uploadId)
            } catch let abort {
                logger.warning("S3 multipart upload not aborted; its parts stay until the bucket's lifecycle rule removes them", metadata: [
                    "s3.location": "\(location(key))", "s3.upload_id": "\(uploadId)", "error": "\(abort)",
                ])
            }
            throw error
        }
    }
}
