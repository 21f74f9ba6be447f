import Foundation
import Synchronization
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// How a control connection ended.
public enum ConnectionEnd: Equatable, Sendable {
  /// tmux wrote `%exit` (with its reason, e.g. `server exited unexpectedly`).
  case exit(reason: String?)
  /// The stream ended without `%exit`.
  case endOfFile
}

/// What the connection reports besides replies.
public enum ConnectionEvent: Equatable, Sendable {
  case notification(ControlNotification)
  case closed(ConnectionEnd)
}

/// The one control-mode connection berth keeps to a tmux server (`tmux -u -C` over pipes).
///
/// It attaches to a hidden session of its own (with `ignore-size` and `no-output`), so it
/// disturbs nothing it observes and is never counted as a user's attach. Replies are matched
/// to commands in FIFO order; a reader thread owns the pipe, so nothing blocks the
/// cooperative pool.
///
/// Nothing of the connection outlives berth, however berth ends, without tmux's
/// `destroy-unattached` (tmux 3.3a can crash when a client of such a session goes while
/// another client disconnects, tmux pull request #5497):
/// - `close()` kills the hidden session, which detaches the client (`detach-on-destroy on`);
/// - the hidden session's only pane waits for berth to die (`HiddenPane`) and then exits,
///   which destroys the session;
/// - the `tmux -C` child is killed by the kernel when berth dies (`Spawn.ParentDeathSignal`).
public final class ControlConnection: @unchecked Sendable {
  /// Sessions berth's own control connections create start with this.
  public static let hiddenSessionPrefix = "_berth-control-"

  public let install: TmuxInstall
  public let socket: TmuxSocket
  /// Where the control client runs: here, or on a remote host through ssh (`tmux -C` reads
  /// stdin, so no terminal is needed; the ssh client dies with berth, the remote client with
  /// the ssh session, and the hidden session with its last client, see `HiddenPane.remote`).
  public let launcher: TmuxLauncher
  /// Our hidden session's id (`$N`), once tmux has said it (listings also leave out every
  /// session named with `hiddenSessionPrefix`, other berth processes' included).
  public var hiddenSessionId: TargetID? { state.withLock { $0.hiddenId } }
  public let hiddenSessionName: String
  /// The child's pid (`tmux -C`).
  public let pid: pid_t
  /// Notifications and the end of the connection.
  public let events: AsyncStream<ConnectionEvent>
  /// The timeout every call gets unless it says otherwise.
  public var defaultTimeout: Double

  private let child: Spawn.Child
  /// The write end of a pipe nobody writes to: the hidden pane reads it through /proc and
  /// sees end-of-file when berth is gone (`HiddenPane`).
  private let lifeline: Int32
  private let state = Mutex(State())
  private let writeLock = NSLock()
  private let eventSink: AsyncStream<ConnectionEvent>.Continuation
  private let ready = OneShotSignal()
  private let finished = OneShotSignal()

  private struct State {
    var parser = ControlParser()
    var matcher = ReplyMatcher<Slot>()
    var end: ConnectionEnd?
    var closeRequested = false
    var closing = false
    var sawFirstBlock = false
    var stderr: [UInt8] = []
    var hiddenId: TargetID?
    var firstError: String?
    var exitStatus: Int32?
  }

  /// Where a reply goes: a batch and its position.
  private struct Slot: Sendable {
    let batch: Batch
    let index: Int
  }

  /// Collects the replies of one batch; resumes its waiter once, when all arrived, on timeout,
  /// or when the connection closes.
  private final class Batch: @unchecked Sendable {
    let lock = NSLock()
    var replies: [ControlReply?]
    var remaining: Int
    var continuation: CheckedContinuation<[ControlReply], any Error>?
    var done = false

    init(count: Int) {
      replies = Array(repeating: nil, count: count)
      remaining = count
    }

