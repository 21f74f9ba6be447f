import Foundation
import Testing

@testable import BerthCore

/// The reconciler is pure: records and live sessions in, views and record changes out.
@Suite struct ReconcileTests {
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  func record(
    _ id: String, status: SessionStatus = .detached, seen: Date? = nil, tmuxId: String? = nil,
    endReason: EndReason? = nil, cwd: String = "/home/u", prefix: String = "berth-"
  ) -> SessionRecord {
    SessionRecord(
      id: id, tmuxSessionName: prefix + id, createdAt: t0, cwd: cwd, status: status, shell: "/bin/sh",
      tmuxSessionId: tmuxId, endReason: endReason, endedAt: endReason == nil ? nil : t0, lastSeenAt: seen ?? t0)
  }

  func live(
    _ sessionId: String, _ name: String, clients: Int = 0, path: String = "/home/u", width: Int = 80,
    height: Int = 24, activity: Date? = nil
  ) -> LiveSession {
    LiveSession(
      sessionId: sessionId, name: name, createdAt: t0, windows: 1, clients: clients,
      panes: [
        LivePane(
          paneId: "%\(sessionId.dropFirst())", windowId: "@1", pid: 42, width: width, height: height,
          currentCommand: "sh", currentPath: path, windowActivity: activity)
      ])
  }

  func reconciler(
    now: Date? = nil, boot: Date? = nil, running: Bool = true, started: Date? = nil, foreign: Bool = false,
    prefix: String = "berth-"
  ) -> Reconciler {
    Reconciler(
      prefix: prefix, now: now ?? t0.addingTimeInterval(600), bootTime: boot ?? t0.addingTimeInterval(-86_400),
      serverRunning: running, serverStartedAt: started, includeForeign: foreign)
  }

  // MARK: Live status

  @Test func realClientsMakeAttachedNoneMakeDetached() {
    let result = reconciler().reconcile(
      records: [record("a"), record("b", status: .attached)],
      live: [live("$1", "berth-a", clients: 2), live("$2", "berth-b", clients: 0)])
    #expect(result.views.map(\.status) == [.attached, .detached])
    #expect(result.views.map(\.clients) == [2, 0])
    let a = result.changedRecords.first { $0.id == "a" }
    let b = result.changedRecords.first { $0.id == "b" }
    #expect(a?.status == .attached)
    #expect(a?.lastAttachedAt != nil)
    #expect(b?.status == .detached)
    #expect(b?.lastDetachedAt == t0.addingTimeInterval(600))
  }

  @Test func unchangedRecordsAreNotSavedAgain() {
    // Only "last seen" would differ: nothing to write.
    let result = reconciler().reconcile(records: [record("a", tmuxId: "$1")], live: [live("$1", "berth-a")])
    #expect(result.changedRecords.isEmpty)
    #expect(result.views.first?.tmuxId == "$1")
  }

  @Test func cwdAndSizeFollowTheActivePane() {
    let result = reconciler().reconcile(
      records: [record("a", tmuxId: "$1")], live: [live("$1", "berth-a", path: "/srv/app", width: 132, height: 43)])
    let r = try? #require(result.changedRecords.first)
    #expect(r?.cwd == "/srv/app")
    #expect(r?.cols == 132 && r?.rows == 43)
    #expect(result.views.first?.cwd == "/srv/app")
  }

  @Test func matchesTmuxIdOnlyWhenTheNameAgrees() {
    // After a server restart "$1" belongs to another session: match by name instead.
    let result = reconciler().reconcile(
      records: [record("a", tmuxId: "$1")], live: [live("$1", "berth-other"), live("$7", "berth-a")])
    #expect(result.views.first { $0.id == "a" }?.tmuxId == "$7")
    #expect(result.views.first { $0.id == "other" }?.orphan == true)
    #expect(result.changedRecords.first?.tmuxSessionId == "$7")
  }

  @Test func uptimeAndIdleComeFromNow() {
    let now = t0.addingTimeInterval(3_600)
    let result = reconciler(now: now).reconcile(
      records: [record("a")], live: [live("$1", "berth-a", activity: t0.addingTimeInterval(3_000))])
    let v = result.views[0]
    #expect(v.uptimeSeconds == 3_600)
    #expect(v.idleSeconds == 600)
    #expect(v.activityAt == t0.addingTimeInterval(3_000))
    #expect(v.activePaneId == "%1")
    #expect(v.panePids == [42])
  }

  // MARK: End reasons

