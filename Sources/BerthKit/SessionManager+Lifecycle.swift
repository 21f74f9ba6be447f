import BerthCore
import BerthStore
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

// Lifecycle: create, attach (the bookkeeping around the hand-off), recreate, detach, kill.
extension SessionManager {
  // MARK: Creating

  /// Creates a managed session (record first, then tmux; the record is removed again if tmux
  /// refuses). An existing id is an error that suggests `attach`.
  public func create(_ request: CreateRequest) async throws(BerthError) -> SessionView {
    var id = request.id ?? ""
    if request.id == nil { id = try await readableId(for: request) }
    try SessionIDs.validate(id)
    if let name = request.name { try Self.validateLabel(name, what: "name") }
    if let w = request.workspace { try Self.validateLabel(w, what: "workspace") }
    for t in request.tags { try Self.validateLabel(t, what: "tag") }
    // A remote host's directories are the remote tmux's to check, once its home is known.
    var cwd = context.host == nil ? try resolveDirectory(request.cwd) : ""
    let tmuxName = settings.prefix + id
    if try storeCall({ try $0.record(id: id) }) != nil {
      throw .exists("a session with id '\(id)' already exists: use 'berth attach \(id)'")
    }
    if let name = request.name,
      try storeCall({ try $0.allRecords() }).contains(where: { $0.metadata.customName == name })
    {
      throw .exists("another session is already named '\(TerminalText.sanitize(name))': choose another name")
    }
    if let w = request.workspace {
      // Count from a fresh listing: stored statuses may be stale (sessions that exited since).
      let alive = try await list().views.filter { $0.tracked && $0.workspace == w && $0.isAlive }.count
      if alive >= settings.workspaceLimit {
        throw .limit(
          "workspace '\(TerminalText.sanitize(w))' already has \(alive) live sessions (limit \(settings.workspaceLimit)): kill some or raise workspaceLimit"
        )
      }
      if alive + 1 > settings.workspaceWarnAt {
        context.warn(
          "workspace '\(TerminalText.sanitize(w))' now has \(alive + 1) live sessions (warning past \(settings.workspaceWarnAt))"
        )
      }
    }
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    var (has, options) = try await sessionNamesAndOptions(c)
    if context.host != nil {
      // No server there yet (a new host, or one just rebooted): its login says the home and
      // the shell (else the first session would get /bin/sh, not the user's shell).
      if options.home == nil, options.shell == nil, request.shell == nil {
        (options.home, options.shell) = await remoteLogin()
      }
      cwd = try await remoteDirectory(request.cwd, home: options.home)
    }
    if has.contains(tmuxName) {
      throw .exists(
        "tmux already has a session named '\(tmuxName)' that berth does not track: 'berth adopt \(id)' or 'berth attach \(id)'"
      )
    }
    // The shell tmux would run for the user (their `default-shell`), else $SHELL.
    let shell =
      request.shell ?? options.defaultShell ?? options.shell
      ?? context.environment["SHELL"].flatMap { $0.isEmpty || context.host != nil ? nil : $0 } ?? "/bin/sh"
    let now = context.now()
    let size = request.size ?? (80, 24)
    let record = SessionRecord(
      id: id, tmuxSessionName: tmuxName, workspaceId: request.workspace, createdAt: now, cwd: cwd,
      status: .detached, cols: size.cols, rows: size.rows, shell: shell,
      metadata: SessionMetadata(customName: request.name, tags: Self.uniqueTags(request.tags)),
      tmuxSocket: context.socketPath, lastSeenAt: now,
      command: request.command.isEmpty ? nil : request.command)
    do {
      try store.insert(record)
    } catch StoreError.duplicateId {
      throw .exists("a session with id '\(id)' already exists: use 'berth attach \(id)'")
    } catch {
      throw .database("\(error)")
    }
    do {
      let created = try await startTmuxSession(
        c, record: record, shell: request.shell, command: request.command, options: options)
      // Hooks save snapshots on detach; a first snapshot now (of this session only).
      try? await installHooks(on: c)
      _ = try? store.update(id: id) { $0.tmuxSessionId = created.description }
      _ = try? await snapshotAll(only: [id])
    } catch {
      _ = try? store.delete(id: id)
      throw error
    }
    return try await view(id: id)
  }

  /// What berth reads of the user's tmux settings before it creates sessions.
  struct UserTmuxOptions: Sendable {
    /// The global `history-limit` (nil when unreadable).
    var historyLimit: Int?
    /// `default-shell` when it names an executable file.
    var defaultShell: String?
    /// `default-command` when set (not empty).
    var defaultCommand: String?
    /// A remote server's `HOME` and `SHELL` (its global environment): where its sessions
    /// start and what they run when nothing else is asked for. nil on this machine.
    var home: String?
    var shell: String?
  }

