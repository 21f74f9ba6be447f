import BerthCore
import Foundation
import Testing
import TmuxTestSupport

@testable import BerthKit

// A restore sends several sessions to a line of its batches (one reply, one marker each):
// a command that fails drops the rest of its line, so the sessions of a failed line are done
// again one command at a time. These tests make one session of a line fail at a known step
// and check that the sessions after it on the same line still come back, protected and
// named, and that the one that failed stays restorable.

@Suite("Restore in lines of sessions", .serialized, .ownThreads)
struct RestoreLinesTests {
  @Test func sessionsAreCutIntoLinesCoveringEachOnce() {
    let chunks = RestoreChunks(count: 53, size: 25)
    #expect(chunks.ranges == [0..<25, 25..<50, 50..<53])
    #expect(chunks.failed([false, true, false]) == Array(25..<50))
    #expect(chunks.failed([true, false, true]) == Array(0..<25) + [50, 51, 52])
    #expect(RestoreChunks(count: 0, size: 25).ranges.isEmpty)
    #expect(RestoreChunks(count: 3, size: 25).ranges == [0..<3])
    #expect(SessionManager.restoreChunk > 1)
  }

  /// Three sessions, saved, then a "reboot" onto a server whose tmux.conf runs `hook` and
  /// ends every unattached session (`destroy-unattached on`): a session whose protection
  /// was dropped with the rest of a failed line would be gone after the restore.
  func check(
    hook: [String], failedReason: String, ids: [String] = ["a", "b", "c"], refused: String = "b"
  ) async throws {
    let dir = try TemporaryDirectory()
    let kept = ids.filter { $0 != refused }
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        for id in ids { _ = try await m.create(CreateRequest(id: id, cwd: dir.path)) }
        #expect(try await m.snapshotAll().saved.sorted() == ids.sorted())
      }
      try server.killServerAndWait()
      try server.start()
      try server.check("new-session", "-d", "-s", "bystander")
      try server.check("set-option", "-t", "=bystander:", "destroy-unattached", "off")
      try server.check("set-option", "-g", "destroy-unattached", "on")
      try server.check(arguments: hook)
      let report = try await withManager(makeContext(server, dir, boot: Date())) { m async throws in
        try await m.restore(ids: nil, dryRun: false)
      }
      #expect(report.restored.map(\.id).sorted() == kept.sorted(), "\(report.failed)")
      #expect(report.failed.map(\.id) == [refused])
      #expect(report.failed.first?.reason.contains(failedReason) == true, "\(report.failed)")
      // Whatever the line dropped was done again: both sessions are there, under their
      // names, protected, with berth's scrollback for windows opened later.
      #expect(
        server.waitUntil(timeout: 5) {
          (try? server.sessionNames().sorted()) == (kept.map { "berth-\($0)" } + ["bystander"]).sorted()
        }, "\((try? server.sessionNames()) ?? [])")
      for id in kept {
        #expect(try server.check("show-options", "-v", "-t", "=berth-\(id):", "destroy-unattached") == "off")
        #expect(try server.check("show-options", "-v", "-t", "=berth-\(id):", "history-limit") == "10000")
        let env = try server.check("show-environment", "-t", "=berth-\(id):")
        #expect(!env.contains("BERTH_NOTICE_"), "\(id): \(env)")
        #expect(env.contains("BERTH_SESSION_ID=\(id)"), "\(id): \(env)")
      }
      // The one tmux refused stays restorable, and nothing of it is left on the server.
      try await withManager(makeContext(server, dir, boot: Date())) { m async throws in
        #expect(try await m.restorableSessions().map(\.id) == [refused])
        let views = try await m.list().views
        for id in kept { #expect(views.first { $0.id == id }?.isAlive == true, "\(id)") }
      }
    }
  }

  /// A user's `after-new-session` hook ends b's session as soon as it is made: the rest of
  /// b's line (b's protection, c's new-session and protection) is dropped by tmux.
  @Test func aSessionEndedMidLineLeavesTheRestOfTheLineRestored() async throws {
    try await check(
      hook: [
        "set-hook", "-g", "after-new-session",
        "if-shell -F '#{==:#{session_name},\(SessionManager.restoringPrefix)b}' kill-session",
      ], failedReason: "tmux refused its name")
  }

  /// More sessions than one batch holds (three batches, the later ones through clients
  /// started ahead): one ended in the middle of the second batch's lines.
  @Test func aSessionEndedInALaterBatchLeavesTheOthersRestored() async throws {
    #expect(SessionManager.restoreBatch < 30)
    let ids = (0..<60).map { String(format: "s%02d", $0) }
    try await check(
      hook: [
        "set-hook", "-g", "after-new-session",
        "if-shell -F '#{==:#{session_name},\(SessionManager.restoringPrefix)s37}' kill-session",
      ], failedReason: "tmux refused its name", ids: ids, refused: "s37")
  }

  /// A `session-created` hook ends b's session once the sessions are made: b's rename fails
  /// in the last phase, which drops the renames after it on its line.
  @Test func aNameRefusedMidLineLeavesTheRestOfTheLineNamed() async throws {
    try await check(
      hook: [
        "set-hook", "-g", "session-created",
        "if-shell -F '#{==:#{session_name},\(SessionManager.restoringPrefix)b}' kill-session",
      ], failedReason: "tmux refused its name")
  }
}