    func deliver(_ reply: ControlReply, at index: Int) {
      lock.lock()
      guard !done else { return lock.unlock() }
      replies[index] = reply
      remaining -= 1
      guard remaining == 0 else { return lock.unlock() }
      done = true
      let c = continuation
      continuation = nil
      let result = replies.map { $0! }
      lock.unlock()
      c?.resume(returning: result)
    }

    func fail(_ error: TmuxError) {
      lock.lock()
      guard !done else { return lock.unlock() }
      done = true
      let c = continuation
      continuation = nil
      lock.unlock()
      c?.resume(throwing: error)
    }

    func attach(_ c: CheckedContinuation<[ControlReply], any Error>) {
      lock.lock()
      if done {
        lock.unlock()
        // Already failed or delivered before the waiter attached.
        let all = replies.allSatisfy { $0 != nil }
        if all {
          c.resume(returning: replies.map { $0! })
        } else {
          c.resume(throwing: TmuxError.connectionClosed(reason: nil))
        }
        return
      }
      continuation = c
      lock.unlock()
    }
  }

  /// Starts `tmux -u [-L|-S] -C new-session ...` and waits for its first reply block.
  /// With `startServer: false` (listing, doctor) no server is started: no server is
  /// `TmuxError.noServer`.
  public static func open(
    install: TmuxInstall, socket: TmuxSocket, environment: [String: String],
    startServer: Bool, receiveOutput: Bool = false, timeout: Double = 10, launcher: TmuxLauncher = .local
  ) async throws -> ControlConnection {
    let socketFile = launcher.describe(socket, environment: environment)
    // A remote socket is the remote tmux's to find: without a server there, `-N` makes the
    // client say so, which `classify` reads.
    if !launcher.isRemote {
      switch ServerProbe.check(socketPath: socketFile) {
      case .running: break
      case .notRunning:
        if !startServer { throw TmuxError.noServer(socket: socketFile) }
        if case .path(let p) = socket { try ensureParentDirectory(of: p) }
      case .permissionDenied(let detail):
        throw TmuxError.socketPermission(socket: socketFile, detail: detail)
      }
    }
    let connection = try ControlConnection(
      install: install, socket: socket, environment: environment, receiveOutput: receiveOutput,
      startServer: startServer, timeout: timeout, launcher: launcher)
    try await connection.waitUntilReady(timeout: timeout, socketFile: socketFile)
    return connection
  }

  private init(
    install: TmuxInstall, socket: TmuxSocket, environment: [String: String], receiveOutput: Bool,
    startServer: Bool, timeout: Double, launcher: TmuxLauncher
  ) throws {
    self.install = install
    self.socket = socket
    self.launcher = launcher
    self.defaultTimeout = timeout
    let name = "\(Self.hiddenSessionPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    hiddenSessionName = name
    var env = environment
    // Never let a parent tmux decide which server a control client talks to.
    env["TMUX"] = nil
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else {
      throw TmuxError.startFailed("cannot make a pipe: \(String(cString: strerror(errno)))")
    }
    _ = Glibc.close(ends[0])
    // Children never inherit it (Spawn closes every descriptor above 2); exec neither.
    _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
    lifeline = ends[1]
    let pane =
      launcher.isRemote
      ? HiddenPane.remote
      : HiddenPane.command(pid: getpid(), descriptor: lifeline, startTime: HiddenPane.ownStartTime())
    let hook =
      launcher.isRemote
      ? Self.remoteLandingHook(session: name)
      : Self.landingHook(tmux: install.path, socketFile: socket.filePath(environment: environment), session: name)
    let tmuxArgv =
      [install.path, "-u"] + (startServer ? [] : ["-N"]) + socket.arguments + [
        "-C", "new-session", "-A", "-s", name, "-f", receiveOutput ? "ignore-size" : "ignore-size,no-output",
        "-x", "80", "-y", "24",
      ] + pane + [";", "set-option", "detach-on-destroy", "on"] + [";", "set-hook", "client-session-changed", hook]
    let argv = launcher.argv(tmuxArgv)
    do {
      child = try Spawn.withPipes(argv, environment: env, endsWithParent: true)
    } catch {
      _ = Glibc.close(lifeline)
      throw error
    }
    pid = child.pid
    // Unbounded: dropping a notification would silently lose pane output or the end of the
    // connection. Clients that take output use tmux's own flow control; the default
    // connection has `no-output`, so its events are few.
    (events, eventSink) = AsyncStream.makeStream(of: ConnectionEvent.self, bufferingPolicy: .unbounded)
    let reader = Thread { [self] in readLoop() }
    reader.name = "berth-tmux-reader"
    reader.start()
    let errReader = Thread { [self] in stderrLoop() }
    errReader.name = "berth-tmux-stderr"
    errReader.start()
  }

