import BerthCore
import BerthStore
import BerthTmux
import Foundation
import Synchronization
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

  /// What one snapshot asks tmux after the listing, worked out from it.
  struct SnapshotPlan: Sendable {
    typealias Target = (view: SessionView, live: LiveSession, id: TargetID, panes: [(LivePane, TargetID)])
    /// Each live tracked session with its tmux ids, parsed once.
    var targets: [Target]
    /// Indexes into `targets`, one run (one marker) each.
    var environmentRuns: [[Int]]
    var captureRuns: [[(pane: LivePane, id: TargetID)]]
    /// Each window's `automatic-rename`, so a restore names it as it was; the server's
    /// autosave chain (what `ensureAutosave` would ask for in a client of its own); the
    /// sessions' environments and the panes' last output in runs sharing a marker (a marker
    /// costs tmux as much as the command it ends): environments split by their own order
    /// (see `SnapshotBuilder.splitEnvironments`), captures by the line counts the listing
    /// gave. None when there is nothing to save.
    var groups: [[TmuxCommand]]

    init(views: [SessionView], live: [LiveSession], only ids: Set<String>?) {
      let byId = Dictionary(live.map { ($0.sessionId, $0) }, uniquingKeysWith: { a, _ in a })
      targets = views.compactMap { v -> Target? in
        guard v.tracked, v.isAlive, ids?.contains(v.id) ?? true, let tid = v.tmuxId, let s = byId[tid],
          let sid = TargetID(s.sessionId)
        else { return nil }
        return (v, s, sid, s.panes.compactMap { p in TargetID(p.paneId).map { (p, $0) } })
      }
      environmentRuns = SessionManager.runs(Array(targets.indices))
      captureRuns = SessionManager.runs(targets.flatMap { t in t.panes.map { (pane: $0.0, id: $0.1) } })
      guard !targets.isEmpty else {
        groups = []
        return
      }
      let lines = SnapshotBuilder.maxLinesPerPane
      groups = [
        [TmuxCommand([.word("list-windows"), .word("-a"), .word("-F"), .value("#{window_id} #{automatic-rename}")])],
        [.showOptionValue(SessionManager.autosaveOption, scope: .server)],
      ]
      groups += environmentRuns.map { run in run.map { [targets] in .showEnvironment(targets[$0].id) } }
      groups += captureRuns.map { run in run.map { SessionManager.capture(.target($0.id), historyLines: lines) } }
    }

    /// The panes' processes, for their foreground commands.
    var panePids: [Int32] { targets.flatMap { $0.live.panes.map(\.pid) } }
  }

  /// What the thread reading a staged round's output made of its listing.
  final class StagedPlan: Sendable {
    let value = Mutex<(core: Result<ListingCore, BerthError>, plan: SnapshotPlan?, table: Task<ProcessTable, Never>?)?>(
      nil)
  }

  /// Snapshots built on several threads, each at its own index.
  final class BuiltSnapshots: Sendable {
    private let slots: Mutex<[(sessionId: String, data: Data)?]>
    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }
    func set(_ i: Int, _ item: (sessionId: String, data: Data)?) { slots.withLock { $0[i] = item } }
    /// The built ones, in index order.
    var items: [(sessionId: String, data: Data)] { slots.withLock { $0.compactMap { $0 } } }
  }

  /// A listing, the plan made from it, and the replies to the plan's groups.
  struct SnapshotRound {
    var live: [LiveSession]
    var records: [SessionRecord]
    var plan: SnapshotPlan
    var replies: [CommandReply]
    var processes: ProcessTable
  }

  /// Saves every live tracked session (windows, layouts, panes, cwds, foreground commands, the
  /// allowed environment, the last lines of output) in one transaction. One tmux client on
  /// this machine (the listing on its command line, the rest written once the listing is in:
  /// `CommandClient.sendGroups(leading:early:then:)`), two batches on another host; never a
  /// process per pane. With no server, or nothing alive, nothing is written (an empty save
  /// never replaces a good snapshot).
  @discardableResult
  public func snapshotAll(only ids: Set<String>? = nil) async throws(BerthError) -> SnapshotReport {
    guard let c = try await connection(startServer: false) else {
      _ = try await list()
      return SnapshotReport(saved: [], serverRunning: false)
    }
    Trace.mark("snapshot: start")
    var staged = context.host == nil ? try await stagedRound(c, only: ids) : nil
    if staged == nil {
      staged = try await twoBatchRound(c, only: ids)
    }
    guard let round = staged, !round.plan.targets.isEmpty else {
      return SnapshotReport(saved: [], serverRunning: true)
    }
    Trace.mark("snapshot: replies")
    let targets = round.plan.targets
    let environmentRuns = round.plan.environmentRuns
    let runs = round.plan.captureRuns
    let replies = round.replies
    let processes = round.processes
    let lines = SnapshotBuilder.maxLinesPerPane
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
    let now = context.now()
    let records = Dictionary(round.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let settings = self.settings
    let stateDirectory = context.stateDirectory
    // One session's snapshot, encoded; nil for one berth did not start. Independent of the
    // others: tmux is done, so both cores build (half the sessions each).
    let build: @Sendable (Int) -> (sessionId: String, data: Data)? = { [captured, environments, automatic] i in
      let (v, s, _, panes) = targets[i]
      let envReply = environments[i] ?? CommandReply(isError: true, lines: [])
      // A session under berth's name that berth did not start (tmux-resurrect brought it back
      // after a reboot): its last snapshot is berth's, and stays until a restore adopts it.
      let started = envReply.isError || envReply.textLines.contains { $0.hasPrefix("BERTH_SESSION_ID=") }
      guard started else { return nil }
      let environment = envReply.isError ? [:] : SnapshotBuilder.environment(envReply.textLines, settings: settings)
      var captures: [String: [String]] = [:]
      var foreground: [String: (command: [String]?, isShell: Bool)] = [:]
      for (p, _) in panes {
        if let output = captured[p.paneId] {
          captures[p.paneId] = SnapshotBuilder.lastLines(output, count: lines)
        }
        foreground[p.paneId] = processes.foreground(panePid: p.pid)
      }
      let shell = records[v.id]?.shell
      let history =
        shell.map {
          self.shellLaunch(shell: $0, sessionId: v.id, stateDirectory: stateDirectory, userZdotdir: nil)
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
      return (try? snapshot.encoded()).map { (v.id, $0) }
    }
    let built = BuiltSnapshots(count: targets.count)
    let workers = targets.count < 32 ? 1 : 2
    DispatchQueue.concurrentPerform(iterations: workers) { k in
      for i in stride(from: k, to: targets.count, by: workers) { built.set(i, build(i)) }
    }
    let items = built.items
    Trace.mark("snapshot: built")
    let saved = try storeCall { try $0.saveSnapshots(items, takenAt: now, bootTime: context.bootClock.bootTime()) }
    Trace.mark("snapshot: saved")
    let chain = replies[1].isError ? nil : replies[1].text.trimmingCharacters(in: .whitespacesAndNewlines)
    let autosave = AutosaveState(
      berthSessionsExist: round.live.contains { $0.name.hasPrefix(settings.prefix) }, chain: chain)
    return SnapshotReport(saved: saved, serverRunning: true, autosave: autosave)
  }

  /// The listing and the plan's batch in one tmux client (this machine): nil when that could
  /// not be done (a listing command failed, the server went meanwhile), and the caller
  /// falls back to `twoBatchRound`.
  func stagedRound(_ c: CommandClient, only ids: Set<String>?) async throws(BerthError) -> SnapshotRound? {
    let records = try storeCall { try $0.records(server: serverKey, orUnkeyed: true) }
    let inputs = ListingInputs(
      records: records, separator: listingSeparator(),
      reconciler: Reconciler(
        prefix: settings.prefix, now: context.now(), bootTime: context.bootClock.bootTime(), serverRunning: false,
        serverStartedAt: nil, includeForeign: false),
      local: true, fillCommands: false, store: store)
    // Made on the thread reading tmux's output, as soon as the listing is in; the process
    // table is read while tmux answers the rest.
    let made = StagedPlan()
    let staged: CommandClient.Staged
    do {
      staged = try await c.sendGroups(
        leading: Self.listingGroups(separator: inputs.separator), early: takeEarlyLook()
      ) { replies in
        Trace.mark("snapshot: listing in")
        defer { Trace.mark("snapshot: the rest asked for") }
        do throws(BerthError) {
          let core = try Self.core(inputs, replies: replies)
          let plan = SnapshotPlan(views: core.result.views, live: core.live, only: ids)
          let pids = plan.panePids
          let table = plan.groups.isEmpty ? nil : Task.detached { ProcessTable.read(panePids: pids) }
          made.value.withLock { $0 = (.success(core), plan, table) }
          return plan.groups
        } catch {
          made.value.withLock { $0 = (.failure(error), nil, nil) }
          return []
        }
      }
    } catch TmuxError.noServer, TmuxError.serverShuttingDown {
      return nil
    } catch let e as TmuxError {
      throw Self.map(e)
    } catch {
      throw .failed("\(error)")
    }
    Trace.mark("snapshot: staged")
    guard let built = made.value.withLock({ $0 }) else { return nil }
    let core = try built.core.get()
    guard let plan = built.plan, let replies = staged.rest else { return nil }
    let processes = await built.table?.value ?? ProcessTable(entries: [])
    return SnapshotRound(live: core.live, records: core.stored, plan: plan, replies: replies, processes: processes)
  }

  /// The listing, then the plan's batch in a second client.
  func twoBatchRound(_ c: CommandClient, only ids: Set<String>?) async throws(BerthError) -> SnapshotRound {
    let detailed = try await detailedList()
    Trace.mark("snapshot: listed")
    let plan = SnapshotPlan(views: detailed.listing.views, live: detailed.live, only: ids)
    guard !plan.groups.isEmpty else {
      return SnapshotRound(
        live: detailed.live, records: detailed.records, plan: plan, replies: [], processes: ProcessTable(entries: []))
    }
    // The process table is read while tmux answers. A remote host's processes are not in
    // this machine's /proc: its panes count as shells.
    let pids = plan.panePids
    let local = context.host == nil
    async let table = local ? ProcessTable.read(panePids: pids) : ProcessTable(entries: [])
    let replies = try await send(c, groups: plan.groups)
    return SnapshotRound(
      live: detailed.live, records: detailed.records, plan: plan, replies: replies, processes: await table)
  }

  /// The last saved snapshot of a session.
  public func savedSnapshot(id: String) -> SessionSnapshot? {
    guard let stored = try? store.snapshot(sessionId: id) else { return nil }
    return try? SessionSnapshot.decode(stored.data)
  }
}