  @Test func aRecreatedSessionCountsFromTmuxsCreationAndIdleNeverExceedsUp() {
    // The record is a day old; tmux made the session 10 s ago; the window's activity stamp
    // is a second older than the session (as on a fresh session).
    var fresh = live("$4", "berth-r", activity: t0.addingTimeInterval(589))
    fresh.createdAt = t0.addingTimeInterval(590)
    let old = SessionRecord(
      id: "r", tmuxSessionName: "berth-r", createdAt: t0.addingTimeInterval(-86_400), cwd: "/home/u",
      shell: "/bin/sh")
    let v = reconciler().reconcile(records: [old], live: [fresh]).views[0]
    #expect(v.sessionCreatedAt == t0.addingTimeInterval(590))
    #expect(v.uptimeSeconds == 10)
    #expect(v.idleSeconds == 10)
    #expect(v.activePanePid == 42)
  }

  @Test func goneWhileTheServerRunsIsExited() {
    let result = reconciler(started: t0.addingTimeInterval(-10)).reconcile(
      records: [record("a", tmuxId: "$1")], live: [])
    let r = result.changedRecords[0]
    #expect(r.status == .dead)
    #expect(r.endReason == .exited)
    #expect(r.endedAt == t0.addingTimeInterval(600))
    #expect(r.tmuxSessionId == nil)
    #expect(result.views[0].endReason == .exited)
    #expect(result.views[0].uptimeSeconds == nil && result.views[0].tmuxId == nil)
  }

  @Test func goneWithNoServerIsVanished() {
    let result = reconciler(running: false).reconcile(records: [record("a"), record("b", status: .attached)], live: [])
    #expect(result.changedRecords.map(\.endReason) == [.vanished, .vanished])
    // An attached session that vanished was detached when it ended.
    #expect(result.changedRecords[1].lastDetachedAt == result.changedRecords[1].endedAt)
  }

  @Test func goneWithAServerStartedSinceIsVanished() {
    let started = t0.addingTimeInterval(300)
    let result = reconciler(started: started).reconcile(records: [record("a")], live: [])
    #expect(result.changedRecords[0].endReason == .vanished)
    #expect(result.changedRecords[0].endedAt == started)
  }

  @Test func lastSeenBeforeTheBootIsReboot() {
    let boot = t0.addingTimeInterval(120)
    // Whether or not a server runs now.
    for running in [false, true] {
      let result = reconciler(boot: boot, running: running, started: boot.addingTimeInterval(30))
        .reconcile(records: [record("a")], live: [])
      #expect(result.changedRecords[0].endReason == .reboot)
      #expect(result.changedRecords[0].endedAt == boot)
      #expect(result.changedRecords[0].endReason?.isRestorable == true)
    }
  }

  @Test func deadRecordsKeepTheirReason() {
    let records = [
      record("k", status: .dead, endReason: .killed), record("e", status: .dead, endReason: .exited),
    ]
    let result = reconciler(boot: t0.addingTimeInterval(60), running: false).reconcile(records: records, live: [])
    #expect(result.changedRecords.isEmpty)
    #expect(result.views.map(\.endReason) == [.killed, .exited])
    #expect(EndReason.killed.isRestorable == false)
    #expect(EndReason.allCases.filter(\.isRestorable) == [.exited, .vanished, .reboot])
  }

  @Test func aDeadRecordWhoseSessionIsBackIsAliveAgain() {
    let result = reconciler().reconcile(
      records: [record("a", status: .dead, endReason: .vanished)], live: [live("$3", "berth-a")])
    #expect(result.views[0].status == .detached)
    #expect(result.views[0].endReason == nil && result.views[0].endedAt == nil)
    #expect(result.changedRecords[0].endReason == nil)
  }

  // MARK: Orphans and foreign sessions

  @Test func orphansAreUnclaimedPrefixedSessionsWithValidIds() {
    let sessions = [
      live("$1", "berth-tracked"), live("$2", "berth-xyz"), live("$3", "berth-not valid"), live("$4", "work"),
      live("$5", "berth-"),
    ]
    let plain = reconciler().reconcile(records: [record("tracked")], live: sessions)
    #expect(plain.views.map(\.id) == ["tracked", "xyz"])
    #expect(plain.views[1].orphan && !plain.views[1].tracked && !plain.views[1].foreign)
    #expect(plain.views[1].tmuxSession == "berth-xyz")

    let all = reconciler(foreign: true).reconcile(records: [record("tracked")], live: sessions)
    #expect(all.views.map(\.tmuxSession) == ["berth-tracked", "berth-xyz", "berth-not valid", "work", "berth-"])
    #expect(all.views.map(\.foreign) == [false, false, true, true, true])
    #expect(all.views.filter(\.foreign).allSatisfy { !$0.tracked && !$0.orphan })
  }

