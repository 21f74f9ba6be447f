import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// The session lifecycle: tmux through one control connection, metadata in SQLite.
///
/// Every operation targets tmux sessions by id (`$N`), never by a prefix-matchable name, and
/// every list is one batched round trip on one connection.
public actor SessionManager {
  public nonisolated let context: BerthContext
  public nonisolated let store: MetadataStore
  private var install: TmuxInstall?
  private var connection: ControlConnection?
  /// The settings in effect: the context's, until the panel's settings screen saves new ones.
  public private(set) var settings: BerthSettings

  public init(context: BerthContext) throws(BerthError) {
    self.context = context
    self.settings = context.settings
    do {
      store = try MetadataStore(path: context.databasePath, messages: context.warn)
    } catch {
      throw .database("\(error)")
    }
  }

  /// Puts edited settings in effect for what this manager does next (new sessions, limits,
  /// snapshots, restores). The prefix stays: sessions already listed are named with it.
  public func updateSettings(_ new: BerthSettings) {
    var kept = new
    kept.prefix = settings.prefix
    settings = kept
  }

  /// The tmux found for this context (cached, and its version remembered between runs in
  /// the state directory), or why berth cannot use it.
  public func tmux() throws(BerthError) -> TmuxInstall {
    if let install { return install }
    do {
      let found = try TmuxInstall.locate(
        environment: context.environment, versionCache: context.stateDirectory + "/tmux-version")
      install = found
      return found
    } catch {
      throw Self.map(error)
    }
  }

  /// The control connection (opened on first use). With `startServer: false` and no server
  /// running, nil: nothing is started just to look.
  public func connection(startServer: Bool) async throws(BerthError) -> ControlConnection? {
    if let c = connection, c.end == nil { return c }
    let install = try tmux()
    let lock = await ServerLock.acquire(socketPath: context.socketPath)
    defer { lock?.release() }
    // Another call on this actor may have opened it while we waited (actor reentrancy): a
    // second connection would be dropped later without `close()`.
    if let c = connection, c.end == nil { return c }
    var waitedForShutdown = false
    while true {
      do {
        let c = try await ControlConnection.open(
          install: install, socket: context.socket, environment: context.environment, startServer: startServer)
        connection = c
        return c
      } catch TmuxError.noServer where !startServer {
        return nil
      } catch TmuxError.serverShuttingDown where !startServer {
        // Its sessions are gone already: as good as no server for a look.
        return nil
      } catch TmuxError.serverShuttingDown where !waitedForShutdown {
        // To start one, wait (briefly) for the old one to go, then try once more.
        waitedForShutdown = true
        for _ in 0..<30 where ServerProbe.check(socketPath: context.socketPath) != .notRunning {
          try? await Task.sleep(for: .milliseconds(100))
        }
      } catch let e as TmuxError {
        throw Self.map(e)
      } catch {
        throw .failed("\(error)")
      }
    }
  }

  /// A control-mode connection for a live view (the panel, `berth serve`): notifications and
  /// subscriptions. The caller owns it and gives it back with `closeControlConnection`.
  /// (For now the manager's own connection; one-shot work is moving to command clients.)
  public func openControlConnection(startServer: Bool) async throws(BerthError) -> ControlConnection? {
    try await connection(startServer: startServer)
  }

  /// Ends a connection from `openControlConnection` (its hidden session goes with it).
  public func closeControlConnection(_ c: ControlConnection) async {
    if c === connection { await close() } else { await c.close() }
  }

  /// Closes the control connection (its hidden session goes with it).
  public func close() async {
    if let c = connection {
      let lock = await ServerLock.acquire(socketPath: context.socketPath)
      // End our hidden session ourselves, so its destruction and our detach are notified while
      // we hold the lock, not after our client is gone (see `ServerLock`).
      if c.end == nil, let hidden = c.hiddenSessionId {
        _ = try? await c.sendBatch(
          [.setOption("detach-on-destroy", value: "on", target: hidden), .killSession(hidden)], timeout: 2)
      }
      await c.close()
      // tmux notices our client is gone only after it exits, and tells other control clients
      // (`%client-detached`) then. A plain command answered after that means it has done so.
      if lock != nil {
        await Self.serverRoundTrip(install: c.install, socket: context.socket, environment: context.environment)
      }
      lock?.release()
    }
    connection = nil
  }

  /// Runs `tmux display-message -p ''` as a plain (non-control) client on its own thread.
  static func serverRoundTrip(install: TmuxInstall, socket: TmuxSocket, environment: [String: String]) async {
    let env = environment.filter { $0.key != "TMUX" }
    let argv = [install.path] + socket.arguments + ["display-message", "-p", ""]
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      Thread {
        _ = try? Spawn.run(argv, environment: env, timeout: 2)
        done.resume()
      }.start()
    }
  }

  // MARK: Helpers

  func isOnThisServer(_ r: SessionRecord) -> Bool {
    r.tmuxSocket == nil || r.tmuxSocket == context.socketPath
  }

  func resolveDirectory(_ requested: String?) throws(BerthError) -> String {
    let raw = requested ?? FileManager.default.currentDirectoryPath
    if raw.contains("\n") || raw.contains("\r") || raw.contains("\0") {
      throw .usage("the directory name contains a line break: choose another directory")
    }
    // Taken as given, like tmux's -c: the shell has already expanded an unquoted `~`, so a
    // `~` that reaches berth was quoted and names a directory called `~`.
    var path = raw
    if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
    path = (path as NSString).standardizingPath
    guard Self.isDirectory(path) else {
      throw .usage("the directory '\(TerminalText.sanitize(raw))' does not exist: create it or pass another --cwd")
    }
    return path
  }

  static func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
  }

  static func validateLabel(_ s: String, what: String) throws(BerthError) {
    guard !s.isEmpty, s.count <= 200 else { throw .usage("the \(what) must be 1 to 200 characters long") }
    guard TerminalText.sanitize(s) == s else {
      throw .usage("the \(what) '\(TerminalText.sanitize(s))' contains control characters: remove them")
    }
  }

  static func uniqueTags(_ tags: [String]) -> [String] {
    var seen = Set<String>()
    return tags.filter { seen.insert($0).inserted }
  }

  func storeCall<T>(_ body: (MetadataStore) throws -> T) throws(BerthError) -> T {
    do {
      return try body(store)
    } catch let e as BerthError {
      throw e
    } catch {
      throw .database("\(error)")
    }
  }

  func send(_ c: ControlConnection, _ commands: [TmuxCommand]) async throws(BerthError) -> [ControlReply] {
    let lock = await ServerLock.acquire(socketPath: context.socketPath)
    defer { lock?.release() }
    do {
      let replies = try await c.sendBatch(commands)
      if !commands.allSatisfy(Self.isReadOnly) {
        // tmux queues the notifications a change causes and sends them on its next loop; one
        // more round trip lets them out while we still hold the lock (see `ServerLock`).
        _ = try await c.sendBatch([.displayMessage(format: "")])
      }
      return replies
    } catch let e as TmuxError {
      throw Self.map(e)
    } catch {
      throw .failed("\(error)")
    }
  }

  /// Commands that change nothing in tmux, so notify nobody.
  static func isReadOnly(_ command: TmuxCommand) -> Bool {
    guard case .word(let name) = command.words.first else { return false }
    return [
      "list-panes", "list-clients", "list-sessions", "list-windows", "capture-pane", "display-message",
      "show-options", "show-environment", "has-session",
    ].contains(name)
  }

  func sendChecked(_ c: ControlConnection, _ command: TmuxCommand) async throws(BerthError) {
    let reply = try await send(c, [command])[0]
    if reply.isError { throw .failed("tmux: \(TerminalText.sanitize(reply.text))") }
  }

  static func map(_ e: TmuxError) -> BerthError {
    switch e {
    case .notInstalled, .tooOld, .versionMismatch: return .tmuxUnavailable(e.description)
    case .encoding: return .usage(e.description)
    default: return .failed(e.description)
    }
  }
}
