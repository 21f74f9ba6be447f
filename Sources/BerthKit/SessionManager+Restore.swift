import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Restore: bringing dead sessions back from their last snapshot, in batched phases.
extension SessionManager {
  // MARK: Restore

  /// Dead sessions a restore brings back: every dead tracked session except those killed on purpose.
  public func restorableSessions() async throws(BerthError) -> [SessionView] {
    try await list().views.filter { $0.tracked && $0.status == .dead && ($0.endReason?.isRestorable ?? true) }
  }

  /// Recreates dead sessions from their snapshots: same id and name, windows and layouts, each
  /// pane's cwd (a missing or strange directory falls back to $HOME with a notice), the allowed
  /// environment and the per-session history. The previous command is shown, never run.
  /// Batched over one connection: a few round trips for any number of sessions.
  public func restore(ids requested: [String]?, dryRun: Bool) async throws(BerthError) -> RestoreReport {
    Trace.mark("restore: start")
    let detailed = try await detailedList()
    Trace.mark("restore: listed")
    let listing = detailed.listing
    var report = RestoreReport(restored: [], skipped: [], dryRun: dryRun)
    var chosen: [SessionView] = []
    if let requested {
      for target in requested {
        let v = try TargetResolver.resolve(target, in: listing.views)
        if !v.tracked || v.status != .dead {
          report.skipped.append((v.id, "it is not dead"))
        } else if v.endReason == .killed {
          report.skipped.append((v.id, "it was killed on purpose (use 'berth attach \(v.id)' to recreate it anyway)"))
        } else {
          chosen.append(v)
        }
      }
    } else {
      chosen = listing.views.filter { $0.tracked && $0.status == .dead && ($0.endReason?.isRestorable ?? true) }
    }
    // The records as the listing stored them, and every snapshot in one query.
    let records = Dictionary(detailed.records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    let wanted = Set(chosen.map(\.id))
    let stored = chosen.isEmpty ? [] : try storeCall { try $0.allSnapshots() }.filter { wanted.contains($0.sessionId) }
    let snapshots = Dictionary(stored.map { ($0.sessionId, $0.data) }, uniquingKeysWith: { a, _ in a })
    var plans: [RestorePlan] = []
    for v in chosen {
      guard let record = records[v.id] else { continue }
      let snapshot = snapshots[v.id].flatMap { try? SessionSnapshot.decode($0) }
      plans.append(restorePlan(record: record, snapshot: snapshot, reason: v.endReason))
    }
    report.restored = plans.map {
      RestoreReport.Item(
        id: $0.record.id, windows: $0.windows.count, panes: $0.windows.reduce(0) { $0 + $1.panes.count },
        notices: $0.notices)
    }
    // Sessions tmux-resurrect (or anything but berth) brought back under berth's names.
    let strangers = try await resurrectedSessions(detailed, requested: requested)
    if !strangers.isEmpty {
      report.skipped.removeAll { skipped in strangers.contains { $0.record.id == skipped.id } }
      report.restored += strangers.map {
        RestoreReport.Item(
          id: $0.record.id, windows: $0.live.windows, panes: $0.live.panes.count,
          notices: ["\($0.record.id): adopted the session tmux-resurrect brought back"])
      }
    }
    Trace.mark("restore: planned \(plans.count)")
    guard !dryRun, !plans.isEmpty || !strangers.isEmpty else { return report }
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    if !strangers.isEmpty { try await adoptResurrected(strangers, on: c) }
    guard !plans.isEmpty else { return report }
    let failed = try await execute(plans, on: c)
    Trace.mark("restore: done")
    if !failed.isEmpty {
      report.restored.removeAll { item in failed.contains { $0.id == item.id } }
      report.failed = failed
    }
    return report
  }

  /// A tracked session alive under berth's name that berth did not start: its session
  /// environment has no `BERTH_SESSION_ID` (tmux-resurrect restores neither the environment
  /// nor berth's shell set-up).
  struct Stranger {
    var record: SessionRecord
    var live: LiveSession
    var target: TargetID
  }

  func resurrectedSessions(_ detailed: DetailedListing, requested: [String]?) async throws(BerthError)
    -> [Stranger]
  {
    let records = Dictionary(detailed.records.map { ($0.tmuxSessionName, $0) }, uniquingKeysWith: { a, _ in a })
    var candidates: [Stranger] = []
    for s in detailed.live {
      guard let r = records[s.name], let t = TargetID(s.sessionId) else { continue }
      if let requested, !requested.contains(r.id) && !requested.contains(s.name) { continue }
      candidates.append(Stranger(record: r, live: s, target: t))
    }
    guard !candidates.isEmpty, let c = try await connection(startServer: false) else { return [] }
    let replies = try await send(
      c, candidates.map { TmuxCommand([.word("show-environment"), .word("-t"), .target($0.target)]) })
    return zip(candidates, replies).compactMap { candidate, reply in
      guard !reply.isError else { return nil }
      return reply.textLines.contains { $0.hasPrefix("BERTH_SESSION_ID=") } ? nil : candidate
    }
  }

  /// Makes sessions tmux-resurrect restored berth's own: `BERTH_SESSION_ID` and the
  /// per-session history set-up in the session environment (for the panes opened later),
  /// berth's options, and each pane that sits at its shell's prompt restarted (in place,
  /// same directory, its output kept) as berth starts a shell, so it keeps this session's
  /// history. Panes running anything else are left alone.
  func adoptResurrected(_ strangers: [Stranger], on c: CommandClient) async throws(BerthError) {
    let table = ProcessTable.read(panePids: strangers.flatMap { $0.live.panes.map(\.pid) })
    var batch: [TmuxCommand] = []
    var files: [(path: String, contents: String)] = []
    for s in strangers {
      let notice = ["berth: adopted from tmux-resurrect: this pane now keeps the session's own history"]
      let base = shellLaunch(
        shell: s.record.shell, sessionId: s.record.id, stateDirectory: context.stateDirectory,
        userZdotdir: context.environment["ZDOTDIR"])
      files += base.files
      for (name, value) in [("BERTH_SESSION_ID", s.record.id)] + base.environment {
        batch.append(.setEnvironment(s.target, name: name, value: value))
      }
      batch += Self.protectiveOptions(sessionNamed: s.live.name)
      for pane in s.live.panes {
        guard let p = TargetID(pane.paneId), table.foreground(panePid: pane.pid).isShell else { continue }
        let launch = shellLaunch(
          shell: s.record.shell, sessionId: s.record.id, stateDirectory: context.stateDirectory,
          userZdotdir: context.environment["ZDOTDIR"], notice: notice)
        var w: [CommandWord] = [.word("respawn-pane"), .word("-k"), .word("-t"), .target(p)]
        if Self.isUsableDirectory(pane.currentPath) { w += [.word("-c"), .formatExpanded(pane.currentPath)] }
        for (k, v) in [("BERTH_SESSION_ID", s.record.id)] + launch.environment {
          w += [.word("-e"), .value("\(k)=\(v)")]
        }
        w.append(.word("--"))
        w += launch.argv.map { .value($0) }
        batch.append(TmuxCommand(w))
      }
    }
    try writeShellFiles(files)
    _ = try await send(c, batch)
    try await installHooks(on: c)
  }

  struct RestorePlan {
    struct Pane {
      var cwd: String
      var launch: ShellLaunch
      /// What the pane was running (shown and put in history, never run).
      var previousCommand: String?
      /// Type it at the prompt (without Enter): the `restoreCommands` setting.
      var typeAhead: Bool
      /// What the pane says first.
      var notice: [String]
    }
    struct Window {
      /// The index it had (nil without a snapshot: wherever tmux puts it).
      var index: Int?
      /// The name it had ("" without a snapshot).
      var name: String
      /// Whether tmux named it (nil: saved before berth recorded it).
      var automaticRename: Bool?
      var layout: String?
      var active: Bool
      var panes: [Pane]
      var activePane: Int
    }
    var record: SessionRecord
    var windows: [Window]
    var environment: [(String, String)]
    var notices: [String]
    /// The size to create the session at: its first window's saved size, else the record's.
    var size: (cols: Int, rows: Int)
    /// The shell the panes run.
    var launchShell: String
    /// Each window's saved size (nil when its layout is unreadable).
    var windowSizes: [(cols: Int, rows: Int)?]
  }

  func restorePlan(record: SessionRecord, snapshot: SessionSnapshot?, reason: EndReason?) -> RestorePlan {
    var notices: [String] = []
    let why: String
    switch reason {
    case .reboot: why = "recreated after a system restart"
    case .vanished: why = "recreated after the tmux server stopped"
    default: why = "recreated"
    }
    let env = (snapshot?.environment ?? [:]).filter { settings.allowsEnvironment($0.key) }
      .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    let shell = snapshot?.shell ?? record.shell
    let savedWindows =
      snapshot?.windows
      ?? [
        WindowSnapshot(
          index: 0, name: "", layout: "", active: true,
          panes: [
            PaneSnapshot(
              index: 0, cwd: record.cwd, command: record.command, isShell: record.command == nil, active: true,
              lastLines: [])
          ])
      ]
    var windows: [RestorePlan.Window] = []
    for w in savedWindows where !w.panes.isEmpty {
      var panes: [RestorePlan.Pane] = []
      for p in w.panes {
        var cwd = p.cwd
        var paneNotice = ["berth: \(why)"]
        // A remote host's directories are checked by its tmux (a missing one starts in the
        // remote home); only what cannot be a path is refused here.
        let usable = context.host == nil ? Self.isUsableDirectory(cwd) : Self.isRemotePath(cwd)
        if !usable {
          let shown = TerminalText.sanitize(cwd)
          notices.append(
            "\(record.id): the directory \(shown) is missing or unusable; starting in \(context.homeDirectory)")
          paneNotice.append("berth: \(shown) is missing, so this starts in \(context.homeDirectory)")
          cwd = context.homeDirectory
        }
        var previous: String?
        if let command = p.command, !p.isShell, !command.isEmpty {
          let text = TerminalText.sanitize(command.joined(separator: " "))
          paneNotice.append("berth: it was running: \(text) (not run again; it is in this session's history: press Up)")
          previous = text
        }
        let launch = shellLaunch(
          shell: shell, sessionId: record.id, stateDirectory: context.stateDirectory,
          userZdotdir: context.environment["ZDOTDIR"], notice: paneNotice)
        panes.append(
          RestorePlan.Pane(
            cwd: cwd, launch: launch, previousCommand: previous,
            typeAhead: previous != nil && settings.restoreCommands, notice: paneNotice))
      }
      windows.append(
        RestorePlan.Window(
          index: snapshot == nil ? nil : w.index, name: w.name, automaticRename: w.automaticRename,
          layout: w.layout.isEmpty || w.panes.count < 2 ? nil : w.layout, active: w.active,
          panes: panes, activePane: w.panes.firstIndex(where: \.active) ?? 0))
    }
    // The record's size follows the active pane, not the window: use the saved layout's.
    let size = savedWindows.lazy.compactMap(\.size).first ?? (record.cols, record.rows)
    return RestorePlan(
      record: record, windows: windows, environment: env, notices: notices, size: size, launchShell: shell,
      windowSizes: savedWindows.filter { !$0.panes.isEmpty }.map(\.size))
  }

  /// Linux reports a removed working directory as `PATH (deleted)`: save the path it had, so
  /// a restore says that directory is missing (and a recreated one is used again).
  static func withoutDeletedMark(_ path: String) -> String {
    let mark = " (deleted)"
    guard path.hasSuffix(mark), !isDirectory(path) else { return path }
    return String(path.dropLast(mark.count))
  }

  static func isRemotePath(_ path: String) -> Bool {
    path.hasPrefix("/") && !path.contains("\n") && !path.contains("\r") && !path.contains("\0")
  }

  static func isUsableDirectory(_ path: String) -> Bool {
    guard path.hasPrefix("/"), !path.contains("\n"), !path.contains("\r"), !path.contains("\0") else { return false }
    return isDirectory(path)
  }
}
