import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

// The operations every front end calls (the CLI, the panel, berth-serve): the attach
// bookkeeping, the startup offer and its "not now", and the id-based kill and cleanup. Real
// tmux, real SQLite.

@Suite("Front-end operations: attach bookkeeping, the restore offer, kill and cleanup by id", .serialized, .ownThreads)
struct FrontEndOperationsTests {
  /// The offer is the sessions lost to the server going away (or a reboot); an exited
  /// session is dead with its reason but not offered, and autoRestore leaves it alone.
  /// "Not now" holds for this loss only: the same session lost again is offered again.
  @Test func theOfferIsWhatWasLostAndNotNowHoldsForOneLoss() async throws {
    let dir = try TemporaryDirectory()
    let clock = TestClock(Date())
    try await withTmuxServer { server in
      let context = makeContext(server, dir, clock: clock)
      try await withManager(context) { m async throws in
        _ = try await m.create(CreateRequest(id: "lost", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "exited", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "killed", cwd: dir.path))
        // Killed outside berth: tmux's own kill-session (berth sees it end while the server runs).
        try server.check("kill-session", "-t", "=berth-exited")
        _ = try await m.kill(ids: ["killed"])
        _ = try await m.list()
      }
      try server.killServerAndWait()
      clock.advance(days: 0.01)
      try await withManager(context) { m async throws in
        let views = try await m.list().views
        let reasons = Dictionary(uniqueKeysWithValues: views.map { ($0.id, $0.endReason?.rawValue ?? "-") })
        #expect(reasons == ["lost": "vanished", "exited": "exited", "killed": "killed"])
        #expect(try await m.restoreOffer().map(\.id) == ["lost"])

        // Ignore: not asked again for this loss.
        #expect(try await m.dismissRestoreOffer(ids: ["lost", "exited"]) == 1)
        #expect(try await m.restoreOffer().isEmpty)

        // Restored by hand, then lost again later: offered again.
        let report = try await m.restore(ids: ["lost"], dryRun: false)
        #expect(report.restored.map(\.id) == ["lost"])
        #expect(try await m.restoreOffer().isEmpty)
      }
      clock.advance(days: 0.01)
      try server.killServerAndWait()
      clock.advance(days: 0.01)
      try await withManager(context) { m async throws in
        #expect(try await m.restoreOffer().map(\.id) == ["lost"])
        // autoRestore brings back what is offered, never the exited or killed session.
        let report = try await m.restoreOffered()
        #expect(report.restored.map(\.id) == ["lost"])
        #expect(try server.sessionNames() == ["berth-lost"])
      }
    }
  }

