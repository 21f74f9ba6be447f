import BerthCore
import BerthStore
import BerthTmux
import Foundation
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
    var listing = try await detailedList(preview: preview, includeForeign: includeForeign).listing
    // A remote host's processes are not in this machine's /proc: tmux's names stay.
    if context.host == nil {
      Self.fillCommandLines(&listing.views)
    } else if snapshotsAfterListing {
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

  func detailedList(preview: Int? = nil, includeForeign: Bool = false) async throws(BerthError) -> DetailedListing {
    var c = try await connection(startServer: false)
    // The records first: the previews of the sessions they name go in the same batch as the
    // listing (one round trip instead of two), by exact name (`=NAME:` is the session's
    // active pane, which is what the listing calls its active pane, at the same moment).
    let records = try storeCall { try $0.allRecords() }.filter { self.isOnThisServer($0) }
    let previewLines = preview.flatMap { $0 > 0 ? $0 : nil }
    var live: [LiveSession] = []
    var serverStartedAt: Date?
    var earlyCaptures: [String: [[UInt8]]] = [:]
    let separator = CommandBatch.randomMarker()
    if let client = c {
      var groups: [[TmuxCommand]] = [
        [.listAllPanes(format: TmuxListing.paneFormat(separator: separator))],
        [.listClients(format: TmuxListing.clientFormat)],
        [.displayMessage(format: "#{start_time}")],
      ]
      var captured: [[String]] = []
      if let lines = previewLines {
        var seen = Set<String>()
        let names = records.filter { r in
          r.status != .dead && Self.isPlainSessionName(r.tmuxSessionName) && seen.insert(r.tmuxSessionName).inserted
        }.map(\.tmuxSessionName)
        // Captures share a marker in runs (a marker costs tmux as much as a capture); each
        // prints exactly min(lines, history) + height lines, which the listing in the same
        // batch tells, so a run's output is split without markers between them.
        for start in stride(from: 0, to: names.count, by: Self.capturesPerMarker) {
          let run = Array(names[start..<min(names.count, start + Self.capturesPerMarker)])
          captured.append(run)
          groups.append(run.map { Self.capture(sessionNamed: $0, historyLines: lines) })
        }
      }
      // Only looks: no lock, and a server gone since the probe (or going, its sessions with
      // it) is as good as none.
      if let replies = try await look(client, groups: groups) {
        let clients = TmuxListing.parseClients(replies[1].lines)
        live = TmuxListing.sessions(
          paneLines: replies[0].lines, separator: separator, clients: clients,
          hiddenPrefix: ControlConnection.hiddenSessionPrefix)
        if context.host == nil { Self.exactPaths(&live) }
        if !replies[2].isError, let seconds = Double(replies[2].text.trimmingCharacters(in: .whitespaces)) {
          serverStartedAt = Date(timeIntervalSince1970: seconds)
        }
        if let lines = previewLines {
          let byName = Dictionary(live.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
          for (run, reply) in zip(captured, replies.dropFirst(3)) where !reply.isError {
            // A run that failed, or whose line counts do not add up (a user's hook printed
            // something), is captured again pane by pane below.
            guard let split = Self.split(reply.lines, of: run, lines: lines, live: byName) else { continue }
            for (name, part) in zip(run, split) { earlyCaptures[name] = part }
          }
        }
      } else {
        c = nil
      }
    }
    let reconciler = Reconciler(
      prefix: settings.prefix, now: context.now(), bootTime: context.host == nil ? context.bootClock.bootTime() : nil,
      serverRunning: c != nil, serverStartedAt: serverStartedAt, includeForeign: includeForeign)
    var result = reconciler.reconcile(records: records, live: live)
    var stored = records
    if !result.changedRecords.isEmpty {
      let byId = Dictionary(result.changedRecords.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      let read = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      stored = stored.map { byId[$0.id] ?? $0 }
      let changed = result.changedRecords
      // Only over the record as it was read: another berth process may have changed it since
      // (a kill marks it killed, which a reconciled "exited" must not undo); the next
      // listing reconciles it again.
      _ = try storeCall { store in
        try store.updateMany(
          changed.map { r in
            (id: r.id, mutate: { current in if current == read[r.id] { current = r } })
          })
      }
    }
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
          result.views[i].preview = TmuxListing.previewLines(reply.lines, count: lines)
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
    return DetailedListing(
      listing: Listing(views: result.views, serverRunning: c != nil, serverVersion: nil), live: live, records: stored)
  }

  /// A batch that only looks: nil when the server has gone (or is going) since the probe.
  func look(_ c: CommandClient, _ commands: [TmuxCommand]) async throws(BerthError) -> [CommandReply]? {
    try await look(c, groups: commands.map { [$0] })
  }

  /// `look` with one reply per group of commands (one marker each).
  func look(_ c: CommandClient, groups: [[TmuxCommand]]) async throws(BerthError) -> [CommandReply]? {
    do {
      return try await c.sendGroups(groups, early: takeEarlyLook())
    } catch TmuxError.noServer, TmuxError.serverShuttingDown {
      return nil
    } catch let e as TmuxError {
      throw Self.map(e)
    } catch {
      throw .failed("\(error)")
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

  /// How many previews share one marker in a listing's batch.
  static let capturesPerMarker = 16

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
  static func split(
    _ output: [[UInt8]], of run: [String], lines: Int, live: [String: LiveSession]
  ) -> [[[UInt8]]]? {
    var counts: [Int] = []
    for name in run {
      guard let pane = live[name]?.panes.first(where: { $0.windowActive && $0.paneActive }) else { return nil }
      counts.append(min(lines, pane.historySize) + pane.height)
    }
    guard counts.reduce(0, +) == output.count else { return nil }
    var parts: [[[UInt8]]] = []
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