  deinit {
    closeStdin()
  }

  /// The hidden session's own `client-session-changed` hook: a client that lands on it (a
  /// user's terminal whose session was killed under `detach-on-destroy off`) goes on to the
  /// other session with the latest activity, as tmux meant to send it (tmux 3.5 and later
  /// pick ours, the newest, where 3.3 picked another), or is detached when only hidden
  /// sessions are left, as with no session at all. Only clients that are not control
  /// clients: berth's own stays. tmux 3.2a cannot name the client a hook runs for
  /// (`hook_client` came in 3.3), so the hook asks tmux which clients the session has.
  /// Paths are quoted for sh and `#`-escaped for run-shell's expansion.
  static func landingHook(tmux: String, socketFile: String, session: String) -> String {
    func sh(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
    let script = "t=\(sh(tmux)); s=\(sh(socketFile)); " + landingScript(session: sh("=" + session), format: "#")
    return (try? TmuxCommand([.word("run-shell"), .word("-b"), .formatExpanded(script)]).encoded()) ?? ""
  }

  /// What the landing hook runs once `$t` (tmux) and `$s` (its socket) are set; `format`
  /// is how a tmux format begins in the text given (`##` where run-shell expands it first).
  static func landingScript(session: String, format f: String) -> String {
    "o=$(\"$t\" -S \"$s\" list-sessions -F '\(f){session_activity} \(f){session_id} \(f){session_name}' "
      + "| grep -v '^[0-9]* [^ ]* \(hiddenSessionPrefix)' | sort -rn | head -n 1 | cut -d ' ' -f 2); "
      + "\"$t\" -S \"$s\" list-clients -t \(session) -F '\(f){client_control_mode} \(f){client_name}' "
      + "| while read -r m n; do [ \"$m\" = 1 ] && continue; "
      + "if [ -n \"$o\" ]; then \"$t\" -S \"$s\" switch-client -c \"$n\" -t \"$o\"; "
      + "else \"$t\" -S \"$s\" detach-client -t \"$n\"; fi; done"
  }

  /// The landing hook on a remote server: the same, with the server's own tmux binary
  /// (`/proc/PID/exe`, else `tmux` on its PATH) and socket (`#{socket_path}`), which berth
  /// cannot know from here. Only these two formats are expanded by run-shell; every other
  /// `#` is doubled.
  static func remoteLandingHook(session: String) -> String {
    let script =
      "t=/proc/#{pid}/exe; [ -x \"$t\" ] || t=tmux; s=#{q:socket_path}; "
      + landingScript(session: "'=" + session.replacingOccurrences(of: "#", with: "##") + "'", format: "##")
    return (try? TmuxCommand([.word("run-shell"), .word("-b"), .value(script)]).encoded()) ?? ""
  }

  private var stdinClosed = false

  /// Closes the client's stdin and the lifeline once (a second close could hit a reused
  /// descriptor). The hidden pane then ends, so the session goes even if nothing else ran.
  private func closeStdin() {
    writeLock.withLock {
      guard !stdinClosed else { return }
      stdinClosed = true
      _ = Glibc.close(child.stdin)
      _ = Glibc.close(lifeline)
    }
  }

  private func waitUntilReady(timeout: Double, socketFile: String) async throws {
    let ok = await ready.wait(timeout: timeout)
    let (end, stderrText, firstError) = state.withLock {
      ($0.end, String(decoding: $0.stderr, as: UTF8.self), $0.firstError)
    }
    if ok, end == nil { return }
    if !ok { kill(pid, SIGKILL) }
    // The client failed: say why in one line.
    _ = await finished.wait(timeout: 2)
    let (status, stdoutSeen) = state.withLock { ($0.exitStatus, $0.sawFirstBlock) }
    if launcher.isRemote {
      if !ok { throw launcher.timedOut(what: "the control connection", seconds: timeout) }
      if let status, !stdoutSeen,
        let failure = launcher.failure(status: status, stdout: [], stderr: Array(stderrText.utf8))
      {
        throw failure
      }
    }
    let detail = (firstError ?? stderrText).trimmingCharacters(in: .whitespacesAndNewlines)
    throw Self.classify(
      detail: detail, end: end, timedOut: !ok, install: install, socketFile: socketFile, timeout: timeout)
  }

  static func classify(
    detail: String, end: ConnectionEnd?, timedOut: Bool, install: TmuxInstall, socketFile: String,
    timeout: Double
  ) -> TmuxError {
    let lower = detail.lowercased()
    if lower.contains("protocol version mismatch") || lower.contains("server version is too old") {
      return .versionMismatch(client: install.version.text, detail: detail)
    }
    if lower.contains("access not allowed") || end == .exit(reason: "access not allowed") {
      return .accessNotAllowed(socket: socketFile)
    }
    if lower.contains("permission denied") {
      return .socketPermission(socket: socketFile, detail: "permission denied")
    }
    if lower.contains("no server running") || lower.contains("error connecting") {
      return .noServer(socket: socketFile)
    }
    if timedOut { return .timeout(what: "the control connection", seconds: timeout) }
    // tmux's own words for a server that closes new clients because it is exiting.
    if detail.isEmpty, case .exit(let reason) = end, reason == "server exited unexpectedly" {
      return .serverShuttingDown(socket: socketFile)
    }
    if detail.isEmpty {
      if case .exit(let reason) = end, let reason { return .startFailed(reason) }
      return .startFailed("the control client exited at once")
    }
    return .startFailed(detail.split(separator: "\n").first.map(String.init) ?? detail)
  }

  // MARK: Sending

  /// Sends one command and returns its reply; `%error` throws `TmuxError.commandFailed`
  /// carrying tmux's message.
  @discardableResult
  public func send(_ command: TmuxCommand, timeout: Double? = nil) async throws -> ControlReply {
    let reply = try await sendBatch([command], timeout: timeout)[0]
    if reply.isError {
      throw TmuxError.commandFailed(command: Self.describe(command), message: reply.text)
    }
    return reply
  }

  /// Sends many commands in one write and waits for all replies (one round trip). Replies
  /// come back in order; a `%error` reply is returned, not thrown, so one failure does not
  /// hide the rest. Nothing is sent if any command fails to encode.
  public func sendBatch(_ commands: [TmuxCommand], timeout: Double? = nil) async throws -> [ControlReply] {
    guard !commands.isEmpty else { return [] }
    var text = ""
    for c in commands {
      do {
        text += try c.encoded()
      } catch {
        throw TmuxError.encoding(error)
      }
      text += "\n"
    }
    let batch = Batch(count: commands.count)
    try register(batch: batch, count: commands.count, line: text)
    let seconds = timeout ?? defaultTimeout
    let what = commands.count == 1 ? "'\(Self.describe(commands[0]))'" : "a batch of \(commands.count) commands"
    let timer = Task { [weak batch] in
      try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
      if !Task.isCancelled { batch?.fail(.timeout(what: what, seconds: seconds)) }
    }
    defer { timer.cancel() }
    return try await withCheckedThrowingContinuation { c in batch.attach(c) }
  }

  private func register(batch: Batch, count: Int, line: String) throws {
    writeLock.lock()
    defer { writeLock.unlock() }
    let refused: TmuxError? = state.withLock { s in
      if stdinClosed { return .connectionClosed(reason: "closed") }
      if let end = s.end { return .connectionClosed(reason: Self.reason(end)) }
      if s.closing { return .connectionClosed(reason: "closing") }
      for i in 0..<count { s.matcher.expect(Slot(batch: batch, index: i)) }
      return nil
    }
    if let refused { throw refused }
    var bytes = Array(line.utf8)
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeMutableBytes { write(child.stdin, $0.baseAddress! + offset, $0.count - offset) }
      if n < 0 {
        if errno == EINTR { continue }
        let e = TmuxError.connectionClosed(reason: String(cString: strerror(errno)))
        batch.fail(e)
        throw e
      }
      offset += n
    }
    bytes.removeAll()
  }

