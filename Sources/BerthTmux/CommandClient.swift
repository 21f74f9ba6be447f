import Foundation
import Synchronization
import TmuxControl

#if canImport(Glibc)
  import Glibc
#endif

/// berth's one-shot way to talk to tmux: each batch is one ordinary command client
/// (`tmux -u [-N] -L/-S ... source-file -`, the batch on its stdin), never a control client.
///
/// Why not control mode: a control client creates a session to attach to (which fires the
/// user's `session-created` hooks, shows up in tmux-resurrect's saves and is where
/// `detach-on-destroy off` sends the user's terminal), every other control client is told
/// about it, and a control client is the one kind of client that can crash tmux (up to 3.7c)
/// when a notification reaches it while it identifies, or when it goes before identifying.
/// A command client is told nothing, attaches nowhere and leaves nothing behind.
///
/// Replies are framed by `CommandBatch` (a random marker per batch, one command group per
/// command, so a failure drops nothing else). Nothing is shared between batches: the value
/// holds only where the server is, and each `sendBatch` is one short-lived process run on a
/// thread of its own, never on the cooperative pool.
public final class CommandClient: Sendable {
  public let install: TmuxInstall
  public let socket: TmuxSocket
  /// Whether a batch that creates a session may start the server. Batches that do not
  /// create one never start it: on a server that is not running each of their commands is
  /// answered with an error reply (nothing is started just to look).
  public let startServer: Bool
  public let defaultTimeout: Double
  /// Where tmux runs: here, or on a remote host through ssh (one ssh process per batch,
  /// riding the host's master connection).
  public let launcher: TmuxLauncher
  private let environment: [String: String]
  private let socketFile: String

  public init(
    install: TmuxInstall, socket: TmuxSocket, environment: [String: String], startServer: Bool,
    timeout: Double = 10, launcher: TmuxLauncher = .local
  ) {
    self.install = install
    self.launcher = launcher
    self.socket = socket
    self.startServer = startServer
    self.defaultTimeout = timeout
    var env = environment
    // Never let a parent tmux decide which server (or which "current" session) is meant.
    env["TMUX"] = nil
    self.environment = env
    self.socketFile = launcher.describe(socket, environment: environment)
  }

  /// The command line for a batch: `-N` unless it is allowed to start the server, which it
  /// then does with `start-server` (tmux starts a server only for a command that says so,
  /// and `source-file` does not).
  func argv(starting: Bool) -> [String] {
    launcher.argv(tmuxArgv(starting: starting))
  }

  /// The tmux command line itself (run here, or through ssh by the launcher).
  func tmuxArgv(starting: Bool, leading: [String] = []) -> [String] {
    [install.path, "-u"] + (starting ? [] : ["-N"]) + socket.arguments
      + (starting ? ["start-server", ";"] : []) + leading + ["source-file", "-"]
  }

  /// The first command of a remote batch (see `sendBatch`).
  static let landing = TmuxCommand([.word("display-message"), .word("-p"), .value("")])

  static func createsSession(_ commands: [TmuxCommand]) -> Bool {
    commands.contains { $0.words.first == .word("new-session") }
  }

  /// A client started ahead of its batch (see `startEarly`).
  public final class EarlyClient: Sendable {
    let child: Spawn.Child
    /// The command line a batch of this client would have without `leading`.
    let argv: [String]
    /// The groups the client was started with, already running (see `startEarly`).
    public let leading: [[TmuxCommand]]
    /// The marker ending them, which the rest of the batch goes on with.
    public let marker: String
    private let used = Mutex(false)
    /// The client's process.
    public var pid: pid_t { child.pid }

    init(child: Spawn.Child, argv: [String], leading: [[TmuxCommand]] = [], marker: String = "") {
      self.child = child
      self.argv = argv
      self.leading = leading
      self.marker = marker
    }

    /// The child, once: nil when it was taken or cancelled.
    func take() -> Spawn.Child? {
      used.withLock { taken in
        defer { taken = true }
        return taken ? nil : child
      }
    }

    /// Ends an unused client: an empty batch, which tmux runs as nothing.
    public func cancel() {
      guard let child = take() else { return }
      Thread { _ = Spawn.finish(child, input: [], timeout: 5) }.start()
    }

    deinit { cancel() }
  }

  /// Starts the client for a batch that only looks before the batch is known, so tmux's own
  /// start-up (a few milliseconds: loading, locale, connecting) overlaps whatever the caller
  /// does meanwhile (opening the database). The batch runs only when `sendGroups(_:early:)`
  /// writes it, so what it reads is as of then. Nil when it cannot be started (the batch
  /// then starts its own).
  ///
  /// With `leading` groups (commands that only look and do not fail, such as a listing's),
  /// tmux runs them as soon as it is reached, from its command line, and their replies are
  /// on their way while the caller still works out the rest: a batch sent through this
  /// client must begin with exactly those groups (else the client is not used).
  ///
  /// On another host the client is one remote command like any batch's (on the master
  /// connection), the landing group ahead of `leading`: the host's sshd, login shell and
  /// tmux client start while the caller works out the rest.
  public func startEarly(leading: [[TmuxCommand]] = []) -> EarlyClient? {
    let plain = argv(starting: false)
    guard !leading.isEmpty else {
      guard let child = try? launcher.start(tmuxArgv(starting: false), environment: environment) else { return nil }
      return EarlyClient(child: child, argv: plain)
    }
    let ahead = launcher.isRemote ? [[Self.landing]] + leading : leading
    let marker = CommandBatch.randomMarker()
    guard let arguments = try? CommandBatch(groups: ahead, marker: marker).arguments(through: ahead.count),
      let child = try? launcher.start(tmuxArgv(starting: false, leading: arguments), environment: environment)
    else { return startEarly() }
    return EarlyClient(child: child, argv: plain, leading: leading, marker: marker)
  }

