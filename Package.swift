// swift-tools-version:6.0
import PackageDescription

// Upcoming-feature flags that keep the module boundaries honest.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Release builds skip the dynamic exclusivity checks (about 5% of the agent's CPU per line);
    // debug builds, which every test runs, keep them.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "logflume",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "logflume", targets: ["logflume"]),
        .library(name: "LogflumeWire", targets: ["LogflumeWire"]),
        .library(name: "LogflumeStorage", targets: ["LogflumeStorage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // TLS for the S3 sink (https:// endpoints such as AWS S3).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSnappy", path: "Sources/CSnappy", providers: [.apt(["libsnappy-dev"])]),
        // The aggregator's gzip encoder for smaller files (output.gzip_encoder = "libdeflate"):
        // libdeflate compresses whole chunks 2-2.5x faster than zlib.
        .systemLibrary(name: "CLibdeflate", path: "Sources/CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // SHA-256 for the S3 sink's payload hashes and signatures: OpenSSL's libcrypto uses the
        // CPU's SHA extensions, eight times the speed of portable code on an upload's bytes.
        .systemLibrary(name: "CLibcrypto", path: "Sources/CLibcrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The aggregator's default gzip encoder (output.gzip_encoder = "isa-l"): Intel's igzip.
        .systemLibrary(name: "CIsal", path: "Sources/CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),

        // CRC-32C: the SSE4.2 instruction needs a C intrinsic; the table fallback lives beside it.
        .target(name: "CCRC32C", path: "Sources/CCRC32C", cSettings: [.unsafeFlags(["-O3"])]),
        // fallocate(2) for segment preallocation (Glibc hides it behind _GNU_SOURCE).
        .target(name: "CFileSpace", path: "Sources/CFileSpace"),
        // mallopt(3) for the readers of compressed batches (Swift's Glibc module lacks malloc.h).
        .target(name: "CHeap", path: "Sources/CHeap"),
        // igzip's stream state is a large C struct: it stays on the C side, behind four functions.
        .target(name: "CIgzipChunk", dependencies: ["CIsal"], path: "Sources/CIgzipChunk"),

        .target(
            name: "LogflumeCompression",
            dependencies: [
                "CZlib", "CZstd", "CLZ4", "CSnappy",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeWire",
            dependencies: [
                "CCRC32C", "LogflumeCompression",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "LogflumeConfig", swiftSettings: strictSettings),
        .target(
            name: "LogflumeStorage",
            dependencies: [
                "LogflumeWire", "CFileSpace",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeBroker",
            dependencies: [
                "LogflumeWire", "LogflumeStorage", "LogflumeConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeClient",
            dependencies: [
                "LogflumeWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeMetrics",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeAgent",
            dependencies: [
                "LogflumeClient", "LogflumeConfig", "LogflumeWire", "LogflumeStorage", "LogflumeMetrics", "LogflumeCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "LogflumeAggregator",
            dependencies: [
                "LogflumeClient", "LogflumeConfig", "LogflumeWire", "LogflumeStorage", "LogflumeMetrics", "LogflumeCompression",
                "CZlib", "CZstd", "CLibdeflate", "CIgzipChunk", "CLibcrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "logflume",
            dependencies: [
                "LogflumeWire", "LogflumeStorage", "LogflumeBroker", "LogflumeClient", "LogflumeConfig",
                "LogflumeMetrics", "LogflumeAgent", "LogflumeAggregator", "CHeap",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "LogflumeFuzzing", dependencies: ["LogflumeWire", .product(name: "NIOCore", package: "swift-nio")], swiftSettings: strictSettings),
        .executableTarget(name: "logflume-fuzz", dependencies: ["LogflumeFuzzing"], path: "fuzz/RequestDecoderFuzzer"),
        .executableTarget(
            name: "logflume-bench",
            dependencies: [
                "LogflumeWire", "LogflumeStorage", "LogflumeClient", "LogflumeAggregator", "CCRC32C",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/LogflumeBench",
            swiftSettings: strictSettings
        ),

        .testTarget(name: "LogflumeCompressionTests", dependencies: ["LogflumeCompression"]),
        .testTarget(name: "LogflumeWireTests", dependencies: ["LogflumeWire", "CCRC32C"]),
        .testTarget(
            name: "LogflumeStorageTests",
            dependencies: ["LogflumeStorage", "LogflumeWire", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "LogflumeConfigTests", dependencies: ["LogflumeConfig"]),
        .testTarget(name: "LogflumeFuzzingTests", dependencies: ["LogflumeFuzzing"]),
        .testTarget(
            name: "LogflumeBrokerTests",
            dependencies: [
                "LogflumeBroker", "LogflumeStorage", "LogflumeWire", "LogflumeConfig",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "LogflumeClientTests",
            dependencies: [
                "LogflumeClient", "LogflumeWire", "LogflumeTestSupport",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A real broker in the test process, shared by the agent and aggregator tests.
        .target(
            name: "LogflumeTestSupport",
            dependencies: [
                "LogflumeBroker",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/LogflumeTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LogflumeAgentTests",
            dependencies: [
                "LogflumeAgent", "LogflumeTestSupport", "LogflumeClient", "LogflumeBroker", "LogflumeWire", "LogflumeConfig",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LogflumeAggregatorTests",
            dependencies: [
                "LogflumeAggregator", "LogflumeTestSupport", "LogflumeClient", "LogflumeBroker", "LogflumeWire", "LogflumeConfig", "LogflumeCompression",
                "LogflumeMetrics",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "LogflumeMetricsTests",
            dependencies: [
                "LogflumeMetrics", "LogflumeTestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "LogflumeCLITests", dependencies: ["logflume", "LogflumeStorage", "LogflumeWire"]),
    ],
    swiftLanguageModes: [.v6]
)