  /// Closes the connection: kills the hidden session (tmux then detaches the client), then
  /// closes the client's stdin and the lifeline. Waits briefly for the child, then kills it,
  /// so no `tmux -C` outlives berth.
  public func close() async {
    let first = state.withLock { s -> Bool in
      defer { s.closeRequested = true }
      return !s.closeRequested
    }
    if first {
      if end == nil, let own = await ownSessionForClosing() {
        _ = try? await sendBatch([.killSession(own)], timeout: 2)
      }
      state.withLock { $0.closing = true }
      closeStdin()
    }
    if await !finished.wait(timeout: 3) {
      kill(pid, SIGKILL)
      _ = await finished.wait(timeout: 2)
    }
  }

  /// Our hidden session's id, asked of tmux when its notification has not come yet; nil
  /// unless the client's session is still the one named as ours.
  private func ownSessionForClosing() async -> TargetID? {
    if let known = hiddenSessionId { return known }
    guard let reply = try? await send(.displayMessage(format: "#{session_id}\t#{session_name}"), timeout: 2)
    else { return nil }
    let fields = reply.text.split(separator: "\t", maxSplits: 1).map(String.init)
    guard fields.count == 2, fields[1] == hiddenSessionName else { return nil }
    return TargetID(fields[0])
  }

