import BerthCore
import BerthKit
import BerthTmux
import Foundation
import Testing
import TmuxTestSupport

#if canImport(Glibc)
  import Glibc
#endif

@Suite("Session manager: create, status, attach and detach against real tmux", .ownThreads)
struct SessionLifecycleTests {
  @Test func createsWithAReadableIdInTheGivenDirectory() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("work")
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(cwd: cwd))
        // The directory's name, as sesh does: what choose-tree and `tmux ls` show.
        #expect(v.id == "work")
        #expect(v.tmuxSession == "berth-\(v.id)")
        #expect(v.status == .detached)
        #expect(v.tracked && !v.orphan && !v.foreign)
        #expect(v.clients == 0)
        #expect(v.cwd == cwd)
        #expect(v.shell == "/bin/sh")
        #expect(v.cols == 80 && v.rows == 24)
        #expect(v.tmuxId?.hasPrefix("$") == true)
        #expect(try server.sessionNames() == ["berth-\(v.id)"])
        // The session knows its berth id (scripts inside it use it).
        #expect(
          try server.check("show-environment", "-t", v.tmuxSession, "BERTH_SESSION_ID") == "BERTH_SESSION_ID=\(v.id)")
        let record = try #require(try m.store.record(id: v.id))
        #expect(record.tmuxSessionId == v.tmuxId)
        #expect(record.tmuxSocket == server.socketPath)
      }
    }
  }

  @Test func createsWithEveryOption() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("project")
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let request = CreateRequest(
          id: "given_id-1", name: "build box", cwd: cwd, workspace: "ws-1", tags: ["a", "b", "a"],
          size: (cols: 100, rows: 30), command: ["sh", "-c", "echo started-marker; exec sleep 300"])
        let v = try await m.create(request)
        #expect(v.id == "given_id-1")
        #expect(v.name == "build box")
        #expect(v.tmuxSession == "berth-given_id-1")
        #expect(v.workspace == "ws-1")
        #expect(v.tags == ["a", "b"])
        #expect(v.cols == 100 && v.rows == 30)
        #expect(v.cwd == cwd)
        #expect(try m.store.record(id: "given_id-1")?.command == ["sh", "-c", "echo started-marker; exec sleep 300"])
        #expect(server.waitUntil { (try? server.paneText(v.tmuxSession))?.contains("started-marker") == true })
        let listed = try await m.list(preview: 3)
        let row = try #require(listed.views.first { $0.id == "given_id-1" })
        // The whole command line, as a dead session's (tmux alone would say `sleep`).
        #expect(row.command == "sleep 300")
        #expect(row.preview == ["started-marker"])
        #expect(row.windows == 1)
        #expect(row.uptimeSeconds != nil && row.idleSeconds != nil)
      }
    }
  }

  /// Previews are captured in runs that share one marker and are split by line counts
  /// (history + height from the same batch's listing): every session must get its own
  /// lines, whatever its height, its history, or a run member that is gone.
  @Test func previewsInSharedRunsAreEachSessionsOwn() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        var ids: [String] = []
        for i in 0..<37 {
          // Heights from 5 to 40, some with more output than their screen (history), some
          // with one line, one with lines long enough to wrap.
          let count = [1, 3, 60, 7, 120][i % 5]
          let wide = i == 11 ? String(repeating: "w", count: 300) : ""
          let script =
            "i=1; while [ $i -le \(count) ]; do echo s\(i)-line-$i\(wide); i=$((i+1)); done; echo s\(i)-done; exec sleep 300"
          let v = try await m.create(
            CreateRequest(id: "p\(i)", size: (cols: 80, rows: 5 + (i * 7) % 36), command: ["sh", "-c", script]))
          ids.append(v.id)
        }
        for id in ids {
          #expect(
            server.waitUntil { (try? server.paneText("berth-\(id)"))?.contains("\(id.dropFirst())-done") == true })
        }
        // One session goes behind berth's back: its run falls back to pane-by-pane captures.
        _ = try server.check("kill-session", "-t", "=berth-p20")
        let listed = try await m.list(preview: 2)
        for (i, id) in ids.enumerated() where id != "p20" {
          let row = try #require(listed.views.first { $0.id == id })
          let count = [1, 3, 60, 7, 120][i % 5]
          let last = try #require(row.preview?.last)
          #expect(last == "s\(i)-done", "\(id): \(row.preview ?? [])")
          if i != 11 { #expect(row.preview?.first == "s\(i)-line-\(count)", "\(id): \(row.preview ?? [])") }
        }
      }
    }
  }

  @Test func readableIdsAreUniqueAndUUIDsStillWork() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("api")
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        #expect(try await m.create(CreateRequest(cwd: cwd)).id == "api")
        #expect(try await m.create(CreateRequest(cwd: cwd)).id == "api-2")
        // An orphan holds api-3 in tmux: skipped.
        try server.check("new-session", "-d", "-s", "berth-api-3")
        #expect(try await m.create(CreateRequest(cwd: cwd)).id == "api-4")
        // From the name when there is one; the name stays as typed.
        let named = try await m.create(CreateRequest(name: "Build Box", cwd: cwd))
        #expect(named.id == "build-box" && named.name == "Build Box")
        // A client-given id, a UUID included, is kept exactly.
        let uuid = SessionIDs.newUUID()
        #expect(try await m.create(CreateRequest(id: uuid, cwd: cwd)).id == uuid)
        #expect(
          Set(try server.sessionNames())
            == ["berth-api", "berth-api-2", "berth-api-3", "berth-api-4", "berth-build-box", "berth-\(uuid)"])
      }
    }
  }

  @Test func duplicateIdIsRefusedWithAHintToAttach() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "dup", cwd: dir.path))
        let e = await berthError { try await m.create(CreateRequest(id: "dup", cwd: dir.path)) }
        #expect(e?.exitStatus == 5)
        #expect(e?.description.contains("berth attach dup") == true)
        // A tmux session with that name that berth does not track: exists too, suggesting adopt.
        try server.check("new-session", "-d", "-s", "berth-untracked")
        let e2 = await berthError { try await m.create(CreateRequest(id: "untracked", cwd: dir.path)) }
        #expect(e2?.exitStatus == 5)
        #expect(e2?.description.contains("berth adopt untracked") == true)
        #expect(try m.store.record(id: "untracked") == nil)
        #expect(try m.store.allRecords().map(\.id) == ["dup"])
      }
    }
  }

  @Test func invalidIdsAreRefusedAndChangeNothing() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        for bad in ["a b", "x/y", String(repeating: "a", count: 65), "", "é", "a;b", "#(x)", "a.b", "a:b"] {
          let e = await berthError { try await m.create(CreateRequest(id: bad, cwd: dir.path)) }
          #expect(e?.exitStatus == 2, "id \(bad.debugDescription)")
          #expect(e?.description.contains("\n") == false)
        }
        #expect(try m.store.allRecords().isEmpty)
        #expect(try server.sessionNames().isEmpty)
        let longest = String(repeating: "z", count: 64)
        #expect(try await m.create(CreateRequest(id: longest, cwd: dir.path)).id == longest)
      }
    }
  }

  @Test func realClientsMakeItAttachedControlClientsNeverDo() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(id: "watched", cwd: dir.path))
        let tmuxId = try #require(v.tmuxId)

        // A control client on the session (an IDE integration, say) is not a user's attach.
        let control = try Spawn.withPipes(
          [server.install.path, "-L", server.socketName, "-C", "attach-session", "-t", tmuxId],
          environment: server.environment)
        defer {
          close(control.stdin)
          Spawn.waitFor(control.pid)
          close(control.stdout)
          close(control.stderr)
        }
        #expect(server.waitUntil { (try? server.clientLines())?.contains("\(tmuxId) 1") == true })
        var row = try #require(try await m.list().views.first { $0.id == "watched" })
        #expect(row.status == .detached)
        #expect(row.clients == 0)

        // A real client in a terminal: attached.
        let host = try attachRealClient(to: server, session: tmuxId)
        defer { host.shutdown() }
        row = try #require(try await m.list().views.first { $0.id == "watched" })
        #expect(row.status == .attached)
        #expect(row.clients == 1)
        #expect(row.lastAttachedAt != nil)
        #expect(try m.store.record(id: "watched")?.status == .attached)

        // Detach: the client goes, the session stays.
        let detached = try await m.detach(target: "watched")
        #expect(detached.id == "watched")
        #expect(server.waitUntil { (try? server.clientLines())?.contains("\(tmuxId) 0") == false })
        row = try #require(try await m.list().views.first { $0.id == "watched" })
        #expect(row.status == .detached)
        #expect(row.lastDetachedAt != nil)
        #expect(try server.sessionNames() == ["berth-watched"])
      }
    }
  }

  @Test func detachAllDetachesEveryAttachedSession() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let a = try await m.create(CreateRequest(id: "one", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "two", cwd: dir.path))
        let host = try attachRealClient(to: server, session: try #require(a.tmuxId))
        defer { host.shutdown() }
        let detached = try await m.detachAll()
        #expect(detached.map(\.id) == ["one"])
        #expect(server.waitUntil { (try? server.clientLines())?.contains { $0.hasSuffix(" 0") } == false })
        #expect(try await m.list().views.map(\.status) == [.detached, .detached])
      }
    }
  }

  @Test func attachPlansHandTheTerminalToTmux() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(id: "abc", cwd: dir.path))
        let plan = try await m.prepareAttach(target: "abc", create: nil)
        #expect(
          plan.argv == [
            server.install.path, "-u", "-L", server.socketName, "attach-session", "-t", try #require(v.tmuxId),
          ])
        #expect(!plan.switchesClient)
        #expect(plan.notice == nil)
        #expect(try m.store.record(id: "abc")?.lastAttachedAt != nil)

        // A missing target without --create: not found, nothing made.
        let e = await berthError { try await m.prepareAttach(target: "missing", create: nil) }
        #expect(e?.exitStatus == 3)
        #expect(try server.sessionNames() == ["berth-abc"])

        // Get-or-create by id is exact: "ab" is a prefix of "abc" but a new session.
        let made = try await m.prepareAttach(target: "ab", create: CreateRequest(cwd: dir.path))
        #expect(made.session.id == "ab")
        #expect(Set(try server.sessionNames()) == ["berth-abc", "berth-ab"])
        // ...and idempotent: asking again attaches to the same one.
        let again = try await m.prepareAttach(target: "ab", create: CreateRequest(cwd: dir.path))
        #expect(again.session.tmuxId == made.session.tmuxId)
        #expect(try m.store.allRecords().count == 2)
      }
    }
  }

  @Test func attachInsideTheSameServerSwitchesTheClient() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      var env = server.environment
      env["TMUX"] = "\(server.socketPath),1234,0"
      try await withManager(makeContext(server, dir, environment: env)) { m async throws in
        let v = try await m.create(CreateRequest(id: "inner", cwd: dir.path))
        let plan = try await m.prepareAttach(target: "inner", create: nil)
        #expect(plan.switchesClient)
        #expect(
          plan.argv == [server.install.path, "-L", server.socketName, "switch-client", "-t", try #require(v.tmuxId)])
      }
    }
  }

  @Test func attachRecreatesADeadSessionAndAdoptsAnOrphan() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("keep")
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "phoenix", cwd: cwd, workspace: "w", tags: ["t"]))
        try server.check("kill-session", "-t", "berth-phoenix")
        #expect(try await m.list().views.first?.endReason == .exited)
        let plan = try await m.prepareAttach(target: "phoenix", create: nil)
        #expect(plan.notice?.contains("recreated") == true)
        #expect(plan.session.status == .detached)
        #expect(plan.session.cwd == cwd)
        #expect(plan.session.workspace == "w" && plan.session.tags == ["t"])
        #expect(try server.sessionNames() == ["berth-phoenix"])

        try server.check("new-session", "-d", "-s", "berth-stray", "-c", cwd)
        let adopted = try await m.prepareAttach(target: "stray", create: nil)
        #expect(adopted.notice == "adopted berth-stray")
        #expect(adopted.session.tracked && !adopted.session.orphan)
        #expect(try m.store.record(id: "stray") != nil)
      }
    }
  }
}

