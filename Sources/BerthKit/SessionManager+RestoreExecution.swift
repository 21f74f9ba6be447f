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
    Trace.mark("restore: looks")
    let questions: [TmuxCommand] = [
      .showOptionValue("history-limit", global: true),
      .showOptionValue("automatic-rename", global: true, scope: .window),
      TmuxCommand([.word("show-hooks"), .word("-g")]), .listSessions(format: "#{session_id}\t#{session_name}"),
      .showOptionValue("default-command", global: true),
    ]
    // After a reboot no server runs: nothing to ask (each answer is "none", as tmux's would be).
    let looks: [CommandReply]
    if context.host == nil, case .notRunning = ServerProbe.check(socketPath: context.socketPath) {
      looks = questions.map { _ in CommandReply(isError: true, lines: [Array("no server".utf8)]) }
    } else {
      looks = try await send(c, questions)
    }
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
    // Phase 1: one new-session per plan, with what protects it, several sessions to a line
    // (see `restoreChunk`). Each new-session prints its plan's index after a tag of this
    // restore's own, so its ids are found whichever reply they land in.
    let tag = CommandBatch.randomMarker()
    let fmt = "#{session_id}\t#{window_id}\t#{pane_id}\t#{window_index}"
    var creates: [TmuxCommand] = []
    var protections: [[TmuxCommand]] = []
    for (i, plan) in plans.enumerated() {
      let first = plan.windows[0].panes[0]
      let name = temporaryName(plan)
      creates.append(
        .newSession(
          name: name, directory: first.cwd, width: plan.size.cols, height: plan.size.rows,
          environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + first.launch.environment,
          command: first.launch.argv, printFormat: "\(tag)S\(i)\t" + fmt))
      let target = CommandWord.value("=\(name):")
      var protect = Self.protectiveOptions(sessionNamed: name)
      protect += try sizeFix(window: target, cols: plan.size.cols, rows: plan.size.rows)
      if let raised {
        protect.append(
          TmuxCommand([.word("set-option"), .word("-t"), target, .value("history-limit"), .value(String(raised))]))
      }
      for hook in shadowed {
        protect.append(TmuxCommand([.word("set-hook"), .word("-t"), target, .value(hook), .value("")]))
      }
      // `new-session -e` put the first pane's notice in the session environment: take it out
      // before any other pane starts, so later windows (the user's too) do not inherit it.
      for (name, _) in first.launch.environment where name.hasPrefix("BERTH_NOTICE_") {
        protect.append(TmuxCommand([.word("set-environment"), .word("-t"), target, .word("-u"), .value(name)]))
      }
      protections.append(protect)
    }
    let raiseGlobal: [TmuxCommand] =
      raised.map { [.setOption("history-limit", value: String($0), global: true)] } ?? []
    let lowerGlobal: [TmuxCommand] =
      if raised != nil, let userLimit { [.setOption("history-limit", value: String(userLimit), global: true)] } else {
        []
      }
    struct Made {
      var session: TargetID
      var windows: [(window: TargetID, panes: [TargetID])]
      /// Where `base-index` put the first window.
      var firstIndex: Int?
    }
    var made = [Made?](repeating: nil, count: plans.count)
    var failed: [(id: String, reason: String)] = []
    /// The sessions a reply's tagged lines say were created.
    func created(_ reply: CommandReply) -> [Int] {
      guard !reply.isError else { return [] }
      var found: [Int] = []
      for line in reply.textLines where line.hasPrefix(tag + "S") {
        let f = line.dropFirst(tag.count + 1).split(separator: "\t").map(String.init)
        guard f.count == 5, let i = Int(f[0]), plans.indices.contains(i), let s = TargetID(f[1]),
          let w = TargetID(f[2]), let p = TargetID(f[3])
        else { continue }
        made[i] = Made(session: s, windows: [(w, [p])], firstIndex: Int(f[4]))
        found.append(i)
      }
      return found
    }
    do {
      Trace.mark("restore: phase 1, \(plans.count) sessions")
      let chunks = RestoreChunks(count: plans.count, size: Self.restoreChunk)
      // A line creates its sessions first, then protects them: each `set-option` makes tmux
      // write to every session, and after each fork (a new pane) the first such write copies
      // the pages it touches; grouped, only the first option after the line's forks pays.
      let lines = chunks.ranges.map { range in range.map { creates[$0] } + range.flatMap { protections[$0] } }
      // Several batches (see `restoreBatch`): the first raises the global scrollback, the last
      // puts it back, each ends with a line that always answers (what a failed last line
      // printed comes before it).
      let perBatch = max(1, Self.restoreBatch / Self.restoreChunk)
      let closing = [TmuxCommand([.word("display-message"), .word("-p"), .value("")])]
      var batches: [[[TmuxCommand]]] = []
      var linesAt: [Int] = []
      for start in stride(from: 0, to: max(lines.count, 1), by: perBatch) {
        var batch: [[TmuxCommand]] = start == 0 ? leftovers.map { [$0] } + raiseGlobal.map { [$0] } : []
        linesAt.append(batch.count)
        batch += lines[start..<min(start + perBatch, lines.count)]
        if start + perBatch >= lines.count { batch += lowerGlobal.map { [$0] } }
        batches.append(batch + [closing])
      }
      let r1 = try await sendInTurn(batches, on: c)
      var lineFailed: [Bool] = []
      for (b, replies) in r1.enumerated() {
        for reply in replies { _ = created(reply) }
        let count = min(perBatch, lines.count - b * perBatch)
        lineFailed += replies.dropFirst(linesAt[b]).prefix(count).map(\.isError)
      }
      // A line that failed stopped at its failing command: its sessions are done again one
      // command to a reply, as they would have been alone. A session it created answers
      // `display-message` (its `new-session` then fails as a duplicate, and the rest runs
      // again: each command sets what it sets); one it did not is created now.
      let redo = chunks.failed(lineFailed)
      if !redo.isEmpty {
        Trace.mark("restore: phase 1 again, one command at a time, for \(redo.count) sessions")
        var again: [TmuxCommand] = raiseGlobal
        var at: [(plan: Int, look: Int)] = []
        for i in redo {
          made[i] = nil
          at.append((i, again.count))
          let look = TmuxCommand([
            .word("display-message"), .word("-p"), .word("-t"), .value("=\(temporaryName(plans[i])):"),
            .value("\(tag)S\(i)\t" + fmt),
          ])
          again += [look, creates[i]] + protections[i]
        }
        again += lowerGlobal
        let r = try await send(c, again)
        for (i, look) in at {
          if created(r[look]) != [i], created(r[look + 1]) != [i] {
            let why = TerminalText.sanitize(r[look + 1].text)
            context.warn("could not recreate \(plans[i].record.id): \(why)")
            failed.append((plans[i].record.id, "tmux refused it: \(why)"))
          }
        }
      }
      for (i, plan) in plans.enumerated() where made[i] == nil && !failed.contains(where: { $0.id == plan.record.id }) {
        failed.append((plan.record.id, "tmux refused it: it did not say it had created it"))
      }
      Trace.mark("restore: phase 2")
      // Phase 2: the first window to its saved index (before any other window can take it),
      // further windows at theirs, and the splits of the first window.
      var moves: [TmuxCommand] = []
      var phase2: [TmuxCommand] = []
      var phase2Owners: [(plan: Int, window: Int, layout: Bool)] = []
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
              phase2Owners.append((i, 0, false))
            }
            if w.panes.count > 1, let layout = w.layout {
              phase2.append(.selectLayout(window: m.windows[0].window, layout: layout))
              phase2Owners.append((i, 0, true))
            }
          } else {
            let p = w.panes[0]
            phase2.append(
              .newWindow(
                session: m.session, index: w.index, name: nil, directory: p.cwd,
                environment: [("BERTH_SESSION_ID", plan.record.id)] + plan.environment + p.launch.environment,
                command: p.launch.argv, printFormat: "#{window_id}\t#{pane_id}"))
            phase2Owners.append((i, wi, false))
          }
        }
      }
      let r2 = Array(try await send(c, moves + phase2).dropFirst(moves.count))
      // Windows whose layout is set already, as [plan, window]: in the batch that splits them,
      // before tmux reads anything their new shells print (a pane narrowed after its shell
      // printed the restore notice has tmux re-wrap it, and its top lines go into the history).
      var laidOut = Set<[Int]>()
      for ((owner, reply)) in zip(phase2Owners, r2) where !reply.isError {
        if owner.layout {
          laidOut.insert([owner.plan, owner.window])
          continue
        }
        let f = reply.text.split(separator: "\t").map(String.init)
        if f.count == 2, let w = TargetID(f[0]), let p = TargetID(f[1]) {
          made[owner.plan]?.windows.append((w, [p]))
        } else if let p = TargetID(f.first ?? "") {
          made[owner.plan]?.windows[0].panes.insert(p, at: 1)
        }
      }
      Trace.mark("restore: phase 3")
      // Phase 3: the splits of later windows (each at its saved size first, on tmux 3.2).
      var phase3: [TmuxCommand] = []
      var sizing: [TmuxCommand] = []
      var phase3Owners: [(plan: Int, window: Int, layout: Bool)] = []
      for (i, plan) in plans.enumerated() {
        guard let m = made[i] else { continue }
        for (wi, w) in plan.windows.enumerated() where wi > 0 && wi < m.windows.count {
          let size = plan.windowSizes[wi] ?? plan.size
          sizing += try sizeFix(window: .target(m.windows[wi].window), cols: size.cols, rows: size.rows)
          for p in w.panes.dropFirst().reversed() {
            phase3.append(split(m.windows[wi].panes[0], p, plan))
            phase3Owners.append((i, wi, false))
          }
          if w.panes.count > 1, let layout = w.layout {
            phase3.append(.selectLayout(window: m.windows[wi].window, layout: layout))
            phase3Owners.append((i, wi, true))
          }
        }
      }
      let r3 = Array(try await send(c, sizing + phase3).dropFirst(sizing.count))
      for (owner, reply) in zip(phase3Owners, r3) where !reply.isError {
        if owner.layout {
          laidOut.insert([owner.plan, owner.window])
          continue
        }
        if let p = TargetID(reply.text.trimmingCharacters(in: .whitespaces)) {
          made[owner.plan]?.windows[owner.window].panes.insert(p, at: 1)
        }
      }
      // Phase 4: layouts, names, active panes, type-ahead, then the user's hooks back and the
      // session's own name. Selecting the only pane of a window or the only window of a
      // session changes nothing, and costs tmux (select-window makes it refresh every
      // session): left out. Each session's commands set what they set however often they
      // run, so several sessions share a line; a line that failed is run again one command
      // to a reply, which says whose name tmux refused. Type-ahead, which would be typed
      // twice, has lines of its own.
      var phase4: [[TmuxCommand]] = []
      var typeAhead: [[TmuxCommand]] = []
      for (i, plan) in plans.enumerated() {
        var commands: [TmuxCommand] = []
        guard let m = made[i] else {
          phase4.append([])
          continue
        }
        var activeWindow: TargetID?
        for (wi, w) in plan.windows.enumerated() where wi < m.windows.count {
          let made = m.windows[wi]
          if let layout = w.layout, made.panes.count == w.panes.count, !laidOut.contains([i, wi]) {
            commands.append(.selectLayout(window: made.window, layout: layout))
          }
          commands += naming(made.window, w, shell: plan.launchShell, globalAutomatic: globalAutomatic)
          if made.panes.count > 1, w.panes.indices.contains(w.activePane), made.panes.indices.contains(w.activePane) {
            commands.append(TmuxCommand([.word("select-pane"), .word("-t"), .target(made.panes[w.activePane])]))
          }
          for (pi, p) in w.panes.enumerated() where pi < made.panes.count {
            if p.typeAhead, let text = p.previousCommand {
              typeAhead.append([.sendLiteral(made.panes[pi], text: text)])
            }
          }
          if w.active { activeWindow = made.window }
        }
        if m.windows.count > 1, let activeWindow {
          commands.append(TmuxCommand([.word("select-window"), .word("-t"), .target(activeWindow)]))
        }
        for hook in shadowed {
          commands.append(TmuxCommand([.word("set-hook"), .word("-u"), .word("-t"), .target(m.session), .value(hook)]))
        }
        commands.append(.renameSession(m.session, to: plan.record.tmuxSessionName))
        phase4.append(commands)
      }
      Trace.mark("restore: phase 4")
      var lines4: [[TmuxCommand]] = []
      var lineRanges: [Range<Int>] = []
      for range in chunks.ranges {
        let line = range.flatMap { phase4[$0] }
        if !line.isEmpty {
          lines4.append(line)
          lineRanges.append(range)
        }
      }
      let r4 = try await send(c, groups: lines4 + typeAhead)
      var redo4: [Int] = []
      for (range, reply) in zip(lineRanges, r4) where reply.isError { redo4 += range.filter { !phase4[$0].isEmpty } }
      if !redo4.isEmpty {
        Trace.mark("restore: phase 4 again, one command at a time, for \(redo4.count) sessions")
        let r = try await send(c, redo4.flatMap { phase4[$0] })
        var at = 0
        for i in redo4 {
          at += phase4[i].count
          let renamed = r[at - 1]
          if renamed.isError {
            failed.append((plans[i].record.id, "tmux refused its name: \(TerminalText.sanitize(renamed.text))"))
            if let m = made[i] { _ = try? await send(c, [.killSession(m.session)]) }
            made[i] = nil
          }
        }
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
    Trace.mark("restore: check")
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
    Trace.mark("restore: records")
    _ = try storeCall { try $0.updateMany(updates) }
    Trace.mark("restore: hooks")
    if !updates.isEmpty { try await installHooks(on: c) }
    return failed
  }

  /// How many sessions share one line of a restore's batches (one reply, one marker: tmux
  /// spends about as long on a marker as on a command that sets an option, and one marker per
  /// command made a restore twice as much work for tmux as creating the sessions alone).
  static let restoreChunk = 25

  /// How many sessions a batch (one tmux client) of a restore's first phase creates. tmux
  /// turns every batch it parses back into text, whole, for a debug log it writes even when
  /// logging is off (`cmd_list_print` in `cmd_parse_build_commands`, every release up to
  /// master), by appending each command to the end of all the text before it: its work
  /// grows with the number of commands times the size of the batch. One batch of 500
  /// sessions (2,500 commands, 440 KB) cost tmux 5.4 billion instructions there, 70% of
  /// all it did for the restore; batches of 25 sessions cost it a twentieth of that, for a
  /// client started per batch (each while the batch before it runs).
  static let restoreBatch = 25

  /// Sends batches one after another, as one change (the server lock held throughout), and
  /// returns their replies. Each batch after the second goes through a client started while
  /// the batch before it ran, so its start-up overlaps tmux's work (the first batch may be
  /// the one that starts the server, so the second starts after it).
  func sendInTurn(_ batches: [[[TmuxCommand]]], on c: CommandClient) async throws(BerthError) -> [[CommandReply]] {
    guard batches.count > 1 else { return batches.isEmpty ? [] : [try await send(c, groups: batches[0])] }
    let lock = await ServerLock.acquire(socketPath: lockPath)
    defer { lock?.release() }
    var replies: [[CommandReply]] = []
    var follow: CommandClient?
    var next: CommandClient.EarlyClient?
    defer { next?.cancel() }
    for (i, batch) in batches.enumerated() {
      do {
        if i == 0 {
          replies.append(try await c.sendGroups(batch))
          // Batches that create sessions once the server runs (the first started it): with
          // `startServer` off they go through clients started ahead.
          if context.host == nil, case .running = ServerProbe.check(socketPath: context.socketPath) {
            follow = CommandClient(
              install: c.install, socket: c.socket, environment: context.environment, startServer: false,
              timeout: c.defaultTimeout)
          }
          continue
        }
        let client = follow ?? c
        let early = next
        next = i + 1 < batches.count && follow != nil ? client.startEarly() : nil
        replies.append(try await client.sendGroups(batch, early: early))
      } catch let e as TmuxError {
        throw Self.map(e)
      } catch {
        throw .failed("\(error)")
      }
    }
    return replies
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

/// A restore's sessions in lines of a batch, `size` to a line: which sessions share a line,
/// and which sessions were on the lines that failed.
struct RestoreChunks: Equatable {
  let ranges: [Range<Int>]

  init(count: Int, size: Int) {
    precondition(size > 0)
    ranges = stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
  }

  /// The sessions of the lines whose reply was an error (one flag per line, in order).
  func failed(_ isError: [Bool]) -> [Int] {
    zip(ranges, isError).flatMap { range, error in error ? Array(range) : [] }
  }
}
