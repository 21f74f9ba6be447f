import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Operations on records: rename, tag, send keys, adopt, forget, clean up, close a workspace.
extension SessionManager {
  public func rename(target: String, to name: String?) async throws(BerthError) -> SessionView {
    var v = try await resolve(target, includeForeign: false)
    if let name {
      try Self.validateLabel(name, what: "name")
      let listing = try await list()
      if listing.views.contains(where: { $0.name == name && $0.id != v.id }) {
        throw .exists("another session is already named '\(TerminalText.sanitize(name))': choose another name")
      }
    }
    if v.orphan { v = try await adopt(v) }
    _ = try storeCall { try $0.update(id: v.id) { $0.metadata.customName = name } }
    return try await view(id: v.id)
  }

  /// Adds (`+tag` or `tag`) and removes (`-tag`) tags.
  public func tag(target: String, changes: [String]) async throws(BerthError) -> SessionView {
    var v = try await resolve(target, includeForeign: false)
    // Applied left to right, so `+a -a` leaves no `a`.
    let steps = changes.map { change -> (add: Bool, tag: String) in
      if change.hasPrefix("-") { return (false, String(change.dropFirst())) }
      return (true, change.hasPrefix("+") ? String(change.dropFirst()) : change)
    }
    for step in steps { try Self.validateLabel(step.tag, what: "tag") }
    if v.orphan { v = try await adopt(v) }
    _ = try storeCall { store in
      try store.update(id: v.id) { r in
        var tags = r.metadata.tags
        for step in steps {
          if step.add { tags.append(step.tag) } else { tags.removeAll { $0 == step.tag } }
        }
        r.metadata.tags = Self.uniqueTags(tags)
      }
    }
    return try await view(id: v.id)
  }

  /// Types literal text into the session's active pane (never a bracketed-paste end).
  public func send(target: String, text: String, enter: Bool) async throws(BerthError) -> SessionView {
    if text.contains("\u{1B}[201~") {
      throw .usage("the text contains ESC[201~ (the end of a bracketed paste), which berth never sends")
    }
    let v = try await resolve(target)
    guard v.isAlive, let pane = v.activePaneId.flatMap({ TargetID($0) }) else {
      throw .failed("\(TerminalText.sanitize(v.displayName)) is not running: restore it first ('berth attach')")
    }
    guard let c = try await connection(startServer: false) else { throw .tmuxUnavailable("no tmux server") }
    var commands: [TmuxCommand] = []
    if !text.isEmpty {
      let plain = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
      if plain {
        // `--` ends tmux's flags: without it text such as `-la` or `-R` is parsed as flags.
        commands.append(
          TmuxCommand([.word("send-keys"), .word("-t"), .target(pane), .word("-l"), .word("--"), .value(text)]))
      } else {
        // Control characters (a newline, a tab) cannot travel on a command line: send bytes.
        let bytes = Array(text.utf8)
        for chunk in stride(from: 0, to: bytes.count, by: 256) {
          commands.append(.sendBytes(pane, bytes: Array(bytes[chunk..<min(chunk + 256, bytes.count)])))
        }
      }
    }
    if enter { commands.append(TmuxCommand([.word("send-keys"), .word("-t"), .target(pane), .value("Enter")])) }
    for reply in try await send(c, commands) where reply.isError {
      throw .failed("tmux refused the keys: \(TerminalText.sanitize(reply.text))")
    }
    return v
  }

  /// Makes a record for an orphan (a live prefixed session nobody tracks).
  public func adopt(_ v: SessionView) async throws(BerthError) -> SessionView {
    guard v.orphan else {
      if v.tracked { throw .exists("\(TerminalText.sanitize(v.displayName)) is already tracked") }
      throw .usage(
        "'\(TerminalText.sanitize(v.tmuxSession))' does not start with the prefix '\(settings.prefix)': berth adopts only its own sessions"
      )
    }
    let now = context.now()
    let record = SessionRecord(
      id: v.id, tmuxSessionName: v.tmuxSession, createdAt: v.createdAt ?? now,
      lastAttachedAt: v.lastAttachedAt, cwd: v.cwd ?? context.homeDirectory,
      status: v.status, cols: v.cols ?? 80, rows: v.rows ?? 24,
      shell: context.environment["SHELL"] ?? "/bin/sh", tmuxSocket: context.socketPath,
      tmuxSessionId: v.tmuxId, lastSeenAt: now)
    do {
      try store.insert(record)
    } catch StoreError.duplicateId {
      throw .exists("a record with id '\(v.id)' already exists")
    } catch {
      throw .database("\(error)")
    }
    // Marks it berth's (a session without this is one tmux-resurrect brought back).
    if let t = v.tmuxId.flatMap(TargetID.init), let c = try? await connection(startServer: false) {
      _ = try? await send(c, [.setEnvironment(t, name: "BERTH_SESSION_ID", value: v.id)])
    }
    return try await view(id: v.id)
  }