  @Test func aCustomPrefixManagesOtherToolsSessions() {
    let result = reconciler(prefix: "superset-").reconcile(
      records: [record("t1", prefix: "superset-")],
      live: [live("$1", "superset-t1"), live("$2", "superset-t2"), live("$3", "berth-x")])
    #expect(result.views.map(\.id) == ["t1", "t2"])
    #expect(result.views.map(\.orphan) == [false, true])
  }

  // MARK: tmux replies

  @Test func controlClientsNeverCountAndHiddenSessionsAreLeftOut() {
    func line(_ s: String) -> [UInt8] { Array(s.utf8) }
    // Free text holds TABs, a line break and a BEL: tmux prints them raw, and only the
    // listing's separator ends a field.
    let paneLine = { (sid: String, name: String, pane: String) -> String in
      [
        sid, "1800000000", "0", "1", "@1", "0", "1", "1800000100", pane, "0", "1", "99", "0", "", "80", "24", "0",
        "layout", "7", name, "win\tdow",
      ]
      .joined(separator: "\t") + "Z9sepZ9sh\tZ9sepZ9/home/u\nwith a line break\u{7}Z9sepZ9"
    }
    let clients = TmuxListing.parseClients([
      line("$1\t1\t100\tclient-100"), line("$1\t0\t101\t/dev/pts/3"), line("$2\t1\t102\tclient-102"), line("garbage"),
    ])
    #expect(clients.map(\.isControl) == [true, false, true])
    let text = [
      paneLine("$1", "berth-a", "%1"), paneLine("$2", "_berth-control-1-2", "%2"), paneLine("$1", "berth-a", "%3"),
    ].joined(separator: "\n")
    let sessions = TmuxListing.sessions(
      paneLines: text.split(separator: "\n", omittingEmptySubsequences: false).map { line(String($0)) },
      separator: "Z9sepZ9", clients: clients, hiddenPrefix: "_berth-control-")
    #expect(sessions.map(\.name) == ["berth-a"])
    #expect(sessions[0].clients == 1)
    #expect(sessions[0].panes.map(\.paneId) == ["%1", "%3"])
    #expect(sessions[0].panes[0].historySize == 7 && sessions[0].panes[0].height == 24)
    #expect(sessions[0].panes[0].currentPath == "/home/u\u{FFFD}with a line break\u{FFFD}")
    #expect(sessions[0].panes[0].windowName == "win\u{FFFD}dow" && sessions[0].panes[0].currentCommand == "sh\u{FFFD}")
    #expect(sessions[0].createdAt == Date(timeIntervalSince1970: 1_800_000_000))
    #expect(sessions[0].lastAttachedAt == nil)
  }

  @Test func extraTabsStayInTheLastField() {
    let f = TmuxListing.fields(Array("a\tb\tc\td".utf8), count: 3)
    #expect(f == ["a", "b", "c\td"])
  }

  @Test func previewKeepsTheLastNonBlankLines() {
    let lines = ["one", "two  ", "three", "", "   ", ""].map { Array($0.utf8) }
    #expect(TmuxListing.previewLines(lines, count: 2) == ["two", "three"])
    #expect(TmuxListing.previewLines(lines, count: 10) == ["one", "two", "three"])
    #expect(TmuxListing.previewLines(lines, count: 0) == [])
    #expect(TmuxListing.previewLines([[UInt8]](), count: 5) == [])
  }
}

extension ReconcileTests {
  @Test func aPathWithControlCharactersIsKeptAsStored() {
    // tmux's listing shows "/p/\u{1B}x" as "/p/\u{FFFD}x": the record keeps the real path.
    let stored = "/p/\u{1B}]0;t\u{07}x"
    let result = reconciler().reconcile(
      records: [record("a", tmuxId: "$1", cwd: stored)], live: [live("$1", "berth-a", path: "/p/\u{FFFD}]0;t\u{FFFD}x")]
    )
    #expect(result.changedRecords.isEmpty)
    #expect(result.views[0].cwd == stored)
    // A different directory is taken from tmux, U+FFFD and all.
    let moved = reconciler().reconcile(
      records: [record("a", tmuxId: "$1", cwd: stored)], live: [live("$1", "berth-a", path: "/q/\u{FFFD}")])
    #expect(moved.changedRecords.first?.cwd == "/q/\u{FFFD}")
  }
}

