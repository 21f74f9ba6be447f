import BerthCore
import BerthStore
import BerthTmux
import Foundation
import Synchronization
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Listing: one batched round trip for the list (and previews), reconciled with the records.
extension SessionManager {
  // MARK: Listing

  public struct Listing: Sendable {
    public var views: [SessionView]
    public var serverRunning: Bool
    public var serverVersion: String?
  }

  /// Every tracked session with its live status, plus orphans (and foreign sessions when
  /// asked), with the last `preview` lines of each live session's active pane. Two batched
  /// round trips at most (the list, then the captures); records that changed are saved in
  /// one transaction.
  public func list(preview: Int? = nil, includeForeign: Bool = false) async throws(BerthError) -> Listing {
    // The foreground command lines are read on this machine only (a remote host's
    // processes are not in this /proc: tmux's names stay there).
    let listing = try await detailedList(preview: preview, includeForeign: includeForeign, forViews: true).listing
    if context.host == nil {
      return listing
    }
    if snapshotsAfterListing {
      // A live view (the panel) lives on: the save follows the listing instead of holding
      // up the first screen (on a host of 100 sessions it is a few round trips more).
      Task { await self.snapshotRemoteIfDue() }
    } else {
      await snapshotRemoteIfDue()
    }
    return listing
  }

  /// A listing with what it was built from: the live sessions tmux reported (berth's hidden
  /// ones left out) and the records of this server as stored after reconciling.
  struct DetailedListing {
    var listing: Listing
    var live: [LiveSession]
    var records: [SessionRecord]
  }

  /// What a listing builds from tmux's panes and clients, before any preview: the live
  /// sessions, the views reconciled from them and the records, and the records as saved.
  struct ListingCore: Sendable {
    var live: [LiveSession]
    var result: Reconciler.Result
    var stored: [SessionRecord]
  }

  /// A core built early, from the thread that read it.
  final class EarlyCore: Sendable {
    let value = Mutex<Result<ListingCore, BerthError>?>(nil)
  }

  /// What `core` needs besides tmux's replies (all known before the batch is sent).
  struct ListingInputs: Sendable {
    var records: [SessionRecord]
    var separator: String
    var reconciler: Reconciler
    var local: Bool
    var fillCommands: Bool
    var store: MetadataStore
  }

