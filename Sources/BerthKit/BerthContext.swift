import BerthCore
import BerthTmux
import Foundation

/// Everything a berth command needs to know about where it runs: environment, which tmux
/// server, which database, settings, and the clocks (injectable for tests).
public struct BerthContext: Sendable {
  public var environment: [String: String]
  public var socket: TmuxSocket
  public var databasePath: String
  public var settings: BerthSettings
  public var bootClock: any BootClock
  public var now: @Sendable () -> Date
  /// Where one-line warnings go (stderr in the CLI, the notice line in the panel).
  public var warn: @Sendable (String) -> Void
  /// The berth executable, for the hooks and the autosave berth installs in tmux (nil: none,
  /// e.g. when the library runs inside a test process).
  public var executablePath: String?
  /// The remote host this context's tmux server is on (nil: this machine, the host `local`).
  /// Its tmux is reached through ssh; the database, settings and clocks stay this machine's.
  public var host: HostConfig?

  public init(
    environment: [String: String], socket: TmuxSocket, databasePath: String,
    settings: BerthSettings = BerthSettings(), bootClock: any BootClock = SystemBootClock(),
    now: @escaping @Sendable () -> Date = { Date() }, warn: @escaping @Sendable (String) -> Void = { _ in },
    executablePath: String? = nil
  ) {
    self.executablePath = executablePath
    self.environment = environment
    self.socket = socket
    self.databasePath = databasePath
    self.settings = settings
    self.bootClock = bootClock
    self.now = now
    self.warn = warn
  }

  /// The host's name in berth: `local` for this machine.
  public var hostName: String { host?.name ?? HostConfig.localName }

  /// The socket file this context talks to; for a remote host, the key its records are kept
  /// under (`host:NAME`, then ` -L NAME` or ` -S PATH` when not the default socket), which
  /// is never a local path (those start with `/`), so no host's records meet another's.
  public var socketPath: String {
    guard let host else { return socket.filePath(environment: environment) }
    return Self.serverKey(host: host.name, socket: socket)
  }

  /// The key of a remote host's server in the records (`tmuxSocket`).
  public static func serverKey(host: String, socket: TmuxSocket) -> String {
    socket == .name("default") ? "host:\(host)" : "host:\(host) \(socket.arguments.joined(separator: " "))"
  }

  /// `$XDG_STATE_HOME/berth` (default `~/.local/state/berth`): history files and shell wrappers.
  public var stateDirectory: String {
    let base = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (homeDirectory + "/.local/state")
    return base + "/berth"
  }

  public var homeDirectory: String {
    environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
  }
}

/// What `create` needs.
public struct CreateRequest: Sendable {
  public var id: String?
  public var name: String?
  public var cwd: String?
  public var workspace: String?
  public var tags: [String]
  public var shell: String?
  public var size: (cols: Int, rows: Int)?
  public var command: [String]

  public init(
    id: String? = nil, name: String? = nil, cwd: String? = nil, workspace: String? = nil,
    tags: [String] = [], shell: String? = nil, size: (cols: Int, rows: Int)? = nil, command: [String] = []
  ) {
    self.id = id
    self.name = name
    self.cwd = cwd
    self.workspace = workspace
    self.tags = tags
    self.shell = shell
    self.size = size
    self.command = command
  }
}

/// How to hand the terminal to tmux.
public struct AttachPlan: Sendable, Equatable {
  /// The tmux argv to exec (`attach-session` or, inside tmux on the same server, `switch-client`).
  public var argv: [String]
  public var session: SessionView
  /// True when we are inside tmux on this server: `switch-client` returns at once.
  public var switchesClient: Bool
  /// Said before handing over (e.g. "recreated from its last state").
  public var notice: String?
  /// The remote host the session is on (nil: this machine). A remote attach is `ssh -t`
  /// through the host's master connection; no hook records its detach there, so the front
  /// end waits for it and calls `finishAttach` (see `runRemoteAttach`).
  public var host: String? = nil
}

/// The result of a cleanup, for printing.
public struct CleanupReport: Sendable, Equatable {
  public var killedOrphans: [String] = []
  public var forgottenRecords: [String] = []
  public var dryRun: Bool
}

/// One line of `berth doctor`.
public struct DoctorCheck: Sendable, Equatable {
  public enum Level: String, Sendable { case ok, warning, error }
  public var level: Level
  public var subject: String
  public var detail: String

  public init(level: Level, subject: String, detail: String) {
    self.level = level
    self.subject = subject
    self.detail = detail
  }
}