  /// Sends one command; a failure throws `TmuxError.commandFailed` with tmux's message.
  @discardableResult
  public func send(_ command: TmuxCommand, timeout: Double? = nil) async throws -> CommandReply {
    let reply = try await sendBatch([command], timeout: timeout)[0]
    if reply.isError {
      throw TmuxError.commandFailed(command: ControlConnection.describe(command), message: reply.text)
    }
    return reply
  }

  /// Runs the commands, in order, in one client, and returns one reply per command. A
  /// command that fails is an error reply and the others still run. Throws when tmux could
  /// not be reached at all (no server, another tmux version, no permission) or did not
  /// finish in time; nothing is sent if a command cannot be encoded.
  public func sendBatch(_ commands: [TmuxCommand], timeout: Double? = nil) async throws -> [CommandReply] {
    try await sendGroups(commands.map { [$0] }, timeout: timeout)
  }

  /// What to do with a batch's first replies as soon as they have arrived, while tmux still
  /// runs the rest: `handler` gets the first `count` replies, on the thread that reads the
  /// client's output, only when each of them succeeded (else the caller has them with the
  /// rest). It must not block for long: the client's output waits meanwhile.
  public struct Leading: Sendable {
    public var count: Int
    public var handler: @Sendable ([CommandReply]) -> Void
    public init(count: Int, handler: @escaping @Sendable ([CommandReply]) -> Void) {
      self.count = count
      self.handler = handler
    }
  }

  /// Like `sendBatch`, with one reply per group of commands: each group is one line of the
  /// batch, ended by one marker (see `CommandBatch.init(groups:)`). With `leading`, the first
  /// replies are also handed over as soon as they are in (see `Leading`).
  public func sendGroups(
    _ groups: [[TmuxCommand]], timeout: Double? = nil, early: EarlyClient? = nil, leading: Leading? = nil
  ) async throws -> [CommandReply] {
    guard !groups.isEmpty else {
      early?.cancel()
      return []
    }
    // Remotely, the user's login shell runs first and may print (a banner in .bashrc): a
    // first command that always answers once tmux is reached takes whatever came before it,
    // and tells a batch that reached tmux from one that did not.
    let remote = launcher.isRemote
    // An early client started with this batch's first groups runs them already: the rest
    // follows them, under the same marker.
    var early = early
    if let started = early, !started.leading.isEmpty, !groups.starts(with: started.leading) {
      started.cancel()
      early = nil
    }
    // Remotely the early client runs the landing group first too.
    let ahead = early.map { $0.leading.isEmpty ? 0 : $0.leading.count + (remote ? 1 : 0) } ?? 0
    let marker = early.flatMap { $0.leading.isEmpty ? nil : $0.marker } ?? CommandBatch.randomMarker()
    let batch = CommandBatch(groups: remote ? [[Self.landing]] + groups : groups, marker: marker)
    let commands = groups.flatMap { $0 }
    // What an early client with groups ahead still needs; the whole script only when there
    // is none (or it cannot be used after all: then it is written below).
    var script: [UInt8]?
    let rest: [UInt8]
    do {
      rest = try batch.scriptBytes(from: ahead)
      if ahead == 0 { script = rest }
    } catch {
      early?.cancel()
      throw TmuxError.encoding(error)
    }
    let seconds = timeout ?? defaultTimeout
    let starting = startServer && Self.createsSession(commands)
    if starting, !launcher.isRemote, case .path(let p) = socket { try Self.ensureParentDirectory(of: p) }
    var waitedForShutdown = false
    // Remotely the landing group comes first: it is asked for too, and dropped.
    let watch = leading.map {
      Watch(batch: batch, count: $0.count + (remote ? 1 : 0), drop: remote ? 1 : 0, handler: $0.handler)
    }
    while true {
      let output: Spawn.Output
      if !starting, let early, early.argv == argv(starting: false), let child = early.take() {
        output = await Self.finishOffPool(child, input: rest, timeout: seconds, watch: watch)
      } else {
        early?.cancel()
        if script == nil {
          do { script = try batch.scriptBytes(from: 0) } catch { throw TmuxError.encoding(error) }
        }
        output = try await Self.runOffPool(
          tmuxArgv(starting: starting), launcher: launcher, environment: environment, input: script ?? [],
          timeout: seconds, watch: watch)
      }
      if output.timedOut {
        let what =
          commands.count == 1 ? "'\(ControlConnection.describe(commands[0]))'" : "a batch of \(commands.count) commands"
        throw launcher.timedOut(what: what, seconds: seconds)
      }
      if let unreachable = launcher.failure(status: output.status, stdout: output.stdout, stderr: output.stderr) {
        throw unreachable
      }
      var replies = batch.replies(stdout: output.stdout, stderr: output.stderr)
      var reached = !output.stdout.isEmpty
      if remote {
        reached = !replies[0].isError
        replies.removeFirst()
      }
      // Nothing on stdout, not even a marker: tmux may not have been reached at all.
      if !reached, let failure = classify(output) {
        switch failure {
        case .noServer where startServer && !starting:
          let message = [Array("no tmux server is running on \(socketFile)".utf8)]
          return groups.map { _ in CommandReply(isError: true, lines: message) }
        case .serverShuttingDown where starting && !waitedForShutdown:
          // Its sessions are gone already; wait (briefly) for it to go, then start anew.
          waitedForShutdown = true
          if launcher.isRemote {
            try? await Task.sleep(for: .milliseconds(500))
            continue
          }
          for _ in 0..<30 where ServerProbe.check(socketPath: socketFile) != .notRunning {
            try? await Task.sleep(for: .milliseconds(100))
          }
          continue
        default:
          throw failure
        }
      }
      // A remote tmux that never ran (not on the PATH its login shell has, say) must not read
      // as a server without sessions: that would mark every session there as exited.
      if remote, !reached {
        let said = output.stderrText.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        throw TmuxError.startFailed(
          "tmux did not run on \(launcher.hostName ?? "the host") (exit status \(output.status))"
            + (said.isEmpty ? "" : ": \(said)"))
      }
      return replies
    }
  }

