import Foundation
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
  func tmuxArgv(starting: Bool) -> [String] {
    [install.path, "-u"] + (starting ? [] : ["-N"]) + socket.arguments
      + (starting ? ["start-server", ";"] : []) + ["source-file", "-"]
  }

  static func createsSession(_ commands: [TmuxCommand]) -> Bool {
    commands.contains { $0.words.first == .word("new-session") }
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
    guard !commands.isEmpty else { return [] }
    let batch = CommandBatch(commands)
    let script: [UInt8]
    do {
      script = Array(try batch.script().utf8)
    } catch {
      throw TmuxError.encoding(error)
    }
    let seconds = timeout ?? defaultTimeout
    let starting = startServer && Self.createsSession(commands)
    if starting, !launcher.isRemote, case .path(let p) = socket { try Self.ensureParentDirectory(of: p) }
    var waitedForShutdown = false
    while true {
      let output = try await Self.runOffPool(
        argv(starting: starting), environment: environment, input: script, timeout: seconds)
      if output.timedOut {
        let what =
          commands.count == 1 ? "'\(ControlConnection.describe(commands[0]))'" : "a batch of \(commands.count) commands"
        throw launcher.timedOut(what: what, seconds: seconds)
      }
      if let unreachable = launcher.failure(status: output.status, stdout: output.stdout, stderr: output.stderr) {
        throw unreachable
      }
      let replies = batch.replies(stdout: output.stdout, stderr: output.stderr)
      // Nothing on stdout, not even a marker: tmux may not have been reached at all.
      if output.stdout.isEmpty, let failure = classify(output) {
        switch failure {
        case .noServer where startServer && !starting:
          let message = [Array("no tmux server is running on \(socketFile)".utf8)]
          return commands.map { _ in CommandReply(isError: true, lines: message) }
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

  /// Runs the client to completion on a thread of its own.
  static func runOffPool(
    _ argv: [String], environment: [String: String], input: [UInt8], timeout: Double
  ) async throws -> Spawn.Output {
    try await withCheckedThrowingContinuation { (done: CheckedContinuation<Spawn.Output, any Error>) in
      let thread = Thread {
        do {
          done.resume(returning: try Spawn.run(argv, environment: environment, input: input, timeout: timeout))
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
