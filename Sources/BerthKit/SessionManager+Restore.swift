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
    guard !dryRun, !plans.isEmpty || !strangers.isEmpty else { return report }
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    if !strangers.isEmpty { try await adoptResurrected(strangers, on: c) }
    guard !plans.isEmpty else { return report }
    let failed = try await execute(plans, on: c)
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
      let base = ShellLaunch.plan(
        shell: s.record.shell, sessionId: s.record.id, stateDirectory: context.stateDirectory,
        userZdotdir: context.environment["ZDOTDIR"])
      files += base.files
      for (name, value) in [("BERTH_SESSION_ID", s.record.id)] + base.environment {
        batch.append(.setEnvironment(s.target, name: name, value: value))
      }
      batch += Self.protectiveOptions(sessionNamed: s.live.name)
      for pane in s.live.panes {
        guard let p = TargetID(pane.paneId), table.foreground(panePid: pane.pid).isShell else { continue }
        let launch = ShellLaunch.plan(
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

  static func isUsableDirectory(_ path: String) -> Bool {
    guard path.hasPrefix("/"), !path.contains("\n"), !path.contains("\r"), !path.contains("\0") else { return false }
    return isDirectory(path)
  }

  /// The name a session has while berth restores it: neither berth's listing nor a
  /// snapshot takes it for the session until the restore has finished and renamed it, so a
  /// restore that stops half-way leaves the record dead (restorable) and the last good
  /// snapshot as it was; the next restore removes what is left and starts again.
  static let restoringPrefix = "_berth-restoring-"

  /// Hooks that run in the issuing client when berth's own commands run (`after-*`): one
  /// that prompts (`confirm-before`, `display-menu`) would stop the restore until someone
  /// answers. While a session is restored its own empty hook of the same name hides the
  /// user's global one (tmux looks at the session's hooks first); both are removed again
  /// before the session gets its name.
  static func userAfterHooks(_ reply: CommandReply) -> [String] {
    guard !reply.isError else { return [] }
    var names: [String] = []
    for line in reply.textLines where line.hasPrefix("after-") {
      guard let bracket = line.firstIndex(of: "[") else { continue }
      let name = String(line[..<bracket])
      if !names.contains(name), name.utf8.allSatisfy({ $0 == 0x2D || ($0 >= 0x61 && $0 <= 0x7A) }) {
        names.append(name)
      }
    }
    return names
  }

  /// Carries out restore plans in batched phases: sessions, then windows and first splits,
  /// then the remaining splits, then layouts, names, active panes and type-ahead, and last
  /// the name. Returns the sessions that did not come back, with why.
  func execute(_ planned: [RestorePlan], on c: CommandClient) async throws(BerthError) -> [(
    id: String, reason: String
  )] {
    // What the user's server says: scrollback, automatic naming, hooks, what an earlier
    // restore left, and the user's default-command.
    let looks = try await send(
      c,
      [
        .showOptionValue("history-limit", global: true),
        .showOptionValue("automatic-rename", global: true, scope: .window),
        TmuxCommand([.word("show-hooks"), .word("-g")]), .listSessions(format: "#{session_id}\t#{session_name}"),
        .showOptionValue("default-command", global: true),
      ])
    var plans = planned
    let defaultCommand = looks[4].isError ? "" : looks[4].text.trimmingCharacters(in: .whitespaces)
    if !defaultCommand.isEmpty {
      // The user's default-command runs inside berth's set-up, as for `berth new`.
      for pi in plans.indices {
        for wi in plans[pi].windows.indices {
          for p in plans[pi].windows[wi].panes.indices {
            plans[pi].windows[wi].panes[p].launch = ShellLaunch.plan(
              shell: plans[pi].launchShell, sessionId: plans[pi].record.id, stateDirectory: context.stateDirectory,
              userZdotdir: context.environment["ZDOTDIR"], notice: plans[pi].windows[wi].panes[p].notice,
              command: defaultCommand)
          }
        }
      }
    }
    try writeShellFiles(plans.flatMap { $0.windows.flatMap { $0.panes.flatMap { $0.launch.files } } })
    for plan in plans {
      for p in plan.windows.flatMap(\.panes) {
        if let command = p.previousCommand, let history = p.launch.historyFile { appendHistory(history, command) }
      }
    }
    let userLimit = looks[0].isError ? nil : Int(looks[0].text.trimmingCharacters(in: .whitespaces))
    let globalAutomatic = looks[1].isError || looks[1].text.trimmingCharacters(in: .whitespaces) != "off"
    let shadowed = Self.userAfterHooks(looks[2])
    let temporaryName = { (plan: RestorePlan) in Self.restoringPrefix + plan.record.id }
    let wanted = Set(plans.map(temporaryName))
    var leftovers: [TmuxCommand] = []
    for line in looks[3].isError ? [] : looks[3].textLines {
      let f = line.split(separator: "\t", maxSplits: 1).map(String.init)
      if f.count == 2, wanted.contains(f[1]), let t = TargetID(f[0]) { leftovers.append(.killSession(t)) }
    }
    // A pane takes its scrollback size when it is created: the global value is berth's while
    // the sessions are created (put back in the same batch) when the user's is smaller, and
    // each session gets it as its own option before its other windows and panes are made (and
    // for those opened later). A larger value of the user's is left alone.
    let raised = raisedHistoryLimit(UserTmuxOptions(historyLimit: userLimit))
    // Phase 1: one new-session per plan, with what protects it.
    let fmt = "#{session_id}\t#{window_id}\t#{pane_id}\t#{window_index}"
    var phase1: [TmuxCommand] = leftovers
    if let raised { phase1.append(.setOption("history-limit", value: String(raised), global: true)) }
    var createdAt: [Int] = []
    for plan in plans {
      let first = plan.windows[0].panes[0]
      let name = temporaryName(plan)
      createdAt.append(phase1.count)
      phase1.append(
        .newSession(
          name: name, directory: first.cwd, width: plan.size.cols, height: plan.size.rows,
          environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + first.launch.environment,
          command: first.launch.argv, printFormat: fmt))
      let target = CommandWord.value("=\(name):")
      phase1 += Self.protectiveOptions(sessionNamed: name)
      phase1 += try sizeFix(window: target, cols: plan.size.cols, rows: plan.size.rows)
      if let raised {
        phase1.append(
          TmuxCommand([.word("set-option"), .word("-t"), target, .value("history-limit"), .value(String(raised))]))
      }
      for hook in shadowed {
        phase1.append(TmuxCommand([.word("set-hook"), .word("-t"), target, .value(hook), .value("")]))
      }
      // `new-session -e` put the first pane's notice in the session environment: take it out
      // before any other pane starts, so later windows (the user's too) do not inherit it.
      for (name, _) in first.launch.environment where name.hasPrefix("BERTH_NOTICE_") {
        phase1.append(TmuxCommand([.word("set-environment"), .word("-t"), target, .word("-u"), .value(name)]))
      }
    }
    if raised != nil, let userLimit {
      phase1.append(.setOption("history-limit", value: String(userLimit), global: true))
    }
    struct Made {
      var session: TargetID
      var windows: [(window: TargetID, panes: [TargetID])]
      /// Where `base-index` put the first window.
      var firstIndex: Int?
    }
    var made: [Made?] = []
    var failed: [(id: String, reason: String)] = []
    do {
      let r1 = try await send(c, phase1)
      for (plan, index) in zip(plans, createdAt) {
        let reply = r1[index]
        let f = reply.text.split(separator: "\t").map(String.init)
        guard !reply.isError, f.count == 4, let s = TargetID(f[0]), let w = TargetID(f[1]), let p = TargetID(f[2])
        else {
          context.warn("could not recreate \(plan.record.id): \(TerminalText.sanitize(reply.text))")
          failed.append((plan.record.id, "tmux refused it: \(TerminalText.sanitize(reply.text))"))
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
      let r2 = Array(try await send(c, moves + phase2).dropFirst(moves.count))
      for ((owner, reply)) in zip(phase2Owners, r2) where !reply.isError {
        let f = reply.text.split(separator: "\t").map(String.init)
        if f.count == 2, let w = TargetID(f[0]), let p = TargetID(f[1]) {
          made[owner.plan]?.windows.append((w, [p]))
        } else if let p = TargetID(f.first ?? "") {
          made[owner.plan]?.windows[0].panes.insert(p, at: 1)
        }
      }
      // Phase 3: the splits of later windows (each at its saved size first, on tmux 3.2).
      var phase3: [TmuxCommand] = []
      var sizing: [TmuxCommand] = []
      var phase3Owners: [(plan: Int, window: Int)] = []
      for (i, plan) in plans.enumerated() {
        guard let m = made[i] else { continue }
        for (wi, w) in plan.windows.enumerated() where wi > 0 && wi < m.windows.count {
          let size = plan.windowSizes[wi] ?? plan.size
          sizing += try sizeFix(window: .target(m.windows[wi].window), cols: size.cols, rows: size.rows)
          for p in w.panes.dropFirst().reversed() {
            phase3.append(split(m.windows[wi].panes[0], p, plan))
            phase3Owners.append((i, wi))
          }
        }
      }
      let r3 = Array(try await send(c, sizing + phase3).dropFirst(sizing.count))
      for (owner, reply) in zip(phase3Owners, r3) where !reply.isError {
        if let p = TargetID(reply.text.trimmingCharacters(in: .whitespaces)) {
          made[owner.plan]?.windows[owner.window].panes.insert(p, at: 1)
        }
      }
      // Phase 4: layouts, names, active panes, type-ahead, then the user's hooks back and the
      // session's own name. Selecting the only pane of a window or the only window of a
      // session changes nothing, and costs tmux (select-window makes it refresh every
      // session): left out.
      var phase4: [TmuxCommand] = []
      var renames: [(plan: Int, index: Int)] = []
      for (i, plan) in plans.enumerated() {
        guard let m = made[i] else { continue }
        var activeWindow: TargetID?
        for (wi, w) in plan.windows.enumerated() where wi < m.windows.count {
          let made = m.windows[wi]
          if let layout = w.layout, made.panes.count == w.panes.count {
            phase4.append(.selectLayout(window: made.window, layout: layout))
          }
          phase4 += naming(made.window, w, shell: plan.launchShell, globalAutomatic: globalAutomatic)
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
        for hook in shadowed {
          phase4.append(TmuxCommand([.word("set-hook"), .word("-u"), .word("-t"), .target(m.session), .value(hook)]))
        }
        renames.append((i, phase4.count))
        phase4.append(.renameSession(m.session, to: plan.record.tmuxSessionName))
      }
      let r4 = try await send(c, phase4)
      for (i, index) in renames where index < r4.count && r4[index].isError {
        failed.append((plans[i].record.id, "tmux refused its name: \(TerminalText.sanitize(r4[index].text))"))
        if let m = made[i] { _ = try? await send(c, [.killSession(m.session)]) }
        made[i] = nil
      }
    } catch {
      // Stopped half-way (a hook that blocks, a server that went): what was made goes, so the
      // records stay restorable and the next restore starts again.
      let made = made.compactMap { $0?.session }
      if !made.isEmpty { _ = try? await send(c, made.map { .killSession($0) }) }
      let done = Set(failed.map(\.id))
      return failed
        + plans.filter { !done.contains($0.record.id) }.map {
          ($0.record.id, "the restore stopped half-way (\(error)): run 'berth restore \($0.record.id)' to finish it")
        }
    }
    // Only what exists now, under its own name, is restored.
    let check = try await send(c, [.listSessions(format: "#{session_id}\t#{session_name}")])[0]
    let present = Set(check.isError ? [] : check.textLines)
    for (i, plan) in plans.enumerated() {
      guard let m = made[i] else { continue }
      if !present.contains("\(m.session)\t\(plan.record.tmuxSessionName)") {
        failed.append((plan.record.id, "tmux ended it right after the restore: check your tmux.conf's hooks"))
        made[i] = nil
      }
    }
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
    if !updates.isEmpty { try await installHooks(on: c) }
    return failed
  }

  /// What gives a restored window its name back: a window tmux named stays tmux's to name
  /// (`automatic-rename` on, even where the user's global value is off); one named by hand
  /// gets its name (which turns automatic naming off for it, as it was). Snapshots from
  /// before berth saved `automatic-rename` rename unless the name is the one tmux would give
  /// a window running the shell and tmux names windows itself.
  func naming(_ window: TargetID, _ w: RestorePlan.Window, shell: String, globalAutomatic: Bool) -> [TmuxCommand] {
    switch w.automaticRename {
    case .some(true):
      return globalAutomatic
        ? [] : [.setOption("automatic-rename", value: "on", target: window, scope: .window)]
    case .some(false):
      return [.renameWindow(window, to: w.name)]
    case .none:
      let automaticName = String((shell as NSString).lastPathComponent.prefix(15))
      if w.name.isEmpty || (globalAutomatic && w.name == automaticName) { return [] }
      return [.renameWindow(window, to: w.name)]
    }
  }

  private func split(_ target: TargetID, _ p: RestorePlan.Pane, _ plan: RestorePlan) -> TmuxCommand {
    .splitWindow(
      pane: target, directory: p.cwd,
      environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + p.launch.environment,
      command: p.launch.argv, printFormat: "#{pane_id}")
  }

  /// Appends a command line to a history file (so Up recalls it); never runs it. Not when
  /// it is the file's last line already: zsh writes a command as it starts (bash only once
  /// it has finished), and a restored zsh listed it twice.
  func appendHistory(_ path: String, _ command: String) {
    let line = command.replacingOccurrences(of: "\n", with: " ") + "\n"
    if Self.lastHistoryLine(path) == String(line.dropLast()) { return }
    let dir = (path as NSString).deletingLastPathComponent
    try? FileManager.default.createDirectory(
      atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, line.utf8.count) }
    Glibc.close(fd)
  }

  /// The last command in a history file (zsh's `: START:ELAPSED;` prefix taken off), read
  /// from its last 4 KiB.
  static func lastHistoryLine(_ path: String) -> String? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let size = try? handle.seekToEnd() else { return nil }
    try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
    guard let data = try? handle.readToEnd() else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    guard var last = text.split(separator: "\n").last.map(String.init) else { return nil }
    if last.hasPrefix(": "), let semicolon = last.firstIndex(of: ";") {
      let stamp = last[last.index(last.startIndex, offsetBy: 2)..<semicolon]
      if stamp.allSatisfy({ $0.isNumber || $0 == ":" }) { last = String(last[last.index(after: semicolon)...]) }
    }
    return last
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
