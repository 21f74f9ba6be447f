import BerthCore
import BerthStore
import BerthTmux
import Foundation
import Synchronization
import TmuxControl

// What a snapshot asks tmux, and how its replies become snapshots (see `snapshotAll`).
extension SessionManager {
  /// What one snapshot asks tmux after the listing, worked out from it.
  struct SnapshotPlan: Sendable {
    typealias Target = (view: SessionView, live: LiveSession, id: TargetID, panes: [(LivePane, TargetID)])
    typealias Pane = (pane: LivePane, id: TargetID)

    /// Sessions whose replies tmux writes out together (see `init`).
    struct Chunk: Sendable {
      /// Indexes into `targets`, one run (one marker) each.
      var environmentRuns: [[Int]]
      var environmentGroups: Range<Int>
      var captureRuns: [[Pane]]
      var captureGroups: Range<Int>
      var groups: Range<Int> { environmentGroups.lowerBound..<captureGroups.upperBound }
    }

    /// Each live tracked session with its tmux ids, parsed once.
    var targets: [Target]
    var chunks: [Chunk]
    /// Each window's `automatic-rename` (`automaticGroup`), so a restore names it as it was;
    /// the server's autosave chain (`autosaveGroup`: what `ensureAutosave` would ask for in a
    /// client of its own); then, chunk by chunk, the sessions' environments and the panes'
    /// last output in runs sharing a marker (a marker costs tmux as much as the command it
    /// ends): environments split by their own order (see `SnapshotBuilder.splitEnvironments`),
    /// captures by the line counts the listing gave. None when there is nothing to save.
    var groups: [[TmuxCommand]]
    static let automaticGroup = 0
    static let autosaveGroup = 1

    /// Sessions per chunk: about a quarter of them, in whole runs. tmux writes nothing of a
    /// batch until it waits, so each chunk after the first begins with a wait of no time
    /// (`letOutputGo`): berth builds a chunk's snapshots while tmux answers the next.
    static func chunkSize(_ sessions: Int) -> Int {
      let run = SessionManager.capturesPerMarker
      return max(run, ((sessions + 3) / 4 + run - 1) / run * run)
    }

    /// `chunked`: each chunk after the first begins with a wait (for a batch whose replies are
    /// worked on as they come); without, the batch is as one (nothing but looks: no lock).
    init(views: [SessionView], live: [LiveSession], only ids: Set<String>?, chunked: Bool) {
      let byId = Dictionary(live.map { ($0.sessionId, $0) }, uniquingKeysWith: { a, _ in a })
      let targets = views.compactMap { v -> Target? in
        guard v.tracked, v.isAlive, ids?.contains(v.id) ?? true, let tid = v.tmuxId, let s = byId[tid],
          let sid = TargetID(s.sessionId)
        else { return nil }
        return (v, s, sid, s.panes.compactMap { p in TargetID(p.paneId).map { (p, $0) } })
      }
      self.targets = targets
      chunks = []
      guard !targets.isEmpty else {
        groups = []
        return
      }
      let lines = SnapshotBuilder.maxLinesPerPane
      groups = [
        [TmuxCommand([.word("list-windows"), .word("-a"), .word("-F"), .value("#{window_id} #{automatic-rename}")])],
        [.showOptionValue(SessionManager.autosaveOption, scope: .server)],
      ]
      let size = Self.chunkSize(targets.count)
      for start in stride(from: 0, to: targets.count, by: size) {
        let sessions = Array(start..<min(targets.count, start + size))
        let environmentRuns = SessionManager.runs(sessions)
        let environmentStart = groups.count
        for (k, run) in environmentRuns.enumerated() {
          let wait = chunked && start > 0 && k == 0 ? [SessionManager.letOutputGo] : []
          groups.append(wait + run.map { .showEnvironment(targets[$0].id) })
        }
        let captureRuns = SessionManager.runs(sessions.flatMap { i in targets[i].panes.map { (pane: $0.0, id: $0.1) } })
        let captureStart = groups.count
        groups += captureRuns.map { run in run.map { SessionManager.capture(.target($0.id), historyLines: lines) } }
        chunks.append(
          Chunk(
            environmentRuns: environmentRuns, environmentGroups: environmentStart..<captureStart,
            captureRuns: captureRuns, captureGroups: captureStart..<groups.count))
      }
    }

    /// The panes' processes, for their foreground commands.
    var panePids: [Int32] { targets.flatMap { $0.live.panes.map(\.pid) } }