extension ReconcileTests {
  /// The listing's own split agrees with the standard library's on random bytes over a
  /// tiny alphabet (so separators, partial separators and overlaps are common).
  @Test func splittingOnTheSeparatorAgreesWithTheStandardLibrary() {
    var rng = SystemRandomNumberGenerator()
    let separators: [[UInt8]] = [Array("ab".utf8), Array("aab".utf8), Array("a".utf8), Array("abab".utf8)]
    for _ in 0..<2000 {
      let sep = separators[Int(rng.next() % UInt64(separators.count))]
      let bytes = (0..<Int(rng.next() % 24)).map { _ in [0x61, 0x62, 0x63][Int(rng.next() % 3)] as UInt8 }
      let ours = TmuxListing.split(bytes, on: sep).map(Array.init)
      let theirs = bytes.split(separator: sep, omittingEmptySubsequences: false).map(Array.init)
      #expect(ours == theirs, "\(bytes) on \(sep)")
    }
    #expect(TmuxListing.split([], on: Array("ab".utf8)).map(Array.init) == [[]])
    #expect(TmuxListing.split(Array("ab".utf8), on: Array("ab".utf8)).map(Array.init) == [[], []])
  }

  /// The parser before it read fields as bytes (fields as Strings, numbers through `Int`
  /// and `Double`): the byte parser must read every record alike.
  static func referencePanes(_ lines: [[UInt8]], separator: String) -> [LivePane] {
    let sep = Array(separator.utf8)
    var panes: [LivePane] = []
    var pending: [UInt8] = []
    for line in lines {
      if !pending.isEmpty { pending.append(0x0A) }
      pending.append(contentsOf: line)
      guard pending.count >= sep.count, pending.suffix(sep.count).elementsEqual(sep) else { continue }
      let parts = TmuxListing.split(pending, on: sep)
      guard parts.count >= 4 else { continue }
      defer { pending = [] }
      guard parts.count == 4 else { continue }
      var tabs = 0
      guard
        let windowStart = parts[0].firstIndex(where: { byte in
          if byte == 0x09 { tabs += 1 }
          return tabs == 20
        })
      else { continue }
      let f = TmuxListing.fields(Array(parts[0][..<windowStart]), count: 20)
      guard f.count == 20, f[0].hasPrefix("$"), let v = Double(f[1]), v > 0 else { continue }
      let text = [parts[0][(windowStart + 1)...], parts[1], parts[2]].map { TmuxListing.controlsReplaced($0) }
      func epoch(_ s: String) -> Date? { Double(s).flatMap { $0 > 0 ? Date(timeIntervalSince1970: $0) : nil } }
      panes.append(
        LivePane(
          paneId: f[8], windowId: f[4], windowIndex: Int(f[5]) ?? 0, windowName: text[0], windowActive: f[6] == "1",
          paneIndex: Int(f[9]) ?? 0, paneActive: f[10] == "1", pid: Int32(f[11]) ?? 0, dead: f[12] == "1",
          deadStatus: Int(f[13]), width: Int(f[14]) ?? 0, height: Int(f[15]) ?? 0, inMode: f[16] == "1",
          currentCommand: text[1], currentPath: text[2], windowActivity: epoch(f[7]), windowLayout: f[17],
          historySize: Int(f[18]) ?? 0))
    }
    return panes
  }

  @Test func theByteParserReadsPanesAsTheStringParserDid() {
    var rng = SystemRandomNumberGenerator()
    let separator = "Q7sepQ7"
    let numbers = [
      "0", "1", "7", "-1", "+3", "", "x", "12a", "1.5", "99999999999", "2147483648", "1800000000",
      "-0", "00012", "99999999999999999999",
    ]
    let texts = ["", "plain", "a\tb", "line\nbreak", "\u{1B}[31m", "é日🚀", "Q7sep", "ends in \n", "\n"]
    func pick(_ list: [String]) -> String { list.randomElement(using: &rng)! }
    for _ in 0..<400 {
      var text = ""
      for _ in 0..<Int.random(in: 0...5, using: &rng) {
        var fixed = (0..<20).map { k -> String in
          switch k {
          case 0: return Bool.random(using: &rng) ? "$\(Int.random(in: 0...9, using: &rng))" : pick(["@1", "", "$"])
          case 4, 8, 17, 19: return pick(["@3", "%4", "berth-a", "a,b{c}", ""])
          default: return pick(numbers)
          }
        }
        if Int.random(in: 0..<10, using: &rng) == 0 { fixed.removeLast() }
        var record = fixed.joined(separator: "\t") + "\t" + pick(texts) + separator
        record += pick(texts) + separator + pick(texts) + separator
        if Int.random(in: 0..<10, using: &rng) == 0 { record += pick(texts) + separator }
        text += record + "\n"
      }
      let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
      let parsed = TmuxListing.paneRows(lines, separator: separator).map(\.pane)
      #expect(parsed == Self.referencePanes(lines, separator: separator), "\(text.debugDescription)")
    }
  }
}