  /// How the connection ended, if it has.
  public var end: ConnectionEnd? { state.withLock { $0.end } }

  // MARK: Reading

  private func readLoop() {
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(child.stdout, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      let (events, deliveries, becameReady) = buffer.withUnsafeBytes { raw in
        state.withLock { s -> ([ConnectionEvent], [(Slot, ControlReply)], Bool) in
          var out: [ConnectionEvent] = []
          var deliveries: [(Slot, ControlReply)] = []
          var becameReady = false
          for event in s.parser.feed(buffer: UnsafeRawBufferPointer(rebasing: raw[0..<n])) {
            switch event {
            case .reply(let reply):
              if !s.sawFirstBlock {
                s.sawFirstBlock = true
                becameReady = true
                if reply.isError { s.firstError = reply.text }
              }
              if let slot = s.matcher.match(reply) { deliveries.append((slot, reply)) }
            case .notification(let n):
              if case .sessionChanged(let id, let name) = n, name == hiddenSessionName { s.hiddenId = id }
              if case .exit(let reason) = n { s.end = .exit(reason: reason) }
              out.append(.notification(n))
            }
          }
          return (out, deliveries, becameReady)
        }
      }
      for (slot, reply) in deliveries { slot.batch.deliver(reply, at: slot.index) }
      for e in events { eventSink.yield(e) }
      if becameReady { ready.fire() }
    }
    Glibc.close(child.stdout)
    let status = Spawn.waitFor(pid)
    state.withLock { $0.exitStatus = status }
    let (pending, end) = state.withLock { s -> ([Slot], ConnectionEnd) in
      if s.end == nil { s.end = .endOfFile }
      return (s.matcher.drain(), s.end!)
    }
    for slot in pending { slot.batch.fail(.connectionClosed(reason: Self.reason(end))) }
    eventSink.yield(.closed(end))
    eventSink.finish()
    ready.fire()
    finished.fire()
  }

