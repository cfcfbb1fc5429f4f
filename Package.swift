// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every target of the project.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let httpTypes = Target.Dependency.product(name: "HTTPTypes", package: "swift-http-types")
let crypto = Target.Dependency.product(name: "Crypto", package: "swift-crypto")
let nio: [Target.Dependency] = ["NIOCore", "NIOPosix", "NIOConcurrencyHelpers"].map {
    .product(name: $0, package: "swift-nio")
}

/// Notification's own dependencies: Mustache templates, an HTTP client for the gateway, TLS for the webhook
/// client, HMAC signing.
let notificationExtras: [Target.Dependency] =
    [
        .product(name: "Mustache", package: "swift-mustache"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        crypto, .product(name: "NIOHTTP1", package: "swift-nio"),
    ] + nio

/// Declares one service executable under `Services/<directory>`: every service stands on the shared modules.
/// Its resources: `Migrations/` (ordered `.sql` files), `openapi.yaml`, and `Public/` (web pages) where it has one.
func service(
    _ name: String, extra: [Target.Dependency] = [], pages: Bool = false, resources: [Resource] = []
) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "ServiceSupport", "Database", "AMQP", "Eventing", "Contracts", hummingbird, httpTypes, lifecycle, logging,
        ]
            + extra,
        path: "Services/\(name)",
        resources: [.copy("Migrations"), .copy("openapi.yaml")] + (pages ? [.copy("Public")] : []) + resources,
        swiftSettings: swiftSettings
    )
}

/// Declares the tests of a service: unit tests with `app.test(.router)` and integration tests on the real stack.
func serviceTests(_ name: String, extra: [Target.Dependency] = []) -> Target {
    .testTarget(
        name: "\(name)Tests",
        dependencies: [
            .target(name: name), "TestSupport", "ServiceSupport", "Database", "AMQP", "Eventing", "Contracts",
            hummingbird,
            httpTypes, lifecycle, logging, .product(name: "HummingbirdTesting", package: "hummingbird"),
        ] + extra,
        swiftSettings: swiftSettings
    )
}

let package = Package(
    name: "asn-reward",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "intake", targets: ["Intake"]),
        .executable(name: "verification", targets: ["Verification"]),
        .executable(name: "scoring", targets: ["Scoring"]),
        .executable(name: "notification", targets: ["Notification"]),
        .executable(name: "asnreward", targets: ["CLI"]),
        .executable(name: "asnreward-bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already in the graph through Hummingbird; named for NIOThreadPool (intake's file I/O) and the bench's client.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Notification: templates as files and the WhatsApp/SMS gateway and webhook HTTP client.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Already in the graph through AsyncHTTPClient; named for the webhook client's TLS.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // C libraries from Debian packages.
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CRabbitMQ",
            path: "Shared/CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        // libjpeg-turbo's TurboJPEG (JPEG decode at 1/8 scale, encode for tests) and zlib (PNG inflate).
        .systemLibrary(
            name: "CPhotoCodecs",
            path: "Shared/CPhotoCodecs",
            pkgConfig: "libturbojpeg",
            providers: [.apt(["libturbojpeg0-dev", "zlib1g-dev"])]
        ),

        // Shared modules.
        .target(name: "Contracts", path: "Shared/Contracts", swiftSettings: swiftSettings),
        .target(
            name: "Photo",
            dependencies: ["CPhotoCodecs", "Contracts"],
            path: "Shared/Photo",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Database",
            dependencies: ["CLibPQ", logging, lifecycle, metrics],
            path: "Shared/Database",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AMQP",
            dependencies: ["CRabbitMQ", logging, lifecycle, metrics],
            path: "Shared/AMQP",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Eventing",
            dependencies: ["AMQP", "Database", "Contracts", logging, lifecycle, metrics],
            path: "Shared/Eventing",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServiceSupport",
            dependencies: [
                "Database", "AMQP", "Eventing", "Contracts", hummingbird, lifecycle, logging, metrics,
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Shared/ServiceSupport",
            swiftSettings: swiftSettings
        ),

        // Services and tools.
        service("Intake", extra: [crypto, "Photo"] + nio, pages: true),
        service("Verification", pages: true),
        service("Scoring", extra: [.product(name: "Yams", package: "Yams")], pages: true),
        service("Notification", extra: notificationExtras, pages: true, resources: [.copy("Templates")]),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "Contracts", "ServiceSupport", "AMQP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            path: "Services/CLI",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "Database", "AMQP", "Eventing", "Contracts", "ServiceSupport", "TestSupport", "Photo", logging,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Services/Bench",
            swiftSettings: swiftSettings
        ),

        // Tests.
        .target(
            name: "TestSupport",
            dependencies: ["Database", "AMQP", "Eventing", "Contracts", logging],
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "ContractsTests", dependencies: ["Contracts"], swiftSettings: swiftSettings),
        .testTarget(name: "DatabaseTests", dependencies: ["Database", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "MessagingTests",
            dependencies: ["AMQP", "Eventing", "Database", "Contracts", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceSupportTests",
            dependencies: [
                "ServiceSupport", "TestSupport", "Database", hummingbird,
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        serviceTests("Intake", extra: ["Photo"] + nio),
        serviceTests("Verification", extra: [crypto]),
        serviceTests("Scoring"),
        serviceTests("Notification", extra: notificationExtras),
        // deploy/: the RabbitMQ definitions against the topology the four services declare.
        .testTarget(
            name: "DeployTests",
            dependencies: [
                .target(name: "Intake"), .target(name: "Verification"), .target(name: "Scoring"),
                .target(name: "Notification"), "TestSupport", "ServiceSupport", "AMQP", logging,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Contracts", "TestSupport", "ServiceSupport", "Database", "AMQP", "Eventing", "Photo", logging,
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
