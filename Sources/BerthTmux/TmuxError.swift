import TmuxControl

/// Everything that can go wrong talking to tmux, each with a one-line message that names
/// what was wrong and what to do.
public enum TmuxError: Error, Equatable, Sendable, CustomStringConvertible {
  case notInstalled(installHint: String)
  case tooOld(found: String, minimum: String)
  case noServer(socket: String)
  /// The server was told to exit and waits for a client that does not read (a stopped
  /// `tmux attach`): it turns every new client away until then.
  case serverShuttingDown(socket: String)
  case socketPermission(socket: String, detail: String)
  case accessNotAllowed(socket: String)
  case versionMismatch(client: String, detail: String)
  case startFailed(String)
  case commandFailed(command: String, message: String)
  case timeout(what: String, seconds: Double)
  case connectionClosed(reason: String?)
  case encoding(CommandEncodingError)
  /// ssh could not reach the remote host the server is on (or it did not answer): `detail`
  /// is one line that names the host and says what to do.
  case hostUnreachable(host: String, detail: String)

  public var description: String {
    switch self {
    case .notInstalled(let hint):
      return "tmux is not installed (berth needs tmux 3.2 or newer): \(hint)"
    case .tooOld(let found, let minimum):
      return "tmux \(found) is too old: berth needs tmux \(minimum) or newer; upgrade tmux"
    case .noServer(let socket):
      return "no tmux server is running on \(socket): create a session with 'berth new'"
    case .serverShuttingDown(let socket):
      return
        "the tmux server on \(socket) is shutting down (waiting for a client that does not read): try again once it is gone"
    case .socketPermission(let socket, let detail):
      return "cannot use the tmux socket \(socket): \(detail); check its owner and mode (berth doctor)"
    case .accessNotAllowed(let socket):
      return "the tmux server on \(socket) does not allow this user (server-access): ask its owner"
    case .versionMismatch(let client, let detail):
      return
        "tmux client \(client) cannot talk to the running server (\(detail)): restart the server or use the tmux it was started with (BERTH_TMUX)"
    case .startFailed(let message):
      return "cannot start tmux: \(message)"
    case .commandFailed(let command, let message):
      return "tmux refused '\(command)': \(message)"
    case .timeout(let what, let seconds):
      return "tmux did not answer \(what) within \(Int(seconds)) s: is the server stuck? (berth doctor)"
    case .connectionClosed(let reason):
      return "the connection to tmux closed\(reason.map { " (\($0))" } ?? ""): the server may have exited"
    case .encoding(let e):
      return e.description
    case .hostUnreachable(_, let detail):
      return detail
    }
  }
}
