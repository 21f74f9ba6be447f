import BerthCore
import BerthKit
import BerthPanel
import Foundation

/// What the panel's main loop asks the I/O side to do, in order.
public enum BackendCommand: Sendable {
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
  /// An operation through the session manager (results come back through the inbox).
  case operation(PanelOperation)
}

/// The timers the I/O side may run. Each runs once; starting one again replaces it.
public enum PanelTimer: Hashable, Sendable, CaseIterable {
  /// After the control client ended: let a server that is shutting down go before looking.
  case lossSettle
  /// With the server gone: look at the socket again.
  case reconnect
  /// One more capture after activity in the watched session (see `trailingCapture`).
  case trailingCapture
  /// The idle column's update, at most every `activityRefresh`.
  case activityPost
  /// The next resource sample of the selected session.
  case sample
}

/// Why the I/O side opens a control connection.
public enum ConnectPurpose: Sendable, Equatable {
  /// The first one, at start.
  case start
  /// The control client ended and the loss has settled: is a server still there?
  case afterLoss
  /// The server was gone; the reconnection timer fired.
  case retry
  /// An operation or a listing may have started a server.
  case afterOperation

  /// Whether the runner looks at the socket first (a cheap `connect`) instead of starting a
  /// `tmux -C` client that would only find nothing.
  public var probesFirst: Bool { self != .start }
}

/// Everything that happens to the panel's I/O side.
public enum PanelIOEvent: Sendable {
  case command(BackendCommand)
  /// A connection attempt ended (connected: the runner holds a live control connection).
  case connectFinished(ConnectPurpose, connected: Bool)
  /// A listing came back.
  case listed(views: [SessionView], serverRunning: Bool)
  /// A listing was not run (the control client had ended, its end not handled yet).
  case listSkipped
  case listFailed(String)
  /// A preview capture came back (nil lines: it failed or there was no connection).
  case captured(pane: String, session: String, lines: [String]?)
  /// The all-sessions subscription reported a new reading.
  case digest([String: SessionDigest])
  /// tmux said sessions came, went or were renamed.
  case sessionsChanged
  /// The control client ended.
  case connectionClosed
  case timerFired(PanelTimer)
  /// A resource sample of a session's process tree, at `seconds` on a monotonic clock.
  case sampled(generation: Int, id: String, tree: [ProcessSample], seconds: Double)
  /// An operation finished: what to post, and whether to list again at once.
  case operationFinished([PanelInboxItem], refresh: Bool)
  case shutdown
}

/// What the runner must do.
public enum PanelIOAction: Sendable {
  case connect(ConnectPurpose)
  /// Subscribe to (true) or drop (false) the all-sessions digest on the connection.
  case subscribe(Bool)
  /// List every session (with previews of this many lines, or none).
  case list(previewLines: Int?)
  case capture(pane: String, session: String, lines: Int)
  case post(PanelInboxItem)
  case startTimer(PanelTimer, Duration)
  case cancelTimer(PanelTimer)
  /// Read the process tree under these pids (answered by `sampled`).
  case sample(generation: Int, id: String, pids: [Int32])
  /// Run an operation through the session manager (answered by `operationFinished`).
  case run(PanelOperation)
}

/// The panel's I/O logic as a state machine (swift-nio style): `handle(event, now:)` updates
/// the state and returns the actions to carry out; `PanelIORunner` carries them out and
/// feeds the results back as events. Nothing here does I/O or reads a clock, so each
/// transition is tested without tmux.
///
/// Nothing runs on a timer while idle: listings and captures follow tmux's notifications
/// (coalesced, one at a time). The only periodic work is resource sampling (every 2 s,
/// while the panel is in the foreground and a live session is selected) and, once the
/// server is gone, a reconnection check every 3 s.
public struct PanelIOMachine: Sendable {
  public static let reconnectInterval: Duration = .seconds(3)
  public static let resourceInterval: Duration = .seconds(2)
  public static let firstResourceInterval: Duration = .milliseconds(500)
  /// How often, at most, an idle panel brings the durations on screen up to date.
  public static let tickInterval: TimeInterval = 30
  /// The idle column follows output at most this often.
  public static let activityRefresh: TimeInterval = 5
  /// After activity in the watched session, one more capture this much later catches
  /// output that landed in the same second as the last notification (tmux reports
  /// activity in whole seconds, checked once a second).
  public static let trailingCapture: Duration = .milliseconds(1100)
  /// How long after losing the control client berth waits before looking at the socket.
  public static let lossSettleTime: Duration = .milliseconds(500)

