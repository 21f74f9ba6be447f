import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

/// berth as a guest on the user's server: one-shot commands are ordinary command clients,
/// so looking changes nothing and no command creates a session it was not asked for.
@Suite("One-shot commands leave no trace", .ownThreads)
struct TransportTests {
  /// Everything a user could see change on their server.
  static func serverState(_ server: TmuxTestServer, hookLog: String) throws -> [String] {
    [
      try server.check("show-options", "-g"),
      try server.check("show-options", "-s"),
      try server.check("show-hooks", "-g"),
      try server.check(
        "list-sessions", "-F", "#{session_id} #{session_name} #{session_windows} #{session_attached}"),
      try server.check("list-clients", "-F", "#{client_name} #{client_session}"),
      (try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "",
    ]
  }

  /// A user hook on every event a berth command could cause, each appending a line to a log.
  static func installHookLog(_ server: TmuxTestServer, _ log: String) throws {
    for hook in [
      "session-created", "session-closed", "session-renamed", "client-attached", "client-detached",
      "client-session-changed", "window-linked", "window-unlinked", "after-new-session", "after-new-window",
    ] {
      try server.check("set-hook", "-g", "\(hook)[42]", "run-shell 'echo \(hook) #{session_name} >> \(log)'")
    }
  }

  @Test func lookingCommandsChangeNothingOnTheServer() async throws {
    try await withTmuxServer { server in
      let dir = try TemporaryDirectory()
      let db = dir.database
      let log = dir.file("hooks.log")
      #expect(try berth(["new", "--name", "mine"], server: server, db: db).status == 0)
      try server.check("new-session", "-d", "-s", "theirs")
      try Self.installHookLog(server, log)
      // Let anything the setup started settle (the first snapshot's hook-free save).
      try await Task.sleep(for: .milliseconds(300))
      let before = try Self.serverState(server, hookLog: log)
      for args in [
        ["list"], ["list", "--all", "--json", "--preview", "5"], ["orphans"], ["doctor"], ["list", "--json"],
      ] {
        let run = try berth(args, server: server, db: db)
        #expect(run.status == 0 || args == ["doctor"], "berth \(args): \(run.stderr)")
      }
      try await Task.sleep(for: .milliseconds(300))
      let after = try Self.serverState(server, hookLog: log)
      for (a, b) in zip(before, after) { #expect(a == b) }
      #expect((try? String(contentsOfFile: log, encoding: .utf8)) == nil, "a user hook ran")
    }
  }

  @Test func changingCommandsCreateOnlyWhatTheyWereAskedFor() async throws {
    try await withTmuxServer { server in
      let dir = try TemporaryDirectory()
      let db = dir.database
      let log = dir.file("hooks.log")
      try server.check("new-session", "-d", "-s", "theirs")
      try Self.installHookLog(server, log)
      let new = try berth(["new", "--name", "asked"], server: server, db: db)
      #expect(new.status == 0, "\(new.stderr)")
      let id = new.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(try berth(["snapshot", "--quiet"], server: server, db: db).status == 0)
      #expect(try berth(["kill", id], server: server, db: db).status == 0)
      #expect(
        server.waitUntil {
          ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("session-closed")
        })
      let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
      // One session made, the one asked for; no hidden session, no client came or went.
      #expect(lines.filter { $0.hasPrefix("session-created ") } == ["session-created berth-\(id)"])
      #expect(!lines.contains { $0.contains("_berth-control") })
      #expect(!lines.contains { $0.hasPrefix("client-") })
      #expect(try server.check("list-sessions", "-F", "#{session_name}") == "theirs")
    }
  }

  /// With `detach-on-destroy off`, tmux moves a terminal whose session is killed to another
  /// session: never to the panel's hidden one (the terminal is detached instead, as with no
  /// session left), and the panel's connection stays.
  @Test func aTerminalNeverLandsInThePanelsHiddenSession() async throws {
    try await withTmuxServer { server in
      try server.check("set-option", "-g", "detach-on-destroy", "off")
      try server.check("new-session", "-d", "-s", "mine")
      try server.check("new-session", "-d", "-s", "spare")
      let mine = try server.check("display-message", "-p", "-t", "=mine:", "#{session_id}")
      let spare = try server.check("display-message", "-p", "-t", "=spare:", "#{session_id}")
      let host = try attachRealClient(to: server, session: mine)
      defer { host.shutdown() }
      let panel = try await server.connect()
      // The option works: the terminal moves to the other session...
      try server.check("kill-session", "-t", mine)
      #expect(server.waitUntil(timeout: 10) { (try? server.clientLines())?.contains("\(spare) 0") == true })
      // ...and when the only other session is the hidden one, it is detached instead.
      try server.check("kill-session", "-t", spare)
      #expect(
        server.waitUntil(timeout: 10) {
          (try? server.clientLines()).map { $0.allSatisfy { $0.hasSuffix(" 1") } } == true
        }, "clients: \((try? server.clientLines()) ?? [])")
      #expect(panel.end == nil)
      #expect(try server.clientLines().count == 1)
      await panel.close()
    }
  }

  /// The short run of `scripts/crash-stress.sh` (the full one is `make crash-stress`).
  @Test func oneShotCommandsKilledAtRandomNeverTakeTheServerDown() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let script = root.appendingPathComponent("scripts/crash-stress.sh").path
    var env = ProcessInfo.processInfo.environment
    env["TMUX"] = nil
    let out = try Spawn.run(
      ["/bin/bash", script, "-q", "-n", "24", "-b", try berthExecutable()], environment: env, timeout: 300)
    #expect(out.status == 0, "\(out.stdoutText) \(out.stderrText)")
    #expect(out.stdoutText.contains("processes=24 "), "\(out.stdoutText)")
    #expect(out.stdoutText.contains("server_deaths=0 "), "\(out.stdoutText)")
  }
}