  /// The server's session names and the user's settings, in one round trip.
  func sessionNamesAndOptions(_ c: CommandClient) async throws(BerthError) -> ([String], UserTmuxOptions) {
    let replies = try await send(
      c,
      [
        .listSessions(format: "#{session_name}"), .showOptionValue("history-limit", global: true),
        .showOptionValue("default-shell", global: true), .showOptionValue("default-command", global: true),
      ] + (context.host == nil ? [] : [Self.globalEnvironment("HOME"), Self.globalEnvironment("SHELL")]))
    func value(_ r: CommandReply) -> String? {
      guard !r.isError else { return nil }
      let v = r.text.trimmingCharacters(in: .whitespaces)
      return v.isEmpty ? nil : v
    }
    // A remote path cannot be checked here: absolute is enough (tmux checks it there).
    let remote = context.host != nil
    let shell = value(replies[2]).flatMap { path in
      path.hasPrefix("/") && (remote || FileManager.default.isExecutableFile(atPath: path)) ? path : nil
    }
    var options = UserTmuxOptions(
      historyLimit: value(replies[1]).flatMap { Int($0) }, defaultShell: shell,
      defaultCommand: value(replies[3]))
    if remote, replies.count == 6 {
      func env(_ r: CommandReply, _ name: String) -> String? {
        guard !r.isError, let line = r.textLines.first, line.hasPrefix(name + "=") else { return nil }
        let v = String(line.dropFirst(name.count + 1))
        return v.hasPrefix("/") ? v : nil
      }
      options.home = env(replies[4], "HOME")
      options.shell = env(replies[5], "SHELL")
    }
    return (replies[0].isError ? [] : replies[0].textLines, options)
  }

  /// `show-environment -g NAME`.
  static func globalEnvironment(_ name: String) -> TmuxCommand {
    TmuxCommand([.word("show-environment"), .word("-g"), .value(name)])
  }

  /// The options berth sets on each of its sessions in the batch that creates it, targeted
  /// by exact name (`=NAME:`), so the user's options cannot end it before berth looks:
  /// `destroy-unattached` would kill a session nobody is attached to at once.
  static func protectiveOptions(sessionNamed name: String) -> [TmuxCommand] {
    [TmuxCommand([.word("set-option"), .word("-t"), .value("=\(name):"), .value("destroy-unattached"), .value("off")])]
  }

  /// tmux before 3.3 sizes a detached `new-session -x/-y` (and windows made while the
  /// command's client is there) from that client, not from what was asked: resizing the
  /// window in the same batch, then giving it back the user's `window-size`, leaves it at
  /// the size asked for until a terminal attaches (later tmux needs nothing).
  func sizeFix(window target: CommandWord, cols: Int, rows: Int) throws(BerthError) -> [TmuxCommand] {
    guard try tmux().version < TmuxVersion(major: 3, minor: 3), cols > 0, rows > 0 else { return [] }
    return [
      TmuxCommand([
        .word("resize-window"), .word("-t"), target, .word("-x"), .value(String(cols)), .word("-y"),
        .value(String(rows)),
      ]),
      TmuxCommand([.word("set-option"), .word("-uw"), .word("-t"), target, .value("window-size")]),
    ]
  }

  /// The scrollback to give berth's panes: berth's setting, or the user's global value when
  /// that is larger (berth never lowers it). nil when the global value is already enough.
  func raisedHistoryLimit(_ options: UserTmuxOptions) -> Int? {
    let wanted = settings.historyLimit
    if let current = options.historyLimit, current >= wanted { return nil }
    return wanted
  }