  /// Back from a hand-off: the detach time and status are recorded and the session's state
  /// saved, as the detach hook does for a terminal of its own.
  @Test func finishAttachRecordsTheDetachAndSavesASnapshot() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "s", cwd: dir.path))
        let plan = try await m.prepareAttach(target: "s", create: nil)
        #expect(plan.session.lastDetachedAt == nil)
        try server.check("new-window", "-d", "-t", "=berth-s:", "-n", "after-attach")
        #expect(await m.savedSnapshot(id: "s")?.windows.count == 1)

        let finished = try #require(try await m.finishAttach(id: "s"))
        #expect(finished.lastDetachedAt != nil)
        #expect(finished.status == .detached)
        #expect(await m.savedSnapshot(id: "s")?.windows.map(\.name).contains("after-attach") == true)
        #expect(try await m.finishAttach(id: "nobody") == nil)
      }
    }
  }

  /// `berth detach ID` saves the detached session itself (the hook would see the control
  /// client's hidden session instead), with a real client attached.
  @Test func detachRecordsTheDetachAndSavesASnapshot() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let created = try await m.create(CreateRequest(id: "d", cwd: dir.path))
        let tmuxId = try #require(created.tmuxId)
        try server.check("new-window", "-d", "-t", "=berth-d:", "-n", "before-detach")
        let host = try attachRealClient(to: server, session: tmuxId)
        defer { host.shutdown() }
        #expect(try await m.list().views.first { $0.id == "d" }?.status == .attached)

        _ = try await m.detach(target: "d")
        #expect(server.waitUntil(timeout: 10) { (try? server.clientLines())?.contains("\(tmuxId) 0") == false })
        let view = try #require(try await m.list().views.first { $0.id == "d" })
        #expect(view.lastDetachedAt != nil)
        #expect(view.status == .detached)
        #expect(await m.savedSnapshot(id: "d")?.windows.map(\.name).contains("before-detach") == true)
      }
    }
  }

  /// Attaching to a dead session brings it back with the snapshot restore: its windows,
  /// names, panes and directories, with the notice saying so.
  @Test func attachingToADeadSessionRestoresItsSnapshot() async throws {
    let dir = try TemporaryDirectory()
    let logs = try dir.makeDirectory("logs")
    try await withTmuxServer { server in
      let context = makeContext(server, dir)
      var before: SessionShape?
      try await withManager(context) { m async throws in
        _ = try await m.create(CreateRequest(id: "multi", cwd: dir.path))
        try server.check("rename-window", "-t", "=berth-multi:0", "main")
        try server.check("new-window", "-d", "-t", "=berth-multi:1", "-n", "logs", "-c", logs)
        try server.check("split-window", "-d", "-t", "=berth-multi:1", "-c", dir.path)
        // tmux tells a pane's path once its shell owns its terminal: a pane split a moment
        // ago has none yet (under load, for a while).
        #expect(
          server.waitUntil(timeout: 20) {
            let paths =
              (try? server.check("list-panes", "-s", "-t", "=berth-multi", "-F", "#{pane_current_path}")) ?? ""
            return paths.split(separator: "\n", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty }
          })
        before = try SessionShape.read(server, "berth-multi")
        _ = try await m.snapshotAll()
      }
      try server.killServerAndWait()
      try await withManager(context) { m async throws in
        let plan = try await m.prepareAttach(target: "multi", create: nil)
        #expect(plan.notice?.contains("recreated multi") == true, "\(plan.notice ?? "")")
        #expect(plan.notice?.contains("2 windows, 3 panes") == true, "\(plan.notice ?? "")")
        let after = try SessionShape.read(server, "berth-multi")
        #expect(after.windows == before?.windows)
        #expect(after.panes.map(\.cwd) == before?.panes.map(\.cwd))
        #expect(after.layouts == before?.layouts)
      }
    }
  }

  /// A pane whose path tmux cannot tell (none while its process has not yet made the
  /// terminal its own, nor once it has exited and `remain-on-exit` keeps it) is saved with
  /// the session's directory, and comes back there, not in the home directory with a notice
  /// that its directory is missing.
  @Test func aPaneWithoutAPathIsSavedWithTheSessionsDirectory() async throws {
    let dir = try TemporaryDirectory()
    let logs = try dir.makeDirectory("logs")
    try await withTmuxServer { server in
      let context = makeContext(server, dir)
      try await withManager(context) { m async throws in
        _ = try await m.create(CreateRequest(id: "kept", cwd: dir.path))
        try server.check("set-option", "-w", "-t", "=berth-kept:0", "remain-on-exit", "on")
        try server.check("split-window", "-d", "-t", "=berth-kept:0", "-c", logs, "true")
        #expect(
          server.waitUntil(timeout: 20) {
            (try? server.check("list-panes", "-t", "=berth-kept:0", "-F", "#{pane_dead}#{pane_current_path}"))
              == "0\(dir.path)\n1"
          })
        _ = try await m.snapshotAll()
        let saved = await m.savedSnapshot(id: "kept")?.windows.flatMap(\.panes).map(\.cwd)
        #expect(saved == [dir.path, dir.path])
      }
      try server.killServerAndWait()
      try await withManager(context) { m async throws in
        let report = try await m.restore(ids: ["kept"], dryRun: false)
        #expect(report.restored.map(\.id) == ["kept"])
        #expect(report.restored.flatMap(\.notices).isEmpty, "\(report.restored.flatMap(\.notices))")
        let after = try SessionShape.read(server, "berth-kept")
        #expect(after.panes.map(\.cwd) == [dir.path, dir.path])
      }
    }
  }

  /// Kill by id marks records killed (never deletes them); cleanup with chosen ids touches
  /// only those.
  @Test func killAndCleanupByIdTouchOnlyWhatWasChosen() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        for id in ["a", "b", "c"] { _ = try await m.create(CreateRequest(id: id, cwd: dir.path)) }
        try server.check("new-session", "-d", "-s", "berth-stray1")
        try server.check("new-session", "-d", "-s", "berth-stray2")
        #expect(try await m.kill(ids: ["a", "b", "gone"]).map(\.id).sorted() == ["a", "b"])
        var views = try await m.list().views
        #expect(views.filter { $0.endReason == .killed }.map(\.id).sorted() == ["a", "b"])
        // A dead record killed again stays a record, marked killed.
        #expect(try await m.kill(ids: ["a"]).map(\.id) == ["a"])
        #expect(try await m.list().views.contains { $0.id == "a" && $0.tracked })

        let report = try await m.cleanup(
          orphans: true, dead: true, olderThanDays: nil, dryRun: false, only: ["stray1", "a"])
        #expect(report.killedOrphans == ["berth-stray1"])
        #expect(report.forgottenRecords == ["a"])
        views = try await m.list().views
        #expect(views.map(\.id).sorted() == ["b", "c", "stray2"])
      }
    }
  }

  /// Inside a client of the same server, the current session is the one holding TMUX_PANE
  /// (the panel lists it first); anywhere else there is none.
  @Test func theCurrentSessionIsTheOneBerthRunsIn() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      _ = try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "here", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "there", cwd: dir.path))
      }
      let pane = try server.check("display-message", "-p", "-t", "=berth-here:", "#{pane_id}")
        .trimmingCharacters(in: .whitespacesAndNewlines)
      var inside = server.environment
      inside["TMUX"] = "\(server.socketPath),1,0"
      inside["TMUX_PANE"] = pane
      let name = try await withManager(makeContext(server, dir, environment: inside)) { await $0.currentSessionName() }
      #expect(name == "berth-here")
      let outside = try await withManager(makeContext(server, dir)) { await $0.currentSessionName() }
      #expect(outside == nil)
      var otherServer = inside
      otherServer["TMUX"] = "/tmp/some-other-socket,1,0"
      let elsewhere = try await withManager(makeContext(server, dir, environment: otherServer)) {
        await $0.currentSessionName()
      }
      #expect(elsewhere == nil)
    }
  }

  /// A hidden control session nobody holds (tmux-resurrect brought it back, or its panel was
  /// killed) goes with the next cleanup; the one a live panel holds stays.
  @Test func cleanupEndsHiddenSessionsWithoutTheirOwner() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "_berth-control-resurrected", "sleep 100000")
      try await withManager(makeContext(server, dir)) { m async throws in
        guard let live = try await m.openControlConnection(startServer: false) else {
          Issue.record("no control connection")
          return
        }
        let held = live.hiddenSessionName
        let names = {
          try server.check("list-sessions", "-F", "#{session_name}").split(separator: "\n").map(String.init)
        }
        #expect(try names().contains(held))
        let preview = try await m.cleanup(orphans: false, dead: false, olderThanDays: nil, dryRun: true)
        #expect(preview.killedOrphans == ["_berth-control-resurrected"])
        #expect(try names().contains("_berth-control-resurrected"))
        let report = try await m.cleanup(orphans: false, dead: false, olderThanDays: nil, dryRun: false)
        #expect(report.killedOrphans == ["_berth-control-resurrected"])
        #expect(try !names().contains("_berth-control-resurrected"))
        #expect(try names().contains(held))
        await m.closeControlConnection(live)
      }
    }
  }
}
