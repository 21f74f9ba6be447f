import BerthCore
import BerthKit
import BerthPanel
import BerthTmux
import Foundation
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// What the main loop asks the background side to do, in order.
enum BackendCommand: Sendable {
  /// List again (after Ctrl-L's refresh effect, an operation, a reconnect).
  case refresh
  /// Keep this pane's preview live (nil: nothing to watch).
  case watch(paneId: String?, sessionId: String?)
  /// The selected session changed: measure its processes instead.
  case select(sessionId: String?)
  /// The panel owns the terminal (true) or handed it to `tmux attach` (false).
  case foreground(Bool)
  /// How many lines a preview capture keeps (follows the terminal's height).
  case previewLines(Int)
  case attach(SessionView)
  case create(name: String?, cwd: String, workspace: String?, tags: [String], size: (cols: Int, rows: Int)?)
  case rename(id: String, name: String?)
  case kill([String])
  case forget([String])
  case tag(id: String, changes: [String])
  case cleanup(orphans: [String], dead: [String])
  case restore([String])
  case dismissRestore([String])
  /// The settings screen saved new settings: new sessions, limits and snapshots use them.
  case updateSettings(BerthSettings)
}

/// The panel's I/O side: the control connection and its subscription, listings, preview
/// captures, operations through the session manager, and resource sampling. Results go to
/// the main loop through the inbox; nothing here touches the terminal.
///
/// Nothing runs on a timer while idle: listings and captures follow tmux's notifications
/// (coalesced, one at a time). The only periodic work is resource sampling (every 2 s,
/// while the panel is in the foreground and a live session is selected) and, once the
/// server is gone, a reconnection check every 3 s.
actor PanelBackend {
  static let reconnectInterval: Duration = .seconds(3)
  static let resourceInterval: Duration = .seconds(2)
  /// How often, at most, an idle panel brings the durations on screen up to date.
  static let tickInterval: TimeInterval = 30
  /// The idle column follows output at most this often.
  static let activityRefresh: TimeInterval = 5
  /// After activity in the watched session, one more capture this much later catches
  /// output that landed in the same second as the last notification (tmux reports
  /// activity in whole seconds, checked once a second).
  static let trailingCapture: Duration = .milliseconds(1100)
  /// Dead records older than this are not offered for restoring at startup.
  static let restoreOfferAge: TimeInterval = 7 * 24 * 3600
  static let dismissedKey = "dismissed-restore"
  /// How long after losing the control client berth waits before looking at the socket.
  static let lossSettleTime: Duration = .milliseconds(500)

  let manager: SessionManager
  let inbox: PanelInbox
  private let socketPath: String

  private var connection: ControlConnection?
  private var eventPump: Task<Void, Never>?
  private var reconnectLoop: Task<Void, Never>?
  private var digests: [String: SessionDigest]?
  /// Between the control client's end and knowing whether the server is gone: no listing
  /// may run then, because opening a connection to a server that is still shutting down
  /// can start a fresh one (`tmux -C new-session` starts a server when it finds none).
  private var settlingLoss = false
  private var shuttingDown = false
  private var foreground = true

  private var views: [SessionView] = []
  private var listedOnce = false
  private var listing: Task<Void, Never>?
  private var listAgain = false
  private var lastListingError: String?
  /// The last output seen per session id, so a session that dies keeps its last screen.
  private var lastOutput: [String: [String]] = [:]
  private var previewLineCount: Int

  private var watchedPane: TargetID?
  private var watchedSession: String?
  private var capture: Task<Void, Never>?
  private var captureAgain = false
  private var trailing: Task<Void, Never>?
  private var postedPreview: PanelPreview?
  /// Activity-only changes wait for this (see `postViewsSoon`).
  private var activityPost: Task<Void, Never>?
  private var lastViewsPosted = Date.distantPast

  private var selectedSession: String?
  private var sampling: Task<Void, Never>?
  /// Tells a sampling task that ended on its own from one that was replaced.
  private var samplingGeneration = 0
  private var postedUsage: (id: String, text: String)?
  private var lastTick = Date()

  init(manager: SessionManager, inbox: PanelInbox, socketPath: String, previewLines: Int) {
    self.manager = manager
    self.inbox = inbox
    self.socketPath = socketPath
    self.previewLineCount = max(10, previewLines)
  }

  /// Connects (without starting a server), lists, offers restoring, then serves commands
  /// until the stream ends.
  func run(commands: AsyncStream<BackendCommand>) async {
    let connected = await adoptCurrentConnection()
    // The first screen comes from a listing without pane captures (a third faster with
    // hundreds of sessions); the captures, which keep each session's last output for
    // when it dies, follow at once.
    await listOnce(capturingOutput: false)
    requestListing()
    if !connected && !shuttingDown {
      // No server: the records on this socket are dead. Say so only when there are any
      // (a new user with nothing yet needs no alarm), and watch for a server to appear.
      if views.contains(where: { $0.tracked && !$0.foreign }) {
        inbox.post(.message(.connection(.serverGone)))
      }
      startReconnecting()
    }
    for await command in commands {
      if shuttingDown { break }
      await handle(command)
    }
  }

  private func handle(_ command: BackendCommand) async {
    switch command {
    case .refresh: requestListing()
    case .watch(let pane, let session): watch(pane: pane, session: session)
    case .select(let id):
      selectedSession = id
      restartSampling()
    case .foreground(let on):
      foreground = on
      // While the user is in `tmux attach`, tmux need not evaluate the subscription for
      // a panel nobody sees; the first reading after it returns is a fresh baseline.
      await setSubscribed(on)
      if on {
        requestListing()
        requestCapture()
        restartSampling()
      } else {
        sampling?.cancel()
        sampling = nil
      }
    case .previewLines(let count):
      let wanted = max(10, count)
      if wanted > previewLineCount {
        previewLineCount = wanted
        requestCapture()
      }
    case .attach(let view): await attach(view)
    case .create(let name, let cwd, let workspace, let tags, let size):
      do {
        let created = try await manager.create(
          CreateRequest(name: name, cwd: cwd, workspace: workspace, tags: tags, size: size))
        inbox.post(
          .message(
            .sessionCreated(
              id: created.id, notice: "Created \(TerminalText.sanitize(created.displayName)): Enter attaches")))
      } catch {
        inbox.post(.message(.createFailed(error.description)))
      }
      await reconnectIfNeeded()
    case .forget(let ids):
      await operation {
        var names: [String] = []
        for id in ids { names.append(try await self.manager.forget(target: id).displayName) }
        return names.isEmpty ? "Nothing to forget" : "Forgot \(PanelText.describe(names))"
      }
    case .tag(let id, let changes):
      await operation {
        let tagged = try await self.manager.tag(target: id, changes: changes)
        return "Tags of \(TerminalText.sanitize(tagged.displayName)): \(tagged.tags.joined(separator: " "))"
      }
    case .rename(let id, let name):
      await operation {
        let renamed = try await self.manager.rename(target: id, to: name)
        return name == nil
          ? "Name cleared: \(TerminalText.sanitize(renamed.displayName))"
          : "Renamed to \(TerminalText.sanitize(renamed.displayName))"
      }
    case .kill(let ids): await operation { try await self.killSessions(ids) }
    case .cleanup(let orphans, let dead):
      await operation { try await self.cleanup(orphans: orphans, dead: dead) }
    case .restore(let ids): await operation { try await self.restore(ids) }
    case .updateSettings(let settings):
      await manager.updateSettings(settings)
    case .dismissRestore(let ids):
      await operation {
        try self.dismiss(ids)
        let noun = ids.count == 1 ? "session" : "sessions"
        return "Not restoring \(ids.count) \(noun): R restores one later"
      }
    }
  }

  /// Closes the control connection so no `tmux -C` child outlives berth, and stops every
  /// background task.
  func shutdown() async {
    shuttingDown = true
    for task in [eventPump, reconnectLoop, listing, capture, trailing, sampling, activityPost] {
      task?.cancel()
    }
    let current = connection
    connection = nil
    if let current { await manager.closeControlConnection(current) }
    await manager.close()
  }

  // MARK: - Connection

  /// Picks up the manager's control connection (opening one if a server runs) and
  /// subscribes to it when it is new. Returns whether there is one.
  @discardableResult
  private func adoptCurrentConnection() async -> Bool {
    guard !shuttingDown else { return false }
    let current: ControlConnection?
    do {
      if let open = connection, open.end == nil { return true }
      current = try await manager.openControlConnection(startServer: false)
    } catch {
      return false
    }
    guard let current, current.end == nil else { return false }
    if current === connection { return true }
    connection = current
    digests = nil
    eventPump?.cancel()
    eventPump = Task { [weak self] in
      for await event in current.events {
        await self?.handle(event, from: current)
      }
    }
    if foreground { await setSubscribed(true) }
    return true
  }

  /// Subscribes to (or drops) the all-sessions digest on the current connection.
  private func setSubscribed(_ on: Bool) async {
    guard let connection else { return }
    digests = nil
    let command: TmuxCommand =
      on
      ? .subscribe(name: SessionDigest.subscriptionName, format: SessionDigest.format)
      // `-B NAME` with no colon removes a subscription (an empty format would not).
      : TmuxCommand([.word("refresh-client"), .word("-B"), .value(SessionDigest.subscriptionName)])
    _ = try? await connection.sendBatch([command])
  }

  private func handle(_ event: ConnectionEvent, from source: ControlConnection) async {
    guard source === connection, !shuttingDown else { return }
    switch event {
    case .notification(.subscriptionChanged(let name, _, _, _, _, let value))
    where name == SessionDigest.subscriptionName:
      digestChanged(SessionDigest.parse(value))
    case .notification(.sessionsChanged), .notification(.sessionRenamed):
      requestListing()
    case .notification:
      break
    case .closed:
      await connectionLost()
    }
  }

  /// The control client ended: either the server is gone (show it, list what the records
  /// say, check back every few seconds) or only our client went (reconnect at once).
  private func connectionLost() async {
    connection = nil
    digests = nil
    guard !shuttingDown else { return }
    // A server killed with kill-server still accepts connections for a moment: let it go.
    settlingLoss = true
    try? await Task.sleep(for: Self.lossSettleTime)
    settlingLoss = false
    guard !shuttingDown, connection == nil else { return }
    if case .running = ServerProbe.check(socketPath: socketPath) {
      inbox.post(.message(.connection(.reconnecting)))
      if await adoptCurrentConnection() {
        inbox.post(.message(.connection(.connected)))
        return
      }
    }
    inbox.post(.message(.connection(.serverGone)))
    requestListing()
    startReconnecting()
  }

  private func startReconnecting() {
    guard reconnectLoop == nil, !shuttingDown else { return }
    reconnectLoop = Task { [weak self] in
      while !Task.isCancelled {
        try? await Task.sleep(for: Self.reconnectInterval)
        guard let self, !Task.isCancelled else { return }
        if await self.tryReconnect() { return }
      }
    }
  }

  /// One reconnection attempt: only when something listens on the socket.
  private func tryReconnect() async -> Bool {
    guard !shuttingDown else { return true }
    guard case .running = ServerProbe.check(socketPath: socketPath) else { return false }
    inbox.post(.message(.connection(.reconnecting)))
    guard await adoptCurrentConnection() else { return false }
    reconnectLoop = nil
    inbox.post(.message(.connection(.connected)))
    return true
  }

  /// After an operation that may have started a server (create, restore, attach).
  private func reconnectIfNeeded() async {
    guard connection == nil, !shuttingDown else { return }
    if await adoptCurrentConnection() {
      reconnectLoop?.cancel()
      reconnectLoop = nil
      inbox.post(.message(.connection(.connected)))
    }
  }

  // MARK: - Listing

  private func requestListing() {
    guard foreground, !shuttingDown else { return }
    if listing != nil {
      listAgain = true
      return
    }
    listing = Task { [weak self] in await self?.runListings() }
  }

  private func runListings() async {
    repeat {
      listAgain = false
      await listOnce()
    } while listAgain && foreground && !shuttingDown
    listing = nil
  }

  private func listOnce(capturingOutput: Bool = true) async {
    // Our client has ended but its end is not handled yet, or the loss is settling: the
    // handler lists once it knows whether a server is there.
    if settlingLoss || connection?.end != nil { return }
    do {
      let listing = try await manager.list(
        preview: capturingOutput ? previewLineCount : nil, includeForeign: true)
      var fresh = listing.views
      for index in fresh.indices {
        let view = fresh[index]
        if view.isAlive, let lines = view.preview, !lines.isEmpty {
          lastOutput[view.id] = lines
        } else if !view.isAlive, (view.preview ?? []).isEmpty, let saved = lastOutput[view.id] {
          fresh[index].preview = saved
        }
      }
      views = fresh
      lastListingError = nil
      postViews()
      if !listedOnce {
        listedOnce = true
        offerRestore()
      }
      restartSamplingIfIdle()
      if connection == nil, listing.serverRunning { await reconnectIfNeeded() }
    } catch {
      // Said once: the refresh that follows a notice must not turn a lasting failure
      // into a loop of notices.
      let text = "Could not list sessions: \(error)"
      if text != lastListingError {
        lastListingError = text
        inbox.post(.notice(text, isError: true))
      }
    }
  }

  // MARK: - Subscription

  private func digestChanged(_ new: [String: SessionDigest]) {
    let first = digests == nil
    let changes =
      digests.map { SessionDigest.compare($0, new) } ?? SessionDigest.compare(views, new)
    digests = new
    if changes.needsListing { requestListing() }
    if !changes.active.isEmpty {
      var patched = views
      var outputs: [PanelMessage] = []
      for index in patched.indices {
        guard let tmuxId = patched[index].tmuxId, changes.active.contains(tmuxId) else { continue }
        if let latest = new[tmuxId]?.latestActivity {
          patched[index].activityAt = Date(timeIntervalSince1970: TimeInterval(latest))
        }
        if let pane = patched[index].activePaneId { outputs.append(.output(paneId: pane)) }
      }
      views = patched
      for message in outputs { inbox.post(.message(message)) }
      postViewsSoon()
    }
    // The first reading cannot tell what happened since the last capture in the same
    // second: capture the watched pane then too.
    let watchedTmuxId = watchedSession.flatMap { id in
      views.first(where: { $0.id == id && $0.isAlive })?.tmuxId
    }
    if let watchedTmuxId, first || changes.active.contains(watchedTmuxId) {
      captureNowAndOnceMore()
    }
  }

  /// Sends the views with their new activity times (the idle column), at most every few
  /// seconds: with hundreds of sessions every update of the panel costs real time, and
  /// the unseen markers already show which sessions printed.
  private func postViewsSoon() {
    guard activityPost == nil else { return }
    let wait = Self.activityRefresh - Date().timeIntervalSince(lastViewsPosted)
    guard wait > 0 else {
      postViews()
      return
    }
    activityPost = Task { [weak self] in
      try? await Task.sleep(for: .seconds(wait))
      if !Task.isCancelled { await self?.postViews() }
    }
  }

  private func postViews() {
    activityPost?.cancel()
    activityPost = nil
    lastViewsPosted = Date()
    inbox.post(.message(.sessionsLoaded(views, now: lastViewsPosted)))
  }

  /// Captures now and once more a little later: tmux reports activity in whole seconds,
  /// so output later in the same second would otherwise wait for the next change.
  private func captureNowAndOnceMore() {
    requestCapture()
    trailing?.cancel()
    trailing = Task { [weak self] in
      try? await Task.sleep(for: Self.trailingCapture)
      if !Task.isCancelled { await self?.requestCapture() }
    }
  }

  // MARK: - Preview

  private func watch(pane: String?, session: String?) {
    watchedPane = pane.flatMap { TargetID($0) }
    watchedSession = session
    captureNowAndOnceMore()
  }

  private func requestCapture() {
    guard foreground, !shuttingDown, watchedPane != nil else { return }
    if capture != nil {
      captureAgain = true
      return
    }
    capture = Task { [weak self] in await self?.runCaptures() }
  }

  private func runCaptures() async {
    repeat {
      captureAgain = false
      await captureOnce()
    } while captureAgain && foreground && !shuttingDown
    capture = nil
  }

  private func captureOnce() async {
    guard let pane = watchedPane, let session = watchedSession, let connection else { return }
    let count = previewLineCount
    guard
      let reply = try? await connection.sendBatch([.capturePane(pane, historyLines: count)]).first,
      !reply.isError
    else { return }
    // The selection may have moved on while tmux answered.
    guard watchedPane == pane, watchedSession == session else { return }
    let lines = TmuxListing.previewLines(reply.lines, count: count)
    lastOutput[session] = lines
    let preview = PanelPreview(sessionId: session, lines: lines)
    guard preview != postedPreview else { return }
    postedPreview = preview
    inbox.post(.message(.previewLoaded(sessionId: session, lines: lines)))
  }

  // MARK: - Resources

  private func restartSampling() {
    sampling?.cancel()
    sampling = nil
    samplingGeneration += 1
    guard foreground, !shuttingDown, let id = selectedSession,
      views.contains(where: { $0.id == id && $0.isAlive && !$0.panePids.isEmpty })
    else { return }
    let generation = samplingGeneration
    sampling = Task { [weak self] in await self?.sample(id, generation: generation) }
  }

  /// A listing may bring the pids a selected session lacked before.
  private func restartSamplingIfIdle() {
    if sampling == nil { restartSampling() }
  }

  private func sample(_ id: String, generation: Int) async {
    var sampler = ProcessUsageSampler()
    var first = true
    while !Task.isCancelled, !shuttingDown {
      guard let pids = views.first(where: { $0.id == id && $0.isAlive })?.panePids, !pids.isEmpty
      else { break }
      let tree = ProcessStats.readTree(roots: pids)
      if let usage = sampler.add(tree, atSeconds: ProcessUsageSampler.monotonicSeconds()) {
        // Posted only when the detail line would change, so an idle session costs no redraw.
        let text = TextFormat.percent(usage.cpuPercent) + " " + TextFormat.bytes(usage.rssBytes)
        if postedUsage?.id != id || postedUsage?.text != text {
          postedUsage = (id, text)
          inbox.post(
            .message(
              .resourcesLoaded([
                id: ResourceUsage(cpuPercent: usage.cpuPercent, rssBytes: usage.rssBytes)
              ])))
        }
      }
      // Durations on screen (idle, uptime) move on with the same wake-up, now and then:
      // a redraw costs more than a sample, and busy sessions update through activity.
      let now = Date()
      if now.timeIntervalSince(lastTick) >= Self.tickInterval {
        lastTick = now
        inbox.post(.message(.tick(now)))
      }
      try? await Task.sleep(for: first ? .milliseconds(500) : Self.resourceInterval)
      first = false
    }
    if samplingGeneration == generation { sampling = nil }
  }

  // MARK: - Operations

  /// Runs an operation and reports it on the notice line (which also lists again).
  private func operation(_ body: () async throws -> String) async {
    do {
      let text = try await body()
      inbox.post(.message(.operationFinished(.succeeded(text))))
    } catch let error as BerthError {
      inbox.post(.message(.operationFinished(.failed(error.description))))
    } catch {
      inbox.post(.message(.operationFinished(.failed("\(error)"))))
    }
    await reconnectIfNeeded()
  }

  /// Prepares the hand-off (recreating a dead session, adopting an orphan) and passes the
  /// plan to the main loop, which owns the terminal.
  private func attach(_ view: SessionView) async {
    do {
      let target = view.foreign ? view.tmuxSession : view.id
      let plan = try await manager.prepareAttach(target: target, create: nil)
      await reconnectIfNeeded()
      inbox.post(.handOff(plan))
    } catch {
      inbox.post(.message(.operationFinished(.failed(error.description))))
    }
  }

  /// Kills live sessions (orphans included) and forgets dead records, from a fresh listing
  /// so a session recreated meanwhile is targeted by its current tmux id.
  private func killSessions(_ ids: [String]) async throws -> String {
    let current = try await manager.list(includeForeign: false).views
    let chosen = current.filter { ids.contains($0.id) && !$0.foreign }
    let alive = chosen.filter(\.isAlive)
    if !alive.isEmpty { _ = try await manager.kill(alive) }
    let dead = chosen.filter { !$0.isAlive && $0.tracked }
    for view in dead { _ = try manager.store.delete(id: view.id) }
    let names = chosen.map(\.displayName)
    if names.isEmpty { return "Nothing to kill: those sessions are gone" }
    return "Killed \(PanelText.describe(names))"
  }

  private func cleanup(orphans: [String], dead: [String]) async throws -> String {
    let current = try await manager.list(includeForeign: false).views
    let orphanViews = current.filter { $0.orphan && orphans.contains($0.id) }
    if !orphanViews.isEmpty { _ = try await manager.kill(orphanViews) }
    let deadViews = current.filter { $0.tracked && $0.status == .dead && dead.contains($0.id) }
    for view in deadViews { _ = try manager.store.delete(id: view.id) }
    return
      "Cleaned up \(PanelText.count(orphanViews.count, "orphan")) and \(PanelText.count(deadViews.count, "stale record"))"
  }

  private func restore(_ ids: [String]) async throws -> String {
    let current = try await manager.list(includeForeign: false).views
    var restored: [String] = []
    var failures: [String] = []
    for view in current where ids.contains(view.id) && view.tracked && view.status == .dead {
      do {
        let fresh = try await manager.recreate(view)
        restored.append(fresh.displayName)
      } catch {
        failures.append("\(TerminalText.sanitize(view.displayName)): \(error.description)")
      }
    }
    try? pruneDismissed(keeping: Set(current.filter { $0.status == .dead }.map(\.id)))
    if let failure = failures.first {
      let more = failures.count > 1 ? " (and \(failures.count - 1) more failed)" : ""
      throw BerthError.failed("Could not restore \(failure)\(more)")
    }
    if restored.isEmpty { return "Nothing to restore" }
    return "Restored \(PanelText.describe(restored))"
  }

  // MARK: - Startup restore prompt

  /// Offers the dead sessions that can come back and that the user has not declined.
  private func offerRestore() {
    let now = Date()
    let dead = views.filter { $0.tracked && !$0.foreign && $0.status == .dead }
    try? pruneDismissed(keeping: Set(dead.map(\.id)))
    let dismissed = dismissedIds()
    let candidates = dead.filter { view in
      guard view.endReason?.isRestorable ?? true, !dismissed.contains(view.id) else { return false }
      if let ended = view.endedAt, now.timeIntervalSince(ended) > Self.restoreOfferAge { return false }
      return true
    }
    if !candidates.isEmpty { inbox.post(.message(.startupRestoreCandidates(candidates))) }
  }

  private func dismissedIds() -> Set<String> {
    guard let text = try? manager.store.stateValue(Self.dismissedKey),
      let ids = try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    else { return [] }
    return Set(ids)
  }

  private func saveDismissed(_ ids: Set<String>) throws {
    let data = try JSONEncoder().encode(ids.sorted())
    try manager.store.setStateValue(
      Self.dismissedKey, ids.isEmpty ? nil : String(decoding: data, as: UTF8.self))
  }

  private func dismiss(_ ids: [String]) throws {
    try saveDismissed(dismissedIds().union(ids))
  }

  /// A declined session that came back to life (or was deleted) is forgotten, so if it
  /// dies again it is offered again.
  private func pruneDismissed(keeping dead: Set<String>) throws {
    let dismissed = dismissedIds()
    let kept = dismissed.intersection(dead)
    if kept != dismissed { try saveDismissed(kept) }
  }
}

/// Short phrases for notices.
enum PanelText {
  /// "a, b and 3 more", sanitised.
  static func describe(_ names: [String], limit: Int = 3) -> String {
    let shown = names.prefix(limit).map { TerminalText.sanitize($0) }.joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
  }

  /// "1 orphan", "2 orphans".
  static func count(_ n: Int, _ noun: String) -> String {
    "\(n) \(noun)\(n == 1 ? "" : "s")"
  }
}
