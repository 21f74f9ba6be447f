import Foundation
import Synchronization

/// How a tmux command line is run: on this machine as it is, or on a remote host through
/// the system `ssh` client, riding the host's master connection.
///
/// Remotely, `ssh OPTIONS -o ControlMaster=no -T -- DEST 'tmux -u ... source-file -'`: ssh
/// joins its arguments into one string that the remote login shell parses, so the tmux argv
/// is quoted for that shell (`quote`, BerthCore's `RemoteShell.command`) and reaches tmux
/// byte for byte; a batch goes on ssh's stdin, as it goes on tmux's locally. One ssh process
/// per batch, never one per session. ssh's own failure (exit status 255: no connection, a
/// host that wants a password under `BatchMode`) is `TmuxError.hostUnreachable`, never a
/// tmux error and never a hang.
public struct TmuxLauncher: Sendable {
  /// The remote host's name in berth (nil: this machine).
  public let hostName: String?
  /// `[ssh, options...]` (remote only).
  let sshArgv: [String]
  let destination: String
  let quote: @Sendable ([String]) -> String
  let explain: @Sendable (_ sshSaid: String, _ timedOut: Bool) -> String
  /// The host's ssh master socket, for commands opened through it without an ssh client
  /// (`SSHMux`); nil to always start `ssh`.
  let controlPath: String?

  /// tmux on this machine: the argv is run as it is.
  public static let local = TmuxLauncher(
    hostName: nil, sshArgv: [], destination: "", quote: { $0.joined(separator: " ") }, explain: { s, _ in s },
    controlPath: nil)

  /// tmux on `hostName` through `ssh`: `sshArgv` is the ssh program (a path) and the options
  /// every command shares (`BatchMode`, the master's `ControlPath`, timeouts), `destination`
  /// what the user types after `ssh`, `quote` the remote shell's quoting of a command line
  /// and `explain` ssh's stderr made into one line that says what to do.
  /// With `controlPath`, batches open their session on the master directly (see `start`).
  public static func ssh(
    hostName: String, sshArgv: [String], destination: String,
    quote: @escaping @Sendable ([String]) -> String,
    explain: @escaping @Sendable (_ sshSaid: String, _ timedOut: Bool) -> String,
    controlPath: String? = nil
  ) -> TmuxLauncher {
    TmuxLauncher(
      hostName: hostName, sshArgv: sshArgv, destination: destination, quote: quote, explain: explain,
      controlPath: controlPath)
  }

  /// Starts a tmux command line without a terminal, its stdin, stdout and stderr pipes. On
  /// a remote host the session is opened through the master connection itself when it is up
  /// (no ssh process; see `SSHMux`), else by an `ssh` client; on this machine tmux is
  /// started as it is.
  ///
  /// A master that is up but does not open the session within `masterAnswerSeconds` has lost
  /// its host (it waits for the host to confirm; an ssh client would wait on the same master
  /// until the command timed out): that is `TmuxError.hostUnreachable` at once, and for
  /// `silentMasterSeconds` every other command of this process on that master is too, so a
  /// command that opens several sessions (a listing's early client, then its batch) costs
  /// the wait once and stays within the 10 s a command may take.
  public func start(_ tmuxArgv: [String], environment: [String: String]) throws -> Spawn.Child {
    if isRemote, let hostName, let controlPath, environment["BERTH_SSH_MUX"] != "off" {
      if Self.isSilent(controlPath) { throw unanswered(hostName) }
      do {
        return try SSHMux.open(
          controlPath: controlPath, command: quote(tmuxArgv), environment: environment,
          timeout: Self.masterAnswerSeconds)
      } catch let failure as SSHMux.Failure where failure.timedOut {
        Self.silentSince.withLock { $0[controlPath] = Date() }
        throw unanswered(hostName)
      } catch {
        // No master, or it refused: an ssh client of its own.
      }
    }
    return try Spawn.withPipes(argv(tmuxArgv), environment: environment)
  }

  /// How long a master may take to open a session before its host counts as gone.
  static let masterAnswerSeconds = 8.0
  /// How long a master that did not answer is not asked again (its `ServerAliveInterval`
  /// checks end it within 15 s; then commands start their own ssh).
  static let silentMasterSeconds = 10.0
  /// The masters that lately did not answer, by socket path, with when.
  static let silentSince = Mutex<[String: Date]>([:])

  static func isSilent(_ controlPath: String) -> Bool {
    silentSince.withLock { entries in
      guard let when = entries[controlPath] else { return false }
      if Date().timeIntervalSince(when) < silentMasterSeconds { return true }
      entries[controlPath] = nil
      return false
    }
  }

  private func unanswered(_ hostName: String) -> TmuxError {
    .hostUnreachable(
      host: hostName,
      detail: "\(hostName): no answer within \(Int(Self.masterAnswerSeconds)) s: the host or the network to it is down "
        + "(its ssh connection is still open; berth reconnects once it answers)")
  }

  public var isRemote: Bool { hostName != nil }

  /// The argv to start for a tmux command line. `interactive` (an attach) asks ssh for a
  /// terminal (`-t`); everything else runs without one (`-T`), its stdin a pipe.
  public func argv(_ tmuxArgv: [String], interactive: Bool = false) -> [String] {
    guard isRemote else { return tmuxArgv }
    return sshArgv + ["-o", "ControlMaster=no", interactive ? "-t" : "-T", "--", destination, quote(tmuxArgv)]
  }

  /// Why the remote command did not run: ssh's own exit status (255) with nothing on stdout
  /// is the host, not tmux. nil locally and whenever the remote side answered.
  public func failure(status: Int32, stdout: [UInt8], stderr: [UInt8]) -> TmuxError? {
    guard let hostName, status == 255, stdout.isEmpty else { return nil }
    return .hostUnreachable(host: hostName, detail: explain(String(decoding: stderr, as: UTF8.self), false))
  }

  /// The error for a remote command that did not answer in time: the host (or the link to
  /// it) is as good as unreachable; locally the tmux timeout it always was.
  public func timedOut(what: String, seconds: Double) -> TmuxError {
    guard let hostName else { return .timeout(what: what, seconds: seconds) }
    return .hostUnreachable(
      host: hostName, detail: "\(hostName): no answer to \(what) within \(Int(seconds)) s (the host or its tmux)")
  }

  /// The socket as messages name it: the file locally, `HOST (-L NAME)` remotely.
  public func describe(_ socket: TmuxSocket, environment: [String: String]) -> String {
    guard let hostName else { return socket.filePath(environment: environment) }
    return "\(hostName) (\(socket.description))"
  }
}
