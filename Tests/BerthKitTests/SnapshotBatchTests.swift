import BerthCore
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthKit

/// What one snapshot batch asks tmux, against a real server: the environments of many
/// sessions under one marker each run, and the autosave chain read in the same batch.
@Suite("Snapshot batches", .ownThreads)
struct SnapshotBatchTests {
  /// Each session's saved environment is what `show-environment` says for that session
  /// alone, whether its run of environments was split by order (the last run) or asked again
  /// one by one (the first: it holds a session berth did not start and a value with a line
  /// break).
  @Test func environmentsSharingAMarkerAreEachSessionsOwn() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var settings = BerthSettings()
      settings.envAllowList = ["A*", "LANG", "LC_*", "EDITOR", "Z*", "_*", "a*", "MULTI"]
      let context = makeContext(server, dir, settings: settings)
      let count = 70
      var create: [String] = []
      for i in 0..<count { create += ["new-session", "-d", "-s", "berth-e\(i)", ";"] }
      try #require(try server.tmux(arguments: create.dropLast()).status == 0)
      try await withManager(context) { m in
        let adopted = try await m.adoptAll()
        #expect(adopted.count == count)
        var set: [String] = []
        func env(_ i: Int, _ args: String...) { set += ["set-environment", "-t", "=berth-e\(i)"] + args + [";"] }
        for i in 0..<count {
          switch i % 5 {
          case 0:
            env(i, "AAA_FIRST", "first \(i)")
            env(i, "LANG", "C.UTF-8")
          case 1:
            env(i, "a_lower", "x\(i)")
            env(i, "_UNDER", "u")
            env(i, "ZED", "z=\(i)")
          case 2:
            env(i, "LC_ALL", "C=weird=value \(i)")
            env(i, "-r", "LC_CTYPE")
          case 3:
            env(i, "EDITOR", "vim -x")
            env(i, "A", "1")
          default: break
          }
        }
        // In the first run: a session berth did not start, and a value holding a line break.
        env(7, "-u", "BERTH_SESSION_ID")
        env(20, "MULTI", "one\ntwo")
        try #require(try server.tmux(arguments: set.dropLast()).status == 0)

        var expected: [String: [String: String]] = [:]
        for v in adopted {
          let lines = try server.check("show-environment", "-t", "=\(v.tmuxSession)").split(separator: "\n")
          expected[v.id] = SnapshotBuilder.environment(lines.map(String.init), settings: settings)
        }
        let notStarted = try #require(adopted.first { $0.tmuxSession == "berth-e7" }).id
        #expect(expected.values.contains { $0["AAA_FIRST"] != nil && $0["LANG"] != nil })
        #expect(expected.values.contains { $0["ZED"] != nil && $0["a_lower"] != nil && $0["_UNDER"] != nil })

        let report = try await m.snapshotAll()
        #expect(Set(report.saved) == Set(adopted.map(\.id)).subtracting([notStarted]))
        #expect(await m.savedSnapshot(id: notStarted) == nil)
        for v in adopted where v.id != notStarted {
          let saved = try #require(await m.savedSnapshot(id: v.id), "\(v.tmuxSession) not saved")
          #expect(saved.environment == expected[v.id], "\(v.tmuxSession)")
        }
        #expect(report.autosave?.berthSessionsExist == true)
      }
    }
  }

  /// Chunks are whole runs of 64 sessions, about a quarter of them each.
  @Test func chunksAreWholeRunsAboutAQuarterEach() {
    #expect(SessionManager.SnapshotPlan.chunkSize(1) == 64)
    #expect(SessionManager.SnapshotPlan.chunkSize(70) == 64)
    #expect(SessionManager.SnapshotPlan.chunkSize(500) == 128)
    #expect(SessionManager.SnapshotPlan.chunkSize(1000) == 256)
    for n in [1, 63, 64, 65, 255, 256, 257, 500, 4097] {
      let size = SessionManager.SnapshotPlan.chunkSize(n)
      #expect(size % 64 == 0 && (n + size - 1) / size <= 4, "\(n): \(size)")
    }
  }

  /// `berth snapshot` reads the autosave chain in its own batch: a live chain is left as it
  /// is, a stale or missing one is started anew, and none is started without berth sessions.
  @Test func aSnapshotKeepsALiveAutosaveAndRestartsAStaleOne() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let extra: [String: String?] = ["XDG_STATE_HOME": dir.file("xdg-state")]
      let db = dir.database
      var run = try berth(["new", "--id", "keep", "--cwd", dir.path], server: server, db: db, extra: extra)
      #expect(run.status == 0, "\(run.stderr)")
      // tmux 3.2a shows an unset user option as empty, later releases refuse it.
      func chain() -> String? {
        guard let out = try? server.tmux("show-options", "-sv", "@berth-autosave"), out.status == 0 else { return nil }
        let value = out.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
      }
      func snapshot() throws {
        let run = try berth(["snapshot"], server: server, db: db, extra: extra)
        #expect(run.status == 0 && run.stdout == "saved 1 session\n", "\(run.stdout) \(run.stderr)")
      }
      func isFresh(_ value: String?) -> Bool {
        let parts = value?.split(separator: " ") ?? []
        guard parts.count == 2, UUID(uuidString: String(parts[0])) != nil, let due = Double(parts[1]) else {
          return false
        }
        return abs(due - (Date().timeIntervalSince1970 + 300)) < 30
      }
      let armed = try #require(chain())
      #expect(isFresh(armed), "\(armed)")

      try snapshot()
      #expect(chain() == armed, "a live chain was replaced")

      try server.check("set-option", "-s", "@berth-autosave", "stale-token 1000")
      try snapshot()
      #expect(isFresh(chain()), "a stale chain was kept: \(chain() ?? "none")")

      try server.check("set-option", "-su", "@berth-autosave")
      try snapshot()
      #expect(isFresh(chain()), "no chain was started: \(chain() ?? "none")")

      // Without berth sessions (the server kept alive by another one) nothing is armed.
      try server.check("new-session", "-d", "-s", "other")
      try server.check("kill-session", "-t", "=berth-keep")
      try server.check("set-option", "-su", "@berth-autosave")
      run = try berth(["snapshot"], server: server, db: db, extra: extra)
      #expect(run.status == 0 && run.stdout == "saved 0 sessions\n", "\(run.stdout) \(run.stderr)")
      #expect(chain() == nil)
    }
  }
}