@Suite("Session manager: how sessions end", .ownThreads)
struct EndReasonTests {
  @Test func killIsDeadKilledAndNeverRestorable() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(id: "victim", cwd: dir.path))
        let killed = try await m.kill([v])
        #expect(killed.map(\.id) == ["victim"])
        #expect(try server.sessionNames().isEmpty)
        let row = try #require(try await m.list().views.first)
        #expect(row.status == .dead)
        #expect(row.endReason == .killed)
        #expect(row.endReason?.isRestorable == false)
        #expect(row.endedAt != nil)
        #expect(row.tmuxId == nil && row.uptimeSeconds == nil)
      }
      // Another process after a reboot still sees it killed, not rebooted.
      let later = makeContext(server, dir, boot: Date().addingTimeInterval(3600))
      try await withManager(later) { m async throws in
        #expect(try await m.list().views.map(\.endReason) == [.killed])
      }
    }
  }

  @Test func exitedWhenTheShellEndsOrTmuxKillsItWhileTheServerRuns() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "killed-by-tmux", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "short", cwd: dir.path, command: ["sh", "-c", "sleep 1"]))
        try server.check("kill-session", "-t", "berth-killed-by-tmux")
        #expect(server.waitUntil { (try? server.sessionNames())?.isEmpty == true })
        let views = try await m.list().views
        #expect(views.map(\.id) == ["killed-by-tmux", "short"])
        #expect(views.map(\.status) == [.dead, .dead])
        #expect(views.map(\.endReason) == [.exited, .exited])
        #expect(views.allSatisfy { $0.endReason?.isRestorable == true })
        #expect(try m.store.allRecords().map(\.endReason) == [.exited, .exited])
      }
    }
  }

  @Test func vanishedWhenTheServerIsKilled() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "v1", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "v2", cwd: dir.path))
      }
      try server.killServerAndWait()
      try await withManager(makeContext(server, dir)) { m async throws in
        let listing = try await m.list()
        #expect(!listing.serverRunning)
        #expect(listing.views.map(\.endReason) == [.vanished, .vanished])
        #expect(listing.views.allSatisfy { $0.status == .dead && $0.endedAt != nil })
      }
    }
  }

  @Test func vanishedEvenWhenANewServerIsRunningNow() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "old", cwd: dir.path))
      }
      try server.killServerAndWait()
      // A second passes so the new server's start time (whole seconds) is after "last seen".
      try await Task.sleep(for: .milliseconds(1100))
      try await withManager(makeContext(server, dir)) { m async throws in
        // Creating starts a fresh server before anything lists the old record.
        _ = try await m.create(CreateRequest(id: "new", cwd: dir.path))
        let views = try await m.list().views
        #expect(views.map(\.id) == ["old", "new"])
        #expect(views[0].endReason == .vanished)
        #expect(views[1].status == .detached)
      }
    }
  }

  @Test func rebootWhenTheMachineBootedAfterItWasLastSeen() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let lastSeen = try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "r1", cwd: dir.path))
        return try #require(try m.store.record(id: "r1")?.lastSeenAt)
      }
      try server.killServerAndWait()
      let boot = lastSeen.addingTimeInterval(120)
      try await withManager(makeContext(server, dir, boot: boot)) { m async throws in
        let row = try #require(try await m.list().views.first)
        #expect(row.status == .dead)
        #expect(row.endReason == .reboot)
        #expect(row.endReason?.isRestorable == true)
        #expect(abs((row.endedAt ?? .distantPast).timeIntervalSince(boot)) < 0.01)
      }
    }
  }
}

