// swift-tools-version: 6.0
import PackageDescription

// Shared settings: Swift 6 language mode everywhere.
let swiftSettings: [SwiftSetting] = []

let package = Package(
  name: "berth",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "berth", targets: ["berth"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
  ],
  targets: [
    // System library: ncursesw through a module map and a shim header.
    .systemLibrary(name: "CNcursesw", path: "Sources/CNcursesw"),

    // Pure: the control-mode protocol (framing, parsing, reply matching, encoding).
    .target(name: "TmuxControl", swiftSettings: swiftSettings),
    // Pure: berth's model, target resolution, sanitising, config parsing, JSON shapes.
    .target(name: "BerthCore", swiftSettings: swiftSettings),
    // Pure: the panel's state, update and render.
    .target(name: "BerthPanel", dependencies: ["BerthCore"], swiftSettings: swiftSettings),

    // I/O: the tmux control connection and tmux facts.
    .target(name: "BerthTmux", dependencies: ["TmuxControl"], swiftSettings: swiftSettings),
    // I/O: the SQLite metadata store.
    .target(
      name: "BerthStore",
      dependencies: ["BerthCore", .product(name: "GRDB", package: "GRDB.swift")],
      swiftSettings: swiftSettings),
    // I/O glue: the session manager (tmux + store).
    .target(
      name: "BerthKit", dependencies: ["BerthCore", "BerthTmux", "BerthStore", "TmuxControl"],
      swiftSettings: swiftSettings),
    // I/O: the panel's I/O side (a state machine of events and actions, and the runner that
    // carries the actions out through the session manager).
    .target(
      name: "BerthPanelIO",
      dependencies: ["BerthKit", "BerthPanel", "BerthTerminal", "BerthCore", "BerthTmux", "TmuxControl"],
      swiftSettings: swiftSettings),
    // I/O: the ncurses driver that blits screen buffers and reads keys.
    .target(
      name: "BerthTerminal", dependencies: ["CNcursesw", "BerthPanel", "BerthCore"], swiftSettings: swiftSettings),
    // Thin executable: argument parsing and wiring.
    .executableTarget(
      name: "berth",
      dependencies: [
        "BerthKit", "BerthTerminal", "BerthPanel", "BerthPanelIO", "BerthCore", "BerthStore", "BerthTmux",
        "TmuxControl",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings,
      // Linked at a fixed address in release: a position-independent executable of this size
      // has 84,600 relocations to apply at every start (about 1 ms of each command) and 3 MB of
      // its data made private to the process by them (a third of the panel's own memory).
      // Shared libraries, heap and stack stay randomized; berth-serve, which listens on the
      // network, stays position-independent.
      linkerSettings: [
        .unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux], configuration: .release))
      ]),

    // Test helper executable: writes the store from a second process (lock and kill -9 tests).
    .executableTarget(
      name: "berth-store-stress", dependencies: ["BerthStore", "BerthCore"], path: "Sources/BerthStoreStress",
      swiftSettings: swiftSettings),

    // The web terminal backend (`berth serve` runs it): WebSocket /pty over SwiftNIO, in its
    // own executable so the panel's start-up never pays for the server.
    .executableTarget(
      name: "berth-serve",
      dependencies: [
        "BerthKit", "BerthCore", "BerthTmux",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
      ],
      path: "Sources/BerthServe", swiftSettings: swiftSettings),

    // Test support: private tmux servers for tests.
    // Test support: reference models shared by property tests and fuzz targets.
    .target(name: "TestModels", swiftSettings: swiftSettings),
    .target(name: "TmuxTestSupport", dependencies: ["BerthTmux"], swiftSettings: swiftSettings),

    .testTarget(name: "TmuxControlTests", dependencies: ["TmuxControl", "TestModels"], exclude: ["Transcripts"]),
    .testTarget(name: "BerthCoreTests", dependencies: ["BerthCore", "TestModels"]),
    .testTarget(name: "BerthPanelTests", dependencies: ["BerthPanel", "BerthCore"], exclude: ["__Snapshots__"]),
    .testTarget(name: "BerthTmuxTests", dependencies: ["BerthTmux", "TmuxControl", "TmuxTestSupport", "CNcursesw"]),
    .testTarget(
      name: "BerthStoreTests",
      dependencies: ["BerthStore", "BerthCore", .product(name: "GRDB", package: "GRDB.swift")]),
    .testTarget(name: "BerthTerminalTests", dependencies: ["BerthTerminal", "BerthPanel", "BerthCore"]),
    .testTarget(
      name: "BerthKitTests", dependencies: ["BerthKit", "BerthCore", "BerthTmux", "TmuxTestSupport", "TestModels"]),
    .testTarget(
      name: "BerthPanelIOTests",
      dependencies: ["BerthPanelIO", "BerthPanel", "BerthKit", "BerthCore", "BerthTerminal", "TmuxTestSupport"]),
    .testTarget(name: "EndToEndTests", dependencies: ["TmuxTestSupport"]),
    // The executable's own argument handling (its quick `list` reading against the parser).
    .testTarget(name: "BerthCLITests", dependencies: ["berth"]),
    .testTarget(
      name: "BerthServeTests",
      dependencies: [
        "TmuxTestSupport",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
      ]),
  ]
)
