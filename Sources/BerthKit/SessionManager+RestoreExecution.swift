import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Restore, carried out: the batched phases that rebuild sessions from their plans (sessions,
// windows and splits, layouts, names, type-ahead, last the name), and the shell files they use.
extension SessionManager {
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
            plans[pi].windows[wi].panes[p].launch = shellLaunch(
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
    // A remote host's shells get no files (see `shellLaunch`).
    guard context.host == nil else { return }
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
