import CLibcrypto

/// SHA-256 (FIPS 180-4), streaming, through OpenSSL's libcrypto: the S3 sink hashes every byte it
/// uploads (`x-amz-content-sha256`), and libcrypto's code for the CPU's SHA extensions runs at
/// about 1.7 GB/s here (`openssl speed -evp sha256`), where the portable Swift this replaced
/// was 64% of a multipart upload's 0.46 s of CPU per 64 MiB (about 0.2 GB/s). Also the base of `HMACSHA256` for SigV4 signing keys.
/// A value type: a copy carries on from the state it was copied at.
struct SHA256 {
    static let blockBytes = 64

    private var context = SHA256_CTX()

    init() {
        SHA256_Init(&context)
    }

    /// The digest of `bytes` in one call.
    static func hash(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(Array(bytes))
        return hasher.finalize()
    }

    /// The lowercase hex digest of `bytes`.
    static func hexHash(_ bytes: some Collection<UInt8>) -> String { hex(hash(bytes)) }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { update($0) }
    }

    mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        SHA256_Update(&context, base, bytes.count)
    }

    /// The 32-byte digest of everything given to `update`; the hasher then starts over empty.
    mutating func finalize() -> [UInt8] {
        let digest = [UInt8](unsafeUninitializedCapacity: Int(SHA256_DIGEST_LENGTH)) { digest, count in
            SHA256_Final(digest.baseAddress, &context)
            count = Int(SHA256_DIGEST_LENGTH)
        }
        SHA256_Init(&context)
        return digest
    }
}

/// Lowercase hexadecimal, two digits per byte.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