  private func stderrLoop() {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(child.stderr, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      state.withLock { s in
        if s.stderr.count < 65536 { s.stderr.append(contentsOf: buffer[0..<n]) }
      }
    }
    Glibc.close(child.stderr)
  }

  private static func reason(_ end: ConnectionEnd) -> String? {
    switch end {
    case .exit(let r): return r ?? "detached"
    case .endOfFile: return "end of stream"
    }
  }

  static func describe(_ command: TmuxCommand) -> String {
    if case .word(let w) = command.words.first { return w }
    return "command"
  }

  private static func ensureParentDirectory(of path: String) throws {
    let parent = (path as NSString).deletingLastPathComponent
    guard !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) else { return }
    do {
      try FileManager.default.createDirectory(
        atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw TmuxError.startFailed("cannot create the socket directory \(parent): \(error.localizedDescription)")
    }
  }
}

/// What the hidden session's only pane runs: it waits for berth to die, then exits, so the
/// session ends with berth even after a SIGKILL.
///
/// berth keeps the write end of a pipe and never writes to it; the pane opens that pipe
/// through `/proc/PID/fd/N` and reads it, so it sees end-of-file the moment the last berth
/// descriptor closes (no polling). Before opening it checks that PID is still the process
/// that started at berth's start time: a dead berth's pid may have been reused, and
/// another process's descriptor must never be read. Where the pipe cannot be opened (a
/// server running as another user) it polls that identity once a second instead. Only
/// numbers are put into the script.
enum HiddenPane {
  static func command(pid: pid_t, descriptor: Int32, startTime: UInt64?) -> [String] {
    guard let startTime else {
      return ["/bin/sh", "-c", "while kill -0 \(pid) 2>/dev/null; do sleep 1; done"]
    }
    let script = [
      "alive() { read -r s 2>/dev/null </proc/\(pid)/stat || return 1; set -- ${s##*') '}; [ \"${20}\" = \(startTime) ]; }",
      "alive || exit 0",
      "cat /proc/\(pid)/fd/\(descriptor) 2>/dev/null && exit 0",
      "while alive; do sleep 1; done",
    ].joined(separator: "; ")
    return ["/bin/sh", "-c", script]
  }

  /// The pane on a remote server, where berth's pid and descriptors mean nothing: it ends
  /// once its session has had no client for a while (the ssh link dropped, berth killed),
  /// asking the server that runs it (its parent's binary, else `tmux` on PATH; the socket
  /// from `TMUX`) every 5 seconds. No file is left behind.
  static let remote = [
    "/bin/sh", "-c",
    "t=/proc/$PPID/exe; [ -x \"$t\" ] || t=tmux; s=\"${TMUX%%,*}\"; sleep 5; "
      + "while [ -n \"$(\"$t\" -S \"$s\" list-clients -t \"$TMUX_PANE\" 2>/dev/null)\" ]; do sleep 5; done",
  ]

  /// This process's start time in clock ticks since boot (field 22 of /proc/self/stat).
  static func ownStartTime() -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8) else { return nil }
    return startTime(statLine: stat)
  }

  /// Field 22 of a /proc/PID/stat line; the command name (field 2) may hold spaces and `)`.
  static func startTime(statLine: String) -> UInt64? {
    guard let close = statLine.range(of: ") ", options: .backwards) else { return nil }
    let fields = statLine[close.upperBound...].split(separator: " ")
    guard fields.count > 19 else { return nil }
    return UInt64(fields[19])
  }
}