@Suite("Session manager: orphans, foreign sessions and records", .ownThreads)
struct OrphanAndRecordTests {
  @Test func orphansShowUpAndCanBeAdopted() async throws {
    let dir = try TemporaryDirectory()
    let cwd = try dir.makeDirectory("o")
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "berth-xyz", "-c", cwd, "-x", "90", "-y", "20")
      try server.fixDetachedSize("=berth-xyz:", cols: 90, rows: 20)
      try server.check("new-session", "-d", "-s", "berth-not valid")
      try await withManager(makeContext(server, dir)) { m async throws in
        let views = try await m.list().views
        #expect(views.map(\.id) == ["xyz"])
        let orphan = views[0]
        #expect(orphan.orphan && !orphan.tracked && !orphan.foreign)
        #expect(orphan.status == .detached)
        #expect(orphan.cwd == cwd)
        #expect(try m.store.allRecords().isEmpty)

        let adopted = try await m.adopt(target: "xyz")
        #expect(adopted.tracked && !adopted.orphan)
        #expect(adopted.tmuxSession == "berth-xyz")
        let record = try #require(try m.store.record(id: "xyz"))
        #expect(record.cwd == cwd)
        #expect(record.cols == 90 && record.rows == 20)
        #expect(try await m.list().views.filter(\.orphan).isEmpty)
        // Adopting twice is refused.
        #expect(await berthError { try await m.adopt(target: "xyz") }?.exitStatus == 5)
      }
    }
  }

  @Test func foreignSessionsOnlyWhenAskedAndNeverKilledOrAdopted() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try server.check("new-session", "-d", "-s", "work")
      try await withManager(makeContext(server, dir)) { m async throws in
        #expect(try await m.list().views.isEmpty)
        let all = try await m.list(includeForeign: true).views
        #expect(all.map(\.tmuxSession) == ["work"])
        #expect(all[0].foreign && !all[0].tracked && !all[0].orphan)
        let e = await berthError { try await m.kill(all) }
        #expect(e?.exitStatus == 2)
        #expect(await berthError { try await m.adopt(target: "work") }?.exitStatus == 2)
        #expect(try server.sessionNames() == ["work"])
        #expect(try m.store.allRecords().isEmpty)
      }
    }
  }

  @Test func forgetIsRefusedWhileAliveAndRemovesADeadRecord() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        let v = try await m.create(CreateRequest(id: "f1", cwd: dir.path))
        let e = await berthError { try await m.forget(target: "f1") }
        #expect(e?.exitStatus == 2)
        #expect(e?.description.contains("berth kill") == true)
        #expect(try m.store.record(id: "f1") != nil)
        _ = try await m.kill([v])
        #expect(try await m.forget(target: "f1").id == "f1")
        #expect(try m.store.record(id: "f1") == nil)
        #expect(try await m.list().views.isEmpty)
      }
    }
  }

  @Test func cleanupKillsOrphansOnlyWhenAskedAndForgetsByAge() async throws {
    let dir = try TemporaryDirectory()
    let clock = TestClock()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir, clock: clock)) { m async throws in
        let old = try await m.create(CreateRequest(id: "old", cwd: dir.path))
        _ = try await m.kill([old])
        clock.advance(days: 5)
        let recent = try await m.create(CreateRequest(id: "recent", cwd: dir.path))
        _ = try await m.kill([recent])
        _ = try await m.create(CreateRequest(id: "alive", cwd: dir.path))
        try server.check("new-session", "-d", "-s", "berth-orphan1")
        clock.advance(days: 4)  // old ended 9 days ago, recent 4.

        // Without the flag orphans are left alone.
        var report = try await m.cleanup(orphans: false, dead: true, olderThanDays: 7, dryRun: true)
        #expect(report.killedOrphans.isEmpty)
        #expect(report.forgottenRecords == ["old"])
        #expect(report.dryRun)
        // Dry run: nothing changed.
        #expect(Set(try m.store.allRecords().map(\.id)) == ["old", "recent", "alive"])
        report = try await m.cleanup(orphans: true, dead: false, olderThanDays: nil, dryRun: true)
        #expect(report.killedOrphans == ["berth-orphan1"])
        #expect(try server.sessionNames().contains("berth-orphan1"))

        report = try await m.cleanup(orphans: false, dead: true, olderThanDays: 7, dryRun: false)
        #expect(report.forgottenRecords == ["old"])
        #expect(Set(try m.store.allRecords().map(\.id)) == ["recent", "alive"])
        #expect(try server.sessionNames().contains("berth-orphan1"))

        report = try await m.cleanup(orphans: true, dead: true, olderThanDays: nil, dryRun: false)
        #expect(report.killedOrphans == ["berth-orphan1"])
        #expect(report.forgottenRecords == ["recent"])
        #expect(try server.sessionNames() == ["berth-alive"])
        #expect(try m.store.allRecords().map(\.id) == ["alive"])
      }
    }
  }

  @Test func closingAWorkspaceKillsItsSessionsOnly() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "w1a", cwd: dir.path, workspace: "w1"))
        _ = try await m.create(CreateRequest(id: "w1b", cwd: dir.path, workspace: "w1"))
        _ = try await m.create(CreateRequest(id: "w2a", cwd: dir.path, workspace: "w2"))
        let closed = try await m.closeWorkspace("w1")
        #expect(Set(closed.map(\.id)) == ["w1a", "w1b"])
        #expect(try server.sessionNames() == ["berth-w2a"])
        let views = try await m.list().views
        #expect(views.filter { $0.workspace == "w1" }.allSatisfy { $0.endReason == .killed })
        #expect(views.first { $0.id == "w2a" }?.status == .detached)
        #expect(await berthError { try await m.closeWorkspace("nope") }?.exitStatus == 3)
      }
    }
  }

  @Test func renameAndTagKeepNamesUnique() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        _ = try await m.create(CreateRequest(id: "s1", name: "api", cwd: dir.path))
        _ = try await m.create(CreateRequest(id: "s2", cwd: dir.path))
        #expect(
          await berthError { try await m.create(CreateRequest(id: "s3", name: "api", cwd: dir.path)) }?.exitStatus == 5)
        #expect(await berthError { try await m.rename(target: "s2", to: "api") }?.exitStatus == 5)
        #expect(try m.store.record(id: "s2")?.metadata.customName == nil)
        #expect(try await m.rename(target: "s2", to: "web").name == "web")
        // The custom name now finds it.
        #expect(try await m.resolve("web").id == "s2")
        // Renaming to its own name is fine; nil clears it.
        #expect(try await m.rename(target: "web", to: "web").name == "web")
        #expect(try await m.rename(target: "s2", to: nil).name == nil)

        var v = try await m.tag(target: "s1", changes: ["+one", "two", "+one"])
        #expect(v.tags == ["one", "two"])
        v = try await m.tag(target: "api", changes: ["-one", "+three"])
        #expect(v.tags == ["two", "three"])
        #expect(try m.store.record(id: "s1")?.metadata.tags == ["two", "three"])
        #expect(await berthError { try await m.tag(target: "s1", changes: ["+"]) }?.exitStatus == 2)
      }
    }
  }

  @Test func sendTypesLiteralText() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        // `cat` echoes what it gets, so the pane shows exactly the bytes that arrived.
        let v = try await m.create(
          CreateRequest(id: "typist", cwd: dir.path, size: (cols: 120, rows: 20), command: ["cat"]))
        let text = #"say "hi" 'there'; # not a comment $HOME #{session_name} \n"#
        _ = try await m.send(target: "typist", text: text, enter: true)
        #expect(server.waitUntil { (try? server.paneText(v.tmuxSession))?.components(separatedBy: text).count == 3 })
        // Text that starts with a dash is text, not tmux flags.
        _ = try await m.send(target: "typist", text: "-la -R", enter: true)
        #expect(
          server.waitUntil { (try? server.paneText(v.tmuxSession))?.components(separatedBy: "-la -R").count == 3 })
        // A newline in the text is a real newline.
        _ = try await m.send(target: "typist", text: "first\tline\nsecond line\n", enter: false)
        let arrived = server.waitUntil {
          let lines = ((try? server.paneText(v.tmuxSession)) ?? "").split(separator: "\n").map(String.init)
          return lines.filter { $0 == "second line" }.count == 2 && lines.contains { $0.hasPrefix("first") }
        }
        if server.version >= TmuxVersion(major: 3, minor: 3) {
          #expect(arrived)
        } else {
          // Seen on tmux 3.2a only: the last newline of the bytes does not reach `cat`.
          withKnownIssue("tmux 3.2a: send-keys -H loses the last newline", isIntermittent: true) { #expect(arrived) }
        }
        // The end of a bracketed paste is never sent.
        let e = await berthError { try await m.send(target: "typist", text: "x\u{1B}[201~rm -rf ~", enter: false) }
        #expect(e?.exitStatus == 2)
        #expect(!(try server.paneText(v.tmuxSession)).contains("rm -rf"))
        // A dead session cannot be typed into.
        _ = try await m.kill([v])
        #expect(await berthError { try await m.send(target: "typist", text: "x", enter: false) } != nil)
      }
    }
  }
}

