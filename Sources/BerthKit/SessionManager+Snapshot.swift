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
      return SnapshotReport(saved: [], serverRunning: staged?.serverRunning ?? true)
    }
    Trace.mark("snapshot: replies")
    let plan = round.plan
    let targets = plan.targets
    let replies = round.replies
    let lines = SnapshotBuilder.maxLinesPerPane
    // What the chunks built meanwhile did not cover is split now; what cannot be split (a
    // session berth did not start among the environments; a pane resized or cleared
    // meanwhile, or a user's hook printed something, among the captures) is asked again one
    // reply each.
    var parts = round.parts
    for (k, chunk) in plan.chunks.enumerated() where !round.builtChunks.contains(k) {
      parts.merge(SnapshotParts(chunk) { $0 < replies.count ? replies[$0] : nil })
    }
    if !parts.environmentsAgain.isEmpty || !parts.capturesAgain.isEmpty {
      let each = try await send(
        c,
        parts.environmentsAgain.map { .showEnvironment(targets[$0].id) }
          + parts.capturesAgain.map { Self.capture(.target($0.id), historyLines: lines) })
      for (i, reply) in zip(parts.environmentsAgain, each) { parts.environments[i] = reply }
      for (item, reply) in zip(parts.capturesAgain, each.dropFirst(parts.environmentsAgain.count)) where !reply.isError
      {
        parts.captured[item.pane.paneId] = reply.lines
      }
    }
    let automatic = SnapshotPlan.automaticRename(replies.first)
    let maker = SnapshotMaker(
      manager: self, records: Dictionary(round.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }),
      now: round.now, settings: settings, stateDirectory: context.stateDirectory)
    // The rest, on both cores (tmux is done).
    let left = targets.indices.filter { round.built[$0] == nil }
    let built = BuiltSnapshots(count: targets.count)
    let workers = left.count < 32 ? 1 : 2
    let processes = round.processes
    DispatchQueue.concurrentPerform(iterations: workers) { [parts] k in
      for i in stride(from: k, to: left.count, by: workers) {
        let t = left[i]
        built.set(
          t,
          maker.make(
            targets[t], environment: parts.environments[t], captured: parts.captured, automatic: automatic,
            processes: processes))
      }
    }
    for (i, item) in round.built { built.set(i, item) }
    let items = built.items
    let now = round.now
    Trace.mark("snapshot: built")
    let saved = try storeCall { try $0.saveSnapshots(items, takenAt: now, bootTime: context.bootClock.bootTime()) }
    Trace.mark("snapshot: saved")
    let chainReply = replies.count > SnapshotPlan.autosaveGroup ? replies[SnapshotPlan.autosaveGroup] : nil
    let chain =
      chainReply.map { $0.isError ? nil : $0.text.trimmingCharacters(in: .whitespacesAndNewlines) } ?? nil
    let autosave = AutosaveState(
      berthSessionsExist: round.live.contains { $0.name.hasPrefix(settings.prefix) }, chain: chain)
    return SnapshotReport(saved: saved, serverRunning: true, autosave: autosave)
  }

  /// The last saved snapshot of a session.
  public func savedSnapshot(id: String) -> SessionSnapshot? {
    guard let stored = try? store.snapshot(sessionId: id) else { return nil }
    return try? SessionSnapshot.decode(stored.data)
  }
}
