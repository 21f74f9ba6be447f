import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// The session lifecycle: tmux through ordinary command clients (`CommandClient`), one per
/// batch, metadata in SQLite.
///
/// Every operation targets tmux sessions by id (`$N`), never by a prefix-matchable name, and
/// every list is one batch in one client.
public actor SessionManager {
  public nonisolated let context: BerthContext
  /// `context.socketPath`, worked out once (a listing compares it with every record).
  nonisolated let serverKey: String
  public nonisolated let store: MetadataStore
  private var install: TmuxInstall?
  /// The remote host's link and launcher (nil on this machine).
  nonisolated let link: SSHLink?
  public nonisolated let launcher: TmuxLauncher
  /// The settings in effect: the context's, until the panel's settings screen saves new ones.
  public private(set) var settings: BerthSettings

  /// Whether a remote host's due snapshot is taken after a listing returns rather than
  /// before (set by live views, which outlive it; a one-shot command would exit first).
  private(set) var snapshotsAfterListing = false

  /// Live views call this: see `snapshotsAfterListing`.
  public func takeSnapshotsAfterListing() { snapshotsAfterListing = true }

  /// A tmux client started with the manager for its first look (see `init`'s `lookAhead`).
  private var earlyLook: CommandClient.EarlyClient?
  /// The field separator of the listing the early client runs.
  private var earlySeparator: String?
  /// On another host, the early client waits for the master connection: `prepareTmux`
  /// starts it (the listing for views or not), once.
  private var remoteLookAhead: Bool?

  /// With `lookAhead`, the manager starts the tmux client of its first look (a listing)
  /// before it opens the database, with the listing's own commands on its command line: tmux
  /// lists the panes while the database opens and the records are read, and the rest of
  /// the batch (the previews, which need the records) follows when the listing sends it.
  /// For one-shot commands that list first (`berth list`); with no server running here,
  /// nothing is started. On another host it starts once the master connection is up (see
  /// `prepareTmux`), so the host's sshd, shell and tmux start while the records are read.
  /// Its listing is `list`'s (for views, here the foreground names left to /proc): a first
  /// look that asks anything else starts its own client.
  /// `store`: a database already open (several hosts' managers in one process share it).
  /// `lookAheadForViews: false`: the listing a snapshot asks for (window names, layouts).
  public init(
    context: BerthContext, lookAhead: Bool = false, lookAheadForViews: Bool = true, store shared: MetadataStore? = nil
  ) throws(BerthError) {
    self.context = context
    self.serverKey = context.socketPath
    self.settings = context.settings
    if lookAhead, context.host == nil, ServerProbe.check(socketPath: serverKey) == .running,
      let found = try? TmuxInstall.locate(
        environment: context.environment, versionCache: context.stateDirectory + "/tmux-version")
    {
      install = found
      let separator = CommandBatch.randomMarker()
      earlySeparator = separator
      earlyLook = Self.startEarlyListing(
        install: found, context: context, launcher: .local, separator: separator, forViews: lookAheadForViews)
    }
    if lookAhead, context.host != nil { remoteLookAhead = lookAheadForViews }
    if let host = context.host {
      let l = SSHLink(host: host, runtimeDirectory: try context.runtimeDirectory(), environment: context.environment)
      link = l
      launcher = l.launcher
    } else {
      link = nil
      launcher = .local
    }
    do {
      store = try shared ?? MetadataStore(path: context.databasePath, messages: context.warn)
      if shared == nil { Trace.mark("database open") }
    } catch {
      earlyLook?.cancel()
      throw .database("\(error)")
    }
  }

  /// The separator for a listing: the early client's while it has not been taken.
  func listingSeparator() -> String {
    earlyLook != nil ? earlySeparator ?? CommandBatch.randomMarker() : CommandBatch.randomMarker()
  }

  /// The early client, once.
  func takeEarlyLook() -> CommandClient.EarlyClient? {
    defer { earlyLook = nil }
    return earlyLook
  }

  /// A listing's tmux client started before the rest of its batch is known (see `init`'s
  /// `lookAhead`): the listing's own groups on its command line, the foreground names left
  /// to /proc here and asked of tmux on another host.
  static func startEarlyListing(
    install: TmuxInstall, context: BerthContext, launcher: TmuxLauncher, separator: String, forViews: Bool
  ) -> CommandClient.EarlyClient? {
    CommandClient(
      install: install, socket: context.socket, environment: context.environment, startServer: false,
      launcher: launcher
    ).startEarly(
      leading: listingGroups(separator: separator, currentCommand: launcher.isRemote, forViews: forViews))
  }

  /// Whether (and for which listing) a remote early client is still to be started, once.
  func takeRemoteLookAhead() -> Bool? {
    defer { remoteLookAhead = nil }
    return remoteLookAhead
  }

  /// Keeps the early client a remote host's `prepareTmux` started.
  func keepEarlyLook(_ early: CommandClient.EarlyClient?, separator: String) {
    guard let early else { return }
    earlyLook?.cancel()
    earlyLook = early
    earlySeparator = separator
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
    if let link {
      let found = try Self.remoteInstall(link)
      install = found
      return found
    }
    do {
      let found = try TmuxInstall.locate(
        environment: context.environment, versionCache: context.stateDirectory + "/tmux-version")
      install = found
      return found
    } catch {
      throw Self.map(error)
    }
  }

  /// Whether the tmux is known already (a remote host's is found once per manager).
  var hasInstall: Bool { install != nil }

  /// Keeps the tmux found for this context.
  func remember(_ found: TmuxInstall) { install = found }

  /// The one-shot client for this server: every batch is an ordinary tmux command client
  /// (`CommandClient`), never a control client, so nothing is created on the server and no
  /// other client is told anything but what the commands themselves change. With
  /// `startServer: false` and no server running, nil: nothing is started just to look. With
  /// `startServer: true`, the batch that creates a session starts the server if none runs.
  public func connection(startServer: Bool) async throws(BerthError) -> CommandClient? {
    let install = try await prepareTmux()
    if link != nil {
      // A remote server is the remote tmux's to find: a batch on a server that is not
      // running is answered "no server" (`look` takes that as none), nothing is started.
      return CommandClient(
        install: install, socket: context.socket, environment: context.environment, startServer: startServer,
        launcher: launcher)
    }
    if !startServer {
      switch ServerProbe.check(socketPath: context.socketPath) {
      case .running: break
      case .notRunning: return nil
      case .permissionDenied(let detail):
        throw Self.map(.socketPermission(socket: context.socketPath, detail: detail))
      }
    }
    return CommandClient(
      install: install, socket: context.socket, environment: context.environment, startServer: startServer)
  }

  /// A control-mode connection for a live view (the panel): notifications and subscriptions.
  /// The caller owns it (a new one each call, separate from the one-shot client) and gives it
  /// back with `closeControlConnection`. With `startServer: false` and no server running (or
  /// one shutting down), nil. Connecting holds the server's `ServerLock`, so no other berth
  /// process's change is notified to it while it identifies.
  public func openControlConnection(startServer: Bool) async throws(BerthError) -> ControlConnection? {
    let install = try await prepareTmux()
    let lock = await ServerLock.acquire(socketPath: lockPath)
    defer { lock?.release() }
    var waitedForShutdown = false
    while true {
      do {
        return try await ControlConnection.open(
          install: install, socket: context.socket, environment: context.environment, startServer: startServer,
          launcher: launcher)
      } catch TmuxError.noServer where !startServer {
        return nil
      } catch TmuxError.serverShuttingDown where !startServer {
        // Its sessions are gone already: as good as no server for a look.
        return nil
      } catch TmuxError.serverShuttingDown where !waitedForShutdown {
        // To start one, wait (briefly) for the old one to go, then try once more.
        waitedForShutdown = true
        if link != nil { try? await Task.sleep(for: .milliseconds(500)) }
        for _ in 0..<30 where link == nil && ServerProbe.check(socketPath: context.socketPath) != .notRunning {
          try? await Task.sleep(for: .milliseconds(100))
        }
      } catch let e as TmuxError {
        throw Self.map(e)
      } catch {
        throw .failed("\(error)")
      }
    }
  }

  /// Ends a connection from `openControlConnection`: its hidden session goes with it, under
  /// the server's lock, so the session's end and the client's detach are notified to other
  /// berth control clients only while none of them is identifying.
  public func closeControlConnection(_ c: ControlConnection) async {
    let lock = await ServerLock.acquire(socketPath: lockPath)
    if c.end == nil, let hidden = c.hiddenSessionId {
      _ = try? await c.sendBatch(
        [.setOption("detach-on-destroy", value: "on", target: hidden), .killSession(hidden)], timeout: 2)
    }
    await c.close()
    // tmux notices our client is gone only after it exits, and tells other control clients
    // (`%client-detached`) then. A plain command answered after that means it has done so.
    if lock != nil {
      await Self.serverRoundTrip(
        install: c.install, socket: context.socket, environment: context.environment, launcher: launcher)
    }
    lock?.release()
  }

  /// Nothing to close any more: each one-shot batch is a client that has ended when it
  /// answers. Kept so callers can say they are done with the manager.
  public func close() async {}

  /// Runs `tmux display-message -p ''` as a plain (non-control) client on its own thread.
  static func serverRoundTrip(
    install: TmuxInstall, socket: TmuxSocket, environment: [String: String], launcher: TmuxLauncher = .local
  ) async {
    let env = environment.filter { $0.key != "TMUX" }
    let argv = launcher.argv([install.path, "-N"] + socket.arguments + ["display-message", "-p", ""])
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      Thread {
        _ = try? Spawn.run(argv, environment: env, timeout: 2)
        done.resume()
      }.start()
    }
  }

  // MARK: Helpers

  /// Whether a record belongs to this context's server. Records are keyed by where their
  /// server is (`tmuxSocket`: the socket file here, `host:NAME ...` for a remote host's), so a
  /// host's records are never reconciled against another host's server; records from before
  /// the key was kept are this machine's.
  func isOnThisServer(_ r: SessionRecord) -> Bool {
    r.tmuxSocket == serverKey || (r.tmuxSocket == nil && context.host == nil)
  }

  /// The file the server's `ServerLock` is next to: the socket here; for a remote host, a
  /// name in berth's runtime directory (the lock guards this machine's berth processes
  /// against each other, which is what it is for).
  var lockPath: String {
    guard let host = context.host else { return context.socketPath }
    guard let dir = try? context.runtimeDirectory() else { return "" }
    return dir + "/tmux-" + host.name
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
    try Self.storeCall(store, body)
  }

  /// `storeCall` on a given store (for work done off the actor).
  static func storeCall<T>(_ store: MetadataStore, _ body: (MetadataStore) throws -> T) throws(BerthError) -> T {
    do {
      return try body(store)
    } catch let e as BerthError {
      throw e
    } catch {
      throw .database("\(error)")
    }
  }

  /// Runs a batch through the one-shot client (one tmux process). A batch that changes
  /// something holds the server's `ServerLock` while it runs: what it changes is notified to
  /// the control clients (the panel's) before the client answers, and none of berth's may be
  /// identifying then. A batch that only looks notifies nobody and takes no lock.
  func send(_ c: CommandClient, _ commands: [TmuxCommand]) async throws(BerthError) -> [CommandReply] {
    try await send(c, groups: commands.map { [$0] })
  }

  /// `send` on a server that may not be running: nil when none answers (or it is going).
  /// Locally `connection(startServer: false)` has found that out already; on another host the
  /// client is made without asking, and its first batch is what finds no server there.
  func sendIfRunning(_ c: CommandClient, _ commands: [TmuxCommand]) async throws(BerthError) -> [CommandReply]? {
    do {
      return try await sendLocked(c, groups: commands.map { [$0] })
    } catch {
      if let failure = Self.lookFailure(error) { throw failure }
      return nil
    }
  }

  /// `send` with one reply per group of commands (one marker each).
  func send(_ c: CommandClient, groups: [[TmuxCommand]]) async throws(BerthError) -> [CommandReply] {
    do {
      return try await sendLocked(c, groups: groups)
    } catch let e as TmuxError {
      throw Self.map(e)
    } catch {
      throw .failed("\(error)")
    }
  }

  /// The batch, under the server's lock unless every command only looks (see `send`).
  private func sendLocked(_ c: CommandClient, groups: [[TmuxCommand]]) async throws -> [CommandReply] {
    let lock =
      groups.allSatisfy { $0.allSatisfy(Self.isReadOnly) } ? nil : await ServerLock.acquire(socketPath: lockPath)
    defer { lock?.release() }
    return try await c.sendGroups(groups)
  }

  /// Commands that change nothing in tmux, so notify nobody.
  static func isReadOnly(_ command: TmuxCommand) -> Bool {
    guard case .word(let name) = command.words.first else { return false }
    return [
      "list-panes", "list-clients", "list-sessions", "list-windows", "capture-pane", "display-message",
      "show-options", "show-environment", "has-session", "show-hooks", "list-windows", "list-buffers",
    ].contains(name)
  }

  func sendChecked(_ c: CommandClient, _ command: TmuxCommand) async throws(BerthError) {
    let reply = try await send(c, [command])[0]
    if reply.isError { throw .failed("tmux: \(TerminalText.sanitize(reply.text))") }
  }

  static func map(_ e: TmuxError) -> BerthError {
    switch e {
    case .notInstalled, .tooOld, .versionMismatch: return .tmuxUnavailable(e.description)
    case .encoding: return .usage(e.description)
    case .hostUnreachable(_, let detail): return .hostUnreachable(detail)
    default: return .failed(e.description)
    }
  }
}
