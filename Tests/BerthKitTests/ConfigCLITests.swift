import BerthCore
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// `berth config` and the config file through the real binary: every key with its source,
/// one warning line per bad key (file, line, key) while the command runs on defaults, the
/// `--config` override, and `--init`.
@Suite("The config file through the berth binary", .serialized, .ownThreads)
struct ConfigCLITests {
  /// The settings `berth config` lists, in its order.
  static let keys = ConfigKey.allCases.map(\.rawValue)

  /// `key = value  # source` lines of `berth config` (the first line names the file).
  static func rows(_ stdout: String) -> [(key: String, value: String, source: String)] {
    stdout.split(separator: "\n").dropFirst().compactMap { line in
      guard let eq = line.range(of: " = "), let hash = line.range(of: "  # ", options: .backwards) else { return nil }
      return (
        String(line[..<eq.lowerBound]).trimmingCharacters(in: .whitespaces),
        String(line[eq.upperBound..<hash.lowerBound]), String(line[hash.upperBound...])
      )
    }
  }

  @Test func printsEveryKeyWithItsSource() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let defaultPath = try #require(server.environment["XDG_CONFIG_HOME"]) + "/berth/config.toml"
      var run = try berth(["config"], server: server, db: nil, socket: false)
      #expect(run.status == 0)
      #expect(run.stderr.isEmpty, "\(run.stderr)")
      #expect(run.stdout.hasPrefix("# \(defaultPath)\n"))
      var rows = Self.rows(run.stdout)
      #expect(rows.map(\.key) == Self.keys)
      #expect(rows.allSatisfy { $0.source == "default" })
      #expect(rows.first { $0.key == "sessionTTLDays" }?.value == "7")
      #expect(rows.first { $0.key == "snapshotIntervalMinutes" }?.value == "5")
      #expect(rows.first { $0.key == "historyLimit" }?.value == "10000")

      // The default file, then --config naming another one that wins.
      try FileManager.default.createDirectory(
        atPath: (defaultPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
      try "# mine\nsessionTTLDays = 11\nprefix = \"box-\"\n".write(
        toFile: defaultPath, atomically: true, encoding: .utf8)
      run = try berth(["config"], server: server, db: nil, socket: false)
      rows = Self.rows(run.stdout)
      #expect(rows.first { $0.key == "sessionTTLDays" }.map { "\($0.value) \($0.source)" } == "11 \(defaultPath):2")
      #expect(rows.first { $0.key == "prefix" }.map { "\($0.value) \($0.source)" } == "\"box-\" \(defaultPath):3")
      #expect(rows.filter { $0.source == "default" }.count == Self.keys.count - 2)

      let other = dir.file("elsewhere/other.toml")
      _ = try dir.makeDirectory("elsewhere")
      try "\n\nsessionTTLDays = 12\n[palette]\ndead = \"red\"\n".write(toFile: other, atomically: true, encoding: .utf8)
      run = try berth(["config", "--config", other], server: server, db: nil, socket: false)
      #expect(run.status == 0 && run.stderr.isEmpty, "\(run.stderr)")
      #expect(run.stdout.hasPrefix("# \(other)\n"))
      rows = Self.rows(run.stdout)
      #expect(rows.map(\.key) == Self.keys + ["palette.dead"])
      #expect(rows.first { $0.key == "sessionTTLDays" }.map { "\($0.value) \($0.source)" } == "12 \(other):3")
      #expect(rows.first { $0.key == "prefix" }.map { "\($0.value) \($0.source)" } == "\"berth-\" default")
      #expect(rows.last.map { "\($0.value) \($0.source)" } == "\"red\" \(other):5")
      // --prefix beats every file.
      run = try berth(["config", "--config", other, "--prefix", "cli-"], server: server, db: nil, socket: false)
      #expect(
        Self.rows(run.stdout).first { $0.key == "prefix" }.map { "\($0.value) \($0.source)" } == "\"cli-\" --prefix")

      // The same as JSON.
      run = try berth(["config", "--config", other, "--json"], server: server, db: nil, socket: false)
      let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
      #expect(object["path"] as? String == other)
      let settings = try #require(object["settings"] as? [[String: String]])
      #expect(settings.map { $0["key"] ?? "" } == Self.keys + ["palette.dead"])
      #expect(settings.first { $0["key"] == "sessionTTLDays" }?["source"] == "\(other):3")

      // A --config file that does not exist: one warning, defaults.
      run = try berth(["config", "--config", dir.file("missing.toml")], server: server, db: nil, socket: false)
      #expect(run.status == 0)
      #expect(
        run.stderr == "berth: warning: the config file \(dir.file("missing.toml")) cannot be read: using defaults\n")
      #expect(Self.rows(run.stdout).allSatisfy { $0.source == "default" })

