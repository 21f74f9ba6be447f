import BerthCore
import BerthKit
import Foundation
import NIOCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Everything the connections share: the options, the token, the session service (nil
/// without tmux), the counters that bound connections, and the live terminals (so a
/// shutdown can hang every one of them up).
final class ServeState: Sendable {
  let options: ServeOptions
  let token: String
  /// nil when tmux was not found at start-up: every connection then gets a plain shell.
  let sessions: SessionService?
  /// Environment for the tmux clients and fallback shells (no TMUX, no token, TERM set).
  let childEnvironment: [String: String]
  let home: String
  /// The fallback shell (`$SHELL`, else /bin/sh).
  let shell: String
  let assets: WebAssets
  /// Terminals (WebSocket connections) being served, bounded by `--max-connections`.
  let terminals: Slots
  /// Authenticated TCP connections (they showed the token), bounded so idle clients cannot
  /// pile up.
  let sockets: Slots
  /// Connections that have not shown the token yet: apart, bounded, with a short deadline.
  let pending = PendingConnections()
  let reaper = ChildReaper()
  private let boundPort = Atomic<Int>(0)
  private let live = Mutex<[ObjectIdentifier: NIOLoopBound<TerminalBridge>]>([:])
  private let shuttingDown = Atomic<Bool>(false)
  static let closeHandshakeWait = Duration.seconds(1)

  init(
    options: ServeOptions, token: String, sessions: SessionService?, childEnvironment: [String: String],
    home: String, shell: String, assets: WebAssets
  ) {
    self.options = options
    self.token = token
    self.sessions = sessions
    self.childEnvironment = childEnvironment
    self.home = home
    self.shell = shell
    self.assets = assets
    terminals = Slots(limit: options.maxConnections)
    sockets = Slots(limit: options.maxConnections * 2 + 16)
  }

  /// Set once the listening socket is bound (port 0 becomes the real port).
  func setBoundPort(_ port: Int) { boundPort.store(port, ordering: .releasing) }

  var gatekeeper: Gatekeeper {
    var listen = options.listen
    listen.port = boundPort.load(ordering: .acquiring)
    return Gatekeeper(token: token, listen: listen)
  }

  var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

  func register(_ bridge: NIOLoopBound<TerminalBridge>, id: ObjectIdentifier) {
    live.withLock { $0[id] = bridge }
  }

  func unregister(id: ObjectIdentifier) {
    _ = live.withLock { $0.removeValue(forKey: id) }
  }

  /// Closes every terminal (their tmux clients detach, the sessions keep running) with 1001
  /// and waits up to `closeHandshakeWait` for the clients' close frames, so browsers see a
  /// clean close and not 1006; then waits, briefly, for the tmux clients to exit.
  func shutDownTerminals() async {
    shuttingDown.store(true, ordering: .releasing)
    let bridges = live.withLock { Array($0.values) }
    for bridge in bridges {
      bridge.eventLoop.execute { bridge.value.serverShutdown() }
    }
    // A socket leaves `live` when it closes: after the client answered the close frame.
    let deadline = ContinuousClock.now + Self.closeHandshakeWait
    while ContinuousClock.now < deadline, live.withLock({ !$0.isEmpty }) {
      try? await Task.sleep(for: .milliseconds(20))
    }
    await reaper.waitForAll(timeout: .seconds(4))
  }
}

/// A counter with a ceiling.
final class Slots: Sendable {
  let limit: Int
  private let count = Atomic<Int>(0)

  init(limit: Int) { self.limit = limit }

  /// Takes a slot unless all are taken.
  func tryAcquire() -> Bool {
    var current = count.load(ordering: .relaxed)
    while current < limit {
      let (exchanged, original) = count.compareExchange(
        expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
      if exchanged { return true }
      current = original
    }
    return false
  }

  func release() { count.subtract(1, ordering: .acquiringAndReleasing) }

  var inUse: Int { count.load(ordering: .relaxed) }
}

/// Hangs up and reaps the children of closed terminals, so none is left as a zombie or
/// running: SIGHUP first (a tmux client detaches, a shell exits), SIGKILL after a grace time.
final class ChildReaper: Sendable {
  private let pending = Mutex<Set<pid_t>>([])

  /// Sends SIGHUP (unless the child is known to have exited) and polls until it is reaped.
  func hangUpAndReap(_ pid: pid_t, on loop: any EventLoop, alreadyHungUp: Bool = false) {
    pending.withLock { _ = $0.insert(pid) }
    if !alreadyHungUp { kill(pid, SIGHUP) }
    poll(pid, on: loop, started: .now())
  }

  private func poll(_ pid: pid_t, on loop: any EventLoop, started: NIODeadline) {
    var status: Int32 = 0
    let r = waitpid(pid, &status, WNOHANG)
    if r == pid || (r < 0 && errno == ECHILD) {
      pending.withLock { _ = $0.remove(pid) }
      return
    }
    let waited = NIODeadline.now() - started
    if waited > .seconds(3) {
      kill(pid, SIGKILL)
    }
    loop.scheduleTask(in: .milliseconds(waited < .milliseconds(500) ? 10 : 100)) {
      self.poll(pid, on: loop, started: started)
    }
  }

  /// Waits until every child handed over so far has been reaped (or the timeout passes).
  func waitForAll(timeout: Duration) async {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline, pending.withLock({ !$0.isEmpty }) {
      try? await Task.sleep(for: .milliseconds(10))
    }
  }
}

/// The session manager behind one lock: get-or-create must not interleave for the same id
/// (the actor is re-entrant across tmux round trips), and one control connection serves all.
actor SessionService {
  let manager: SessionManager
  private var busy = false
  private var waiting: [CheckedContinuation<Void, Never>] = []

  init(manager: SessionManager) { self.manager = manager }

  private func acquire() async {
    if !busy {
      busy = true
      return
    }
    await withCheckedContinuation { waiting.append($0) }
  }

  private func release() {
    if waiting.isEmpty {
      busy = false
    } else {
      waiting.removeFirst().resume()
    }
  }

  /// Get-or-create for a client id through BerthKit's operations (`create`, then
  /// `prepareAttach`, as `berth new --id ID` and `berth attach ID`): the same naming,
  /// prefix, limits and records; a dead session is recreated in its last cwd, an orphan
  /// adopted. The id names a berth session id and nothing else: a custom name, a tmux
  /// session name or another id's prefix never matches, and foreign sessions are out of reach.
  func attachPlan(id: String, for request: TerminalRequest) async throws(BerthError) -> AttachPlan {
    await acquire()
    defer { release() }
    let known = try await manager.list().views.contains { !$0.foreign && $0.id == id }
    if !known {
      _ = try await manager.create(CreateRequest(id: id, cwd: request.cwd, size: (request.cols, request.rows)))
    }
    // An exact managed id comes first in target resolution, so this is the session `id`.
    let plan = try await manager.prepareAttach(target: id, create: nil)
    guard !plan.session.foreign, plan.session.id == id else {
      throw .failed("the session '\(id)' could not be opened: see 'berth list'")
    }
    return plan
  }

  /// Every managed session (foreign ones left out), for the page's list.
  func list() async throws(BerthError) -> [SessionView] {
    await acquire()
    defer { release() }
    return try await manager.list().views.filter { !$0.foreign }
  }

  func close() async {
    await acquire()
    defer { release() }
    await manager.close()
  }
}