  /// Why tmux could not be reached, from the client's stderr when it printed nothing on
  /// stdout; nil when it was reached (the replies then say what each command did).
  func classify(_ output: Spawn.Output) -> TmuxError? {
    let detail = output.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
    let lower = detail.lowercased()
    if lower.contains("protocol version mismatch") || lower.contains("server version is too old") {
      return .versionMismatch(client: install.version.text, detail: detail)
    }
    if lower.contains("access not allowed") { return .accessNotAllowed(socket: socketFile) }
    if lower.contains("no server running") || lower.contains("error connecting to") {
      if lower.contains("permission denied") {
        return .socketPermission(socket: socketFile, detail: "permission denied")
      }
      return .noServer(socket: socketFile)
    }
    if lower.contains("server exited unexpectedly") { return .serverShuttingDown(socket: socketFile) }
    if output.status > 128 { return .startFailed("tmux ended by signal \(output.status - 128)") }
    if detail.isEmpty, output.status != 0 { return .startFailed("tmux exited with status \(output.status)") }
    return nil
  }

  /// A `Leading` bound to its batch.
  struct Watch: Sendable {
    var batch: CommandBatch
    var count: Int
    var drop: Int
    var handler: @Sendable ([CommandReply]) -> Void

    /// The output hook of one run of the client (a scanner of its own per run).
    func hook() -> ([UInt8]) -> Void {
      var scanner = CommandBatch.LeadingReplies(batch: batch, count: count)
      return { out in
        if let replies = scanner.scan(out) {
          Trace.mark("tmux client: leading replies in")
          handler(Array(replies.dropFirst(drop)))
        }
      }
    }
  }

  /// Finishes an early client on a thread of its own.
  static func finishOffPool(
    _ child: Spawn.Child, input: [UInt8], timeout: Double, watch: Watch? = nil
  ) async -> Spawn.Output {
    await withCheckedContinuation { (done: CheckedContinuation<Spawn.Output, Never>) in
      let thread = Thread {
        done.resume(returning: Spawn.finish(child, input: input, timeout: timeout, onStdout: watch?.hook()))
      }
      thread.name = "berth-tmux-command"
      thread.start()
    }
  }

  /// Runs the client to completion on a thread of its own.
  static func runOffPool(
    _ tmuxArgv: [String], launcher: TmuxLauncher, environment: [String: String], input: [UInt8], timeout: Double,
    watch: Watch? = nil
  ) async throws -> Spawn.Output {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Spawn.Output, any Error>) in
      let thread = Thread {
        do {
          Trace.mark("tmux client: spawn \(tmuxArgv.count) words, \(input.count) bytes in")
          let child = try launcher.start(tmuxArgv, environment: environment)
          Trace.mark("tmux client: spawned")
          let output = Spawn.finish(child, input: input, timeout: timeout, onStdout: watch?.hook())
          Trace.mark("tmux client: done, \(output.stdout.count) bytes out")
          done.resume(returning: output)
        } catch let error as TmuxError {
          done.resume(throwing: error)  // a host that did not answer stays that
        } catch {
          done.resume(throwing: TmuxError.startFailed("\(error)"))
        }
      }
      thread.name = "berth-tmux-command"
      thread.start()
    }
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