  // Connection.
  public private(set) var connected = false
  private var connecting = false
  private var queuedConnects: [ConnectPurpose] = []
  private var startedWithoutServer = false
  /// Between the control client's end and knowing whether the server is gone: no listing
  /// may run then, because opening a connection to a server that is still shutting down
  /// can start a fresh one (`tmux -C new-session` starts a server when it finds none).
  public private(set) var settlingLoss = false
  public private(set) var reconnecting = false
  private var digests: [String: SessionDigest]?
  public private(set) var shuttingDown = false
  public private(set) var foreground = true

  // Listing.
  public private(set) var views: [SessionView] = []
  private var listedOnce = false
  private var listing = false
  private var listAgain = false
  private var lastListingError: String?
  /// The last output seen per session id, so a session that dies keeps its last screen.
  private var lastOutput: [String: [String]] = [:]
  public private(set) var previewLineCount: Int
  private var activityPostPending = false
  private var lastViewsPosted = Date.distantPast

  // Preview.
  private var watchedPane: String?
  private var watchedSession: String?
  private var capturing = false
  private var captureAgain = false
  private var postedPreview: PanelPreview?

  // Resources.
  private var selectedSession: String?
  public private(set) var samplingId: String?
  private var samplingGeneration = 0
  private var sampler = ProcessUsageSampler()
  private var firstSample = true
  private var postedUsage: (id: String, text: String)?
  private var lastTick: Date

  // Operations, one at a time and in order.
  private var operating = false
  private var pendingOperations: [PanelOperation] = []

  public init(previewLines: Int, now: Date) {
    previewLineCount = max(10, previewLines)
    lastTick = now
  }

  /// The first actions: connect (without starting a server).
  public mutating func start() -> [PanelIOAction] {
    connecting = true
    return [.connect(.start)]
  }

  public mutating func handle(_ event: PanelIOEvent, now: Date) -> [PanelIOAction] {
    if shuttingDown { return [] }
    var out: [PanelIOAction] = []
    switch event {
    case .command(let command): handle(command, now: now, &out)
    case .connectFinished(let purpose, let ok): connectFinished(purpose, ok, &out)
    case .listed(let fresh, let serverRunning): listed(fresh, serverRunning: serverRunning, now: now, &out)
    case .listSkipped: listingDone(&out)
    case .listFailed(let text):
      // Said once: the refresh that follows a notice must not turn a lasting failure into
      // a loop of notices.
      if text != lastListingError {
        lastListingError = text
        out.append(.post(.notice(text, isError: true)))
      }
      listingDone(&out)
    case .captured(let pane, let session, let lines): captured(pane, session, lines, &out)
    case .digest(let new): digestChanged(new, now: now, &out)
    case .sessionsChanged: requestListing(&out)
    case .connectionClosed:
      connected = false
      digests = nil
      // A server killed with kill-server still accepts connections for a moment: let it go.
      settlingLoss = true
      out.append(.startTimer(.lossSettle, Self.lossSettleTime))
    case .timerFired(let timer): timerFired(timer, now: now, &out)
    case .sampled(let generation, let id, let tree, let seconds):
      sampled(generation, id, tree, seconds, now: now, &out)
    case .operationFinished(let items, let refresh):
      out += items.map { .post($0) }
      if refresh { requestListing(&out) }
      reconnectIfNeeded(&out)
      operating = false
      if !pendingOperations.isEmpty { runOperation(pendingOperations.removeFirst(), &out) }
    case .shutdown:
      shuttingDown = true
      out = PanelTimer.allCases.map { .cancelTimer($0) }
    }
    return out
  }

