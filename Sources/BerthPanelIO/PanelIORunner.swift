import BerthCore
import BerthKit
import BerthPanel
import BerthTmux
import Foundation
import TmuxControl

/// Carries out `PanelIOMachine`'s actions: the control connection and its subscription,
/// listings, preview captures, operations through the session manager, resource sampling
/// and timers. Every result goes back into the machine as an event, from one loop, so the
/// machine's state is only touched there; what the panel must see goes through the inbox.
/// Nothing here touches the terminal.
///
/// With hosts configured there is one runner per host, each with its own manager, machine,
/// connection and tasks (`PanelHosts`): an unreachable or slow host holds up nobody else.
public actor PanelIORunner {
  let manager: SessionManager
  let inbox: PanelInbox
  /// The host this runner watches (`local`: this machine).
  public nonisolated let host: String
  /// Reached over ssh: no local socket to probe first.
  private let isRemote: Bool
  private let socketPath: String
  private var machine: PanelIOMachine

  /// What reaches the loop: the machine's events, and what only the runner can interpret.
  private enum Input: Sendable {
    case event(PanelIOEvent)
    /// A remote host's listing failed: it is unreachable, and its connection (if any) is
    /// let go, so the next attempt makes a fresh one instead of trusting a dead link.
    case unreachable(String)
    case connected(ConnectPurpose, ControlConnection?)
    case connectionEvent(ConnectionEvent, ControlConnection)
  }

  private let inputs: AsyncStream<Input>
  private let sink: AsyncStream<Input>.Continuation
  private var connection: ControlConnection?
  private var eventPump: Task<Void, Never>?
  private var timers: [PanelTimer: Task<Void, Never>] = [:]
  private var stopped = false

  /// `label` names the host in what the runner posts (default: the manager's host); a
  /// test gives a second local server a host's name this way, without ssh.
  /// `afterFirstListing`: operations run once the first listing is in (startup housekeeping).
  /// `holdPreviews`: the listing with previews waits for `firstScreenShown` (several hosts).
  public init(
    manager: SessionManager, inbox: PanelInbox, socketPath: String, previewLines: Int, label: String? = nil,
    afterFirstListing: [PanelOperation] = [], holdPreviews: Bool = false
  ) {
    self.manager = manager
    self.inbox = inbox
    self.socketPath = socketPath
    let host = label ?? manager.context.hostName
    self.host = host
    self.isRemote = manager.context.host != nil
    self.machine = PanelIOMachine(
      previewLines: previewLines, now: Date(), host: host, isRemote: manager.context.host != nil,
      afterFirstListing: afterFirstListing, holdPreviews: holdPreviews)
    (inputs, sink) = AsyncStream.makeStream(of: Input.self)
  }

  /// Hands a command from the panel's main loop to the machine (in order).
  public nonisolated func send(_ command: BackendCommand) {
    sink.yield(.event(.command(command)))
  }

  /// Connects (without starting a server), lists, offers restoring, then serves commands and
  /// results until `shutdown`.
  public func run() async {
    perform(machine.start())
    for await input in inputs {
      if stopped { break }
      let event: PanelIOEvent
      switch input {
      case .event(let e): event = e
      case .unreachable(let reason):
        abandonConnection()
        event = .listUnreachable(reason)
      case .connected(let purpose, let fresh):
        Trace.mark("panel \(host): connected \(purpose) \(fresh != nil)")
        event = .connectFinished(purpose, connected: adopt(fresh))
      case .connectionEvent(let e, let source):
        guard source === connection, let translated = translate(e) else { continue }
        event = translated
      }
      perform(machine.handle(event, now: Date()))
    }
  }

  /// Closes the control connection so no `tmux -C` child outlives berth, and stops every
  /// timer and task.
  public func shutdown() async {
    stopped = true
    _ = machine.handle(.shutdown, now: Date())
    for task in timers.values { task.cancel() }
    timers.removeAll()
    eventPump?.cancel()
    eventPump = nil
    sink.finish()
    if let current = connection {
      connection = nil
      // The subscription goes before the hidden session does. tmux up to 3.4 checks a
      // control client's subscriptions every second without looking whether it still has
      // a session (3.7c returns when it has none): once the hidden session is killed, the
      // client is sessionless until its output has drained (longer over ssh), and a check
      // then reads through a null session and the server crashes (seen under the panel
      // benchmark: tmux 3.3a segfaults in control_check_subs_session).
      if current.end == nil { _ = try? await current.sendBatch([Self.unsubscribe], timeout: 2) }
      await manager.closeControlConnection(current)
    }
    await manager.close()
  }

  /// `-B NAME` with no colon removes a subscription (an empty format would not).
  static let unsubscribe = TmuxCommand([
    .word("refresh-client"), .word("-B"), .value(SessionDigest.subscriptionName),
  ])

  // MARK: - Carrying out actions

  private func perform(_ actions: [PanelIOAction]) {
    for action in actions { perform(action) }
  }

  private func perform(_ action: PanelIOAction) {
    guard !stopped else { return }
    let sink = self.sink
    let manager = self.manager
    switch action {
    case .post(let item):
      if Trace.enabled {
        switch item {
        case .message(.sessionsLoaded(let views, _, let host)): Trace.mark("panel \(host): post \(views.count) rows")
        case .message(.connection(let state, let host)): Trace.mark("panel \(host): post \(state)")
        default: break
        }
      }
      inbox.post(item)
    case .connect(let purpose):
      Trace.mark("panel \(host): connect \(purpose)")
      if let current = connection, current.end == nil {
        sink.yield(.connected(purpose, current))
        return
      }
      let socketPath = self.socketPath
      if isRemote {
        // No socket here to look at: the remote tmux says whether a server runs; ssh's
        // failure is the host's state (and its reason), not an error notice.
        Task {
          do {
            sink.yield(.connected(purpose, try await manager.openControlConnection(startServer: false)))
          } catch {
            sink.yield(.event(.unreachable("\(error)")))
          }
        }
        return
      }
      Task {
        if purpose.probesFirst, ServerProbe.check(socketPath: socketPath) != .running {
          sink.yield(.connected(purpose, nil))
          return
        }
        let opened = try? await manager.openControlConnection(startServer: false)
        if opened ?? nil == nil, purpose == .afterLoss, ServerProbe.check(socketPath: socketPath) == .running {
          sink.yield(.event(.serverStillExiting))
          return
        }
        sink.yield(.connected(purpose, opened ?? nil))
      }
    case .subscribe(let on):
      guard let current = connection else { return }
      let command: TmuxCommand =
        on ? .subscribe(name: SessionDigest.subscriptionName, format: SessionDigest.format) : Self.unsubscribe
      Task { _ = try? await current.sendBatch([command]) }
    case .list(let previewLines):
      // Our client has ended but its end is not handled yet: the machine lists once it
      // knows whether a server is there.
      if connection?.end != nil {
        sink.yield(.event(.listSkipped))
        return
      }
      let host = self.host
      let isRemote = self.isRemote
      Task {
        Trace.mark("panel \(host): list preview \(previewLines ?? 0) start")
        defer { Trace.mark("panel \(host): list preview \(previewLines ?? 0) end") }
        do {
          var listing = try await manager.list(preview: previewLines, includeForeign: true)
          for index in listing.views.indices { listing.views[index].host = host }
          sink.yield(.event(.listed(views: listing.views, serverRunning: listing.serverRunning)))
        } catch {
          if isRemote {
            sink.yield(.unreachable("\(error)"))
          } else {
            sink.yield(.event(.listFailed("Could not list sessions: \(error)")))
          }
        }
      }
    case .capture(let pane, let session, let lines):
      guard let current = connection, current.end == nil, let target = TargetID(pane) else {
        sink.yield(.event(.captured(pane: pane, session: session, lines: nil)))
        return
      }
      Task {
        var captured: [String]?
        if let reply = try? await current.sendBatch([.capturePane(target, historyLines: lines)]).first,
          !reply.isError
        {
          captured = TmuxListing.previewLines(reply.lines, count: lines)
        }
        sink.yield(.event(.captured(pane: pane, session: session, lines: captured)))
      }
    case .startTimer(let timer, let duration):
      timers[timer]?.cancel()
      timers[timer] = Task {
        try? await Task.sleep(for: duration)
        if !Task.isCancelled { sink.yield(.event(.timerFired(timer))) }
      }
    case .cancelTimer(let timer):
      timers.removeValue(forKey: timer)?.cancel()
    case .sample(let generation, let id, let pids):
      Task {
        let tree = ProcessStats.readTree(roots: pids)
        let seconds = ProcessUsageSampler.monotonicSeconds()
        sink.yield(.event(.sampled(generation: generation, id: id, tree: tree, seconds: seconds)))
      }
    case .housekeep(let operation):
      let host = self.host
      Task {
        let result = await PanelOperations.perform(operation, manager: manager, host: host)
        sink.yield(.event(.housekeepingFinished(refresh: result.refresh)))
      }
    case .run(let operation):
      let host = self.host
      Task {
        Trace.mark("panel \(host): operation \(String(describing: operation).prefix(while: { $0 != "(" })) start")
        defer { Trace.mark("panel \(host): operation end") }
        let result = await PanelOperations.perform(operation, manager: manager, host: host)
        sink.yield(.event(.operationFinished(result.items, refresh: result.refresh)))
      }
    }
  }

  // MARK: - Connection

  /// Drops the current connection without waiting for it: a link that stopped answering
  /// may take ssh's keep-alive time to end, and nothing here waits for that.
  private func abandonConnection() {
    guard let current = connection else { return }
    connection = nil
    eventPump?.cancel()
    eventPump = nil
    Task.detached {
      // As at shutdown: no subscription may outlive the hidden session.
      if current.end == nil { _ = try? await current.sendBatch([PanelIORunner.unsubscribe], timeout: 2) }
      await current.close()
    }
  }

  /// Takes a freshly opened connection as the current one (starting its event pump);
  /// returns whether a live one is there.
  private func adopt(_ fresh: ControlConnection?) -> Bool {
    if let current = connection, current.end == nil { return true }
    guard let fresh, fresh.end == nil, !stopped else {
      connection = nil
      return false
    }
    connection = fresh
    eventPump?.cancel()
    let sink = self.sink
    eventPump = Task {
      for await event in fresh.events {
        sink.yield(.connectionEvent(event, fresh))
      }
    }
    return true
  }

  private func translate(_ event: ConnectionEvent) -> PanelIOEvent? {
    switch event {
    case .notification(.subscriptionChanged(let name, _, _, _, _, let value))
    where name == SessionDigest.subscriptionName:
      return .digest(SessionDigest.parse(value))
    case .notification(.sessionsChanged), .notification(.sessionRenamed):
      return .sessionsChanged
    case .notification:
      return nil
    case .closed:
      connection = nil
      eventPump = nil
      return .connectionClosed
    }
  }
}
