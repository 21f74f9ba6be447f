import BerthCore
import BerthKit
import BerthPanel
import Foundation

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
  /// How many settle periods a loss waits, at most, for an exiting server to be gone.
  public static let maxSettleRounds = 10
  /// A remote host that cannot be reached, or runs no server, is looked at again after
  /// this long, then twice as long each time up to `maxBackoff`: no busy polling over ssh.
  public static let firstBackoff = 2
  public static let maxBackoff = 60
  /// With several hosts, the longest the listing with previews waits for every host's
  /// first rows (a host that is slow to answer does not keep the others' previews).
  public static let previewHold: Duration = .seconds(2)

  /// The host this machine watches (`local`: this machine).
  public let host: String
  /// Whether the host is reached over ssh: no local socket to probe, no process table to
  /// sample, and a backoff instead of the local 3 s reconnection check.
  public let isRemote: Bool
  /// What the hosts line shows for a remote host, as last posted.
  public internal(set) var hostState: ConnectionState = .connecting
  /// The next wait before a remote host is looked at again, in seconds.
  public internal(set) var backoff = firstBackoff
  /// A remote host's server went away (or it came back without one): offer its lost
  /// sessions for restoring once the next listing is in.
  var offerAfterListing = false

  // Connection.
  public internal(set) var connected = false
  var connecting = false
  var queuedConnects: [ConnectPurpose] = []
  var startedWithoutServer = false
  var settleRounds = 0
  /// Between the control client's end and knowing whether the server is gone: no listing
  /// may run then, because opening a connection to a server that is still shutting down
  /// can start a fresh one (`tmux -C new-session` starts a server when it finds none).
  public internal(set) var settlingLoss = false
  public internal(set) var reconnecting = false
  var digests: [String: SessionDigest]?
  public internal(set) var shuttingDown = false
  public internal(set) var foreground = true

  // Listing.
  public internal(set) var views: [SessionView] = []
  var listedOnce = false
  var listing = false
  var listAgain = false
  var lastListingError: String?
  /// The last output seen per session id, so a session that dies keeps its last screen.
  var lastOutput: [String: [String]] = [:]
  /// With several hosts: the listing with previews that follows the first one waits for
  /// `firstScreenShown` (or `previewHold`), so the first screen's listings, control
  /// connections and ssh round trips do not share two cores with a hundred captures each.
  public internal(set) var previewsHeld: Bool
  /// A listing with previews is owed once the hold ends.
  var previewsOwed = false
  /// The control connection is new: the `%sessions-changed` its own hidden session causes
  /// is still to come (the first digest compares the sessions anyway).
  var ownSessionNotice = false
  public internal(set) var previewLineCount: Int
  var activityPostPending = false
  var lastViewsPosted = Date.distantPast

  // Preview.
  var watchedPane: String?
  var watchedSession: String?
  var capturing = false
  var captureAgain = false
  var postedPreview: PanelPreview?

  // Resources.
  var selectedSession: String?
  public internal(set) var samplingId: String?
  var samplingGeneration = 0
  var sampler = ProcessUsageSampler()
  var firstSample = true
  var postedUsage: (id: String, text: String)?
  var lastTick: Date

  // Operations, one at a time and in order.
  var operating = false
  var pendingOperations: [PanelOperation] = []
  /// Run once the first listing is in (after the restore offer), and with several hosts
  /// once the first screen is drawn: housekeeping that must not hold up the first screen.
  var afterFirstListing: [PanelOperation]

  public init(
    previewLines: Int, now: Date, host: String = HostConfig.localName, isRemote: Bool = false,
    afterFirstListing: [PanelOperation] = [], holdPreviews: Bool = false
  ) {
    previewsHeld = holdPreviews
    previewLineCount = max(10, previewLines)
    lastTick = now
    self.host = host
    self.isRemote = isRemote
    self.afterFirstListing = afterFirstListing
  }

  /// A message for the panel, naming this machine's host where the message carries one.
  func post(_ message: PanelMessage) -> PanelIOAction {
    switch message {
    case .connection(let state, _): .post(.message(.connection(state, host: host)))
    case .output(let pane, _): .post(.message(.output(paneId: pane, host: host)))
    case .sessionsLoaded(let views, let now, _): .post(.message(.sessionsLoaded(views, now: now, host: host)))
    default: .post(.message(message))
    }
  }

  /// Says what the hosts line shows for a remote host, when it changes.
  mutating func setHostState(_ state: ConnectionState, _ out: inout [PanelIOAction]) {
    guard isRemote, state != hostState else { return }
    hostState = state
    out.append(post(.connection(state)))
  }

  /// The wait before the next look at a remote host (then twice as long, up to a minute).
  mutating func nextBackoff() -> Int {
    let wait = backoff
    backoff = min(Self.maxBackoff, backoff * 2)
    return wait
  }

  /// The first actions: connect (without starting a server).
  public mutating func start() -> [PanelIOAction] {
    connecting = true
    let hold: [PanelIOAction] = previewsHeld ? [.startTimer(.previewHold, Self.previewHold)] : []
    // The first listing does not wait for the control connection (over ssh each is a round
    // trip or more; here the control client's handshake is a third of the first screen): it
    // looks without starting a server, and a server that is not there shows as such once
    // the connection attempt says so. The listing with previews follows it.
    listing = true
    listAgain = true
    return [.connect(.start), .list(previewLines: nil)] + hold
  }

  /// The hold on previews ends (every host's first rows are in, or it waited long enough).
  mutating func releasePreviews(_ out: inout [PanelIOAction]) {
    guard previewsHeld else { return }
    previewsHeld = false
    out.append(.cancelTimer(.previewHold))
    if listedOnce { runAfterFirstListing(&out) }
    if previewsOwed {
      previewsOwed = false
      requestListing(&out)
    }
  }

  /// The restore offer and the housekeeping that follow the first listing, once: the
  /// offer in the operations' queue, the housekeeping beside it.
  mutating func runAfterFirstListing(_ out: inout [PanelIOAction]) {
    let operations = afterFirstListing
    afterFirstListing = []
    for operation in operations {
      if case .offerRestore = operation {
        runOperation(operation, &out)
      } else {
        out.append(.housekeep(operation))
      }
    }
  }

  public mutating func handle(_ event: PanelIOEvent, now: Date) -> [PanelIOAction] {
    if shuttingDown { return [] }
    var out: [PanelIOAction] = []
    switch event {
    case .command(let command): handle(command, now: now, &out)
    case .connectFinished(let purpose, let ok): connectFinished(purpose, ok, &out)
    case .listed(let fresh, let serverRunning): listed(fresh, serverRunning: serverRunning, now: now, &out)
    case .listSkipped: listingDone(&out)
    case .unreachable(let reason):
      unreachable(reason, &out)
    case .listUnreachable(let reason):
      listing = false
      listAgain = false
      // A connection attempt under way answers for the host; an unreachable host already
      // waits for its next look.
      if connecting { break }
      if case .unreachable = hostState { break }
      unreachable(reason, &out)
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
    case .sessionsChanged:
      // The first one after connecting is the connection's own hidden session; the first
      // digest, which follows within a second, compares the set of sessions anyway.
      if ownSessionNotice && digests == nil {
        ownSessionNotice = false
      } else {
        requestListing(&out)
      }
    case .serverStillExiting:
      connecting = false
      settleRounds += 1
      if settleRounds < Self.maxSettleRounds {
        settlingLoss = true
        out.append(.startTimer(.lossSettle, Self.lossSettleTime))
      } else {
        connectFinished(.afterLoss, false, &out)
      }
    case .connectionClosed:
      connected = false
      digests = nil
      settleRounds = 0
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
    case .housekeepingFinished(let refresh):
      if refresh { requestListing(&out) }
    case .shutdown:
      shuttingDown = true
      out = PanelTimer.allCases.map { .cancelTimer($0) }
    }
    return out
  }

  // MARK: - Commands

  mutating func handle(_ command: BackendCommand, now: Date, _ out: inout [PanelIOAction]) {
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
    case .firstScreenShown: releasePreviews(&out)
    }
  }

  mutating func runOperation(_ operation: PanelOperation, _ out: inout [PanelIOAction]) {
    if operating {
      pendingOperations.append(operation)
      return
    }
    operating = true
    out.append(.run(operation))
  }

  // MARK: - Connection

  mutating func connect(_ purpose: ConnectPurpose, _ out: inout [PanelIOAction]) {
    if connecting {
      queuedConnects.append(purpose)
      return
    }
    connecting = true
    out.append(.connect(purpose))
  }

  mutating func connectFinished(_ purpose: ConnectPurpose, _ ok: Bool, _ out: inout [PanelIOAction]) {
    connecting = false
    let wasConnected = connected
    connected = ok
    if ok && !wasConnected {
      digests = nil
      ownSessionNotice = true
      if foreground { out.append(.subscribe(true)) }
    }
    if isRemote {
      remoteConnectFinished(purpose, ok, wasConnected: wasConnected, &out)
      return
    }
    switch purpose {
    case .start:
      // The first listing went out with the attempt (without pane captures, a third faster
      // with hundreds of sessions; the captures, which keep each session's last output for
      // when it dies, follow it).
      startedWithoutServer = !ok
      if listedOnce && !ok { noServerAtStart(&out) }
    case .afterLoss:
      if ok {
        if !wasConnected { out.append(post(.connection(.connected))) }
      } else {
        out.append(post(.connection(.serverGone)))
        requestListing(&out)
        startReconnecting(&out)
      }
    case .retry:
      if ok {
        reconnecting = false
        if !wasConnected { out.append(post(.connection(.connected))) }
      } else if reconnecting {
        out.append(.startTimer(.reconnect, Self.reconnectInterval))
      }
    case .afterOperation:
      if ok && !wasConnected {
        if reconnecting {
          reconnecting = false
          out.append(.cancelTimer(.reconnect))
        }
        out.append(post(.connection(.connected)))
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

  /// No server at start (both the first listing and the connection attempt are in): the
  /// records on this socket are dead. Said only when there are any (a new user with nothing
  /// yet needs no alarm); a server that appears is watched for.
  mutating func noServerAtStart(_ out: inout [PanelIOAction]) {
    if views.contains(where: { $0.tracked && !$0.foreign }) {
      out.append(post(.connection(.serverGone)))
    }
    startReconnecting(&out)
  }

  mutating func startReconnecting(_ out: inout [PanelIOAction]) {
    guard !reconnecting else { return }
    reconnecting = true
    out.append(.startTimer(.reconnect, isRemote ? .seconds(nextBackoff()) : Self.reconnectInterval))
  }

  // MARK: - Remote hosts

  /// A remote host answered: connected, or reachable with no tmux server (its sessions are
  /// gone: shown dead, and offered for restoring once listed).
  mutating func remoteConnectFinished(
    _ purpose: ConnectPurpose, _ ok: Bool, wasConnected: Bool, _ out: inout [PanelIOAction]
  ) {
    let before = hostState
    if ok {
      backoff = Self.firstBackoff
      if reconnecting {
        reconnecting = false
        out.append(.cancelTimer(.reconnect))
      }
      setHostState(.connected, &out)
    } else if hostState != .serverGone {
      setHostState(.serverGone, &out)
      if listedOnce { offerAfterListing = true }
    }
    if purpose == .start {
      // The first listing went out with the connection attempt; if it could not reach
      // the host while the attempt did, list now.
      if !listedOnce && !listing {
        listing = true
        listAgain = ok
        out.append(.list(previewLines: ok ? nil : previewLineCount))
      }
    } else if ok != wasConnected || hostState != before {
      // Back, or gone: the listing reconciles the records (a lost session is recorded as
      // such, so it can be offered for restoring).
      requestListing(&out)
    }
    if !ok {
      reconnecting = false
      startReconnecting(&out)
    }
    queuedConnects.removeAll()
  }

  /// A remote host cannot be reached: say why, keep its rows as last listed, and look again
  /// after the backoff. Its control connection, if one is left, ends by itself (ssh's
  /// keep-alive) and is not waited for.
  mutating func unreachable(_ reason: String, _ out: inout [PanelIOAction]) {
    connecting = false
    connected = false
    digests = nil
    settlingLoss = false
    queuedConnects.removeAll()
    if !listedOnce {
      // The first screen must not wait for this host: an empty listing stands in.
      listedOnce = true
      out.append(post(.sessionsLoaded(views, now: lastTick)))
    }
    listing = false
    listAgain = false
    let wait = nextBackoff()
    setHostState(.unreachable(reason, retryIn: wait), &out)
    reconnecting = true
    out.append(.startTimer(.reconnect, .seconds(wait)))
  }

  /// After an operation or a listing that may have started a server.
  mutating func reconnectIfNeeded(_ out: inout [PanelIOAction]) {
    guard !connected, !settlingLoss else { return }
    connect(.afterOperation, &out)
  }

  // MARK: - Listing

  mutating func requestListing(_ out: inout [PanelIOAction]) {
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

  mutating func listingDone(_ out: inout [PanelIOAction]) {
    if listAgain && previewsHeld {
      // The first listing's previews wait for the other hosts' first rows.
      listAgain = false
      listing = false
      previewsOwed = true
    } else if listAgain && foreground && !settlingLoss {
      listAgain = false
      out.append(.list(previewLines: previewLineCount))
    } else {
      listing = false
    }
  }

  mutating func listed(
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
    if offerAfterListing {
      offerAfterListing = false
      runOperation(.offerRestore(listed: views), &out)
    }
    if !listedOnce {
      listedOnce = true
      // The offer and the housekeeping wait for the first screen too, when it is held.
      afterFirstListing.insert(.offerRestore(listed: views), at: 0)
      if !previewsHeld { runAfterFirstListing(&out) }
      if startedWithoutServer && !isRemote { noServerAtStart(&out) }
    }
    if samplingId == nil { restartSampling(&out) }
    if !connected, serverRunning { reconnectIfNeeded(&out) }
    listingDone(&out)
  }

  /// Sends the views with their new activity times (the idle column), at most every few
  /// seconds: with hundreds of sessions every update of the panel costs real time, and
  /// the unseen markers already show which sessions printed.
  mutating func postViewsSoon(now: Date, _ out: inout [PanelIOAction]) {
    guard !activityPostPending else { return }
    let wait = Self.activityRefresh - now.timeIntervalSince(lastViewsPosted)
    guard wait > 0 else {
      postViews(now: now, &out)
      return
    }
    activityPostPending = true
    out.append(.startTimer(.activityPost, .milliseconds(Int((wait * 1000).rounded(.up)))))
  }

  mutating func postViews(now: Date, _ out: inout [PanelIOAction]) {
    if activityPostPending {
      activityPostPending = false
      out.append(.cancelTimer(.activityPost))
    }
    lastViewsPosted = now
    out.append(.post(.message(.sessionsLoaded(views, now: now, host: host))))
  }

  // MARK: - Timers

  mutating func timerFired(_ timer: PanelTimer, now: Date, _ out: inout [PanelIOAction]) {
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
      if case .unreachable = hostState { setHostState(.reconnecting, &out) }
      connect(.retry, &out)
    case .trailingCapture:
      requestCapture(&out)
    case .activityPost:
      guard activityPostPending else { return }
      activityPostPending = false
      postViews(now: now, &out)
    case .previewHold:
      releasePreviews(&out)
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