  // MARK: - Commands

  private mutating func handle(_ command: BackendCommand, now: Date, _ out: inout [PanelIOAction]) {
    switch command {
    case .refresh: requestListing(&out)
    case .watch(let pane, let session):
      watchedPane = pane
      watchedSession = session
      captureNowAndOnceMore(&out)
    case .select(let id):
      selectedSession = id
      restartSampling(&out)
    case .foreground(let on):
      foreground = on
      // While the user is in `tmux attach`, tmux need not evaluate the subscription for
      // a panel nobody sees; the first reading after it returns is a fresh baseline.
      digests = nil
      if connected { out.append(.subscribe(on)) }
      if on {
        requestListing(&out)
        requestCapture(&out)
        restartSampling(&out)
      } else {
        stopSampling(&out)
      }
    case .previewLines(let count):
      let wanted = max(10, count)
      if wanted > previewLineCount {
        previewLineCount = wanted
        requestCapture(&out)
      }
    case .operation(let operation): runOperation(operation, &out)
    }
  }

  private mutating func runOperation(_ operation: PanelOperation, _ out: inout [PanelIOAction]) {
    if operating {
      pendingOperations.append(operation)
      return
    }
    operating = true
    out.append(.run(operation))
  }

  // MARK: - Connection

  private mutating func connect(_ purpose: ConnectPurpose, _ out: inout [PanelIOAction]) {
    if connecting {
      queuedConnects.append(purpose)
      return
    }
    connecting = true
    out.append(.connect(purpose))
  }

  private mutating func connectFinished(_ purpose: ConnectPurpose, _ ok: Bool, _ out: inout [PanelIOAction]) {
    connecting = false
    let wasConnected = connected
    connected = ok
    if ok && !wasConnected {
      digests = nil
      if foreground { out.append(.subscribe(true)) }
    }
    switch purpose {
    case .start:
      startedWithoutServer = !ok
      // The first screen comes from a listing without pane captures (a third faster with
      // hundreds of sessions); the captures, which keep each session's last output for
      // when it dies, follow at once.
      listing = true
      listAgain = true
      out.append(.list(previewLines: nil))
    case .afterLoss:
      if ok {
        if !wasConnected { out.append(.post(.message(.connection(.connected)))) }
      } else {
        out.append(.post(.message(.connection(.serverGone))))
        requestListing(&out)
        startReconnecting(&out)
      }
    case .retry:
      if ok {
        reconnecting = false
        if !wasConnected { out.append(.post(.message(.connection(.connected)))) }
      } else if reconnecting {
        out.append(.startTimer(.reconnect, Self.reconnectInterval))
      }
    case .afterOperation:
      if ok && !wasConnected {
        if reconnecting {
          reconnecting = false
          out.append(.cancelTimer(.reconnect))
        }
        out.append(.post(.message(.connection(.connected))))
      }
    }
    if !queuedConnects.isEmpty {
      let next = queuedConnects.removeFirst()
      if connected {
        // Whatever the next attempt was for is done: a connection is there.
        queuedConnects.removeAll()
        if reconnecting {
          reconnecting = false
          out.append(.cancelTimer(.reconnect))
        }
      } else {
        connect(next, &out)
      }
    }
  }

  private mutating func startReconnecting(_ out: inout [PanelIOAction]) {
    guard !reconnecting else { return }
    reconnecting = true
    out.append(.startTimer(.reconnect, Self.reconnectInterval))
  }

  /// After an operation or a listing that may have started a server.
  private mutating func reconnectIfNeeded(_ out: inout [PanelIOAction]) {
    guard !connected, !settlingLoss else { return }
    connect(.afterOperation, &out)
  }

  // MARK: - Listing

