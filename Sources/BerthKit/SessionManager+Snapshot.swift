import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// What a snapshot run saved.
public struct SnapshotReport: Sendable, Equatable {
  public var saved: [String]
  public var serverRunning: Bool
  /// What the save saw of the server's autosave chain, asked for in its own batch (nil when
  /// it did not ask): `ensureAutosave(seen:)` then needs no tmux client of its own.
  public var autosave: AutosaveState?

  public init(saved: [String], serverRunning: Bool, autosave: AutosaveState? = nil) {
    self.saved = saved
    self.serverRunning = serverRunning
    self.autosave = autosave
  }
}

/// The server's autosave chain as a snapshot saw it.
public struct AutosaveState: Sendable, Equatable {
  /// Whether any session on the server carries berth's prefix.
  public var berthSessionsExist: Bool
  /// The value of `@berth-autosave` (`TOKEN DUE`); nil when it is not set.
  public var chain: String?

  public init(berthSessionsExist: Bool, chain: String?) {
    self.berthSessionsExist = berthSessionsExist
    self.chain = chain
  }
}

/// What a restore did (or would do, with a dry run).
public struct RestoreReport: Sendable, Equatable {
  public struct Item: Sendable, Equatable {
    public var id: String
    public var windows: Int
    public var panes: Int
    public var notices: [String]
  }
  public var restored: [Item]
  public var skipped: [(id: String, reason: String)]
  public var dryRun: Bool
  /// Sessions the restore could not bring back (their records stay restorable), with why.
  public var failed: [(id: String, reason: String)] = []

  public static func == (a: RestoreReport, b: RestoreReport) -> Bool {
    a.restored == b.restored && a.dryRun == b.dryRun && a.skipped.map(\.id) == b.skipped.map(\.id)
      && a.failed.map(\.id) == b.failed.map(\.id)
  }
}

extension SessionManager {
  // MARK: Snapshots

  /// The server option naming the live autosave chain (see `ensureAutosave`).
  static let autosaveOption = "@berth-autosave"

