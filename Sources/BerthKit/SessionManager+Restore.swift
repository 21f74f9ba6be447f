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
    let detailed = try await detailedList()
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
    guard !dryRun, !plans.isEmpty else { return report }
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    try await execute(plans, on: c)
    return report
  }

  struct RestorePlan {
    struct Pane {
      var cwd: String
      var launch: ShellLaunch
      /// What the pane was running (shown and put in history, never run).
      var previousCommand: String?
      /// Type it at the prompt (without Enter): the `restoreCommands` setting.
      var typeAhead: Bool
    }
    struct Window {
      /// The index it had (nil without a snapshot: wherever tmux puts it).
      var index: Int?
      var name: String?
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
    // The name tmux gives a window running this shell by itself (its process name): a window
    // saved under that name was named automatically, and renaming it would only turn tmux's
    // automatic naming off (and cost a command that makes tmux refresh every session).
    let automaticName = String((shell as NSString).lastPathComponent.prefix(15))
    var windows: [RestorePlan.Window] = []
    for w in savedWindows where !w.panes.isEmpty {
      var panes: [RestorePlan.Pane] = []
      for p in w.panes {
        var cwd = p.cwd
        var paneNotice = ["berth: \(why)"]
        if !Self.isUsableDirectory(cwd) {
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
        let launch = ShellLaunch.plan(
          shell: shell, sessionId: record.id, stateDirectory: context.stateDirectory,
          userZdotdir: context.environment["ZDOTDIR"], notice: paneNotice)
        panes.append(
          RestorePlan.Pane(
            cwd: cwd, launch: launch, previousCommand: previous,
            typeAhead: previous != nil && settings.restoreCommands))
      }
      windows.append(
        RestorePlan.Window(
          index: snapshot == nil ? nil : w.index, name: w.name.isEmpty || w.name == automaticName ? nil : w.name,
          layout: w.layout.isEmpty || w.panes.count < 2 ? nil : w.layout, active: w.active,
          panes: panes, activePane: w.panes.firstIndex(where: \.active) ?? 0))
    }
    // The record's size follows the active pane, not the window: use the saved layout's.
    let size = savedWindows.lazy.compactMap(\.size).first ?? (record.cols, record.rows)
    return RestorePlan(record: record, windows: windows, environment: env, notices: notices, size: size)
  }

  /// Linux reports a removed working directory as `PATH (deleted)`: save the path it had, so
  /// a restore says that directory is missing (and a recreated one is used again).
  static func withoutDeletedMark(_ path: String) -> String {
    let mark = " (deleted)"
    guard path.hasSuffix(mark), !isDirectory(path) else { return path }
    return String(path.dropLast(mark.count))
  }

  static func isUsableDirectory(_ path: String) -> Bool {
    guard path.hasPrefix("/"), !path.contains("\n"), !path.contains("\r"), !path.contains("\0") else { return false }
    return isDirectory(path)
  }

  /// Carries out restore plans in batched phases: sessions, then windows and first splits,
  /// then the remaining splits, then layouts, names, active panes and type-ahead.
  func execute(_ plans: [RestorePlan], on c: CommandClient) async throws(BerthError) {
    try writeShellFiles(plans.flatMap { $0.windows.flatMap { $0.panes.flatMap { $0.launch.files } } })
    for plan in plans {
      for p in plan.windows.flatMap(\.panes) {
        if let command = p.previousCommand, let history = p.launch.historyFile { appendHistory(history, command) }
      }
    }
    // A pane takes its scrollback size when it is created: the global value is berth's while
    // the sessions are created (put back in the same batch), as for `berth new`, and each
    // session gets it as its own option before its other windows and panes are made (and
    // for those opened later), unless the global value is the same already (each set-option
    // makes tmux refresh every session: 150 ms at 500 sessions).
    let limit = String(settings.historyLimit)
    let current = try await send(c, [.showOptionValue("history-limit", global: true)])[0]
    let previousLimit = current.isError ? nil : current.text.trimmingCharacters(in: .whitespaces)
    let globalDiffers = previousLimit != nil && previousLimit != limit
    // Phase 1: one new-session per plan.
    let fmt = "#{session_id}\t#{window_id}\t#{pane_id}\t#{window_index}"
    let phase1 = plans.map { plan -> TmuxCommand in
      let first = plan.windows[0].panes[0]
      return .newSession(
        name: plan.record.tmuxSessionName, directory: first.cwd, width: plan.size.cols, height: plan.size.rows,
        environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + first.launch.environment,
        command: first.launch.argv, printFormat: fmt)
    }
    let raise: [TmuxCommand] = globalDiffers ? [.setOption("history-limit", value: limit, global: true)] : []
    let lower: [TmuxCommand] =
      globalDiffers ? [.setOption("history-limit", value: previousLimit ?? limit, global: true)] : []
    let r1 = Array(try await send(c, raise + phase1 + lower).dropFirst(raise.count).prefix(phase1.count))
    struct Made {
      var session: TargetID
      var windows: [(window: TargetID, panes: [TargetID])]
      /// Where `base-index` put the first window.
      var firstIndex: Int?
    }
    var made: [Made?] = []
    for (plan, reply) in zip(plans, r1) {
      let f = reply.text.split(separator: "\t").map(String.init)
      guard !reply.isError, f.count == 4, let s = TargetID(f[0]), let w = TargetID(f[1]), let p = TargetID(f[2]) else {
        context.warn("could not recreate \(plan.record.id): \(TerminalText.sanitize(reply.text))")
        made.append(nil)
        continue
      }
      made.append(Made(session: s, windows: [(w, [p])], firstIndex: Int(f[3])))
    }
    // Phase 2: the first window to its saved index (before any other window can take it),
    // further windows at theirs, and the splits of the first window.
    var moves: [TmuxCommand] = []
    var phase2: [TmuxCommand] = []
    var phase2Owners: [(plan: Int, window: Int)] = []
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      if let index = plan.windows[0].index, let created = m.firstIndex, index != created {
        moves.append(.moveWindow(m.windows[0].window, session: m.session, index: index))
      }
      for (wi, w) in plan.windows.enumerated() {
        if wi == 0 {
          // tmux puts a split right after the pane it splits: splitting the first pane in
          // reverse order leaves the panes in their saved order (which the layout relies on).
          for p in w.panes.dropFirst().reversed() {
            phase2.append(split(m.windows[0].panes[0], p, plan))
            phase2Owners.append((i, 0))
          }
        } else {
          let p = w.panes[0]
          phase2.append(
            .newWindow(
              session: m.session, index: w.index, name: nil, directory: p.cwd,
              environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + p.launch.environment,
              command: p.launch.argv, printFormat: "#{window_id}\t#{pane_id}"))
          phase2Owners.append((i, wi))
        }
      }
    }
    // `new-session -e` put the first pane's notice in the session environment: take it out
    // before any other pane starts, so later windows (the user's too) do not inherit it.
    var unsets: [TmuxCommand] = []
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      for (name, _) in plan.windows[0].panes[0].launch.environment where name.hasPrefix("BERTH_NOTICE_") {
        unsets.append(
          TmuxCommand([.word("set-environment"), .word("-t"), .target(m.session), .word("-u"), .value(name)]))
      }
    }
    var limits: [TmuxCommand] = []
    if previousLimit != limit {
      for m in made.compactMap({ $0 }) { limits.append(.setOption("history-limit", value: limit, target: m.session)) }
    }
    let r2 = Array(
      try await send(c, unsets + limits + moves + phase2).dropFirst(unsets.count + limits.count + moves.count))
    for ((owner, reply)) in zip(phase2Owners, r2) where !reply.isError {
      let f = reply.text.split(separator: "\t").map(String.init)
      if f.count == 2, let w = TargetID(f[0]), let p = TargetID(f[1]) {
        made[owner.plan]?.windows.append((w, [p]))
      } else if let p = TargetID(f.first ?? "") {
        made[owner.plan]?.windows[0].panes.insert(p, at: 1)
      }
    }
    // Phase 3: the splits of later windows.
    var phase3: [TmuxCommand] = []
    var phase3Owners: [(plan: Int, window: Int)] = []
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      for (wi, w) in plan.windows.enumerated() where wi > 0 && wi < m.windows.count {
        for p in w.panes.dropFirst().reversed() {
          phase3.append(split(m.windows[wi].panes[0], p, plan))
          phase3Owners.append((i, wi))
        }
      }
    }
    let r3 = try await send(c, phase3)
    for (owner, reply) in zip(phase3Owners, r3) where !reply.isError {
      if let p = TargetID(reply.text.trimmingCharacters(in: .whitespaces)) {
        made[owner.plan]?.windows[owner.window].panes.insert(p, at: 1)
      }
    }
    // Phase 4: layouts, names, active panes, type-ahead. Selecting the only
    // pane of a window or the only window of a session changes nothing, and costs tmux
    // (select-window makes it refresh every session): left out.
    var phase4: [TmuxCommand] = []
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      var activeWindow: TargetID?
      for (wi, w) in plan.windows.enumerated() where wi < m.windows.count {
        let made = m.windows[wi]
        if let layout = w.layout, made.panes.count == w.panes.count {
          phase4.append(.selectLayout(window: made.window, layout: layout))
        }
        if let name = w.name { phase4.append(.renameWindow(made.window, to: name)) }
        if made.panes.count > 1, w.panes.indices.contains(w.activePane), made.panes.indices.contains(w.activePane) {
          phase4.append(TmuxCommand([.word("select-pane"), .word("-t"), .target(made.panes[w.activePane])]))
        }
        for (pi, p) in w.panes.enumerated() where pi < made.panes.count {
          if p.typeAhead, let text = p.previousCommand { phase4.append(.sendLiteral(made.panes[pi], text: text)) }
        }
        if w.active { activeWindow = made.window }
      }
      if m.windows.count > 1, let activeWindow {
        phase4.append(TmuxCommand([.word("select-window"), .word("-t"), .target(activeWindow)]))
      }
    }
    _ = try await send(c, phase4)
    // Records: alive again, same id and name.
    let now = context.now()
    var updates: [(id: String, mutate: (inout SessionRecord) throws -> Void)] = []
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      let sid = m.session.description
      let cwd = plan.windows[0].panes[0].cwd
      updates.append(
        (
          plan.record.id,
          {
            $0.status = .detached
            $0.endReason = nil
            $0.endedAt = nil
            $0.tmuxSessionId = sid
            $0.tmuxSocket = self.context.socketPath
            $0.lastSeenAt = now
            $0.cwd = cwd
          }
        ))
    }
    _ = try storeCall { try $0.updateMany(updates) }
    try await installHooks(on: c)
  }

  private func split(_ target: TargetID, _ p: RestorePlan.Pane, _ plan: RestorePlan) -> TmuxCommand {
    .splitWindow(
      pane: target, directory: p.cwd,
      environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + p.launch.environment,
      command: p.launch.argv, printFormat: "#{pane_id}")
  }

  /// Appends a command line to a history file (so Up recalls it); never runs it.
  func appendHistory(_ path: String, _ command: String) {
    let line = command.replacingOccurrences(of: "\n", with: " ") + "\n"
    let dir = (path as NSString).deletingLastPathComponent
    try? FileManager.default.createDirectory(
      atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, line.utf8.count) }
    Glibc.close(fd)
  }

  /// Writes the shared shell wrappers (0600, in a 0700 directory).
  func writeShellFiles(_ files: [(path: String, contents: String)]) throws(BerthError) {
    var written = Set<String>()
    for f in files where written.insert(f.path).inserted {
      let dir = (f.path as NSString).deletingLastPathComponent
      do {
        try FileManager.default.createDirectory(
          atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if (try? String(contentsOfFile: f.path, encoding: .utf8)) != f.contents {
          try f.contents.write(toFile: f.path, atomically: true, encoding: .utf8)
          chmod(f.path, 0o600)
        }
      } catch {
        throw .failed("cannot write \(f.path): \(error.localizedDescription)")
      }
    }
    let historyDir = context.stateDirectory + "/history"
    try? FileManager.default.createDirectory(
      atPath: historyDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }
}