  private mutating func requestListing(_ out: inout [PanelIOAction]) {
    guard foreground else { return }
    if listing {
      listAgain = true
      return
    }
    // The loss is settling: the end of the settling lists once it knows whether a server
    // is there.
    if settlingLoss { return }
    listing = true
    out.append(.list(previewLines: previewLineCount))
  }

  private mutating func listingDone(_ out: inout [PanelIOAction]) {
    if listAgain && foreground && !settlingLoss {
      listAgain = false
      out.append(.list(previewLines: previewLineCount))
    } else {
      listing = false
    }
  }

  private mutating func listed(
    _ listed: [SessionView], serverRunning: Bool, now: Date, _ out: inout [PanelIOAction]
  ) {
    var fresh = listed
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
    postViews(now: now, &out)
    if !listedOnce {
      listedOnce = true
      runOperation(.offerRestore, &out)
      if startedWithoutServer {
        // No server: the records on this socket are dead. Say so only when there are any
        // (a new user with nothing yet needs no alarm), and watch for a server to appear.
        if views.contains(where: { $0.tracked && !$0.foreign }) {
          out.append(.post(.message(.connection(.serverGone))))
        }
        startReconnecting(&out)
      }
    }
    if samplingId == nil { restartSampling(&out) }
    if !connected, serverRunning { reconnectIfNeeded(&out) }
    listingDone(&out)
  }

  /// Sends the views with their new activity times (the idle column), at most every few
  /// seconds: with hundreds of sessions every update of the panel costs real time, and
  /// the unseen markers already show which sessions printed.
  private mutating func postViewsSoon(now: Date, _ out: inout [PanelIOAction]) {
    guard !activityPostPending else { return }
    let wait = Self.activityRefresh - now.timeIntervalSince(lastViewsPosted)
    guard wait > 0 else {
      postViews(now: now, &out)
      return
    }
    activityPostPending = true
    out.append(.startTimer(.activityPost, .milliseconds(Int((wait * 1000).rounded(.up)))))
  }

  private mutating func postViews(now: Date, _ out: inout [PanelIOAction]) {
    if activityPostPending {
      activityPostPending = false
      out.append(.cancelTimer(.activityPost))
    }
    lastViewsPosted = now
    out.append(.post(.message(.sessionsLoaded(views, now: now))))
  }

  // MARK: - Subscription

  private mutating func digestChanged(_ new: [String: SessionDigest], now: Date, _ out: inout [PanelIOAction]) {
    let first = digests == nil
    let changes = digests.map { SessionDigest.compare($0, new) } ?? SessionDigest.compare(views, new)
    digests = new
    if changes.needsListing { requestListing(&out) }
    if !changes.active.isEmpty {
      var outputs: [PanelMessage] = []
      for index in views.indices {
        guard let tmuxId = views[index].tmuxId, changes.active.contains(tmuxId) else { continue }
        if let latest = new[tmuxId]?.latestActivity {
          views[index].activityAt = Date(timeIntervalSince1970: TimeInterval(latest))
        }
        if let pane = views[index].activePaneId { outputs.append(.output(paneId: pane)) }
      }
      out += outputs.map { .post(.message($0)) }
      postViewsSoon(now: now, &out)
    }
    // The first reading cannot tell what happened since the last capture in the same
    // second: capture the watched pane then too.
    let watchedTmuxId = watchedSession.flatMap { id in
      views.first(where: { $0.id == id && $0.isAlive })?.tmuxId
    }
    if let watchedTmuxId, first || changes.active.contains(watchedTmuxId) {
      captureNowAndOnceMore(&out)
    }
  }

  // MARK: - Preview

  /// Captures now and once more a little later: tmux reports activity in whole seconds,
  /// so output later in the same second would otherwise wait for the next change.
  private mutating func captureNowAndOnceMore(_ out: inout [PanelIOAction]) {
    guard foreground, watchedPane != nil else { return }
    requestCapture(&out)
    out.append(.startTimer(.trailingCapture, Self.trailingCapture))
  }