    /// Each window's `automatic-rename`, from the first group's reply.
    static func automaticRename(_ reply: CommandReply?) -> [String: Bool] {
      var automatic: [String: Bool] = [:]
      guard let reply, !reply.isError else { return automatic }
      for line in reply.textLines {
        let f = line.split(separator: " ")
        if f.count == 2 { automatic[String(f[0])] = f[1] == "on" || f[1] == "1" }
      }
      return automatic
    }
  }

  /// What a chunk's replies hold for each of its sessions, and what must be asked again.
  struct SnapshotParts: Sendable {
    /// By target index.
    var environments: [Int: CommandReply] = [:]
    /// By pane id.
    var captured: [String: [[UInt8]]] = [:]
    var environmentsAgain: [Int] = []
    var capturesAgain: [SnapshotPlan.Pane] = []

    /// Splits a chunk's replies (`reply` by group index; nil for one that did not come).
    init(_ chunk: SnapshotPlan.Chunk, reply: (Int) -> CommandReply?) {
      for (run, group) in zip(chunk.environmentRuns, chunk.environmentGroups) {
        guard let r = reply(group), !r.isError,
          let parts = SnapshotBuilder.splitEnvironments(r.lines, sessions: run.count)
        else {
          environmentsAgain += run
          continue
        }
        for (i, part) in zip(run, parts) { environments[i] = CommandReply(isError: false, lines: part) }
      }
      let lines = SnapshotBuilder.maxLinesPerPane
      for (run, group) in zip(chunk.captureRuns, chunk.captureGroups) {
        let counts = run.map { min(lines, $0.pane.historySize) + $0.pane.height }
        guard let r = reply(group), !r.isError, let parts = SessionManager.split(r.lines, counts: counts) else {
          capturesAgain += run
          continue
        }
        for (item, part) in zip(run, parts) { captured[item.pane.paneId] = part }
      }
    }

    init() {}

    mutating func merge(_ other: SnapshotParts) {
      environments.merge(other.environments) { a, _ in a }
      captured.merge(other.captured) { a, _ in a }
      environmentsAgain += other.environmentsAgain
      capturesAgain += other.capturesAgain
    }

    /// Whether a session's environment and every pane's output are in.
    func isComplete(_ i: Int, _ target: SnapshotPlan.Target) -> Bool {
      environments[i] != nil && target.panes.allSatisfy { captured[$0.0.paneId] != nil }
    }
  }

  /// Makes one session's stored snapshot from its replies.
  struct SnapshotMaker: Sendable {
    let manager: SessionManager
    let records: [String: SessionRecord]
    let now: Date
    let settings: BerthSettings
    let stateDirectory: String

    /// The encoded snapshot; nil for a session berth did not start.
    func make(
      _ target: SnapshotPlan.Target, environment: CommandReply?, captured: [String: [[UInt8]]],
      automatic: [String: Bool], processes: ProcessTable
    ) -> (sessionId: String, data: Data)? {
      let (v, s, _, panes) = target
      let envReply = environment ?? CommandReply(isError: true, lines: [])
      // A session under berth's name that berth did not start (tmux-resurrect brought it back
      // after a reboot): its last snapshot is berth's, and stays until a restore adopts it.
      let started = envReply.isError || envReply.textLines.contains { $0.hasPrefix("BERTH_SESSION_ID=") }
      guard started else { return nil }
      let environment = envReply.isError ? [:] : SnapshotBuilder.environment(envReply.textLines, settings: settings)
      var captures: [String: [String]] = [:]
      var foreground: [String: (command: [String]?, isShell: Bool)] = [:]
      for (p, _) in panes {
        if let output = captured[p.paneId] {
          captures[p.paneId] = TmuxListing.previewLines(output, count: SnapshotBuilder.maxLinesPerPane)
        }
        foreground[p.paneId] = processes.foreground(panePid: p.pid)
      }
      let shell = records[v.id]?.shell
      let history =
        shell.map {
          manager.shellLaunch(shell: $0, sessionId: v.id, stateDirectory: stateDirectory, userZdotdir: nil)
            .historyFile
        } ?? nil
      var snapshot = SnapshotBuilder.snapshot(
        session: s, recordId: v.id, takenAt: now, environment: environment, captures: captures,
        foreground: foreground, shell: shell, historyFile: history, automaticRename: automatic,
        directory: records[v.id]?.cwd)
      for wi in snapshot.windows.indices {
        for pi in snapshot.windows[wi].panes.indices {
          snapshot.windows[wi].panes[pi].cwd = SessionManager.withoutDeletedMark(snapshot.windows[wi].panes[pi].cwd)
        }
      }
      return (try? snapshot.encoded()).map { (v.id, $0) }
    }
  }

