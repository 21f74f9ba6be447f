import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Synchronization
import Testing

/// The one context builder `berth` and `berth-serve` share (issue 13): the same options and
/// environment give the same context in both.
struct ContextBuilderTests {
  final class Warnings: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
  }

  @Test func theConfigFileSetsTheSettingsAndFlagsWin() throws {
    let dir = try TemporaryDirectory()
    let config = dir.file("config.toml")
    try "prefix = \"zz-\"\nhistoryLimit = 4321\nworkspaceWarnAt = 2\nworkspaceLimit = 3\n".write(
      toFile: config, atomically: true, encoding: .utf8)
    let env = ["HOME": dir.path, "XDG_STATE_HOME": dir.file("state"), "BERTH_FAKE_BOOT_TIME": "1000"]
    let warnings = Warnings()
    let context = try ContextBuilder.build(
      ContextOptions(socketName: "sock", config: config), environment: env, warn: { warnings.add($0) },
      executablePath: "/x/berth")
    #expect(context.settings.prefix == "zz-")
    #expect(context.settings.historyLimit == 4321)
    #expect(context.settings.workspaceLimit == 3)
    #expect(context.socket == .name("sock"))
    #expect(context.databasePath == dir.file("state") + "/berth/berth.sqlite3")
    #expect(context.bootClock.bootTime() == Date(timeIntervalSince1970: 1000))
    #expect(context.executablePath == "/x/berth")
    #expect(warnings.all.isEmpty)

    // --prefix and --db decide over the file.
    let flagged = try ContextBuilder.build(
      ContextOptions(database: dir.file("other.sqlite3"), prefix: "yy-", config: config), environment: env,
      warn: { _ in }, executablePath: nil)
    #expect(flagged.settings.prefix == "yy-")
    #expect(flagged.settings.historyLimit == 4321)
    #expect(flagged.databasePath == dir.file("other.sqlite3"))
  }

  @Test func configProblemsAreWarningsAndABadPrefixIsRefused() throws {
    let dir = try TemporaryDirectory()
    let config = dir.file("config.toml")
    try "historyLimit = \"lots\"\n".write(toFile: config, atomically: true, encoding: .utf8)
    let warnings = Warnings()
    let context = try ContextBuilder.build(
      ContextOptions(config: config), environment: ["HOME": dir.path], warn: { warnings.add($0) },
      executablePath: nil)
    #expect(context.settings.historyLimit == BerthSettings().historyLimit)
    #expect(warnings.all.count == 1)
    #expect(warnings.all.first?.contains("historyLimit") == true, "\(warnings.all)")

    let missing = Warnings()
    _ = try ContextBuilder.build(
      ContextOptions(config: dir.file("nope.toml")), environment: ["HOME": dir.path], warn: { missing.add($0) },
      executablePath: nil)
    #expect(missing.all == ["the config file \(dir.file("nope.toml")) cannot be read: using defaults"])

    #expect(throws: BerthError.self) {
      try ContextBuilder.build(
        ContextOptions(prefix: "bad prefix"), environment: ["HOME": dir.path], warn: { _ in }, executablePath: nil)
    }
  }
}