  private mutating func requestCapture(_ out: inout [PanelIOAction]) {
    guard foreground, watchedPane != nil else { return }
    if capturing {
      captureAgain = true
      return
    }
    guard let action = captureAction() else { return }
    capturing = true
    out.append(action)
  }

  private func captureAction() -> PanelIOAction? {
    guard let pane = watchedPane, let session = watchedSession, connected else { return nil }
    return .capture(pane: pane, session: session, lines: previewLineCount)
  }

  private mutating func captured(_ pane: String, _ session: String, _ lines: [String]?, _ out: inout [PanelIOAction]) {
    // The selection may have moved on while tmux answered.
    if let lines, watchedPane == pane, watchedSession == session {
      lastOutput[session] = lines
      let preview = PanelPreview(sessionId: session, lines: lines)
      if preview != postedPreview {
        postedPreview = preview
        out.append(.post(.message(.previewLoaded(sessionId: session, lines: lines))))
      }
    }
    if captureAgain && foreground, let action = captureAction() {
      captureAgain = false
      out.append(action)
    } else {
      captureAgain = false
      capturing = false
    }
  }

  // MARK: - Resources

  private mutating func stopSampling(_ out: inout [PanelIOAction]) {
    if samplingId != nil { out.append(.cancelTimer(.sample)) }
    samplingId = nil
    samplingGeneration += 1
  }

  private mutating func restartSampling(_ out: inout [PanelIOAction]) {
    stopSampling(&out)
    guard foreground, let id = selectedSession, let pids = livePids(id) else { return }
    samplingId = id
    sampler = ProcessUsageSampler()
    firstSample = true
    out.append(.sample(generation: samplingGeneration, id: id, pids: pids))
  }

  private func livePids(_ id: String) -> [Int32]? {
    guard let pids = views.first(where: { $0.id == id && $0.isAlive })?.panePids, !pids.isEmpty else { return nil }
    return pids
  }

  private mutating func sampled(
    _ generation: Int, _ id: String, _ tree: [ProcessSample], _ seconds: Double, now: Date,
    _ out: inout [PanelIOAction]
  ) {
    guard generation == samplingGeneration, samplingId == id, foreground else { return }
    if let usage = sampler.add(tree, atSeconds: seconds) {
      // Posted only when the detail line would change, so an idle session costs no redraw.
      let text = TextFormat.percent(usage.cpuPercent) + " " + TextFormat.bytes(usage.rssBytes)
      if postedUsage?.id != id || postedUsage?.text != text {
        postedUsage = (id, text)
        out.append(
          .post(.message(.resourcesLoaded([id: ResourceUsage(cpuPercent: usage.cpuPercent, rssBytes: usage.rssBytes)])))
        )
      }
    }
    // Durations on screen (idle, uptime) move on with the same wake-up, now and then:
    // a redraw costs more than a sample, and busy sessions update through activity.
    if now.timeIntervalSince(lastTick) >= Self.tickInterval {
      lastTick = now
      out.append(.post(.message(.tick(now))))
    }
    out.append(.startTimer(.sample, firstSample ? Self.firstResourceInterval : Self.resourceInterval))
    firstSample = false
  }

  // MARK: - Timers

  private mutating func timerFired(_ timer: PanelTimer, now: Date, _ out: inout [PanelIOAction]) {
    switch timer {
    case .lossSettle:
      guard settlingLoss else { return }
      settlingLoss = false
      if connected {
        // Something reconnected meanwhile: list what is there now.
        requestListing(&out)
      } else {
        connect(.afterLoss, &out)
      }
    case .reconnect:
      guard reconnecting, !connected else { return }
      connect(.retry, &out)
    case .trailingCapture:
      requestCapture(&out)
    case .activityPost:
      guard activityPostPending else { return }
      activityPostPending = false
      postViews(now: now, &out)
    case .sample:
      guard let id = samplingId else { return }
      guard foreground, let pids = livePids(id) else {
        samplingId = nil
        return
      }
      out.append(.sample(generation: samplingGeneration, id: id, pids: pids))
    }
  }
}