      // A FIFO (reading it would wait forever), a device that never ends, a directory and a
      // file too big to be a config: each refused at once with one warning, defaults used.
      let fifo = dir.file("fifo.toml")
      #expect(mkfifo(fifo, 0o600) == 0)
      let big = dir.file("big.toml")
      try String(repeating: "# padding\n", count: 120_000).write(toFile: big, atomically: true, encoding: .utf8)
      for (path, reason) in [
        (fifo, "not a regular file"), ("/dev/zero", "not a regular file"), (dir.path, "a directory"),
        (big, "more than a config file can be"),
      ] {
        let started = Date()
        run = try berth(["config", "--config", path], server: server, db: nil, socket: false)
        #expect(Date().timeIntervalSince(started) < 10, "\(path) hung berth")
        #expect(run.status == 0)
        #expect(run.stderrLines.count == 1 && run.stderr.contains(reason), "\(path): \(run.stderr)")
        #expect(Self.rows(run.stdout).allSatisfy { $0.source == "default" })
      }
    }
  }

  @Test func anInvalidFileWarnsOncePerBadKeyAndRunsOnDefaults() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let config = dir.file("bad.toml")
      try """
      # berth settings with mistakes
      sessionTTLDays = "seven"
      historyLimit = -5
      snapshotIntervalMinutes = 3
      prefix = "no spaces allowed"
      nosuchKey = 1
      workspaceLimit = 4
      workspaceWarnAt = 3

      """.write(toFile: config, atomically: true, encoding: .utf8)
      let bad = [(2, "sessionTTLDays"), (3, "historyLimit"), (5, "prefix"), (6, "nosuchKey")]

      func expectWarnings(_ run: BerthRun, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = run.stderrLines
        #expect(lines.count == bad.count, "\(run.stderr)", sourceLocation: sourceLocation)
        for (line, (number, key)) in zip(lines, bad) {
          #expect(
            line.hasPrefix("berth: warning: \(config):\(number): \(key): "), "\(line)", sourceLocation: sourceLocation)
          #expect(line.hasSuffix("(using the default)"), "\(line)", sourceLocation: sourceLocation)
        }
      }

      var run = try berth(["config", "--config", config], server: server, db: nil, socket: false)
      #expect(run.status == 0)
      expectWarnings(run)
      let rows = Self.rows(run.stdout)
      #expect(rows.map(\.key) == Self.keys)
      let shown = Dictionary(uniqueKeysWithValues: rows.map { ($0.key, "\($0.value) \($0.source)") })
      #expect(shown["sessionTTLDays"] == "7 default (\(config):2 is invalid)")
      #expect(shown["historyLimit"] == "10000 default (\(config):3 is invalid)")
      #expect(shown["snapshotIntervalMinutes"] == "3 \(config):4")
      #expect(shown["prefix"] == "\"berth-\" default (\(config):5 is invalid)")
      #expect(shown["workspaceLimit"] == "4 \(config):7")
      #expect(shown["workspaceWarnAt"] == "3 \(config):8")

      // Another command warns the same way and runs: the default prefix and scrollback,
      // the file's valid workspace limit.
      run = try berth(["new", "--config", config, "--id", "cfg", "--cwd", dir.path], server: server, db: dir.database)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "cfg\n")
      expectWarnings(run)
      #expect(try server.sessionNames() == ["berth-cfg"])
      #expect(try server.check("show-options", "-v", "-t", "=berth-cfg:", "history-limit") == "10000")
      for n in 2...4 {
        run = try berth(
          ["new", "--config", config, "--id", "w\(n)", "--workspace", "ws", "--cwd", dir.path], server: server,
          db: dir.database)
      }
      run = try berth(
        ["new", "--config", config, "--id", "w5", "--workspace", "ws", "--cwd", dir.path], server: server,
        db: dir.database)
      #expect(run.status == 0, "\(run.stderr)")
      run = try berth(
        ["new", "--config", config, "--id", "w6", "--workspace", "ws", "--cwd", dir.path], server: server,
        db: dir.database)
      #expect(run.status == 6, "the file's workspaceLimit = 4 applies: \(run.stderr)")
      #expect(run.stderrLines.last?.contains("limit 4") == true, "\(run.stderr)")
    }
  }

  @Test func initWritesAFileThatReadsBackCleanAndNeverOverwrites() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let path = dir.file("new/place/config.toml")
      var run = try berth(["config", "--init", "--config", path], server: server, db: nil, socket: false)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "wrote \(path)\n")
      let written = fileText(path)
      #expect(!written.isEmpty)

      run = try berth(["config", "--config", path], server: server, db: nil, socket: false)
      #expect(run.status == 0)
      #expect(run.stderr.isEmpty, "the file --init wrote does not read back cleanly: \(run.stderr)")
      let rows = Self.rows(run.stdout)
      #expect(rows.map(\.key) == Self.keys)
      // Every key is in the file, at its default value.
      #expect(rows.allSatisfy { $0.source.hasPrefix("\(path):") }, "\(run.stdout)")
      let defaults = try berth(["config", "--config", dir.file("none.toml")], server: server, db: nil, socket: false)
      #expect(rows.map(\.value) == Self.rows(defaults.stdout).map(\.value))

      // A second --init refuses and leaves the file alone, even after an edit.
      try (written + "sessionTTLDays_is_mine = 1\n").write(toFile: path, atomically: true, encoding: .utf8)
      run = try berth(["config", "--init", "--config", path], server: server, db: nil, socket: false)
      #expect(run.status == 5)
      #expect(run.stdout.isEmpty)
      #expect(run.stderrLines.last?.contains("already exists") == true, "\(run.stderr)")
      #expect(fileText(path) == written + "sessionTTLDays_is_mine = 1\n")

      // Without --config it writes the XDG place.
      run = try berth(["config", "--init"], server: server, db: nil, socket: false)
      let xdg = try #require(server.environment["XDG_CONFIG_HOME"]) + "/berth/config.toml"
      #expect(run.stdout == "wrote \(xdg)\n", "\(run.stderr)")
      #expect(fileText(xdg) == written)
      run = try berth(["config"], server: server, db: nil, socket: false)
      #expect(run.stderr.isEmpty)
      #expect(Self.rows(run.stdout).allSatisfy { $0.source.hasPrefix("\(xdg):") })
    }
  }
}