  /// Saves every live tracked session (windows, layouts, panes, cwds, foreground commands, the
  /// allowed environment, the last lines of output) in one transaction. Two batched round
  /// trips (the listing, then environments and captures), never a process per pane. With no
  /// server, or nothing alive, nothing is written (an empty save never replaces a good snapshot).
  @discardableResult
  public func snapshotAll(only ids: Set<String>? = nil) async throws(BerthError) -> SnapshotReport {
    guard let c = try await connection(startServer: false) else {
      _ = try await list()
      return SnapshotReport(saved: [], serverRunning: false)
    }
    Trace.mark("snapshot: start")
    let detailed = try await detailedList()
    Trace.mark("snapshot: listed")
    let listing = detailed.listing
    let byId = Dictionary(detailed.live.map { ($0.sessionId, $0) }, uniquingKeysWith: { a, _ in a })
    // Each live tracked session with its tmux ids, parsed once.
    let targets = listing.views.compactMap {
      v -> (view: SessionView, live: LiveSession, id: TargetID, panes: [(LivePane, TargetID)])? in
      guard v.tracked, v.isAlive, ids?.contains(v.id) ?? true, let tid = v.tmuxId, let s = byId[tid],
        let sid = TargetID(s.sessionId)
      else { return nil }
      return (v, s, sid, s.panes.compactMap { p in TargetID(p.paneId).map { (p, $0) } })
    }
    guard !targets.isEmpty else { return SnapshotReport(saved: [], serverRunning: true) }
    // Each window's `automatic-rename`, so a restore names it as it was; the server's autosave
    // chain (what `ensureAutosave` would ask for in a client of its own); the sessions'
    // environments and the panes' last output in runs sharing a marker (a marker costs tmux
    // as much as the command it ends): environments split by their own order (see
    // `SnapshotBuilder.splitEnvironments`), captures by the line counts the listing gave.
    var groups: [[TmuxCommand]] = [
      [TmuxCommand([.word("list-windows"), .word("-a"), .word("-F"), .value("#{window_id} #{automatic-rename}")])],
      [.showOptionValue(Self.autosaveOption, scope: .server)],
    ]
    let lines = SnapshotBuilder.maxLinesPerPane
    let environmentRuns = Self.runs(Array(targets.indices))
    groups += environmentRuns.map { run in run.map { .showEnvironment(targets[$0].id) } }
    let panes = targets.flatMap { t in t.panes.map { (pane: $0.0, id: $0.1) } }
    let runs = Self.runs(panes)
    groups += runs.map { run in run.map { Self.capture(.target($0.id), historyLines: lines) } }
    // The process table is read while tmux answers.
    let panePids = targets.flatMap { $0.live.panes.map(\.pid) }
    // A remote host's processes are not in this machine's /proc: its panes count as shells.
    let local = context.host == nil
    async let table = local ? ProcessTable.read(panePids: panePids) : ProcessTable(entries: [])
    let replies = try await send(c, groups: groups)
    Trace.mark("snapshot: replies")
    let processes = await table
    // Each session's environment reply (nil: asked again below).
    var environments = [CommandReply?](repeating: nil, count: targets.count)
    var environmentsAgain: [Int] = []
    for (run, reply) in zip(environmentRuns, replies.dropFirst(2)) {
      guard !reply.isError, let parts = SnapshotBuilder.splitEnvironments(reply.lines, sessions: run.count) else {
        environmentsAgain += run
        continue
      }
      for (i, part) in zip(run, parts) { environments[i] = CommandReply(isError: false, lines: part) }
    }
    var captured: [String: [[UInt8]]] = [:]
    var again: [(pane: LivePane, id: TargetID)] = []
    for (run, reply) in zip(runs, replies.dropFirst(2 + environmentRuns.count)) {
      let counts = run.map { min(lines, $0.pane.historySize) + $0.pane.height }
      guard !reply.isError, let parts = Self.split(reply.lines, counts: counts) else {
        again += run
        continue
      }
      for (item, part) in zip(run, parts) { captured[item.pane.paneId] = part }
    }
    // A run that cannot be split (a session berth did not start among the environments; a
    // pane resized or cleared meanwhile, or a user's hook printed something, among the
    // captures) is asked again one reply each.
    if !environmentsAgain.isEmpty || !again.isEmpty {
      let each = try await send(
        c,
        environmentsAgain.map { .showEnvironment(targets[$0].id) }
          + again.map { Self.capture(.target($0.id), historyLines: lines) })
      for (i, reply) in zip(environmentsAgain, each) { environments[i] = reply }
      for (item, reply) in zip(again, each.dropFirst(environmentsAgain.count)) where !reply.isError {
        captured[item.pane.paneId] = reply.lines
      }
    }
    var automatic: [String: Bool] = [:]
    for line in replies[0].isError ? [] : replies[0].textLines {
      let f = line.split(separator: " ")
      if f.count == 2 { automatic[String(f[0])] = f[1] == "on" || f[1] == "1" }
    }
    var items: [(sessionId: String, data: Data)] = []
    let now = context.now()
    let records = Dictionary(detailed.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    for ((v, s, _, panes), envReply) in zip(targets, environments) {
      let envReply = envReply ?? CommandReply(isError: true, lines: [])
      // A session under berth's name that berth did not start (tmux-resurrect brought it back
      // after a reboot): its last snapshot is berth's, and stays until a restore adopts it.
      let started = envReply.isError || envReply.textLines.contains { $0.hasPrefix("BERTH_SESSION_ID=") }
      let environment = envReply.isError ? [:] : SnapshotBuilder.environment(envReply.textLines, settings: settings)
      var captures: [String: [String]] = [:]
      var foreground: [String: (command: [String]?, isShell: Bool)] = [:]
      for (p, _) in panes {
        if let output = captured[p.paneId] {
          captures[p.paneId] = SnapshotBuilder.lastLines(output, count: lines)
        }
        foreground[p.paneId] = processes.foreground(panePid: p.pid)
      }
      guard started else { continue }
      let shell = records[v.id]?.shell
      let history =
        shell.map {
          shellLaunch(shell: $0, sessionId: v.id, stateDirectory: context.stateDirectory, userZdotdir: nil)
            .historyFile
        } ?? nil
      var snapshot = SnapshotBuilder.snapshot(
        session: s, recordId: v.id, takenAt: now, environment: environment, captures: captures,
        foreground: foreground, shell: shell, historyFile: history, automaticRename: automatic)
      for wi in snapshot.windows.indices {
        for pi in snapshot.windows[wi].panes.indices {
          snapshot.windows[wi].panes[pi].cwd = Self.withoutDeletedMark(snapshot.windows[wi].panes[pi].cwd)
        }
      }
      if let data = try? snapshot.encoded() { items.append((v.id, data)) }
    }
    Trace.mark("snapshot: built")
    let saved = try storeCall { try $0.saveSnapshots(items, takenAt: now, bootTime: context.bootClock.bootTime()) }
    Trace.mark("snapshot: saved")
    let chain = replies[1].isError ? nil : replies[1].text.trimmingCharacters(in: .whitespacesAndNewlines)
    let autosave = AutosaveState(
      berthSessionsExist: detailed.live.contains { $0.name.hasPrefix(settings.prefix) }, chain: chain)
    return SnapshotReport(saved: saved, serverRunning: true, autosave: autosave)
  }

  /// The last saved snapshot of a session.
  public func savedSnapshot(id: String) -> SessionSnapshot? {
    guard let stored = try? store.snapshot(sessionId: id) else { return nil }
    return try? SessionSnapshot.decode(stored.data)
  }
}