  /// Adopts every orphan at once: one listing, the records in one transaction, one batch that
  /// marks them berth's (for hosts far away, where a round trip per session adds up).
  public func adoptAll() async throws(BerthError) -> [SessionView] {
    let orphans = try await list().views.filter(\.orphan)
    guard !orphans.isEmpty else { return [] }
    let now = context.now()
    let records = orphans.map { v in
      SessionRecord(
        id: v.id, tmuxSessionName: v.tmuxSession, createdAt: v.createdAt ?? now,
        lastAttachedAt: v.lastAttachedAt, cwd: v.cwd ?? context.homeDirectory,
        status: v.status, cols: v.cols ?? 80, rows: v.rows ?? 24,
        shell: context.environment["SHELL"] ?? "/bin/sh", tmuxSocket: context.socketPath,
        tmuxSessionId: v.tmuxId, lastSeenAt: now)
    }
    var adopted: [SessionRecord] = []
    for r in records {
      do {
        try store.insert(r)
        adopted.append(r)
      } catch StoreError.duplicateId {
        context.warn("a record with id '\(r.id)' already exists: \(r.tmuxSessionName) left alone")
      } catch {
        throw .database("\(error)")
      }
    }
    let marks = adopted.compactMap { r in
      r.tmuxSessionId.flatMap(TargetID.init).map {
        TmuxCommand.setEnvironment($0, name: "BERTH_SESSION_ID", value: r.id)
      }
    }
    if !marks.isEmpty, let c = try? await connection(startServer: false) { _ = try? await send(c, marks) }
    let ids = Set(adopted.map(\.id))
    return try await list().views.filter { $0.tracked && ids.contains($0.id) }
  }

  /// Adopts by target.
  public func adopt(target: String) async throws(BerthError) -> SessionView {
    try await adopt(try await resolve(target))
  }

  /// Deletes the record of a dead session (a live one must be killed first).
  public func forget(target: String) async throws(BerthError) -> SessionView {
    let v = try await resolve(target, includeForeign: false)
    guard v.tracked else { throw .usage("\(TerminalText.sanitize(v.displayName)) has no record to forget") }
    guard v.status == .dead else {
      throw .usage("\(TerminalText.sanitize(v.displayName)) is still running: 'berth kill' it first")
    }
    _ = try storeCall { try $0.delete(id: v.id) }
    return v
  }

  /// Kills orphans (only when asked) and forgets dead records (all of them, or those that
  /// ended more than `olderThanDays` ago). With `only`, just the sessions of those ids (the
  /// rows a front end showed and the user confirmed).
  public func cleanup(
    orphans: Bool, dead: Bool, olderThanDays: Int?, dryRun: Bool, only: Set<String>? = nil
  ) async throws(BerthError) -> CleanupReport {
    let listing = try await list()
    var report = CleanupReport(dryRun: dryRun)
    if only == nil { try await cleanUpHiddenSessions(into: &report) }
    if orphans {
      let targets = listing.views.filter { $0.orphan && (only?.contains($0.id) ?? true) }
      report.killedOrphans = targets.map(\.tmuxSession)
      if !dryRun, !targets.isEmpty { _ = try await kill(targets) }
    }
    if dead {
      let now = context.now()
      let cutoff = olderThanDays.map { now.addingTimeInterval(-Double($0) * 86_400) }
      let targets = listing.views.filter { v in
        guard v.tracked, v.status == .dead, only?.contains(v.id) ?? true else { return false }
        guard let cutoff else { return true }
        return (v.endedAt ?? v.lastDetachedAt ?? v.createdAt ?? now) < cutoff
      }
      report.forgottenRecords = targets.map(\.id)
      if !dryRun {
        for v in targets { _ = try storeCall { try $0.delete(id: v.id) } }
      }
    }
    return report
  }

  /// A live view's hidden control session (`_berth-control-*`) that no client holds any more
  /// is berth's own debris: tmux-resurrect brings it back after a reboot as a plain shell, and
  /// a panel killed before it could close leaves it. Every cleanup ends those (they are
  /// listed with the orphans); one a panel still holds is left alone.
  func cleanUpHiddenSessions(into report: inout CleanupReport) async throws(BerthError) {
    guard let c = try await connection(startServer: false),
      let reply = try await sendIfRunning(c, [.listSessions(format: "#{session_id}\t#{session_attached}\t#{session_name}")])?
        .first, !reply.isError
    else { return }
    var stale: [(TargetID, String)] = []
    for line in reply.textLines {
      let fields = line.split(separator: "\t", maxSplits: 2).map(String.init)
      guard fields.count == 3, fields[1] == "0", fields[2].hasPrefix(ControlConnection.hiddenSessionPrefix),
        let id = TargetID(fields[0])
      else { continue }
      stale.append((id, fields[2]))
    }
    report.killedOrphans += stale.map(\.1)
    if !report.dryRun, !stale.isEmpty { _ = try await send(c, stale.map { .killSession($0.0) }) }
  }

  /// Kills every session of a workspace (as when an app deletes a workspace).
  public func closeWorkspace(_ workspace: String) async throws(BerthError) -> [SessionView] {
    let listing = try await list()
    let members = listing.views.filter { $0.tracked && $0.workspace == workspace }
    guard !members.isEmpty else {
      throw .notFound("no session belongs to workspace '\(TerminalText.sanitize(workspace))'")
    }
    return try await kill(members)
  }
}