  /// Starts the tmux side of a record; returns the new session's id, once tmux has shown
  /// that it still exists.
  func startTmuxSession(
    _ c: CommandClient, record: SessionRecord, shell: String?, command: [String],
    environment: [(String, String)] = [], options known: UserTmuxOptions? = nil
  ) async throws(BerthError) -> TargetID {
    var options: UserTmuxOptions
    if let known { options = known } else { options = try await sessionNamesAndOptions(c).1 }
    var argv = command
    var env = [("BERTH_SESSION_ID", record.id)] + environment
    if argv.isEmpty {
      // berth starts the shell itself so the session keeps its own history file; the user's
      // `default-command` (unless a shell was asked for) runs inside that set-up.
      let launch = shellLaunch(
        shell: shell ?? record.shell, sessionId: record.id, stateDirectory: context.stateDirectory,
        userZdotdir: context.environment["ZDOTDIR"], command: shell == nil ? options.defaultCommand : nil)
      try writeShellFiles(launch.files)
      argv = launch.argv
      env += launch.environment
    }
    // A pane takes its scrollback size when it is created, so the first pane needs the global
    // value set around new-session (then put back); later windows use the session's option.
    // Only when berth's value is larger than the user's.
    let raised = raisedHistoryLimit(options)
    var batch: [TmuxCommand] = []
    if let raised { batch.append(.setOption("history-limit", value: String(raised), global: true)) }
    let createIndex = batch.count
    batch.append(
      .newSession(
        name: record.tmuxSessionName, directory: record.cwd.isEmpty ? nil : record.cwd, width: record.cols,
        height: record.rows,
        environment: env, command: argv, printFormat: "#{session_id}"))
    if raised != nil, let previous = options.historyLimit {
      batch.append(.setOption("history-limit", value: String(previous), global: true))
    }
    batch += Self.protectiveOptions(sessionNamed: record.tmuxSessionName)
    batch += try sizeFix(window: .value("=\(record.tmuxSessionName):"), cols: record.cols, rows: record.rows)
    if let raised {
      batch.append(
        TmuxCommand([
          .word("set-option"), .word("-t"), .value("=\(record.tmuxSessionName):"), .value("history-limit"),
          .value(String(raised)),
        ]))
    }
    let reply = try await send(c, batch)[createIndex]
    guard !reply.isError, let id = TargetID(reply.text.trimmingCharacters(in: .whitespaces)) else {
      throw .failed("tmux could not create the session: \(TerminalText.sanitize(reply.text))")
    }
    // A session running a command may end as quickly as its command does: only shells are
    // checked.
    guard command.isEmpty else { return id }
    let check = try await send(c, [.displayMessage(format: "#{session_id}", target: id)])[0]
    guard !check.isError, check.text.trimmingCharacters(in: .whitespaces) == id.description else {
      throw .failed(
        "tmux ended the session \(record.tmuxSessionName) right after creating it: check your tmux.conf's hooks and options (destroy-unattached)"
      )
    }
    return id
  }

  /// The current view of one tracked session.
  public func view(id: String) async throws(BerthError) -> SessionView {
    let listing = try await list()
    guard let v = listing.views.first(where: { $0.id == id && !$0.foreign }) else {
      throw .notFound("session '\(id)' vanished right after it was created: see 'berth list'")
    }
    return v
  }

  // MARK: Attaching

  /// Prepares the hand-off to tmux for a target: resolves it; recreates a dead session in
  /// its cwd; adopts an orphan; with `create`, makes a missing session with the target as id.
  public func prepareAttach(target: String, create: CreateRequest?) async throws(BerthError) -> AttachPlan {
    var notice: String?
    var view: SessionView
    do {
      // Get-or-create by a client-given id must be exact: a prefix of another id is a new session.
      let listing = try await list(includeForeign: true)
      view = try TargetResolver.resolve(target, in: listing.views, allowPrefix: create == nil)
    } catch .notFound(let message) {
      guard var request = create else { throw .notFound(message) }
      request.id = target
      view = try await self.create(request)
    }
    if view.orphan {
      view = try await adopt(view)
      notice = "adopted \(view.tmuxSession)"
    } else if view.status == .dead {
      // The same snapshot restore as `berth restore` (windows, panes, layout, directories).
      (view, notice) = try await restoreForAttach(view)
    }
    guard let tmuxId = view.tmuxId else { throw .failed("session \(view.id) has no tmux id") }
    let install = try tmux()
    if view.tracked {
      _ = try? store.update(id: view.id) { $0.lastAttachedAt = self.context.now() }
    }
    let inside =
      context.host == nil && Self.insideSameServer(environment: context.environment, socketPath: context.socketPath)
    let argv: [String]
    if inside {
      argv = [install.path] + context.socket.arguments + ["switch-client", "-t", tmuxId]
    } else {
      // On a remote host: `ssh -t ... DEST 'tmux -u ... attach-session -t $N'` through the
      // host's master connection.
      argv = launcher.argv(
        [install.path, "-u"] + context.socket.arguments + ["attach-session", "-t", tmuxId], interactive: true)
    }
    return AttachPlan(argv: argv, session: view, switchesClient: inside, notice: notice, host: context.host?.name)
  }

