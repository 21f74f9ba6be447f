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

  // MARK: Listing

  public struct Listing: Sendable {
    public var views: [SessionView]
    public var serverRunning: Bool
    public var serverVersion: String?
  }

  /// Every tracked session with its live status, plus orphans (and foreign sessions when
  /// asked), with the last `preview` lines of each live session's active pane. Two batched
  /// round trips at most (the list, then the captures); records that changed are saved in
  /// one transaction.
  public func list(preview: Int? = nil, includeForeign: Bool = false) async throws(BerthError) -> Listing {
    var listing = try await detailedList(preview: preview, includeForeign: includeForeign).listing
    Self.fillCommandLines(&listing.views)
    return listing
  }

  /// A listing with what it was built from: the live sessions tmux reported (berth's hidden
  /// ones left out) and the records of this server as stored after reconciling.
  struct DetailedListing {
    var listing: Listing
    var live: [LiveSession]
    var records: [SessionRecord]
  }

  func detailedList(preview: Int? = nil, includeForeign: Bool = false) async throws(BerthError) -> DetailedListing {
    let c = try await connection(startServer: false)
    // The records first: the previews of the sessions they name go in the same batch as the
    // listing (one round trip instead of two), by exact name (`=NAME:` is the session's
    // active pane, which is what the listing calls its active pane, at the same moment).
    let records = try storeCall { try $0.allRecords() }.filter { self.isOnThisServer($0) }
    let previewLines = preview.flatMap { $0 > 0 ? $0 : nil }
    var live: [LiveSession] = []
    var serverStartedAt: Date?
    var earlyCaptures: [String: ControlReply] = [:]
    if let c {
      var batch: [TmuxCommand] = [
        .listAllPanes(format: TmuxListing.paneFormat), .listClients(format: TmuxListing.clientFormat),
        .displayMessage(format: "#{start_time}"),
      ]
      var captured: [String] = []
      if let lines = previewLines {
        var seen = Set<String>()
        for r in records where r.status != .dead && Self.isPlainSessionName(r.tmuxSessionName) {
          guard seen.insert(r.tmuxSessionName).inserted else { continue }
          captured.append(r.tmuxSessionName)
          batch.append(Self.capture(sessionNamed: r.tmuxSessionName, historyLines: max(lines, 50)))
        }
      }
      let replies = try await send(c, batch)
      let clients = TmuxListing.parseClients(replies[1].lines)
      live = TmuxListing.sessions(
        paneLines: replies[0].lines, clients: clients, hiddenPrefix: ControlConnection.hiddenSessionPrefix)
      if !replies[2].isError, let seconds = Double(replies[2].text.trimmingCharacters(in: .whitespaces)) {
        serverStartedAt = Date(timeIntervalSince1970: seconds)
      }
      for (name, reply) in zip(captured, replies.dropFirst(3)) where !reply.isError { earlyCaptures[name] = reply }
    }
    let reconciler = Reconciler(
      prefix: settings.prefix, now: context.now(), bootTime: context.bootClock.bootTime(),
      serverRunning: c != nil, serverStartedAt: serverStartedAt, includeForeign: includeForeign)
    var result = reconciler.reconcile(records: records, live: live)
    var stored = records
    if !result.changedRecords.isEmpty {
      let byId = Dictionary(result.changedRecords.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      let read = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
      stored = stored.map { byId[$0.id] ?? $0 }
      let changed = result.changedRecords
      // Only over the record as it was read: another berth process may have changed it since
      // (a kill marks it killed, which a reconciled "exited" must not undo); the next
      // listing reconciles it again.
      _ = try storeCall { store in
        try store.updateMany(
          changed.map { r in
            (id: r.id, mutate: { current in if current == read[r.id] { current = r } })
          })
      }
    }
    if let lines = previewLines, let c {
      var targets: [(Int, TargetID)] = []
      for (i, v) in result.views.enumerated() where v.isAlive {
        if let early = earlyCaptures[v.tmuxSession] {
          result.views[i].preview = TmuxListing.previewLines(early.lines, count: lines)
        } else if let p = v.activePaneId.flatMap({ TargetID($0) }) {
          targets.append((i, p))
        }
      }
      if !targets.isEmpty {
        let replies = try await send(c, targets.map { .capturePane($0.1, historyLines: max(lines, 50)) })
        for ((i, _), reply) in zip(targets, replies) where !reply.isError {
          result.views[i].preview = TmuxListing.previewLines(reply.lines, count: lines)
        }
      }
    }
    // Dead sessions: their last known output and command come from the last snapshot (all
    // read in one query when there are several).
    let needSnapshots = result.views.indices.filter { i in
      result.views[i].tracked && result.views[i].status == .dead && (preview != nil || result.views[i].command == nil)
    }
    if !needSnapshots.isEmpty {
      var snapshots: [String: SessionSnapshot] = [:]
      if needSnapshots.count > 1 {
        let wanted = Set(needSnapshots.map { result.views[$0].id })
        for item in (try? store.allSnapshots()) ?? [] where wanted.contains(item.sessionId) {
          snapshots[item.sessionId] = try? SessionSnapshot.decode(item.data)
        }
      } else if let only = needSnapshots.first, let snap = savedSnapshot(id: result.views[only].id) {
        snapshots[result.views[only].id] = snap
      }
      for i in needSnapshots {
        guard let snap = snapshots[result.views[i].id] else { continue }
        if let lines = preview { result.views[i].preview = Array(snap.lastOutput.suffix(lines)) }
        if result.views[i].command == nil, let last = snap.lastCommand {
          result.views[i].command = last.joined(separator: " ")
        }
      }
    }
    if preview != nil {
      for i in result.views.indices where result.views[i].preview == nil { result.views[i].preview = [] }
    }
    return DetailedListing(
      listing: Listing(views: result.views, serverRunning: c != nil, serverVersion: nil), live: live, records: stored)
  }

  /// Names a `-t =NAME:` target can carry as they are: tmux session names never hold `:` or
  /// `.`, and berth's are prefix + id (letters, digits, `_`, `-`); anything else is captured
  /// by pane id after the listing.
  static func isPlainSessionName(_ name: String) -> Bool {
    !name.isEmpty
      && name.utf8.allSatisfy {
        ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D
      }
  }

  /// `capture-pane` of a session's active pane, by exact name.
  static func capture(sessionNamed name: String, historyLines: Int) -> TmuxCommand {
    TmuxCommand([
      .word("capture-pane"), .word("-p"), .word("-J"), .word("-t"), .value("=\(name):"), .word("-S"),
      .value(String(-max(0, historyLines))), .word("-E"), .value("-"),
    ])
  }

  /// Resolves a TARGET (see `TargetResolver`) against a fresh listing.
  public func resolve(_ target: String, includeForeign: Bool = true) async throws(BerthError) -> SessionView {
    let listing = try await list(includeForeign: includeForeign)
    return try TargetResolver.resolve(target, in: listing.views)
  }

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
    let cwd = try resolveDirectory(request.cwd)
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
    let has = try await send(c, [.listSessions(format: "#{session_name}")])[0]
    if has.textLines.contains(tmuxName) {
      throw .exists(
        "tmux already has a session named '\(tmuxName)' that berth does not track: 'berth adopt \(id)' or 'berth attach \(id)'"
      )
    }
    let shell = request.shell ?? context.environment["SHELL"].flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh"
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
      let created = try await startTmuxSession(c, record: record, shell: request.shell, command: request.command)
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

  /// Starts the tmux side of a record; returns the new session's id.
  func startTmuxSession(
    _ c: ControlConnection, record: SessionRecord, shell: String?, command: [String],
    environment: [(String, String)] = []
  ) async throws(BerthError) -> TargetID {
    var argv = command
    var env = [("BERTH_SESSION_ID", record.id)] + environment
    if argv.isEmpty {
      // berth starts the shell itself so the session keeps its own history file.
      let launch = ShellLaunch.plan(
        shell: shell ?? record.shell, sessionId: record.id, stateDirectory: context.stateDirectory,
        userZdotdir: context.environment["ZDOTDIR"])
      try writeShellFiles(launch.files)
      argv = launch.argv
      env += launch.environment
    }
    // A pane takes its scrollback size when it is created, so the first pane needs the global
    // value set around new-session (then put back); later windows use the session's option.
    let limit = String(settings.historyLimit)
    let current = try await send(c, [.showOptionValue("history-limit", global: true)])[0]
    let previous = current.isError ? nil : current.text.trimmingCharacters(in: .whitespaces)
    var batch: [TmuxCommand] = []
    if let previous, previous != limit { batch.append(.setOption("history-limit", value: limit, global: true)) }
    let createIndex = batch.count
    batch.append(
      .newSession(
        name: record.tmuxSessionName, directory: record.cwd, width: record.cols, height: record.rows,
        environment: env, command: argv, printFormat: "#{session_id}"))
    if let previous, previous != limit { batch.append(.setOption("history-limit", value: previous, global: true)) }
    let reply = try await send(c, batch)[createIndex]
    guard !reply.isError, let id = TargetID(reply.text.trimmingCharacters(in: .whitespaces)) else {
      throw .failed("tmux could not create the session: \(TerminalText.sanitize(reply.text))")
    }
    // A failure here is not worth failing the create.
    _ = try? await send(c, [.setOption("history-limit", value: limit, target: id)])
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
      view = try await recreate(view)
      notice = "recreated \(view.displayName) in \(view.cwd ?? "~")"
    }
    guard let tmuxId = view.tmuxId else { throw .failed("session \(view.id) has no tmux id") }
    let install = try tmux()
    if view.tracked {
      _ = try? store.update(id: view.id) { $0.lastAttachedAt = self.context.now() }
    }
    let inside = Self.insideSameServer(environment: context.environment, socketPath: context.socketPath)
    let argv: [String]
    if inside {
      argv = [install.path] + context.socket.arguments + ["switch-client", "-t", tmuxId]
    } else {
      argv = [install.path, "-u"] + context.socket.arguments + ["attach-session", "-t", tmuxId]
    }
    return AttachPlan(argv: argv, session: view, switchesClient: inside, notice: notice)
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
    if !Self.isDirectory(r.cwd) {
      context.warn(
        "the directory \(TerminalText.sanitize(r.cwd)) no longer exists: starting in \(context.homeDirectory)")
      r.cwd = context.homeDirectory
    }
    // The same shell it had (a `--shell` choice included), not whatever tmux defaults to now.
    let id = try await startTmuxSession(c, record: r, shell: r.shell, command: r.command ?? [])
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
    return try await view(id: v.id)
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
  /// ended more than `olderThanDays` ago).
  public func cleanup(orphans: Bool, dead: Bool, olderThanDays: Int?, dryRun: Bool) async throws(BerthError)
    -> CleanupReport
  {
    let listing = try await list()
    var report = CleanupReport(dryRun: dryRun)
    if orphans {
      let targets = listing.views.filter(\.orphan)
      report.killedOrphans = targets.map(\.tmuxSession)
      if !dryRun, !targets.isEmpty { _ = try await kill(targets) }
    }
    if dead {
      let now = context.now()
      let cutoff = olderThanDays.map { now.addingTimeInterval(-Double($0) * 86_400) }
      let targets = listing.views.filter { v in
        guard v.tracked, v.status == .dead else { return false }
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

  /// Kills every session of a workspace (as when an app deletes a workspace).
  public func closeWorkspace(_ workspace: String) async throws(BerthError) -> [SessionView] {
    let listing = try await list()
    let members = listing.views.filter { $0.tracked && $0.workspace == workspace }
    guard !members.isEmpty else {
      throw .notFound("no session belongs to workspace '\(TerminalText.sanitize(workspace))'")
    }
    return try await kill(members)
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

/// A per-server advisory lock that berth processes take while a control client connects or
/// disconnects and while they send commands.
///
/// Why: tmux 3.3a (and later releases, see tmux/tmux#4980 and #5004) crashes the whole server,
/// losing every session, when a notification (a session created or destroyed, a client
/// detached) reaches a control client that is still identifying. Every berth command opens a
/// control client and destroys its hidden session on close, so two berth processes at once
/// (two scripts, the panel and a script) could crash the user's server. Holding this lock
/// while connecting, sending and closing means berth never notifies another berth client
/// that is mid-handshake. Best effort: without a lock file berth goes on unlocked.
struct ServerLock {
  let descriptor: Int32

  /// Takes the lock next to the socket (`.NAME.berth-lock` in the socket's directory). The
  /// wait happens in the kernel on a thread of its own, never on the cooperative pool (a
  /// starved poller would wait past its timeout and go on unlocked); nil when the lock file
  /// cannot be made or the lock is not had within `timeout` seconds.
  static func acquire(socketPath: String, timeout: Double = 30) async -> ServerLock? {
    let directory = (socketPath as NSString).deletingLastPathComponent
    let name = (socketPath as NSString).lastPathComponent
    guard !directory.isEmpty, !name.isEmpty else { return nil }
    if !FileManager.default.fileExists(atPath: directory) {
      // tmux would create it 0700 when it starts the server; do the same. Only that one
      // directory: a missing TMUX_TMPDIR (a removed test tree) is not made again.
      try? FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }
    let fd = open("\(directory)/.\(name).berth-lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return nil }
    if flock(fd, LOCK_EX | LOCK_NB) == 0 { return ServerLock(descriptor: fd) }
    let wait = LockWait(descriptor: fd)
    return await withCheckedContinuation { (continuation: CheckedContinuation<ServerLock?, Never>) in
      wait.start(continuation)
      let waiter = Thread {
        var result: Int32
        repeat { result = flock(fd, LOCK_EX) } while result != 0 && errno == EINTR
        wait.finish(acquired: result == 0)
      }
      waiter.name = "berth-server-lock"
      waiter.start()
      DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { wait.giveUp() }
    }
  }

  /// One blocked wait for the lock: whichever comes first, the lock or the timeout, resumes
  /// the caller; a lock that arrives after the timeout is released at once.
  final class LockWait: @unchecked Sendable {
    let descriptor: Int32
    private let mutex = NSLock()
    private var continuation: CheckedContinuation<ServerLock?, Never>?
    private var done = false

    init(descriptor: Int32) { self.descriptor = descriptor }

    func start(_ c: CheckedContinuation<ServerLock?, Never>) { mutex.withLock { continuation = c } }

    func finish(acquired: Bool) {
      let resume: CheckedContinuation<ServerLock?, Never>? = mutex.withLock {
        defer { done = true }
        return done ? nil : continuation
      }
      guard let resume else {
        if acquired { _ = flock(descriptor, LOCK_UN) }
        _ = Glibc.close(descriptor)
        return
      }
      if acquired {
        resume.resume(returning: ServerLock(descriptor: descriptor))
      } else {
        _ = Glibc.close(descriptor)
        resume.resume(returning: nil)
      }
    }

    func giveUp() {
      let resume: CheckedContinuation<ServerLock?, Never>? = mutex.withLock {
        defer { done = true }
        return done ? nil : continuation
      }
      resume?.resume(returning: nil)
    }
  }

  func release() {
    _ = flock(descriptor, LOCK_UN)
    _ = Glibc.close(descriptor)
  }
}
