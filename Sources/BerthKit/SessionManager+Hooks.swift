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

  /// The shell command tmux runs to save snapshots (absolute paths, quoted for sh). It does
  /// nothing visible when berth has been moved or removed since (tmux would otherwise show
  /// `run-shell`'s error over the user's pane), and its output goes nowhere.
  func snapshotShellCommand(schedule token: String? = nil) -> String? {
    // No berth runs on a remote host: this machine saves its snapshots (`snapshotRemoteIfDue`).
    guard context.host == nil, let exe = context.executablePath else { return nil }
    var argv = [exe, "snapshot", "--quiet", "-S", context.socketPath, "--db", context.databasePath]
    // The detach hook's saves coalesce (see `berth snapshot --coalesce`); the timer's do not.
    argv += token.map { ["--schedule", $0] } ?? ["--coalesce"]
    return "if [ -x \(ShellQuote.quote(exe)) ]; then exec \(ShellQuote.join(argv)) >/dev/null 2>&1; fi"
  }

  /// The index of this database's own global hooks (a user's hooks, at [0] and up, stay;
  /// another database on the same server has another index).
  func hookIndex() -> UInt32 {
    var hash: UInt32 = 2_166_136_261
    for byte in context.databasePath.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return 1000 + hash % 9000
  }

  /// The global hook berth saves snapshots from: `client-detached` at berth's index.
  func snapshotHookName() -> String { "client-detached[\(hookIndex())]" }

  /// The global hook that takes berth's hooks and timer away when its last session ends.
  func cleanupHookName() -> String { "session-closed[\(hookIndex())]" }

  /// What removes every trace of berth from the server's options: both hooks and the timer's
  /// option (a timer already armed runs once more and, finding no chain, does nothing).
  func uninstallCommands() -> [TmuxCommand] {
    [
      TmuxCommand([.word("set-hook"), .word("-gu"), .value(snapshotHookName())]),
      TmuxCommand([.word("set-hook"), .word("-gu"), .value(cleanupHookName())]),
      TmuxCommand([.word("set-option"), .word("-su"), .value("@berth-autosave")]),
    ]
  }

  /// Sets the server's `client-detached` hook that saves snapshots when a terminal detaches
  /// from one of berth's sessions, the `session-closed` hook that removes both (and the
  /// autosave timer) when the last of berth's sessions ends, and makes sure the server runs
  /// the periodic autosave.
  ///
  /// One global hook, not one per session: every set-hook makes tmux refresh every session,
  /// so one per session cost a restore of 500 sessions 170 ms. The hook checks the session's
  /// name (berth's prefix) and the client: control clients (the panel's and serve's, named
  /// client-PID from tmux 3.3 on) must not save. tmux 3.2a has no `#{hook_client}`: there
  /// the test is always true, which costs one save when a panel or `berth serve` leaves; the
  /// one-shot commands are ordinary command clients, which attach nowhere and so never
  /// detach. (Older berth versions set the same hook on each session; those go with their
  /// sessions.)
  func installHooks(on c: CommandClient) async throws(BerthError) {
    guard let shell = snapshotShellCommand() else { return }
    let hook: String
    let cleanup: String
    do {
      let save = try TmuxCommand([.word("run-shell"), .word("-b"), .formatExpanded(shell)]).encoded()
      let realClientOnBerthSession =
        "#{&&:#{m:\(settings.prefix)*,#{session_name}},#{?#{m:client-*,#{hook_client}},0,1}}"
      hook = try TmuxCommand([
        .word("if-shell"), .word("-F"), .value(realClientOnBerthSession), .value(save), .value(""),
      ]).encoded()
      let uninstall = try uninstallCommands().map { try $0.encoded() }.joined(separator: " ; ")
      let noBerthSessionLeft = "#{==:#{S:#{?#{m:\(settings.prefix)*,#{session_name}},1,}},}"
      cleanup = try TmuxCommand([
        .word("if-shell"), .word("-F"), .value(noBerthSessionLeft), .value(uninstall), .value(""),
      ]).encoded()
    } catch {
      return
    }
    _ = try await send(c, [.setHook(snapshotHookName(), command: hook), .setHook(cleanupHookName(), command: cleanup)])
    try await ensureAutosave(on: c)
  }

  /// Removes berth's hooks and autosave timer from the server (`berth uninstall-hooks`).
  /// Returns false when no server is running (nothing to remove).
  public func uninstallHooks() async throws(BerthError) -> Bool {
    guard let c = try await connection(startServer: false) else { return false }
    return try await sendIfRunning(c, uninstallCommands()) != nil
  }

  /// Whether any session on the server carries berth's prefix.
  func berthSessionsExist(on c: CommandClient) async throws(BerthError) -> Bool {
    let reply = try await send(c, [.listSessions(format: "#{session_name}")])[0]
    return !reply.isError && reply.textLines.contains { $0.hasPrefix(settings.prefix) }
  }

  /// Starts the server-owned autosave chain unless one is running: `run-shell -b -d SECONDS`
  /// re-arms itself from `berth snapshot --schedule TOKEN` while the server option
  /// `@berth-autosave` still names that token, so it lives and dies with the tmux server and
  /// needs neither a daemon nor the status line.
  /// With `seen` (what a snapshot just read in its own batch), nothing is asked again unless a
  /// chain must be started.
  public func ensureAutosave(on c: CommandClient? = nil, seen: AutosaveState? = nil) async throws(BerthError) {
    // No timer on a remote host (no berth runs there: this machine saves its snapshots).
    guard context.host == nil, context.executablePath != nil else { return }
    if let seen, !seen.berthSessionsExist || autosaveIsAlive(seen.chain) { return }
    guard let conn = try await (c == nil ? connection(startServer: false) : c) else { return }
    // No timer on a server without berth's sessions.
    guard try await berthSessionsExist(on: conn) else { return }
    let current = try await send(conn, [.showOptionValue("@berth-autosave", scope: .server)])[0]
    if autosaveIsAlive(current.isError ? nil : current.text) { return }
    try await scheduleAutosave(token: SessionIDs.newUUID(), on: conn)
  }

  /// Whether `@berth-autosave`'s value (`TOKEN DUE`) names a chain that is still due.
  func autosaveIsAlive(_ chain: String?) -> Bool {
    let now = context.now().timeIntervalSince1970
    let interval = Double(max(1, settings.snapshotIntervalMinutes) * 60)
    let parts = chain?.split(separator: " ") ?? []
    guard parts.count == 2, let due = Double(parts[1]) else { return false }
    return due > now - interval
  }

  /// Arms the next autosave for `token` (called by `berth snapshot --schedule TOKEN`). With
  /// no berth session left on the server, the chain ends and berth's hooks go with it.
  public func scheduleAutosave(token: String, on c: CommandClient? = nil) async throws(BerthError) {
    guard let shell = snapshotShellCommand(schedule: token) else { return }
    guard let conn = try await (c == nil ? connection(startServer: false) : c) else { return }
    guard try await berthSessionsExist(on: conn) else {
      _ = try await send(conn, uninstallCommands())
      return
    }
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