  /// Parses the listing's first three replies (panes, clients, the server's start), or none
  /// when no server answered, reconciles the records with them, saves the records that
  /// changed and, on this machine, reads the foreground command lines. Touches nothing of
  /// the manager's own, so it can run while tmux still captures the previews.
  static func core(_ inputs: ListingInputs, replies: [CommandReply]?) throws(BerthError) -> ListingCore {
    var live: [LiveSession] = []
    var reconciler = inputs.reconciler
    reconciler.serverRunning = replies != nil
    if let replies {
      let clients = TmuxListing.parseClients(replies[1].lineSlices)
      live = TmuxListing.sessions(
        paneLines: replies[0].lineSlices, separator: inputs.separator, clients: clients,
        hiddenPrefix: ControlConnection.hiddenSessionPrefix)
      if inputs.local { exactPaths(&live) }
      if !replies[2].isError, let seconds = Double(replies[2].text.trimmingCharacters(in: .whitespaces)) {
        reconciler.serverStartedAt = Date(timeIntervalSince1970: seconds)
      }
    }
    var result = reconciler.reconcile(records: inputs.records, live: live)
    var stored = inputs.records
    if !result.changedRecords.isEmpty {
      let byId = Dictionary(result.changedRecords.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      let read = Dictionary(inputs.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      stored = stored.map { byId[$0.id] ?? $0 }
      let changed = result.changedRecords
      // Only over the record as it was read: another berth process may have changed it since
      // (a kill marks it killed, which a reconciled "exited" must not undo); the next
      // listing reconciles it again.
      _ = try storeCall(inputs.store) { store in
        try store.updateMany(
          changed.map { r in
            (id: r.id, mutate: { current in if current == read[r.id] { current = r } })
          })
      }
    }
    if inputs.fillCommands { fillCommandLines(&result.views) }
    return ListingCore(live: live, result: result, stored: stored)
  }

  /// `forViews`: only what a listing's views show is asked of tmux (see
  /// `TmuxListing.paneFormat`), and on this machine the foreground command lines are read
  /// from /proc; the live sessions then lack what snapshots need (layouts, window names).
  func detailedList(
    preview: Int? = nil, includeForeign: Bool = false, forViews: Bool = false
  ) async throws(BerthError) -> DetailedListing {
    var c = try await connection(startServer: false)
    // The records first: the previews of the sessions they name go in the same batch as the
    // listing (one round trip instead of two), by exact name (`=NAME:` is the session's
    // active pane, which is what the listing calls its active pane, at the same moment).
    let records = try storeCall { try $0.records(server: serverKey, orUnkeyed: context.host == nil) }
    Trace.mark("\(context.hostName): \(records.count) records read")
    let previewLines = preview.flatMap { $0 > 0 ? $0 : nil }
    // On this machine the foreground's name comes from /proc with its command line, read
    // while tmux captures, instead of from tmux, which reads /proc for it pane by pane.
    let commandsFromProc = context.host == nil && forViews
    let inputs = ListingInputs(
      records: records, separator: listingSeparator(),
      reconciler: Reconciler(
        prefix: settings.prefix, now: context.now(),
        bootTime: context.host == nil ? context.bootClock.bootTime() : nil,
        serverRunning: false, serverStartedAt: nil, includeForeign: includeForeign),
      local: context.host == nil, fillCommands: commandsFromProc, store: store)
    var core: ListingCore?
    var earlyCaptures: [String: [ArraySlice<UInt8>]] = [:]
    if let client = c {
      var groups = Self.listingGroups(
        separator: inputs.separator, currentCommand: !commandsFromProc, forViews: forViews)
      var captured: [[String]] = []
      if let lines = previewLines {
        var seen = Set<String>()
        let names = records.filter { r in
          r.status != .dead && Self.isPlainSessionName(r.tmuxSessionName) && seen.insert(r.tmuxSessionName).inserted
        }.map(\.tmuxSessionName)
        // Captures share a marker in runs (a marker costs tmux as much as a capture); each
        // prints exactly min(lines, history) + height lines, which the listing in the same
        // batch tells, so a run's output is split without markers between them.
        captured = Self.runs(names)
        for (k, run) in captured.enumerated() {
          // tmux runs a client's whole batch before it writes out any of its output, unless
          // a command waits: a wait of no time after the listing lets its reply go out, to
          // be worked on while the captures run.
          groups.append(
            (k == 0 ? [Self.letOutputGo] : []) + run.map { Self.capture(sessionNamed: $0, historyLines: lines) })
        }
      }
      // With previews to capture, the rest of the listing is built as soon as the panes are
      // in, while tmux is still capturing (on the thread reading its output).
      let early = EarlyCore()
      let leading =
        captured.isEmpty
        ? nil
        : CommandClient.Leading(count: 3) { replies in
          let built: Result<ListingCore, BerthError>
          do throws(BerthError) {
            built = .success(try Self.core(inputs, replies: replies))
          } catch {
            built = .failure(error)
          }
          early.value.withLock { $0 = built }
          Trace.mark("listing core built early")
        }
      // Only looks: no lock, and a server gone since the probe (or going, its sessions with
      // it) is as good as none.
      if let replies = try await look(client, groups: groups, leading: leading) {
        let built: ListingCore
        if let ready = early.value.withLock({ $0 }) {
          built = try ready.get()
        } else {
          built = try Self.core(inputs, replies: Array(replies.prefix(3)))
        }
        core = built
        if let lines = previewLines {
          let byName = Dictionary(built.live.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
          for (run, reply) in zip(captured, replies.dropFirst(3)) where !reply.isError {
            // A run that failed, or whose line counts do not add up (a user's hook printed
            // something), is captured again pane by pane below.
            guard let split = Self.split(reply.lineSlices, of: run, lines: lines, live: byName) else { continue }
            for (name, part) in zip(run, split) { earlyCaptures[name] = part }
          }
        }
      } else {
        c = nil
      }
    }
    let built: ListingCore
    if let core {
      built = core
    } else {
      built = try Self.core(inputs, replies: nil)
    }
    var result = built.result
    let stored = built.stored
    let live = built.live
    if let lines = previewLines, let c {
      var targets: [(Int, TargetID)] = []
      for (i, v) in result.views.enumerated() where v.isAlive {
        if let early = earlyCaptures[v.tmuxSession] {
          result.views[i].preview = TmuxListing.previewLines(early, count: lines)
        } else if let p = v.activePaneId.flatMap({ TargetID($0) }) {
          targets.append((i, p))
        }
      }
      if !targets.isEmpty {
        let replies = try await look(c, targets.map { Self.capture(.target($0.1), historyLines: lines) }) ?? []
        for ((i, _), reply) in zip(targets, replies) where !reply.isError {
          result.views[i].preview = TmuxListing.previewLines(reply.lineSlices, count: lines)
        }
      }
    }
    // Dead sessions: their last known output and command come from the last snapshot (all
    // read in one query when there are several).
    let needSnapshots = result.views.indices.filter { i in
      result.views[i].tracked && result.views[i].status == .dead && (preview != nil || result.views[i].command == nil)
    }
    if !needSnapshots.isEmpty {
      var snapshots: [String: SessionSnapshot] = [:]
      if needSnapshots.count > 1 {
        let wanted = Set(needSnapshots.map { result.views[$0].id })
        for item in (try? store.allSnapshots()) ?? [] where wanted.contains(item.sessionId) {
          snapshots[item.sessionId] = try? SessionSnapshot.decode(item.data)
        }
      } else if let only = needSnapshots.first, let snap = savedSnapshot(id: result.views[only].id) {
        snapshots[result.views[only].id] = snap
      }
      for i in needSnapshots {
        guard let snap = snapshots[result.views[i].id] else { continue }
        if let lines = preview { result.views[i].preview = Array(snap.lastOutput.suffix(lines)) }
        if result.views[i].command == nil, let last = snap.lastCommand {
          result.views[i].command = last.joined(separator: " ")
        }
      }
    }
    if preview != nil {
      for i in result.views.indices where result.views[i].preview == nil { result.views[i].preview = [] }
    }
    for i in result.views.indices { result.views[i].host = context.hostName }
    Trace.mark("\(context.hostName): listed")
    return DetailedListing(
      listing: Listing(views: result.views, serverRunning: c != nil, serverVersion: nil), live: live, records: stored)
  }

  /// A batch that only looks: nil when the server has gone (or is going) since the probe.
  func look(_ c: CommandClient, _ commands: [TmuxCommand]) async throws(BerthError) -> [CommandReply]? {
    try await look(c, groups: commands.map { [$0] })
  }

  /// `look` with one reply per group of commands (one marker each).
  func look(
    _ c: CommandClient, groups: [[TmuxCommand]], leading: CommandClient.Leading? = nil
  ) async throws(BerthError) -> [CommandReply]? {
    do {
      return try await c.sendGroups(groups, early: takeEarlyLook(), leading: leading)
    } catch {
      if let failure = Self.lookFailure(error) { throw failure }
      return nil
    }
  }

  /// What a failed look throws: nil when no server answered or it is going (as good as none).
  static func lookFailure(_ error: any Error) -> BerthError? {
    switch error {
    case TmuxError.noServer, TmuxError.serverShuttingDown: return nil
    case let e as TmuxError: return map(e)
    default: return .failed("\(error)")
    }
  }

  /// Names a `-t =NAME:` target can carry as they are: tmux session names never hold `:` or
  /// `.`, and berth's are prefix + id (letters, digits, `_`, `-`); anything else is captured
  /// by pane id after the listing.
  static func isPlainSessionName(_ name: String) -> Bool {
    !name.isEmpty
      && name.utf8.allSatisfy {
        ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D
      }
  }

  /// A listing's first three groups: the panes (free text ended by `separator`), the
  /// clients, the server's start. They only look and do not fail, so an early client can
  /// run them from its command line (see `init(context:lookAhead:)`). Without
  /// `currentCommand`, the panes' foreground names are left for `fillCommandLines`; with
  /// `forViews`, only what views show is asked for.
  static func listingGroups(separator: String, currentCommand: Bool, forViews: Bool) -> [[TmuxCommand]] {
    [
      [
        .listAllPanes(
          format: TmuxListing.paneFormat(separator: separator, currentCommand: currentCommand, forViews: forViews))
      ],
      [.listClients(format: TmuxListing.clientFormat)],
      [.displayMessage(format: "#{start_time}")],
    ]
  }

  /// `run-shell -d 0`: waits for no time (no shell runs), which ends tmux's turn with this
  /// client's batch so that what it printed so far is written to the client.
  static let letOutputGo = TmuxCommand([.word("run-shell"), .word("-d"), .value("0")])

  /// How many previews share one marker in a listing's batch.
  static let capturesPerMarker = 64

  /// Captures in runs of `capturesPerMarker`, each run one group (one marker).
  static func runs<T>(_ items: [T]) -> [[T]] {
    stride(from: 0, to: items.count, by: capturesPerMarker).map {
      Array(items[$0..<min(items.count, $0 + capturesPerMarker)])
    }
  }

  /// `capture-pane` of a session's active pane, by exact name.
  static func capture(sessionNamed name: String, historyLines: Int) -> TmuxCommand {
    capture(.value("=\(name):"), historyLines: historyLines)
  }

  /// A preview's capture: the screen and `historyLines` of history above it, one line per
  /// row (not joined, so the count of lines is known: min(historyLines, history) + height).
  static func capture(_ target: CommandWord, historyLines: Int) -> TmuxCommand {
    TmuxCommand([
      .word("capture-pane"), .word("-p"), .word("-t"), target, .word("-S"), .value(String(-max(0, historyLines))),
      .word("-E"), .value("-"),
    ])
  }

  /// Splits the output of a run of captures (in `run`'s order) by the line count each
  /// prints, from the same batch's listing; nil when a session is not in the listing or
  /// the counts do not add up to the output.
  static func split<Line>(
    _ output: [Line], of run: [String], lines: Int, live: [String: LiveSession]
  ) -> [[Line]]? {
    var counts: [Int] = []
    for name in run {
      guard let pane = live[name]?.panes.first(where: { $0.windowActive && $0.paneActive }) else { return nil }
      counts.append(min(lines, pane.historySize) + pane.height)
    }
    return split(output, counts: counts)
  }

  /// Splits the output of a run of captures into parts of the given line counts; nil when
  /// they do not add up to the output.
  static func split<Line>(_ output: [Line], counts: [Int]) -> [[Line]]? {
    guard counts.reduce(0, +) == output.count else { return nil }
    var parts: [[Line]] = []
    var start = 0
    for n in counts {
      parts.append(Array(output[start..<(start + n)]))
      start += n
    }
    return parts
  }

  /// Resolves a TARGET (see `TargetResolver`) against a fresh listing.
  public func resolve(_ target: String, includeForeign: Bool = true) async throws(BerthError) -> SessionView {
    let listing = try await list(includeForeign: includeForeign)
    return try TargetResolver.resolve(target, in: listing.views)
  }
}
