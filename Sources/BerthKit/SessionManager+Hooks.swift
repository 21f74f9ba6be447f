import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Hooks and autosave: the global detach hook and the server-owned autosave chain.
extension SessionManager {
  // MARK: Hooks and autosave

  /// The shell command tmux runs to save snapshots (absolute paths, quoted for sh).
  func snapshotShellCommand(schedule token: String? = nil) -> String? {
    guard let exe = context.executablePath else { return nil }
    var argv = [exe, "snapshot", "--quiet", "-S", context.socketPath, "--db", context.databasePath]
    // The detach hook's saves coalesce (see `berth snapshot --coalesce`); the timer's do not.
    argv += token.map { ["--schedule", $0] } ?? ["--coalesce"]
    return ShellQuote.join(argv)
  }

  /// The global hook berth saves snapshots from: `client-detached` at an index of this
  /// database's own (a user's hooks, at [0] and up, stay; another database on the same
  /// server has another index).
  func snapshotHookName() -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in context.databasePath.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return "client-detached[\(1000 + hash % 9000)]"
  }

  /// Sets the server's `client-detached` hook that saves snapshots when a terminal detaches
  /// from one of berth's sessions, and makes sure the server runs the periodic autosave.
  ///
  /// One global hook, not one per session: every set-hook makes tmux refresh every session,
  /// so one per session cost a restore of 500 sessions 170 ms. The hook checks the session's
  /// name (berth's prefix) and the client: control clients (berth's own, named client-PID)
  /// must not save, or each snapshot's own connection, when it goes, would start the next
  /// one. (Older berth versions set the same hook on each session; those go with their
  /// sessions.)
  func installHooks(on c: CommandClient) async throws(BerthError) {
    guard let shell = snapshotShellCommand() else { return }
    let hook: String
    do {
      let save = try TmuxCommand([.word("run-shell"), .word("-b"), .formatExpanded(shell)]).encoded()
      let realClientOnBerthSession =
        "#{&&:#{m:\(settings.prefix)*,#{session_name}},#{?#{m:client-*,#{hook_client}},0,1}}"
      hook = try TmuxCommand([
        .word("if-shell"), .word("-F"), .value(realClientOnBerthSession), .value(save), .value(""),
      ]).encoded()
    } catch {
      return
    }
    _ = try await send(c, [.setHook(snapshotHookName(), command: hook)])
    try await ensureAutosave(on: c)
  }

  /// Starts the server-owned autosave chain unless one is running: `run-shell -b -d SECONDS`
  /// re-arms itself from `berth snapshot --schedule TOKEN` while the server option
  /// `@berth-autosave` still names that token, so it lives and dies with the tmux server and
  /// needs neither a daemon nor the status line.
  public func ensureAutosave(on c: CommandClient? = nil) async throws(BerthError) {
    guard context.executablePath != nil else { return }
    guard let conn = try await (c == nil ? connection(startServer: false) : c) else { return }
    let now = context.now().timeIntervalSince1970
    let interval = Double(max(1, settings.snapshotIntervalMinutes) * 60)
    let current = try await send(conn, [.showOptionValue("@berth-autosave", scope: .server)])[0]
    let parts = current.isError ? [] : current.text.split(separator: " ")
    if parts.count == 2, let due = Double(parts[1]), due > now - interval {
      return  // a chain is alive
    }
    try await scheduleAutosave(token: SessionIDs.newUUID(), on: conn)
  }

  /// Arms the next autosave for `token` (called by `berth snapshot --schedule TOKEN`).
  public func scheduleAutosave(token: String, on c: CommandClient? = nil) async throws(BerthError) {
    guard let shell = snapshotShellCommand(schedule: token) else { return }
    guard let conn = try await (c == nil ? connection(startServer: false) : c) else { return }
    let seconds = max(1, settings.snapshotIntervalMinutes) * 60
    let due = Int(context.now().timeIntervalSince1970) + seconds
    _ = try await send(
      conn,
      [
        .setOption("@berth-autosave", value: "\(token) \(due)", scope: .server),
        TmuxCommand([.word("run-shell"), .word("-b"), .word("-d"), .value(String(seconds)), .formatExpanded(shell)]),
      ])
  }

  /// Whether `token` is still the server's autosave chain (a newer chain replaces older ones).
  public func autosaveTokenIsCurrent(_ token: String) async throws(BerthError) -> Bool {
    guard let c = try await connection(startServer: false) else { return false }
    let current = try await send(c, [.showOptionValue("@berth-autosave", scope: .server)])[0]
    return !current.isError && current.text.split(separator: " ").first.map(String.init) == token
  }
}