@Suite("Session manager: targets, limits and two processes", .ownThreads)
struct TargetAndLimitTests {
  @Test func targetsResolveInTheDocumentedOrder() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir)) { m async throws in
        for (id, name) in [
          ("alpha", nil), ("alpha1", nil), ("alpha2", "beta1"), ("beta1", nil), ("gamma", "berth-alpha1"),
        ] {
          _ = try await m.create(CreateRequest(id: id, name: name, cwd: dir.path))
        }
        // An exact id wins over being a prefix of other ids.
        #expect(try await m.resolve("alpha").id == "alpha")
        // An exact id wins over a custom name.
        #expect(try await m.resolve("beta1").id == "beta1")
        // An exact custom name wins over an exact tmux session name.
        #expect(try await m.resolve("berth-alpha1").id == "gamma")
        // An exact tmux session name.
        #expect(try await m.resolve("berth-alpha2").id == "alpha2")
        // A unique prefix.
        #expect(try await m.resolve("gam").id == "gamma")
        #expect(try await m.resolve("alpha2").id == "alpha2")
        // An ambiguous prefix names the candidates and changes nothing.
        let e = await berthError { try await m.resolve("alph") }
        #expect(e?.exitStatus == 3)
        for id in ["alpha", "alpha1", "alpha2"] { #expect(e?.description.contains(id) == true) }
        #expect(await berthError { try await m.resolve("nothing") }?.exitStatus == 3)
        #expect(await berthError { try await m.detach(target: "alph") }?.exitStatus == 3)
        #expect(await berthError { try await m.rename(target: "alph", to: "x") }?.exitStatus == 3)
        #expect(await berthError { try await m.forget(target: "alph") }?.exitStatus == 3)
        #expect(try server.sessionNames().count == 5)
        #expect(try m.store.allRecords().allSatisfy { $0.status == .detached && $0.metadata.customName != "x" })
      }
    }
  }

  @Test func workspaceLimitsWarnThenRefuse() async throws {
    let dir = try TemporaryDirectory()
    var settings = BerthSettings()
    settings.workspaceWarnAt = 2
    settings.workspaceLimit = 3
    let warnings = WarningLog()
    try await withTmuxServer { server in
      try await withManager(makeContext(server, dir, settings: settings, warnings: warnings)) { m async throws in
        _ = try await m.create(CreateRequest(id: "l1", cwd: dir.path, workspace: "big"))
        _ = try await m.create(CreateRequest(id: "l2", cwd: dir.path, workspace: "big"))
        #expect(warnings.all.isEmpty)
        _ = try await m.create(CreateRequest(id: "l3", cwd: dir.path, workspace: "big"))
        #expect(warnings.all.count == 1)
        #expect(warnings.all.first?.contains("big") == true)
        let e = await berthError { try await m.create(CreateRequest(id: "l4", cwd: dir.path, workspace: "big")) }
        #expect(e?.exitStatus == 6)
        #expect(try m.store.record(id: "l4") == nil)
        #expect(try server.sessionNames().count == 3)
        // Other workspaces are not affected.
        _ = try await m.create(CreateRequest(id: "other", cwd: dir.path, workspace: "small"))
        // A session that ended (without berth being told) frees its place.
        try server.check("kill-session", "-t", "berth-l1")
        _ = try await m.create(CreateRequest(id: "l4", cwd: dir.path, workspace: "big"))
      }
    }
  }

  @Test func twoManagersCreateAtOnceOnOneDatabase() async throws {
    let dir = try TemporaryDirectory()
    try await withTmuxServer { server in
      let context = makeContext(server, dir)
      let first = try SessionManager(context: context)
      let second = try SessionManager(context: context)
      async let a: [String] = (0..<8).asyncMap { try await first.create(CreateRequest(id: "a\($0)", cwd: dir.path)).id }
      async let b: [String] = (0..<8).asyncMap {
        try await second.create(CreateRequest(id: "b\($0)", cwd: dir.path)).id
      }
      // Both also race for one id: exactly one wins.
      async let c1 = outcome { () async throws(BerthError) in
        try await first.create(CreateRequest(id: "same", cwd: dir.path))
      }
      async let c2 = outcome { () async throws(BerthError) in
        try await second.create(CreateRequest(id: "same", cwd: dir.path))
      }
      let (idsA, idsB, r1, r2) = try await (a, b, c1, c2)
      #expect(idsA.count == 8 && idsB.count == 8)
      let outcomes = [r1, r2]
      #expect(outcomes.filter { (try? $0.get()) != nil }.count == 1)
      for case .failure(let e) in outcomes { #expect(e.exitStatus == 5, "\(e)") }
      await first.close()
      await second.close()
      try await withManager(context) { m async throws in
        let views = try await m.list().views
        #expect(views.count == 17)
        #expect(views.allSatisfy { $0.tracked && $0.status == .detached })
        #expect(try m.store.integrityCheck() == "ok")
      }
      #expect(try server.sessionNames().count == 17)
    }
  }
}

func outcome<T>(_ body: () async throws(BerthError) -> T) async -> Result<T, BerthError> {
  do { return .success(try await body()) } catch { return .failure(error) }
}

extension Range where Bound == Int {
  func asyncMap<T>(_ transform: (Int) async throws -> T) async rethrows -> [T] {
    var out: [T] = []
    for i in self { out.append(try await transform(i)) }
    return out
  }
}