  /// Builds the snapshots of each chunk whose replies are in while tmux still answers the
  /// next (on a queue of its own, so the client's output is read meanwhile).
  final class SnapshotStream: Sendable {
    let plan: SnapshotPlan
    let maker: SnapshotMaker
    private let queue = DispatchQueue(label: "berth-snapshot-build")
    private let tableRead = DispatchGroup()
    private let table = Mutex(ProcessTable(entries: []))
    private let state = Mutex<(replies: [Int: CommandReply], started: Set<Int>)>(([:], []))
    /// Target index → snapshot (nil: not berth's), the chunks worked on and what they held.
    private let done = Mutex<(built: [Int: (sessionId: String, data: Data)?], chunks: Set<Int>, parts: SnapshotParts)>(
      ([:], [], SnapshotParts()))

    init(plan: SnapshotPlan, maker: SnapshotMaker) {
      self.plan = plan
      self.maker = maker
      // The process table is read while tmux answers.
      let pids = plan.panePids
      DispatchQueue.global().async(group: tableRead) { [self] in
        let read = ProcessTable.read(panePids: pids)
        table.withLock { $0 = read }
      }
    }

    /// One of the plan's groups came in (by its index in `plan.groups`).
    func received(_ group: Int, _ reply: CommandReply) {
      let ready = state.withLock { s -> [Int] in
        s.replies[group] = reply
        guard s.replies[SnapshotPlan.automaticGroup] != nil else { return [] }
        var ready: [Int] = []
        for (k, chunk) in plan.chunks.enumerated() where !s.started.contains(k) {
          // A chunk with a group that failed is never complete: it is worked on at the end.
          guard chunk.groups.allSatisfy({ s.replies[$0] != nil }) else { continue }
          s.started.insert(k)
          ready.append(k)
        }
        return ready
      }
      for k in ready { queue.async { self.build(chunk: k) } }
    }

    private func build(chunk k: Int) {
      let replies = state.withLock { $0.replies }
      let parts = SnapshotParts(plan.chunks[k]) { replies[$0] }
      let automatic = SnapshotPlan.automaticRename(replies[SnapshotPlan.automaticGroup])
      tableRead.wait()
      let processes = table.withLock { $0 }
      var built: [Int: (sessionId: String, data: Data)?] = [:]
      for run in plan.chunks[k].environmentRuns {
        for i in run where parts.isComplete(i, plan.targets[i]) {
          built[i] = .some(
            maker.make(
              plan.targets[i], environment: parts.environments[i], captured: parts.captured, automatic: automatic,
              processes: processes))
        }
      }
      done.withLock { d in
        d.built.merge(built) { a, _ in a }
        d.chunks.insert(k)
        d.parts.merge(parts)
      }
      Trace.mark("snapshot: chunk \(k) built")
    }

    /// What was built once every chunk in has been; and the process table.
    func finish() -> (
      built: [Int: (sessionId: String, data: Data)?], chunks: Set<Int>, parts: SnapshotParts, processes: ProcessTable
    ) {
      queue.sync {}
      tableRead.wait()
      let d = done.withLock { $0 }
      return (d.built, d.chunks, d.parts, table.withLock { $0 })
    }
  }