  /// Whether berth runs inside a tmux client of the server it manages.
  public static func insideSameServer(environment: [String: String], socketPath: String) -> Bool {
    guard let tmux = environment["TMUX"], let first = tmux.split(separator: ",").first else { return false }
    return String(first) == socketPath
  }

  /// Recreates a dead tracked session with the same id in its last cwd (or $HOME).
  public func recreate(_ view: SessionView) async throws(BerthError) -> SessionView {
    guard let record = try storeCall({ try $0.record(id: view.id) }) else {
      throw .notFound("no record for '\(view.id)'")
    }
    guard let c = try await connection(startServer: true) else {
      throw .tmuxUnavailable("cannot start a tmux server on \(context.socketPath)")
    }
    var r = record
    if context.host == nil, !Self.isDirectory(r.cwd) {
      context.warn(
        "the directory \(TerminalText.sanitize(r.cwd)) no longer exists: starting in \(context.homeDirectory)")
      r.cwd = context.homeDirectory
    }
    // The same shell it had (a `--shell` choice included), not whatever tmux defaults to now;
    // the user's default-command too when it is the default shell.
    let options = try await sessionNamesAndOptions(c).1
    let defaultShell = options.defaultShell ?? context.environment["SHELL"]
    let id = try await startTmuxSession(
      c, record: r, shell: r.shell == defaultShell ? nil : r.shell, command: r.command ?? [], options: options)
    try? await installHooks(on: c)
    let now = context.now()
    _ = try storeCall { store in
      try store.update(id: r.id) {
        $0.status = .detached
        $0.endReason = nil
        $0.endedAt = nil
        $0.tmuxSessionId = id.description
        $0.tmuxSocket = self.context.socketPath
        $0.lastSeenAt = now
        $0.cwd = r.cwd
      }
    }
    return try await self.view(id: r.id)
  }

  // MARK: Other operations

  /// Detaches every client of a session.
  public func detach(target: String) async throws(BerthError) -> SessionView {
    let v = try await resolve(target)
    guard let id = v.tmuxId.flatMap({ TargetID($0) }), v.isAlive else {
      throw .failed("\(TerminalText.sanitize(v.displayName)) is not running: nothing to detach")
    }
    guard let c = try await connection(startServer: false) else { throw .tmuxUnavailable("no tmux server") }
    if v.clients > 0 { try await sendChecked(c, .detachClients(of: id)) }
    if v.tracked {
      _ = try? store.update(id: v.id) {
        $0.lastDetachedAt = self.context.now(); $0.status = .detached
      }
      // Saved here, not left to the detach hook: the hook runs for the control client's own
      // hidden session, not for the one detached.
      _ = try? await snapshotAll(only: [v.id])
    }
    return v
  }

  /// Detaches every client of every managed session (the seed's "detach all" on app close).
  public func detachAll() async throws(BerthError) -> [SessionView] {
    let listing = try await list()
    guard let c = try await connection(startServer: false) else { return [] }
    let attached = listing.views.filter { $0.tracked && $0.status == .attached }
    let commands = attached.compactMap { $0.tmuxId.flatMap(TargetID.init).map(TmuxCommand.detachClients(of:)) }
    _ = try await send(c, commands)
    let now = context.now()
    _ = try storeCall { store in
      try store.updateMany(
        attached.map { v in
          (
            id: v.id,
            mutate: {
              $0.status = .detached; $0.lastDetachedAt = now
            }
          )
        })
    }
    return attached
  }

  /// Kills sessions (one batch). Tracked sessions become dead with reason `killed`, so no
  /// restore brings them back; foreign sessions are refused.
  public func kill(_ views: [SessionView]) async throws(BerthError) -> [SessionView] {
    if let foreign = views.first(where: { $0.foreign }) {
      throw .usage(
        "'\(TerminalText.sanitize(foreign.tmuxSession))' is not managed by berth: kill it with tmux itself if you mean it"
      )
    }
    let alive = views.filter { $0.isAlive }
    if !alive.isEmpty, let c = try await connection(startServer: false) {
      let commands = alive.compactMap { $0.tmuxId.flatMap(TargetID.init).map(TmuxCommand.killSession) }
      _ = try await send(c, commands)
    }
    let now = context.now()
    let tracked = views.filter(\.tracked)
    _ = try storeCall { store in
      try store.updateMany(
        tracked.map { v in
          (
            id: v.id,
            mutate: {
              if $0.status != .dead || $0.endReason != .killed { $0.endedAt = now }
              $0.status = .dead
              $0.endReason = .killed
              $0.tmuxSessionId = nil
            }
          )
        })
    }
    return views
  }

  /// Sets or clears (nil) a session's custom name.
}
