import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The `berth` binary as scripts see it: exit statuses, one-line errors, the JSON contract,
/// the no-tmux fallback, a damaged database and `doctor`.
@Suite("The berth command line", .ownThreads)
struct CLITests {
  static let contractKeys = [
    "id", "name", "tmuxSession", "tmuxId", "status", "endReason", "tracked", "orphan", "foreign", "clients",
    "workspace", "tags", "cwd", "command", "shell", "cols", "rows", "windows", "createdAt", "lastAttachedAt",
    "lastDetachedAt", "activityAt", "endedAt", "uptimeSeconds", "idleSeconds", "host",
  ]

  static func isISO8601UTC(_ value: Any?) -> Bool {
    guard let s = value as? String else { return false }
    return s.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/) != nil
  }

  /// The keys of each top-level object of a pretty `--json` array, in the order printed.
  static func keyOrder(_ prettyArray: String) -> [[String]] {
    var objects: [[String]] = []
    for line in prettyArray.split(separator: "\n", omittingEmptySubsequences: false) {
      if line == "  {" { objects.append([]) }
      if let match = line.wholeMatch(of: #/    "([A-Za-z]+)": (.*)/#) {
        objects[objects.count - 1].append(String(match.1))
      }
    }
    return objects
  }

  @Test func exitStatusesAndOneLineErrors() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      var run = try berth(["new", "--id", "dup", "--cwd", dir.path], server: server, db: db)
      #expect(run.status == 0)
      #expect(run.stdout == "dup\n")
      #expect(run.stderr.isEmpty)
      // 5: exists, with the hint.
      run = try berth(["new", "--id", "dup", "--cwd", dir.path], server: server, db: db)
      #expect(run.status == 5)
      expectOneErrorLine(run)
      #expect(run.stderr.contains("berth attach dup"))
      #expect(run.stdout.isEmpty)
      // 2: usage (berth's own checks).
      for args in [
        ["new", "--id", "a b"], ["new", "--cwd", dir.file("missing")], ["send", "dup", "--", "x\u{1B}[201~"],
      ] {
        run = try berth(args, server: server, db: db)
        #expect(run.status == 2, "\(args)")
        expectOneErrorLine(run)
      }
      // 3: not found, and ambiguous (which changes nothing).
      _ = try berth(["new", "--id", "dup2", "--cwd", dir.path], server: server, db: db)
      for args in [["attach", "nothing"], ["kill", "nothing"], ["kill", "du"], ["detach", "du"], ["forget", "du"]] {
        run = try berth(args, server: server, db: db)
        #expect(run.status == 3, "\(args)")
        expectOneErrorLine(run)
      }
      #expect(run.stderr.contains("dup2"))
      #expect(Set(try server.sessionNames()) == ["berth-dup", "berth-dup2"])
      // 0: a normal kill.
      run = try berth(["kill", "dup", "dup2"], server: server, db: db)
      #expect(run.status == 0)
      #expect(run.stdout == "killed dup\nkilled dup2\n")
      #expect(try server.sessionNames().isEmpty)
    }
  }

  /// Usage errors the argument parser finds are one line like berth's own: what was wrong
  /// and which help to read, status 2, nothing on stdout; help itself goes to stdout.
  @Test func usageErrorsFromTheParserAreOneLine() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let cases: [(args: [String], problem: String, help: String)] = [
        (["--frob"], "unknown option '--frob'", "berth --help"),
        (["bogus"], "unknown command 'bogus'", "berth --help"),
        (["attach"], "missing expected argument '<target>'", "berth attach --help"),
        (["new", "--size", "huge"], "(got 'huge')", "berth new --help"),
        (["new", "--cwd"], "missing value for '--cwd <cwd>'", "berth new --help"),
        (["list", "extra"], "unexpected argument 'extra'", "berth list --help"),
        (["list", "--preview", "many"], "the value 'many' is invalid for '--preview <preview>'", "berth list --help"),
        (["list", "-L", "x", "-S", "/y"], "give -L/--socket-name or -S/--socket-path, not both", "berth --help"),
      ]
      for (args, problem, help) in cases {
        let run = try berth(args, server: server, db: dir.database, socket: args.first != "list")
        #expect(run.status == 2, "\(args)")
        expectOneErrorLine(run)
        #expect(run.stderr.contains(problem), "\(args): \(run.stderr)")
        #expect(run.stderr.hasSuffix("; see '\(help)'\n"), "\(args): \(run.stderr)")
        #expect(!run.stderr.contains("Error:") && !run.stderr.contains("Usage:"), "\(args): \(run.stderr)")
        #expect(run.stdout.isEmpty, "\(args): \(run.stdout)")
      }
      for args in [["--help"], ["help", "new"], ["new", "--help"]] {
        let run = try berth(args, server: server, db: dir.database)
        #expect(run.status == 0, "\(args): \(run.stderr)")
        #expect(run.stdout.contains("USAGE: berth"), "\(args): \(run.stdout)")
        #expect(run.stderr.isEmpty, "\(args): \(run.stderr)")
      }
    }
  }

  @Test func tmuxMissingFromPathSaysHowToInstall() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let noTmux: [String: String?] = ["PATH": dir.path, "BERTH_TMUX": nil]
      for args in [["list"], ["new", "--cwd", dir.path], ["kill", "x"], ["orphans"]] {
        let run = try berth(args, server: server, db: dir.database, extra: noTmux)
        #expect(run.status == 4, "\(args): \(run.stderr)")
        expectOneErrorLine(run)
        #expect(run.stderr.contains("tmux is not installed"))
        #expect(run.stderr.contains("install it with"))
        #expect(
          run.stderr.contains("apt-get install tmux") || !FileManager.default.fileExists(atPath: "/etc/debian_version"))
      }
      #expect(try server.sessionNames().isEmpty)
    }
  }

  @Test func attachCreateWithoutTmuxRunsTheShellAfterANotice() async throws {
    let dir = try TemporaryDirectory()
    let shell = dir.file("fake-shell")
    try "#!/bin/sh\necho \"PLAIN-SHELL-MARKER args=$# pwd=$(pwd)\"\n".write(
      toFile: shell, atomically: true, encoding: .utf8)
    chmod(shell, 0o755)
    let cwd = try dir.makeDirectory("start here")
    try await withTmuxServer { server in
      let run = try berth(
        ["attach", "--create", "web-1", "--cwd", cwd], server: server, db: dir.database,
        extra: ["PATH": dir.path, "BERTH_TMUX": nil, "SHELL": shell])
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "PLAIN-SHELL-MARKER args=0 pwd=\(cwd)\n")
      expectOneErrorLine(run)
      #expect(run.stderr.contains("will not persist"))
      // Without --create it is the usual error.
      let plain = try berth(
        ["attach", "web-1"], server: server, db: dir.database,
        extra: ["PATH": dir.path, "BERTH_TMUX": nil, "SHELL": shell])
      #expect(plain.status == 4)
      #expect(!plain.stdout.contains("PLAIN-SHELL-MARKER"))
    }
  }

  @Test func listJSONShapeIsPinned() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("proj")
    try await withTmuxServer { server in
      let db = dir.database
      var run = try berth(
        [
          "new", "--id", "full", "--name", "n", "--cwd", cwd, "--workspace", "w", "--tag", "t1", "--tag", "t2",
          "--size", "100x30", "--json", "--", "sh", "-c", "echo line1; echo line2; exec cat",
        ], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      // `new --json` prints the same object (without a preview).
      let objectKeys = run.stdout.split(separator: "\n").compactMap {
        $0.wholeMatch(of: #/  "([A-Za-z]+)": (.*)/#).map { String($0.1) }
      }
      #expect(objectKeys == Self.contractKeys)
      _ = try berth(["new", "--id", "gone", "--cwd", cwd], server: server, db: db)
      _ = try berth(["kill", "gone"], server: server, db: db)
      try server.check("new-session", "-d", "-s", "berth-orphan", "-c", cwd)
      try server.check("new-session", "-d", "-s", "work")
      #expect(server.waitUntil { (try? server.paneText("berth-full"))?.contains("line2") == true })

      let started = Date()
      run = try berth(["list", "--json", "--preview", "5"], server: server, db: db)
      #expect(run.status == 0)
      #expect(run.stderr.isEmpty)
      let order = Self.keyOrder(run.stdout)
      #expect(order.count == 3)  // foreign "work" only with --all
      for keys in order { #expect(keys == Self.contractKeys + ["preview"]) }
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(rows.map { $0["id"] as? String } == ["full", "gone", "orphan"])

      let full = rows[0]
      #expect(full["name"] as? String == "n")
      #expect(full["tmuxSession"] as? String == "berth-full")
      #expect((full["tmuxId"] as? String)?.wholeMatch(of: /\$\d+/) != nil)
      #expect(full["status"] as? String == "detached")
      #expect(full["endReason"] is NSNull)
      #expect(full["tracked"] as? Bool == true && full["orphan"] as? Bool == false && full["foreign"] as? Bool == false)
      #expect(full["clients"] as? Int == 0)
      #expect(full["workspace"] as? String == "w")
      #expect(full["tags"] as? [String] == ["t1", "t2"])
      #expect(full["cwd"] as? String == cwd)
      #expect(full["command"] as? String == "cat")
      #expect(full["shell"] as? String == "/bin/sh")
      #expect(full["cols"] as? Int == 100 && full["rows"] as? Int == 30)
      #expect(full["windows"] as? Int == 1)
      #expect(Self.isISO8601UTC(full["createdAt"]) && Self.isISO8601UTC(full["activityAt"]))
      #expect(full["lastAttachedAt"] is NSNull && full["lastDetachedAt"] is NSNull && full["endedAt"] is NSNull)
      #expect((full["uptimeSeconds"] as? Int).map { $0 >= 0 && $0 < 120 } == true)
      #expect(full["idleSeconds"] as? Int != nil)
      #expect(full["preview"] as? [String] == ["line1", "line2"])
      let created = try #require(ISO8601DateFormatter().date(from: full["createdAt"] as? String ?? ""))
      #expect(abs(created.timeIntervalSince(started)) < 60)

      let gone = rows[1]
      #expect(gone["status"] as? String == "dead" && gone["endReason"] as? String == "killed")
      #expect(gone["tmuxId"] is NSNull && gone["windows"] is NSNull)
      #expect(gone["uptimeSeconds"] is NSNull && gone["idleSeconds"] is NSNull && gone["activityAt"] is NSNull)
      #expect(Self.isISO8601UTC(gone["endedAt"]))
      // A dead session's preview is its last output as the last snapshot recorded it.
      #expect(gone["preview"] is [String])

      let orphan = rows[2]
      #expect(orphan["tracked"] as? Bool == false && orphan["orphan"] as? Bool == true)
      #expect(orphan["name"] is NSNull && orphan["workspace"] is NSNull && orphan["shell"] is NSNull)
      #expect(orphan["tags"] as? [String] == [])
      #expect(orphan["cwd"] as? String == cwd)

      run = try berth(["list", "--json", "--all"], server: server, db: db)
      let all = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(all.last?["tmuxSession"] as? String == "work" && all.last?["foreign"] as? Bool == true)
      #expect(Self.keyOrder(run.stdout).allSatisfy { $0 == Self.contractKeys })

      run = try berth(["orphans", "--json"], server: server, db: db)
      let orphans = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(orphans.map { $0["id"] as? String } == ["orphan"])
    }
  }

  @Test func aCorruptDatabaseIsMovedAsideAndRebuiltFromTmux() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      // Tracked sessions (adopted: `berth new` would also install snapshot hooks, whose
      // background `berth snapshot` runs could meet the damaged file first).
      for id in ["kept1", "kept2"] {
        try server.check("new-session", "-d", "-s", "berth-\(id)", "-c", dir.path)
        #expect(try berth(["adopt", id], server: server, db: db).status == 0)
      }
      var noise = [UInt8](repeating: 0, count: 16_384)
      for i in noise.indices { noise[i] = UInt8.random(in: 0...255) }
      try Data(noise).write(to: URL(fileURLWithPath: db))

      var run = try berth(["list", "--json"], server: server, db: db)
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stderrLines.count == 1)
      #expect(run.stderr.hasPrefix("berth: ") && run.stderr.contains("moved it to"))
      let rows = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(Set(rows.compactMap { $0["id"] as? String }) == ["kept1", "kept2"])
      #expect(rows.allSatisfy { $0["orphan"] as? Bool == true })
      // The main file, with its (kept, empty) write-ahead log and shared-memory files.
      let aside = try FileManager.default.contentsOfDirectory(atPath: dir.file("state")).filter {
        $0.contains(".corrupt") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm")
      }
      #expect(aside.count == 1)
      if let name = aside.first {
        #expect((try? Data(contentsOf: URL(fileURLWithPath: dir.file("state/\(name)")))) == Data(noise))
      }
      // The new database works: adopt, and the next run is quiet.
      run = try berth(["adopt", "kept1"], server: server, db: db)
      #expect(run.status == 0)
      run = try berth(["list", "--json"], server: server, db: db)
      #expect(run.stderr.isEmpty)
      let after = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
      #expect(after.first { $0["id"] as? String == "kept1" }?["tracked"] as? Bool == true)
    }
  }

  @Test func doctorPassesOnAGoodSetupAndFailsOnAnOpenSocketDirectory() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "d1", "--cwd", dir.path], server: server, db: db)
      var run = try berth(["doctor"], server: server, db: db)
      #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
      #expect(run.stdout.contains("ok    tmux:"))
      #expect(run.stdout.contains("integrity ok"))
      #expect(!run.stdout.contains("warn") && !run.stdout.contains("FAIL"))

      let socketDirectory = (server.socketPath as NSString).deletingLastPathComponent
      #expect(chmod(socketDirectory, 0o770) == 0)
      defer { chmod(socketDirectory, 0o700) }
      var info = stat()
      #expect(stat(socketDirectory, &info) == 0 && info.st_mode & 0o777 == 0o770, "\(String(info.st_mode, radix: 8))")
      run = try berth(["doctor"], server: server, db: db)
      #expect(run.status != 0, "\(run.stdout)")
      #expect(run.stdout.contains("warn  socket directory"))
      #expect(run.stdout.contains("chmod 700"))
      chmod(socketDirectory, 0o700)

      // A database file opened up by someone is made private again when berth opens it.
      chmod(db, 0o644)
      run = try berth(["doctor"], server: server, db: db)
      #expect(run.status == 0)
      #expect(stat(db, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }
  }

  @Test func theDefaultDatabaseIsPrivateUnderXDGStateHome() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let state = dir.file("xdg-state")
      let run = try berth(
        ["new", "--id", "x1", "--cwd", dir.path], server: server, db: nil, extra: ["XDG_STATE_HOME": state])
      #expect(run.status == 0)
      var info = stat()
      #expect(stat(state + "/berth", &info) == 0 && info.st_mode & 0o777 == 0o700)
      #expect(stat(state + "/berth/berth.sqlite3", &info) == 0 && info.st_mode & 0o777 == 0o600)
    }
  }

  @Test func listingWithoutAServerStartsNone() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try server.killServerAndWait()
      var run = try berth(["list"], server: server, db: dir.database)
      #expect(run.status == 0)
      #expect(run.stdout.hasPrefix("no sessions"))
      run = try berth(["list", "--json"], server: server, db: dir.database)
      #expect(run.stdout == "[]\n")
      #expect(ServerProbe.check(socketPath: server.socketPath) == .notRunning)
    }
  }

  @Test func scriptableLifecycle() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let db = dir.database
      _ = try berth(["new", "--id", "s1", "--workspace", "w", "--cwd", dir.path, "--", "cat"], server: server, db: db)
      _ = try berth(["new", "--id", "s2", "--workspace", "w", "--cwd", dir.path], server: server, db: db)
      var run = try berth(["send", "s1", "--enter", "--", "hello;", "$HOME", "'q'"], server: server, db: db)
      #expect(run.status == 0)
      #expect(
        server.waitUntil { (try? server.paneText("berth-s1"))?.components(separatedBy: "hello; $HOME 'q'").count == 3 })
      run = try berth(["rename", "s1", "editor"], server: server, db: db)
      #expect(run.stdout == "renamed s1 to editor\n")
      run = try berth(["tag", "editor", "+a", "+b", "-a"], server: server, db: db)
      #expect(run.stdout == "b\n")
      // A tag whose letters are also short options (-L, -S) is still a tag to remove.
      run = try berth(["tag", "editor", "+Lisp", "+Sx-L", "+--x"], server: server, db: db)
      #expect(run.stdout == "b Lisp Sx-L --x\n", "\(run.stderr)")
      run = try berth(["tag", "editor", "-Lisp", "-Sx-L", "---x"], server: server, db: db)
      #expect(run.status == 0 && run.stdout == "b\n", "\(run.stdout)\(run.stderr)")
      run = try berth(["forget", "s1"], server: server, db: db)
      #expect(run.status == 2)
      expectOneErrorLine(run)
      try server.check("new-session", "-d", "-s", "berth-stray")
      run = try berth(["cleanup", "--orphans", "--dry-run"], server: server, db: db)
      #expect(run.stdout == "would kill orphan berth-stray\n")
      #expect(try server.sessionNames().contains("berth-stray"))
      run = try berth(["kill", "--workspace", "w"], server: server, db: db)
      #expect(run.status == 0)
      #expect(Set(run.stdout.split(separator: "\n")) == ["killed editor", "killed s2"])
      run = try berth(["cleanup", "--orphans", "--dead"], server: server, db: db)
      #expect(run.stdout == "killed orphan berth-stray\nforgot dead record s1\nforgot dead record s2\n")
      #expect(try server.sessionNames().isEmpty)
      run = try berth(["list"], server: server, db: db)
      #expect(run.stdout.hasPrefix("no sessions"))
    }
  }
}