  /// Snapshots built on several threads, each at its own index.
  final class BuiltSnapshots: Sendable {
    private let slots: Mutex<[(sessionId: String, data: Data)?]>
    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }
    func set(_ i: Int, _ item: (sessionId: String, data: Data)?) { slots.withLock { $0[i] = item } }
    /// The built ones, in index order.
    var items: [(sessionId: String, data: Data)] { slots.withLock { $0.compactMap { $0 } } }
  }

  /// A listing, the plan made from it, the replies to the plan's groups, and what was built
  /// from them already.
  struct SnapshotRound {
    var live: [LiveSession]
    var records: [SessionRecord]
    var plan: SnapshotPlan
    var replies: [CommandReply]
    var processes: ProcessTable
    var now: Date
    var built: [Int: (sessionId: String, data: Data)?] = [:]
    var builtChunks: Set<Int> = []
    var parts = SnapshotParts()
    /// False when the listing found no server (another host's, which is asked without a
    /// probe first).
    var serverRunning = true
  }

  /// What the thread reading a staged round's output made of its listing.
  final class StagedPlan: Sendable {
    let value = Mutex<(core: Result<ListingCore, BerthError>, stream: SnapshotStream?)?>(nil)
  }

  /// The listing and the plan's batch in one tmux client (this machine), chunks built as
  /// they come: nil when that could not be done (a listing command failed, the server went
  /// meanwhile), and the caller falls back to `twoBatchRound`.
  func stagedRound(_ c: CommandClient, only ids: Set<String>?) async throws(BerthError) -> SnapshotRound? {
    let records = try storeCall { try $0.records(server: serverKey, orUnkeyed: true) }
    let now = context.now()
    let inputs = ListingInputs(
      records: records, separator: listingSeparator(),
      reconciler: Reconciler(
        prefix: settings.prefix, now: now, bootTime: context.bootClock.bootTime(), serverRunning: false,
        serverStartedAt: nil, includeForeign: false),
      local: true, fillCommands: false, store: store)
    let settings = self.settings
    let stateDirectory = context.stateDirectory
    // Made on the thread reading tmux's output, as soon as the listing is in. The panes'
    // foreground names are not asked for (tmux reads /proc for each): snapshots take the
    // foreground from the process table.
    let made = StagedPlan()
    let staged: CommandClient.Staged
    do {
      staged = try await c.sendGroups(
        leading: Self.listingGroups(separator: inputs.separator, currentCommand: false, forViews: false),
        early: takeEarlyLook(),
        received: { group, reply in made.value.withLock { $0?.stream }?.received(group, reply) }
      ) { replies in
        Trace.mark("snapshot: listing in")
        defer { Trace.mark("snapshot: the rest asked for") }
        do throws(BerthError) {
          let core = try Self.core(inputs, replies: replies)
          let plan = SnapshotPlan(views: core.result.views, live: core.live, only: ids, chunked: true)
          let maker = SnapshotMaker(
            manager: self, records: Dictionary(core.stored.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }),
            now: now, settings: settings, stateDirectory: stateDirectory)
          let stream = plan.groups.isEmpty ? nil : SnapshotStream(plan: plan, maker: maker)
          made.value.withLock { $0 = (.success(core), stream) }
          return plan.groups
        } catch {
          made.value.withLock { $0 = (.failure(error), nil) }
          return []
        }
      }
    } catch {
      if let failure = Self.lookFailure(error) { throw failure }
      return nil
    }
    Trace.mark("snapshot: staged")
    guard let built = made.value.withLock({ $0 }) else { return nil }
    let core = try built.core.get()
    guard let replies = staged.rest else { return nil }
    guard let stream = built.stream else {
      let plan = SnapshotPlan(views: core.result.views, live: core.live, only: ids, chunked: true)
      return SnapshotRound(
        live: core.live, records: core.stored, plan: plan, replies: [], processes: ProcessTable(entries: []), now: now)
    }
    let finished = stream.finish()
    return SnapshotRound(
      live: core.live, records: core.stored, plan: stream.plan, replies: replies, processes: finished.processes,
      now: now, built: finished.built, builtChunks: finished.chunks, parts: finished.parts)
  }

  /// The listing, then the plan's batch in a second client.
  func twoBatchRound(_ c: CommandClient, only ids: Set<String>?) async throws(BerthError) -> SnapshotRound {
    let detailed = try await detailedList()
    Trace.mark("snapshot: listed")
    let plan = SnapshotPlan(views: detailed.listing.views, live: detailed.live, only: ids, chunked: false)
    let now = context.now()
    guard !plan.groups.isEmpty else {
      return SnapshotRound(
        live: detailed.live, records: detailed.records, plan: plan, replies: [], processes: ProcessTable(entries: []),
        now: now, serverRunning: detailed.listing.serverRunning)
    }
    // The process table is read while tmux answers. A remote host's processes are not in
    // this machine's /proc: its panes count as shells.
    let pids = plan.panePids
    let local = context.host == nil
    async let table = local ? ProcessTable.read(panePids: pids) : ProcessTable(entries: [])
    let replies = try await send(c, groups: plan.groups)
    return SnapshotRound(
      live: detailed.live, records: detailed.records, plan: plan, replies: replies, processes: await table, now: now)
  }
}
